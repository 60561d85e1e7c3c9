// Attention (ONNX opset 23/24): scaled dot-product attention with masks, a KV cache and
// grouped-query heads, decomposed into MatMul, Softmax pieces and an additive bias.
// Follows the ONNX doc and its reference (onnx/reference/ops/op_attention.py) step by step.
#include <cmath>
#include <limits>

#include "decompose/registry.h"

namespace walle {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// [B, S, H*D] -> [B, H, S, D]
int split_heads(Decomposer& d, int x, int64_t heads, const char* what) {
  Shape s = d.shape(x);
  if (heads < 1 || s[2] % heads != 0)
    d.fail(std::string(what) + " hidden size " + std::to_string(s[2]) + " is not divisible by the head count");
  return d.transpose(d.view(x, {s[0], s[1], heads, s[2] / heads}), {0, 2, 1, 3});
}

int int_constant(Decomposer& d, Shape shape, int64_t start) {
  Tensor t(DType::I64, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<int64_t>()[i] = start + i;
  return d.add_constant(t);
}

// 0 where `allowed`, -inf elsewhere, in type t.
int additive(Decomposer& d, int allowed, DType t) { return d.select(allowed, d.scalar(0, t), d.scalar(kNegInf, t)); }

// (i + offset) - j for query i and key j: [Sq, Skv], or [B, 1, Sq, Skv] with a per-batch offset.
int position_diff(Decomposer& d, int64_t sq, int64_t skv, int offset) {
  int i = int_constant(d, {sq, 1}, 0), j = int_constant(d, {1, skv}, 0);
  if (d.rank(offset) > 0) offset = d.view(offset, {d.shape(offset)[0], 1, 1, 1});
  return d.binary(BinaryOp::Sub, d.binary(BinaryOp::Add, i, offset), j);
}

// The additive mask bias: attn_mask (padded to Skv), causal, sliding window and key padding.
// Returns -1 when nothing masks.
int attention_bias(Decomposer& d, DType t, int64_t sq, int64_t skv, int64_t past) {
  int bias = -1;
  auto add = [&](int b) { bias = bias < 0 ? b : d.binary(BinaryOp::Add, bias, b); };
  if (d.has_input(3)) {
    int mask = d.input(3);
    Shape ms = d.shape(mask);
    bool is_bool = d.dtype(mask) == DType::Bool;
    if (!ms.empty() && ms.back() < skv) {  // shorter masks are padded with "masked" (doc: attn_mask)
      Shape out = ms;
      out.back() = skv;
      mask = d.raster({{mask, 0, contiguous_strides(ms), 0, contiguous_strides(out), ms}}, d.dtype(mask), out, true,
                      is_bool ? 0.0 : kNegInf);
    }
    add(is_bool ? additive(d, mask, t) : d.cast(mask, t));
  }
  int nonpad = d.has_input(6) ? d.cast(d.input(6), DType::I64) : -1;
  int offset = nonpad >= 0 && !d.has_input(4)
                   ? d.binary(BinaryOp::Sub, nonpad, d.scalar(static_cast<double>(sq), DType::I64))
                   : d.scalar(static_cast<double>(past), DType::I64);
  int64_t left = d.node().attr_int("left_window_size", -1), right = d.node().attr_int("right_window_size", -1);
  bool causal = d.node().attr_int("is_causal", 0) != 0;
  if (causal || left >= 0 || right >= 0) {
    int diff = position_diff(d, sq, skv, offset);
    int zero = d.scalar(0, DType::I64);
    if (causal) add(additive(d, d.binary(BinaryOp::GreaterEqual, diff, zero), t));
    if (left >= 0)
      add(additive(d, d.binary(BinaryOp::LessEqual, diff, d.scalar(static_cast<double>(left), DType::I64)), t));
    if (right >= 0)
      add(additive(d, d.binary(BinaryOp::GreaterEqual, diff, d.scalar(static_cast<double>(-right), DType::I64)), t));
  }
  if (nonpad >= 0) {
    int64_t b = numel(d.shape(nonpad));
    int keep = d.binary(BinaryOp::Less, int_constant(d, {1, skv}, 0), d.view(nonpad, {b, 1}));
    add(additive(d, d.view(keep, {b, 1, 1, skv}), t));
  }
  return bias;
}

// Softmax over the last axis; a row that is all -inf gives zeros, not NaN (reference _softmax).
int safe_softmax(Decomposer& d, int x) {
  DType t = d.dtype(x);
  int m = d.reduce(ReduceOp::Max, x, {-1}, true);
  m = d.select(d.unary(UnaryOp::IsNegInf, m), d.scalar(0, t), m);
  int e = d.unary(UnaryOp::Exp, d.binary(BinaryOp::Sub, x, m));
  int s = d.reduce(ReduceOp::Sum, e, {-1}, true);
  s = d.select(d.binary(BinaryOp::Equal, s, d.scalar(0, t)), d.scalar(1, t), s);
  return d.binary(BinaryOp::Div, e, s);
}

// [B, Hkv, S, D] -> [B, Hkv*rep, S, D], each KV head repeated `rep` times in place.
int repeat_heads(Decomposer& d, int x, int64_t rep) {
  if (rep == 1) return x;
  Shape s = d.shape(x);
  int b = d.broadcast_to(d.view(x, {s[0], s[1], 1, s[2], s[3]}), {s[0], s[1], rep, s[2], s[3]});
  return d.view(b, {s[0], s[1] * rep, s[2], s[3]});
}

void attention(Decomposer& d) {
  int q = d.input(0), k = d.input(1), v = d.input(2);
  DType t = d.dtype(q);
  int64_t rank = d.rank(q);
  if (rank != 3 && rank != 4) d.fail("Q must be 3-d or 4-d");
  if (rank == 3) {
    q = split_heads(d, q, d.node().attr_int("q_num_heads", 0), "Q");
    k = split_heads(d, k, d.node().attr_int("kv_num_heads", 0), "K");
    v = split_heads(d, v, d.node().attr_int("kv_num_heads", 0), "V");
  }
  if (d.has_input(4) != d.has_input(5)) d.fail("past_key and past_value must be given together");
  int64_t past = 0;
  if (d.has_input(4)) {  // present = concat(past, new) on the sequence axis
    past = d.shape(d.input(4))[2];
    auto concat2 = [&](int a, int b) {
      Shape sa = d.shape(a), sb = d.shape(b), out = sa;
      out[2] += sb[2];
      std::vector<int64_t> st = contiguous_strides(out);
      return d.raster(
          {{a, 0, contiguous_strides(sa), 0, st, sa}, {b, 0, contiguous_strides(sb), sa[2] * st[2], st, sb}},
          d.dtype(a), out);
    };
    k = concat2(d.input(4), k);
    v = concat2(d.input(5), v);
  }
  d.set_output(1, k);
  d.set_output(2, v);
  Shape qs = d.shape(q), ks = d.shape(k);
  int64_t hq = qs[1], hk = ks[1], sq = qs[2], skv = ks[2];
  if (hq % hk != 0) d.fail("q heads " + std::to_string(hq) + " are not a multiple of kv heads " + std::to_string(hk));
  // Math runs in the input type, as the reference does (softmax in softmax_precision if set).
  DType ct = t;
  double scale =
      d.node().has("scale") ? d.node().attr_float("scale", 1.0) : 1.0 / std::sqrt(static_cast<double>(qs[3]));
  int root = d.scalar(std::sqrt(scale), t);  // the doc scales Q and K by sqrt(scale) each
  int qq = d.cast(d.binary(BinaryOp::Mul, q, root), ct);
  int kk = d.cast(d.binary(BinaryOp::Mul, k, root), ct);
  int scores = d.matmul(qq, d.transpose(repeat_heads(d, kk, hq / hk), {0, 1, 3, 2}));
  double softcap = d.node().attr_float("softcap", 0.0);
  if (softcap > 0) {
    int c = d.scalar(softcap, ct);
    scores = d.binary(BinaryOp::Mul, d.unary(UnaryOp::Tanh, d.binary(BinaryOp::Div, scores, c)), c);
  }
  int64_t mode = d.node().attr_int("qk_matmul_output_mode", 0);
  int qk_out = scores;
  int bias = attention_bias(d, ct, sq, skv, past);
  int with_bias = bias >= 0 ? d.binary(BinaryOp::Add, scores, bias) : scores;
  if (mode == 2) qk_out = with_bias;
  DType st = d.node().has("softmax_precision") ? static_cast<DType>(d.node().attr_int("softmax_precision", 1)) : ct;
  // The reference rounds the probabilities to the input type before the second MatMul.
  int p = d.cast(d.cast(safe_softmax(d, d.cast(with_bias, st)), t), ct);
  if (bias >= 0) {  // fully masked rows (decided on the bias, not the logits) give zeros
    int masked = d.unary(UnaryOp::IsNegInf, d.reduce(ReduceOp::Max, bias, {-1}, true));
    p = d.select(masked, d.scalar(0, ct), p);
  }
  if (mode == 3) qk_out = p;
  if (mode < 0 || mode > 3) d.fail("qk_matmul_output_mode must be 0..3");
  d.set_output(3, d.cast(qk_out, t));
  int y = d.cast(d.matmul(p, d.cast(repeat_heads(d, v, hq / hk), ct)), t);
  if (rank == 3) {
    Shape ys = d.shape(y);
    y = d.view(d.transpose(y, {0, 2, 1, 3}), {ys[0], ys[2], ys[1] * ys[3]});
  }
  d.set_output(0, y);
}

// FlexAttention (ai.onnx.preview): attention whose scores and probabilities pass through the
// optional score_mod / prob_mod graphs (decomposed inline); softmax in float32 for 16-bit
// inputs unless softmax_precision says otherwise (reference op_flex_attention.py).
void flex_attention(Decomposer& d) {
  int q = d.input(0), k = d.input(1), v = d.input(2);
  Shape qs = d.shape(q), ks = d.shape(k);
  if (qs.size() != 4 || ks.size() != 4 || d.rank(v) != 4) d.fail("Q, K and V must be 4-d");
  if (qs[1] % ks[1]) d.fail("q heads must be a multiple of kv heads");
  DType t = d.dtype(q);
  DType ct = d.node().has("softmax_precision")       ? static_cast<DType>(d.node().attr_int("softmax_precision", 1))
             : (t == DType::F16 || t == DType::BF16) ? DType::F32
                                                     : t;
  double scale =
      d.node().has("scale") ? d.node().attr_float("scale", 1.0) : 1.0 / std::sqrt(static_cast<double>(qs[3]));
  int root = d.scalar(std::sqrt(static_cast<float>(scale)), t);
  int64_t rep = qs[1] / ks[1];
  int kk = repeat_heads(d, d.binary(BinaryOp::Mul, k, root), rep);
  int scores = d.cast(d.matmul(d.binary(BinaryOp::Mul, q, root), d.transpose(kk, {0, 1, 3, 2})), ct);
  auto apply = [&](const char* attr, int x) {
    auto it = d.node().attrs.find(attr);
    if (it == d.node().attrs.end() || !it->second.graph) return x;
    const Node& node = d.node();
    std::vector<int> saved_inputs;
    for (int i = 0; i < d.num_inputs(); ++i) saved_inputs.push_back(d.has_input(i) ? d.input(i) : -1);
    std::vector<int> out = d.inline_graph(*it->second.graph, {x});
    d.begin(node, saved_inputs);
    if (out.size() != 1) d.fail(std::string(attr) + " must produce one output");
    return d.cast(out[0], ct);
  };
  scores = apply("score_mod", scores);
  int m = d.reduce(ReduceOp::Max, scores, {-1}, true);
  int e = d.unary(UnaryOp::Exp, d.binary(BinaryOp::Sub, scores, m));
  int p = apply("prob_mod", d.binary(BinaryOp::Div, e, d.reduce(ReduceOp::Sum, e, {-1}, true)));
  int y = d.matmul(p, d.cast(repeat_heads(d, v, rep), ct));
  d.set_output(0, d.cast(y, d.dtype(v)));
}

}  // namespace

void register_attention_ops(CompositeRegistry& r) {
  r["Attention"] = {attention};
  r["FlexAttention"] = {flex_attention};
}

}  // namespace walle
