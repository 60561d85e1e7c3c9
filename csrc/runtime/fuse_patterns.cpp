// Pattern rewrites of the atomic graph (see optimize.h): the decompositions of GELU, Softmax
// (with attention's scaling and mask in front) and LayerNorm are recognized op by op, and replaced when every intermediate result is read
// only inside the pattern. Matching follows the exact op sequence the decompositions emit
// (csrc/decompose/reduce.cpp, and the erf GELU that torch exports), so a pattern that does not
// match simply stays as atomic ops: a rewrite never changes what is computed.
#include <cmath>

#include "runtime/optimize.h"

namespace walle {

namespace {

class Matcher {
 public:
  Matcher(AtomicGraph& g, const std::vector<int>& outputs)
      : g_(g), producer_(g.tensors.size(), -1), reads_(g.tensors.size(), 0) {
    for (size_t i = 0; i < g.ops.size(); ++i) producer_[g.root(g.ops[i].output)] = static_cast<int>(i);
    for (const AtomicOp& op : g.ops)
      for (int id : op.inputs)
        if (id >= 0) ++reads_[g.root(id)];
    for (int id : outputs) reads_[g.root(id)] += 1000;  // a graph output is never internal
    removed_.assign(g.ops.size(), false);
  }

  // The live op producing tensor `id` (through views), if it is of `kind`.
  AtomicOp* op_of(int id, AtomicKind kind) {
    if (id < 0) return nullptr;
    int p = producer_[g_.root(id)];
    if (p < 0 || removed_[p] || g_.ops[p].kind != kind) return nullptr;
    return &g_.ops[p];
  }
  AtomicOp* binary_of(int id, BinaryOp b) {
    AtomicOp* op = op_of(id, AtomicKind::Binary);
    return op && op->binary == b ? op : nullptr;
  }
  AtomicOp* unary_of(int id, UnaryOp u) {
    AtomicOp* op = op_of(id, AtomicKind::Unary);
    return op && op->unary == u ? op : nullptr;
  }
  // A reduction over the last axis (inner == 1) of `x`.
  AtomicOp* last_axis_reduce_of(int id, ReduceOp r, int x) {
    AtomicOp* op = op_of(id, AtomicKind::Reduce);
    if (!op || op->reduce != r || op->inner != 1 || same(op->inputs[0], x) == false) return nullptr;
    return op;
  }
  bool same(int a, int b) const { return a >= 0 && b >= 0 && g_.root(a) == g_.root(b); }
  int reads(int id) const { return reads_[g_.root(id)]; }
  bool f32(int id) const { return g_.tensors[id].dtype == DType::F32; }
  bool numel_mismatch(int a, int b) const { return numel(g_.tensors[a].shape) != numel(g_.tensors[b].shape); }
  // A constant f32 vector of n values that broadcasts along the last axis ([n], [1, .., n]).
  bool row_vector(int id, int64_t n) const {
    if (id < 0 || !g_.is_constant(id) || !f32(id)) return false;
    const Shape& s = g_.tensors[id].shape;
    return !s.empty() && s.back() == n && numel(s) == n;
  }
  // The value of a one-element f32 constant, if `id` is one.
  bool scalar(int id, float* v) const {
    if (!g_.is_constant(id) || !f32(id) || numel(g_.tensors[id].shape) != 1) return false;
    *v = g_.tensors[g_.root(id)].constant.data_as<float>()[0];
    return true;
  }
  // The other operand of a commutative binary op, given one of them.
  int other(const AtomicOp& op, int one) const {
    if (same(op.inputs[0], one)) return op.inputs[1];
    if (same(op.inputs[1], one)) return op.inputs[0];
    return -1;
  }
  void remove(AtomicOp* op) { removed_[op - g_.ops.data()] = true; }
  bool removed(size_t i) const { return removed_[i]; }

  // The only op that reads `id`, if exactly one (live) op does.
  AtomicOp* sole_reader(int id) {
    if (reads(id) != 1) return nullptr;
    for (size_t i = 0; i < g_.ops.size(); ++i) {
      if (removed_[i]) continue;
      for (int in : g_.ops[i].inputs)
        if (same(in, id)) return &g_.ops[i];
    }
    return nullptr;
  }

  void compact() {
    std::vector<AtomicOp> kept;
    for (size_t i = 0; i < g_.ops.size(); ++i)
      if (!removed_[i]) kept.push_back(std::move(g_.ops[i]));
    g_.ops = std::move(kept);
  }

  AtomicGraph& g_;

 private:
  std::vector<int> producer_, reads_;
  std::vector<bool> removed_;
};

bool near(float a, double b) { return std::fabs(a - b) <= 1e-6 * std::fabs(b); }

// y = Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5), in any operand order (and x * (1/sqrt 2)
// for the Div). Rewrites the last Mul in place into Unary Gelu(x).
bool match_gelu(Matcher& m, AtomicOp& last) {
  if (last.kind != AtomicKind::Binary || last.binary != BinaryOp::Mul || !m.f32(last.output)) return false;
  float half;
  int inner;
  if (m.scalar(last.inputs[1], &half))
    inner = last.inputs[0];
  else if (m.scalar(last.inputs[0], &half))
    inner = last.inputs[1];
  else
    return false;
  AtomicOp* mul = m.binary_of(inner, BinaryOp::Mul);
  if (!near(half, 0.5) || !mul || m.reads(inner) != 1) return false;
  for (int side = 0; side < 2; ++side) {
    int x = mul->inputs[side], plus = mul->inputs[1 - side];
    AtomicOp* add = m.binary_of(plus, BinaryOp::Add);
    if (!add || m.reads(plus) != 1) continue;
    float one;
    int erf_out;
    if (m.scalar(add->inputs[1], &one))
      erf_out = add->inputs[0];
    else if (m.scalar(add->inputs[0], &one))
      erf_out = add->inputs[1];
    else
      continue;
    AtomicOp* erf = m.unary_of(erf_out, UnaryOp::Erf);
    if (!near(one, 1.0) || !erf || m.reads(erf_out) != 1) continue;
    int scaled = erf->inputs[0];
    float k;
    AtomicOp* div = m.binary_of(scaled, BinaryOp::Div);
    AtomicOp* mul2 = m.binary_of(scaled, BinaryOp::Mul);
    AtomicOp* s = nullptr;
    if (div && m.same(div->inputs[0], x) && m.scalar(div->inputs[1], &k) && near(k, std::sqrt(2.0))) s = div;
    if (mul2 && m.scalar(m.other(*mul2, x), &k) && near(k, std::sqrt(0.5))) s = mul2;
    if (!s || m.reads(scaled) != 1 || m.numel_mismatch(x, last.output)) continue;
    for (AtomicOp* op : {s, erf, add, mul}) m.remove(op);
    last.kind = AtomicKind::Unary;
    last.unary = UnaryOp::Gelu;
    last.inputs = {x};
    return true;
  }
  return false;
}

// Rows of the [outer, R] scores `x` that share one row of `cond` when cond broadcasts to x's
// shape as [d0 .. dk, 1 .., 1, R] (its leading dims x's own, then ones): a key-padding mask
// [B, 1, 1, S] over scores [B, H, S, S]. 0 when cond has any other shape.
int64_t cond_row_span(const Shape& cond, const Shape& x) {
  const size_t n = x.size();
  if (n == 0 || cond.size() > n) return 0;
  Shape c(n - cond.size(), 1);
  c.insert(c.end(), cond.begin(), cond.end());
  if (c[n - 1] != x[n - 1]) return 0;
  size_t j = n - 1;
  while (j > 0 && c[j - 1] == 1) --j;
  for (size_t i = 0; i < j; ++i)
    if (c[i] != x[i]) return 0;
  int64_t span = 1;
  for (size_t i = j; i + 1 < n; ++i) span *= x[i];
  return span;
}

// What attention computes right before its softmax, folded into one MaskedSoftmax:
// x = Where(cond, s * c, fill) or Where(cond, s / d, fill) (d a power of two, so that s / d
// equals s * (1 / d) exactly), or the scaling alone. False when x is none of these.
struct ScoreMask {
  int scores = -1, cond = -1;
  float scale = 1, fill = 0;
  int64_t rows_per_cond = 1;
  std::vector<AtomicOp*> ops;  // replaced by the fused op
};

bool match_score_mask(Matcher& m, int x, int64_t outer, int64_t R, ScoreMask* out) {
  const AtomicGraph& g = m.g_;
  auto full = [&](int id) { return id >= 0 && m.f32(id) && numel(g.tensors[id].shape) == outer * R; };
  int v = x, v_reads = 2;  // x is read by the softmax's ReduceMax and Sub
  if (AtomicOp* sel = m.op_of(x, AtomicKind::Select); sel && m.reads(x) == 2) {
    const int cond = sel->inputs[0];
    float fill;
    const int64_t span = cond_row_span(g.tensors[cond].shape, g.tensors[x].shape);
    if (g.tensors[cond].dtype == DType::Bool && m.scalar(sel->inputs[2], &fill) && full(sel->inputs[1]) && span > 0) {
      out->cond = cond, out->fill = fill, out->rows_per_cond = span;
      out->ops.push_back(sel);
      v = sel->inputs[1], v_reads = 1;
    }
  }
  if (AtomicOp* b = m.op_of(v, AtomicKind::Binary); b && m.reads(v) == v_reads) {
    float c;
    int s = -1, exponent;
    if (b->binary == BinaryOp::Mul && m.scalar(b->inputs[1], &c))
      s = b->inputs[0];
    else if (b->binary == BinaryOp::Mul && m.scalar(b->inputs[0], &c))
      s = b->inputs[1];
    else if (b->binary == BinaryOp::Div && m.scalar(b->inputs[1], &c) && std::isnormal(c) &&
             std::fabs(std::frexp(c, &exponent)) == 0.5f && std::isnormal(1.0f / c))
      s = b->inputs[0], c = 1.0f / c;
    if (full(s)) {
      out->scale = c;
      out->ops.push_back(b);
      v = s;
    }
  }
  out->scores = v;
  return !out->ops.empty();
}

// y = Div(e, ReduceSum(e)), e = Exp(Sub(x, ReduceMax(x))), all along the last axis; with
// attention's scaling and mask in front of it (match_score_mask), a MaskedSoftmax.
bool match_softmax(Matcher& m, AtomicOp& div, const Backend& backend) {
  if (div.kind != AtomicKind::Binary || div.binary != BinaryOp::Div || !m.f32(div.output)) return false;
  int e = div.inputs[0], sum = div.inputs[1];
  AtomicOp* exp = m.unary_of(e, UnaryOp::Exp);
  AtomicOp* sum_op = m.last_axis_reduce_of(sum, ReduceOp::Sum, e);
  if (!exp || !sum_op || m.reads(e) != 2 || m.reads(sum) != 1) return false;
  int shifted = exp->inputs[0];
  AtomicOp* sub = m.binary_of(shifted, BinaryOp::Sub);
  if (!sub || m.reads(shifted) != 1) return false;
  int x = sub->inputs[0];
  AtomicOp* max_op = m.last_axis_reduce_of(sub->inputs[1], ReduceOp::Max, x);
  if (!max_op || m.reads(sub->inputs[1]) != 1 || max_op->outer != sum_op->outer ||
      max_op->reduce_size != sum_op->reduce_size || m.numel_mismatch(x, div.output) ||
      numel(m.g_.tensors[x].shape) != sum_op->outer * sum_op->reduce_size)
    return false;
  AtomicOp fused;
  fused.kind = AtomicKind::Fused;
  fused.fused = FusedOp::Softmax;
  fused.inputs = {x};
  fused.output = div.output;
  fused.origin = div.origin;
  fused.outer = sum_op->outer;
  fused.reduce_size = sum_op->reduce_size;
  ScoreMask mask;
  if (match_score_mask(m, x, fused.outer, fused.reduce_size, &mask)) {
    AtomicOp masked = fused;
    masked.fused = FusedOp::MaskedSoftmax;
    masked.inputs = {mask.scores, mask.cond};
    masked.alpha = mask.scale;
    masked.beta = mask.fill;
    masked.inner = mask.rows_per_cond;
    if (backend.supports(masked, m.g_)) {
      for (AtomicOp* op : mask.ops) m.remove(op);
      fused = std::move(masked);
    }
  }
  if (!backend.supports(fused, m.g_)) return false;
  for (AtomicOp* op : {max_op, sub, exp, sum_op}) m.remove(op);
  div = std::move(fused);
  return true;
}

// n = Mul(c, Rsqrt(Add(ReduceMean(Mul(c, c)), eps))), c = Sub(x, ReduceMean(x)), then
// optionally Mul by a constant scale [R] and Add a constant bias [R].
bool match_layernorm(Matcher& m, AtomicOp& norm, const Backend& backend) {
  if (norm.kind != AtomicKind::Binary || norm.binary != BinaryOp::Mul || !m.f32(norm.output)) return false;
  for (int side = 0; side < 2; ++side) {
    int c = norm.inputs[side], inv = norm.inputs[1 - side];
    AtomicOp* sub = m.binary_of(c, BinaryOp::Sub);
    AtomicOp* rsqrt = m.unary_of(inv, UnaryOp::Rsqrt);
    if (!sub || !rsqrt || m.reads(c) != 3 || m.reads(inv) != 1) continue;
    int x = sub->inputs[0];
    AtomicOp* mean = m.last_axis_reduce_of(sub->inputs[1], ReduceOp::Mean, x);
    int ve = rsqrt->inputs[0];
    AtomicOp* add_eps = m.binary_of(ve, BinaryOp::Add);
    if (!mean || m.reads(sub->inputs[1]) != 1 || !add_eps || m.reads(ve) != 1) continue;
    float eps;
    int var;
    if (m.scalar(add_eps->inputs[1], &eps))
      var = add_eps->inputs[0];
    else if (m.scalar(add_eps->inputs[0], &eps))
      var = add_eps->inputs[1];
    else
      continue;
    AtomicOp* var_op = m.op_of(var, AtomicKind::Reduce);
    if (!var_op || var_op->reduce != ReduceOp::Mean || var_op->inner != 1 || m.reads(var) != 1) continue;
    int sq = var_op->inputs[0];
    AtomicOp* square = m.binary_of(sq, BinaryOp::Mul);
    if (!square || !m.same(square->inputs[0], c) || !m.same(square->inputs[1], c) || m.reads(sq) != 1) continue;
    const int64_t outer = mean->outer, R = mean->reduce_size;
    if (var_op->outer != outer || var_op->reduce_size != R || numel(m.g_.tensors[x].shape) != outer * R ||
        m.numel_mismatch(x, norm.output))
      continue;
    // Scale and shift, when they follow.
    std::vector<AtomicOp*> chain = {&norm};
    int scale = -1, bias = -1;
    if (AtomicOp* mul = m.sole_reader(norm.output);
        mul && mul->kind == AtomicKind::Binary && mul->binary == BinaryOp::Mul &&
        m.row_vector(m.other(*mul, norm.output), R) && !m.numel_mismatch(mul->output, x)) {
      scale = m.other(*mul, norm.output);
      chain.push_back(mul);
      if (AtomicOp* add = m.sole_reader(mul->output);
          add && add->kind == AtomicKind::Binary && add->binary == BinaryOp::Add &&
          m.row_vector(m.other(*add, mul->output), R) && !m.numel_mismatch(add->output, x)) {
        bias = m.other(*add, mul->output);
        chain.push_back(add);
      }
    }
    AtomicOp* last = chain.back();
    AtomicOp fused;
    fused.kind = AtomicKind::Fused;
    fused.fused = FusedOp::LayerNorm;
    fused.inputs = {x, scale, bias};
    fused.output = last->output;
    fused.origin = norm.origin;
    fused.outer = outer;
    fused.reduce_size = R;
    fused.alpha = eps;
    if (!backend.supports(fused, m.g_)) return false;
    for (AtomicOp* op : {mean, sub, square, var_op, add_eps, rsqrt}) m.remove(op);
    for (AtomicOp* op : chain)
      if (op != last) m.remove(op);
    *last = std::move(fused);
    return true;
  }
  return false;
}

}  // namespace

void fuse_patterns(AtomicGraph& g, const std::vector<int>& outputs, const Backend& backend) {
  Matcher m(g, outputs);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (m.removed(i)) continue;
    AtomicOp& op = g.ops[i];
    if (match_gelu(m, op) || match_softmax(m, op, backend)) continue;
    match_layernorm(m, op, backend);
  }
  m.compact();
}

}  // namespace walle
