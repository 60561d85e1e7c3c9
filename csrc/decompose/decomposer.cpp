#include "decompose/decomposer.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/small_types.h"
#include "core/strings.h"
#include "decompose/registry.h"

namespace walle {

Decomposer::Decomposer(AtomicGraph& graph, const Backend& evaluator) : graph_(graph), evaluator_(evaluator) {}

void Decomposer::begin(const Node& node, std::vector<int> inputs) {
  node_ = &node;
  inputs_ = std::move(inputs);
  outputs_.assign(node.outputs.size(), -1);
}

void Decomposer::require_inputs(int n, const char* which) const {
  if (num_inputs() < n)
    fail(std::string("needs ") + std::to_string(n) + " inputs (" + which + "), has " + std::to_string(num_inputs()));
}

void Decomposer::require_rank(int id, int64_t min, int64_t max, const std::string& field) const {
  int64_t r = rank(id);
  if (r < min || r > max)
    fail(field + " must have rank " +
         (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) + ", got rank " +
         std::to_string(r) + " " + shape_str(shape(id)));
}

void Decomposer::require_count(const std::vector<int64_t>& values, size_t n, const std::string& field) const {
  if (values.size() != n)
    fail(field + " must hold " + std::to_string(n) + " value" + (n == 1 ? "" : "s") + ", got " +
         std::to_string(values.size()));
}

int64_t Decomposer::require_range(int64_t value, int64_t lo, int64_t hi, const std::string& field) const {
  if (value < lo || value > hi)
    fail(field + " = " + std::to_string(value) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) +
         "]");
  return value;
}

int64_t Decomposer::checked(__int128 value, const std::string& what) const {
  constexpr __int128 kLimit = static_cast<__int128>(1) << 62;
  if (value > kLimit || value < -kLimit) fail(what + " overflows (beyond 2^62)");
  return static_cast<int64_t>(value);
}

DType Decomposer::dtype_attr(const std::string& key, DType fallback) const {
  if (!node_ || !node_->has(key)) return fallback;
  int64_t code = node_->attr_int(key, 0);
  if (code < INT32_MIN || code > INT32_MAX || !dtype_is_valid(static_cast<int32_t>(code)) ||
      static_cast<DType>(code) == DType::Undefined)
    fail("attribute '" + key + "' = " + std::to_string(code) + " is not a tensor type code");
  return static_cast<DType>(code);
}

void Decomposer::check_shape(const Shape& s) const {
  if (checked_numel(s) < 0)
    fail("the planned shape " + shape_str(s) +
         " is negative or exceeds the limits (2^40 per dimension, 2^48 elements)");
}

int Decomposer::input(int i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required but missing");
  return inputs_[i];
}

void Decomposer::set_output(int i, int id) {
  if (i >= static_cast<int>(outputs_.size())) return;  // an optional output the model does not use
  outputs_[i] = id;
}

void Decomposer::fail(const std::string& why) const {
  throw Error(ErrorKind::Invalid, (node_ ? node_->label() + ": " : std::string()) + why);
}

const Tensor* Decomposer::constant(int id) const {
  if (id < 0) return nullptr;
  const AtomicTensor& t = graph_.tensors[id];
  return t.storage == Storage::Constant ? &t.constant : nullptr;
}

void Decomposer::need_value(int id, const std::string& why) const {
  // A value computed from model inputs (a trip count, Range's limit from Ceil(Div(...)))
  // becomes known once those inputs are plan-time values: ask for the first one found.
  std::vector<int> stack{id};
  std::vector<char> seen(graph_.tensors.size(), 0);
  while (!stack.empty()) {
    int t = graph_.root(stack.back());
    stack.pop_back();
    if (t < 0 || seen[t]) continue;
    seen[t] = 1;
    const AtomicTensor& at = graph_.tensors[t];
    if (at.storage == Storage::Input)
      throw InputValueNeeded(at.io_index, (node_ ? node_->label() + ": " : std::string()) + why);
    for (const AtomicOp& op : graph_.ops)
      if (graph_.root(op.output) == t) stack.insert(stack.end(), op.inputs.begin(), op.inputs.end());
  }
  fail(why);
}

std::vector<int> Decomposer::inline_graph(const Graph& body, const std::vector<int>& inputs) {
  if (inputs.size() != body.inputs.size())
    fail("the body takes " + std::to_string(body.inputs.size()) + " inputs, given " + std::to_string(inputs.size()));
  const Node* saved_node = node_;
  std::vector<int> saved_inputs = inputs_, saved_outputs = outputs_;
  Resolver outer = resolver_;
  std::map<std::string, int> local;
  for (size_t i = 0; i < inputs.size(); ++i) local[body.inputs[i].name] = inputs[i];
  resolver_ = [&](const std::string& name) -> int {
    if (name.empty()) return -1;
    auto it = local.find(name);
    if (it != local.end()) return it->second;
    auto init = body.initializers.find(name);
    if (init != body.initializers.end()) return local[name] = add_constant(init->second);
    if (!outer) fail("value '" + name + "' is not defined");
    return outer(name);
  };
  auto restore = [&] {
    node_ = saved_node;
    inputs_ = saved_inputs;
    outputs_ = saved_outputs;
    resolver_ = outer;
  };
  try {
    for (const Node& n : body.nodes) {
      const CompositeOp* op = find_composite(n.op_type);
      if (!op) throw Error(ErrorKind::Unsupported, n.label() + ": operator '" + n.op_type + "' is not supported");
      std::vector<int> in;
      for (const std::string& name : n.inputs) in.push_back(resolver_(name));
      begin(n, in);
      op->decompose(*this);
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        if (n.outputs[k].empty()) continue;
        if (outputs_[k] < 0) fail("output " + std::to_string(k) + " is not supported");
        local[n.outputs[k]] = outputs_[k];
      }
    }
    std::vector<int> result;
    for (const ValueInfo& v : body.outputs) result.push_back(resolver_(v.name));
    restore();
    return result;
  } catch (...) {
    restore();
    throw;
  }
}

std::vector<int64_t> Decomposer::const_ints(int i, const char* what) const {
  const Tensor* t = constant(input(i));
  if (!t)
    need_value(input(i),
               std::string(what) + " (input " + std::to_string(i) + ") must be known when the model is planned");
  return t->to_int64_vector();
}

std::vector<int64_t> Decomposer::value_ints(int id, const std::string& what) const {
  const Tensor* t = constant(id);
  if (!t) need_value(id, what + " must be known when the model is planned");
  if (t->dtype() == DType::Bool) {
    std::vector<int64_t> v(t->numel());
    for (int64_t k = 0; k < t->numel(); ++k) v[k] = t->data_as<uint8_t>()[k] != 0;
    return v;
  }
  return t->to_int64_vector();
}

const Tensor& Decomposer::value(int id, const std::string& what) const {
  const Tensor* t = constant(id);
  if (!t) need_value(id, what + " must be known when the model is planned (its output shape depends on it)");
  return *t;
}

int64_t Decomposer::const_int(int i, const char* what) const {
  std::vector<int64_t> v = const_ints(i, what);
  if (v.size() != 1)
    fail(std::string(what) + " (input " + std::to_string(i) + ") must hold exactly one integer, got " +
         std::to_string(v.size()));
  return v[0];
}

double Decomposer::const_scalar(int i, const char* what) const {
  const Tensor* t = constant(input(i));
  if (!t) need_value(input(i), std::string(what) + " (input " + std::to_string(i) + ") must be a constant scalar");
  if (t->numel() < 1) fail(std::string(what) + " (input " + std::to_string(i) + ") must be a constant scalar");
  return t->scalar_as_double(0);
}

int Decomposer::add_constant(const Tensor& t) {
  int id = graph_.add_tensor(t.dtype(), t.shape());
  graph_.tensors[id].storage = Storage::Constant;
  graph_.tensors[id].constant = t;
  return id;
}

int Decomposer::scalar(double value, DType dtype) {
  Tensor t(DType::F64, {});
  *t.data_as<double>() = value;
  int id = add_constant(t);
  return dtype == DType::F64 ? id : cast(id, dtype);
}

int64_t Decomposer::normalize_axis(int64_t axis, int64_t r, const std::string& field) const {
  // ONNX: axis in [-r, r-1]; a scalar (r = 0) has no axis at all.
  if (axis < -r || axis >= r)
    fail(field + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(r) +
         (r == 0 ? " (a scalar has no axes)" : ""));
  return axis < 0 ? axis + r : axis;
}

// A sequence or empty optional placeholder that reaches a tensor op is a model error (Add of a
// sequence); without this check it would run as an empty tensor of undefined type.
void Decomposer::require_tensor(int id) const {
  if (id < 0) return;
  if (is_sequence(id)) fail("got a sequence where a tensor is expected");
  if (is_empty_optional(id)) fail("got an empty optional where a tensor is expected");
}

// String tensors flow only through ops that move elements (their 16-byte handles) or that
// read text; anything that would compute on the handles is refused here, naming the node.
void Decomposer::check_strings(const AtomicOp& op, DType out) const {
  bool strings = out == DType::String;
  for (int id : op.inputs) strings = strings || (id >= 0 && dtype(id) == DType::String);
  if (!strings) return;
  switch (op.kind) {
    case AtomicKind::Raster:
    case AtomicKind::Gather:
    case AtomicKind::Select:
    case AtomicKind::Text: return;
    case AtomicKind::Scatter:
      if (!op.accumulate) return;
      break;
    case AtomicKind::Binary:
      if (op.binary == BinaryOp::Equal) return;
      break;
    default: break;
  }
  std::string what = atomic_kind_name(op.kind);
  if (op.kind == AtomicKind::Binary) what += std::string(" ") + binary_name(op.binary);
  if (op.kind == AtomicKind::Unary) what += std::string(" ") + unary_name(op.unary);
  fail(what + " is not defined on string tensors");
}

int Decomposer::emit(AtomicOp op, DType dtype, Shape shape) {
  for (int id : op.inputs) require_tensor(id);
  if (!dtype_is_valid(static_cast<int32_t>(dtype)) || dtype == DType::Undefined)
    fail("output type code " + std::to_string(static_cast<int>(dtype)) + " is not a tensor type");
  check_shape(shape);
  check_strings(op, dtype);
  // One tensor past the memory limit can never be planned; failing here also keeps later
  // passes from building per-image bookkeeping for it (a layout conversion's copy regions).
  if (static_cast<__int128>(numel(shape)) * static_cast<int64_t>(dtype_size(dtype)) > memory_limit_)
    fail("a tensor " + shape_str(shape) + " of " + dtype_name(dtype) + " is larger than the plan's memory limit of " +
         std::to_string(memory_limit_) + " bytes (walle.load(memory_limit=...))");
  op.origin = (node_ ? node_->label() : "") + op.origin;  // a preset origin is a detail for errors
  op.output = graph_.add_tensor(dtype, std::move(shape));
  bool all_constant = true;
  for (int id : op.inputs) all_constant = all_constant && (id < 0 || constant(id));
  if (all_constant)
    evaluate(op);
  else
    graph_.ops.push_back(op);
  return op.output;
}

void Decomposer::charge_constant(DType dtype, const Shape& shape) {
  const int64_t bytes = checked(static_cast<__int128>(numel(shape)) * static_cast<int64_t>(dtype_size(dtype)),
                                "the bytes of a folded constant");
  if (bytes > memory_limit_ - folded_bytes_)
    fail("folding a constant " + shape_str(shape) + " of " + dtype_name(dtype) + " (" + std::to_string(bytes) +
         " bytes) takes the plan past its memory limit of " + std::to_string(memory_limit_) +
         " bytes (walle.load(memory_limit=...))");
  folded_bytes_ += bytes;
}

void Decomposer::evaluate(AtomicOp& op) {
  AtomicTensor& out = graph_.tensors[op.output];
  charge_constant(out.dtype, out.shape);
  Tensor value(out.dtype, out.shape);
  // A folded string constant points into the strings it was made from and into the arena
  // of the strings its kernel made: it keeps both alive.
  std::vector<std::shared_ptr<void>> keep;
  auto arena = std::make_shared<StringArena>();
  if (value.numel() > 0) {
    std::unique_ptr<Kernel> kernel = evaluator_.make(op, graph_);
    kernel->plan(op, graph_);
    KernelIO io;
    std::shared_ptr<void> scratch;
    if (size_t bytes = kernel->scratch_bytes()) scratch = evaluator_.allocate(bytes);
    io.scratch = scratch.get();
    for (int id : op.inputs) {
      io.inputs.push_back(id >= 0 ? constant(id)->data() : nullptr);
      if (id >= 0 && dtype(id) == DType::String) keep.push_back(constant(id)->owner());
    }
    io.output = value.data();
    io.strings = arena.get();
    kernel->run(io, single_thread_);
  }
  if (value.dtype() == DType::String) {
    keep.push_back(arena);
    value = keep_alive(value, keep_all(std::move(keep)));
  }
  graph_.tensors[op.output].storage = Storage::Constant;
  graph_.tensors[op.output].constant = value;
}

int Decomposer::view(int x, Shape shape) {
  require_tensor(x);
  check_shape(shape);
  if (numel(shape) != numel(this->shape(x)))
    fail("cannot view " + shape_str(this->shape(x)) + " as " + shape_str(shape));
  if (shape == this->shape(x)) return x;
  if (const Tensor* c = constant(x)) return add_constant(c->reshaped(shape));
  int id = graph_.add_tensor(dtype(x), std::move(shape));
  graph_.tensors[id].storage = Storage::Alias;
  graph_.tensors[id].alias_of = x;
  return id;
}

int Decomposer::reinterpret(int x, DType to) {
  if (dtype_size(to) != dtype_size(dtype(x)))
    fail(std::string("cannot reinterpret ") + dtype_name(dtype(x)) + " as " + dtype_name(to) + ": sizes differ");
  if (const Tensor* c = constant(x)) return add_constant(Tensor(to, c->shape(), c->data(), c->owner()));
  int id = graph_.add_tensor(to, shape(x));
  graph_.tensors[id].storage = Storage::Alias;
  graph_.tensors[id].alias_of = x;
  return id;
}

int Decomposer::unary(UnaryOp u, int x, float alpha, float beta) {
  AtomicOp op;
  op.kind = AtomicKind::Unary;
  op.unary = u;
  op.alpha = alpha;
  op.beta = beta;
  op.inputs = {x};
  bool predicate = u == UnaryOp::IsNaN || u == UnaryOp::IsInf || u == UnaryOp::IsPosInf || u == UnaryOp::IsNegInf;
  DType out = predicate ? DType::Bool : dtype(x);
  if (out == DType::Bool && dtype(x) != DType::Bool) {  // predicate: compute in input type, then narrow
    int v = emit(op, dtype(x), shape(x));
    return cast(v, DType::Bool);
  }
  return emit(op, out, shape(x));
}

int Decomposer::binary(BinaryOp b, int a, int c) {
  if (dtype(a) != dtype(c))
    fail(std::string("operand types differ: ") + dtype_name(dtype(a)) + " and " + dtype_name(dtype(c)));
  AtomicOp op;
  op.kind = AtomicKind::Binary;
  op.binary = b;
  op.inputs = {a, c};
  Shape out = broadcast_shapes(shape(a), shape(c), node_ ? node_->label() : "Binary");
  return emit(op, binary_is_comparison(b) ? DType::Bool : dtype(a), out);
}

int Decomposer::select(int cond, int a, int b) {
  if (dtype(a) != dtype(b)) fail("Where: the two branches have different types");
  if (dtype(cond) != DType::Bool) cond = cast(cond, DType::Bool);
  std::string what = node_ ? node_->label() : "Where";
  Shape out = broadcast_shapes(broadcast_shapes(shape(cond), shape(a), what), shape(b), what);
  AtomicOp op;
  op.kind = AtomicKind::Select;
  op.inputs = {cond, a, b};
  return emit(op, dtype(a), out);
}

int Decomposer::cast(int x, DType to) { return cast(x, to, true, 0); }

int Decomposer::cast(int x, DType to, bool saturate, int round_mode) {
  if (dtype(x) == to) return x;
  if (dtype(x) == DType::String || to == DType::String) {  // reads or writes text: a Text op
    // The 8-, 4- and 2-bit types go through float32 (core/small_types.h).
    if (dtype_is_small(dtype(x))) x = cast(x, DType::F32);
    if (dtype_is_small(to)) return cast(cast(x, DType::F32), to, saturate, round_mode);
    AtomicOp op;
    op.kind = AtomicKind::Text;
    op.text = to == DType::String ? TextOp::Format : TextOp::Parse;
    op.inputs = {x};
    return emit(op, to, shape(x));
  }
  AtomicOp op;
  op.kind = AtomicKind::Cast;
  op.cast_to = to;
  op.saturate = saturate;
  op.cast_round = round_mode;
  op.inputs = {x};
  return emit(op, to, shape(x));
}

int Decomposer::reduce(ReduceOp r, int x, std::vector<int64_t> axes, bool keepdims, bool select_last) {
  const Shape in = shape(x);
  const int64_t n = static_cast<int64_t>(in.size());
  for (auto& a : axes) a = normalize_axis(a, n);
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  Shape kept_shape, out_shape;
  for (int64_t d = 0; d < n; ++d) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced) kept_shape.push_back(in[d]);
    if (!reduced || keepdims) out_shape.push_back(reduced ? 1 : in[d]);
  }
  AtomicOp op;
  op.kind = AtomicKind::Reduce;
  op.reduce = r;
  op.select_last_index = select_last;
  bool contiguous = axes.empty() || axes.back() - axes.front() + 1 == static_cast<int64_t>(axes.size());
  int src = x;
  if (contiguous && !axes.empty()) {
    op.outer = numel(Shape(in.begin(), in.begin() + axes.front()));
    op.reduce_size = numel(Shape(in.begin() + axes.front(), in.begin() + axes.back() + 1));
    op.inner = numel(Shape(in.begin() + axes.back() + 1, in.end()));
  } else {  // move the reduced axes to the end, then reduce one contiguous run
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < n; ++d)
      if (!std::binary_search(axes.begin(), axes.end(), d)) perm.push_back(d);
    perm.insert(perm.end(), axes.begin(), axes.end());
    src = transpose(x, perm);
    op.outer = numel(kept_shape);
    op.reduce_size = numel(in) / std::max<int64_t>(op.outer, 1);
    if (op.outer == 0) op.reduce_size = 0;
    op.inner = 1;
  }
  op.inputs = {src};
  DType out_type = (r == ReduceOp::ArgMax || r == ReduceOp::ArgMin) ? DType::I64 : dtype(x);
  return emit(op, out_type, out_shape);
}

int Decomposer::transpose(int x, const std::vector<int64_t>& perm) {
  const Shape in = shape(x);
  if (perm.size() != in.size())
    fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(in.size()));
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
  if (identity) return x;
  std::vector<int64_t> in_strides = contiguous_strides(in);
  Shape out;
  Copy c{x, 0, {}, 0, {}, {}};
  for (int64_t p : perm) {
    int64_t d = normalize_axis(p, static_cast<int64_t>(in.size()));
    out.push_back(in[d]);
    c.src_strides.push_back(in_strides[d]);
  }
  c.sizes = out;
  c.dst_strides = contiguous_strides(out);
  return raster({c}, dtype(x), out);
}

int Decomposer::broadcast_to(int x, const Shape& target) {
  Shape in = shape(x);
  if (in == target) return x;
  Shape full = broadcast_shapes(in, target, node_ ? node_->label() : "Expand");
  if (full != target) fail("cannot broadcast " + shape_str(in) + " to " + shape_str(target));
  std::vector<int64_t> in_strides = contiguous_strides(in);
  Copy c{x, 0, std::vector<int64_t>(target.size(), 0), 0, contiguous_strides(target), target};
  size_t lead = target.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) c.src_strides[lead + d] = in[d] == 1 ? 0 : in_strides[d];
  return raster({c}, dtype(x), target);
}

int Decomposer::matmul(int a, int b, int bias) {
  Shape sa = shape(a), sb = shape(b);
  if (sa.empty() || sb.empty()) fail("MatMul operands must have rank >= 1");
  bool vec_a = sa.size() == 1, vec_b = sb.size() == 1;
  if (vec_a) a = view(a, sa = {1, sa[0]});
  if (vec_b) b = view(b, sb = {sb[0], 1});
  int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  if (sb[sb.size() - 2] != K) fail("inner dimensions differ: " + shape_str(shape(a)) + " x " + shape_str(shape(b)));
  if (dtype(a) != dtype(b)) fail("MatMul operand types differ");
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(ba, bb, node_ ? node_->label() : "MatMul");
  AtomicOp op;
  op.kind = AtomicKind::MatMul;
  op.N = N;
  op.K = K;
  if (bb.empty() || numel(bb) == 1) {  // B shared by every batch: one GEMM with M = batch*M
    if (!bb.empty()) b = view(b, {K, N});
    op.M = numel(batch) * M;
    a = broadcast_to(a, [&] {
      Shape s = batch;
      s.push_back(M);
      s.push_back(K);
      return s;
    }());
    a = view(a, {op.M, K});
    op.batch_shape = {1};
    op.a_batch_strides = op.b_batch_strides = {0};
  } else {
    op.M = M;
    op.batch = numel(batch);
    op.batch_shape = batch;
    auto strides_for = [&](const Shape& s) {
      std::vector<int64_t> st(batch.size(), 0);
      int64_t stride = 1;
      for (int64_t k = static_cast<int64_t>(s.size()) - 1; k >= 0; --k) {
        size_t d = batch.size() - s.size() + k;
        st[d] = s[k] == 1 ? 0 : stride;
        stride *= s[k];
      }
      return st;
    };
    op.a_batch_strides = strides_for(ba);
    op.b_batch_strides = strides_for(bb);
  }
  op.inputs = {a, b};
  if (bias >= 0) op.inputs.push_back(bias);
  Shape out = batch;
  out.push_back(M);
  out.push_back(N);
  int y = emit(op, dtype(a), numel(bb) <= 1 ? Shape{op.M, N} : out);
  y = view(y, out);
  if (vec_a || vec_b) {
    Shape squeezed(out.begin(), out.end() - 2);
    if (!vec_a) squeezed.push_back(M);
    if (!vec_b) squeezed.push_back(N);
    y = view(y, squeezed);
  }
  return y;
}

int Decomposer::make_sequence(std::vector<int> items) {
  int id = graph_.add_tensor(DType::Undefined, {});
  sequences_[id] = std::move(items);
  return id;
}

const std::vector<int>& Decomposer::sequence(int id) const {
  auto it = sequences_.find(id);
  if (it == sequences_.end())
    fail(is_empty_optional(id) ? "expected a sequence input, got an empty optional" : "expected a sequence input");
  return it->second;
}

int Decomposer::make_empty_optional() {
  int id = graph_.add_tensor(DType::Undefined, {});
  empty_optionals_.insert(id);
  return id;
}

namespace {

// Drops unit dims and merges dims that are contiguous in both source and destination.
void simplify(Decomposer::Copy& c) {
  Decomposer::Copy s{c.src, c.src_offset, {}, c.dst_offset, {}, {}};
  for (size_t d = 0; d < c.sizes.size(); ++d) {
    if (c.sizes[d] == 1) continue;
    if (!s.sizes.empty() && s.src_strides.back() == c.src_strides[d] * c.sizes[d] &&
        s.dst_strides.back() == c.dst_strides[d] * c.sizes[d]) {
      s.sizes.back() *= c.sizes[d];
      s.src_strides.back() = c.src_strides[d];
      s.dst_strides.back() = c.dst_strides[d];
      continue;
    }
    s.sizes.push_back(c.sizes[d]);
    s.src_strides.push_back(c.src_strides[d]);
    s.dst_strides.push_back(c.dst_strides[d]);
  }
  c = s;
}

// Whether every element a region view touches lies in [0, n): the extremes of
// offset + sum(i_k * stride_k), computed in 128 bits so hostile strides cannot wrap.
bool view_inside(const View& v, const int64_t (&size)[3], int64_t n) {
  __int128 lo = v.offset, hi = v.offset;
  for (int k = 0; k < 3; ++k) {
    __int128 span = static_cast<__int128>(size[k] - 1) * v.stride[k];
    (span < 0 ? lo : hi) += span;
  }
  return lo >= 0 && hi < n;
}

}  // namespace

int Decomposer::raster(const std::vector<Copy>& copies, DType dt, Shape out_shape, bool fill, double fill_value) {
  check_shape(out_shape);
  AtomicOp op;
  op.kind = AtomicKind::Raster;
  op.fill_output = fill;
  op.fill = fill_value;
  // A copy over more than three dims becomes one region per index of the leading ones: count
  // them first, so a transpose of many tiny rows fails naming the node instead of building
  // gigabytes of regions (they are plan memory too).
  std::vector<Copy> simplified;
  __int128 regions = 0;
  for (Copy c : copies) {
    if (numel(c.sizes) == 0) continue;
    simplify(c);
    if (c.sizes.size() > 3) regions += numel(Shape(c.sizes.begin(), c.sizes.end() - 3));
    simplified.push_back(std::move(c));
  }
  if (regions * static_cast<__int128>(sizeof(Region)) > memory_limit_ - folded_bytes_)
    fail("a copy of " + shape_str(out_shape) + " needs " + std::to_string(static_cast<int64_t>(regions)) +
         " regions, past the plan's memory limit of " + std::to_string(memory_limit_) +
         " bytes (walle.load(memory_limit=...))");
  for (const Copy& c : simplified) {
    auto found = std::find(op.inputs.begin(), op.inputs.end(), c.src);
    int src_index = static_cast<int>(found - op.inputs.begin());
    if (found == op.inputs.end()) op.inputs.push_back(c.src);
    // Regions are 3-d: loop over any leading dims beyond three, one region per index.
    size_t lead = c.sizes.size() > 3 ? c.sizes.size() - 3 : 0;
    int64_t count = numel(Shape(c.sizes.begin(), c.sizes.begin() + lead));
    for (int64_t t = 0; t < count; ++t) {
      Region r;
      r.src = src_index;
      r.from.offset = c.src_offset;
      r.to.offset = c.dst_offset;
      int64_t rem = t;
      for (int64_t d = static_cast<int64_t>(lead) - 1; d >= 0; --d) {
        int64_t idx = rem % c.sizes[d];
        rem /= c.sizes[d];
        r.from.offset += idx * c.src_strides[d];
        r.to.offset += idx * c.dst_strides[d];
      }
      size_t tail = c.sizes.size() - lead;
      for (size_t k = 0; k < tail; ++k) {
        size_t slot = 3 - tail + k;
        r.size[slot] = c.sizes[lead + k];
        r.from.stride[slot] = c.src_strides[lead + k];
        r.to.stride[slot] = c.dst_strides[lead + k];
      }
      op.regions.push_back(r);
    }
  }
  // Every copy stays inside its source and destination: a decomposition fed hostile
  // attributes (steps, pads, offsets) fails here, naming the node, instead of reading or
  // writing outside a buffer at run time.
  const int64_t out_n = numel(out_shape);
  for (const Region& r : op.regions) {
    if (r.size[0] < 0 || r.size[1] < 0 || r.size[2] < 0) fail("a copy has a negative size");
    if (r.size[0] == 0 || r.size[1] == 0 || r.size[2] == 0) continue;
    if (!view_inside(r.from, r.size, numel(shape(op.inputs[r.src]))) || !view_inside(r.to, r.size, out_n))
      fail("a copy reaches outside its tensors (" + shape_str(shape(op.inputs[r.src])) + " -> " + shape_str(out_shape) +
           ")");
  }
  if (op.inputs.empty()) {  // nothing to copy: the output is all fill
    charge_constant(dt, out_shape);
    Tensor t(dt, out_shape);
    int id = add_constant(t);
    if (fill && fill_value != 0) {
      int f = scalar(fill_value, dt);
      return broadcast_to(f, out_shape);
    }
    return id;
  }
  return emit(op, dt, std::move(out_shape));
}

}  // namespace walle
