// Building blocks of recent sequence models (ONNX opset 23-26): RotaryEmbedding, SwiGLU,
// CausalConvWithState. Each follows its ONNX doc / reference (onnx/reference/ops/op_*.py).
#include "decompose/registry.h"

namespace walle {

namespace {

using Copy = Decomposer::Copy;

// x[..., start : start + count*step : step] along the last axis.
int slice_last(Decomposer& d, int x, int64_t start, int64_t step, int64_t count) {
  Shape s = d.shape(x), out = s;
  out.back() = count;
  std::vector<int64_t> st = contiguous_strides(s);
  Copy c{x, start, st, 0, contiguous_strides(out), out};
  c.src_strides.back() = step;
  return d.raster({c}, d.dtype(x), out);
}

// Places equal-shaped parts along the last axis: contiguously (concat) or interleaved.
int join_last(Decomposer& d, const std::vector<int>& parts, bool interleave) {
  Shape s = d.shape(parts[0]), out = s;
  int64_t n = static_cast<int64_t>(parts.size());
  out.back() = 0;
  for (int p : parts) out.back() += d.shape(p).back();
  std::vector<int64_t> dst = contiguous_strides(out);
  std::vector<Copy> copies;
  int64_t offset = 0;
  for (int p : parts) {
    Shape ps = d.shape(p);
    Copy c{p, 0, contiguous_strides(ps), offset, dst, ps};
    if (interleave) c.dst_strides.back() = n;
    offset += interleave ? 1 : ps.back();
    copies.push_back(c);
  }
  return d.raster(copies, d.dtype(parts[0]), out);
}

// RotaryEmbedding (opset 23): rotate pairs (x1, x2) of the first rotary_embedding_dim
// features by the cached angles: (cos*x1 - sin*x2, sin*x1 + cos*x2).
void rotary_embedding(Decomposer& d) {
  int x = d.input(0), cos = d.input(1), sin = d.input(2);
  Shape in = d.shape(x);
  if (in.size() == 4)
    x = d.transpose(x, {0, 2, 1, 3});  // [B, H, S, D] -> [B, S, H, D]
  else if (in.size() == 3) {
    int64_t heads = d.node().attr_int("num_heads", 0);
    if (heads < 1 || in[2] % heads) d.fail("num_heads must divide the hidden size of a 3-d input");
    x = d.view(x, {in[0], in[1], heads, in[2] / heads});
  } else
    d.fail("input must be 3-d or 4-d");
  Shape s = d.shape(x);
  int64_t rd = d.node().attr_int("rotary_embedding_dim", 0);
  if (rd == 0) rd = s[3];
  if (rd % 2 || rd > s[3]) d.fail("rotary_embedding_dim must be even and at most the head size");
  if (d.has_input(3)) {  // caches indexed by position: [max_pos, rd/2] -> [B, S, rd/2]
    AtomicOp op;
    for (int* c : {&cos, &sin}) {
      Shape cs = d.shape(*c);
      op.kind = AtomicKind::Gather;
      op.outer = 1;
      op.axis_size = cs[0];
      op.inner = cs[1];
      op.inputs = {*c, d.cast(d.input(3), DType::I64)};
      Shape out = d.shape(d.input(3));
      out.push_back(cs[1]);
      *c = d.emit(op, d.dtype(*c), out);
    }
  }
  if (d.shape(cos).back() != rd / 2) d.fail("the cos cache's last dimension is not rotary_embedding_dim / 2");
  cos = d.view(cos, {s[0], s[1], 1, rd / 2});
  sin = d.view(sin, {s[0], s[1], 1, rd / 2});
  bool interleaved = d.node().attr_int("interleaved", 0) != 0;
  int x1 = interleaved ? slice_last(d, x, 0, 2, rd / 2) : slice_last(d, x, 0, 1, rd / 2);
  int x2 = interleaved ? slice_last(d, x, 1, 2, rd / 2) : slice_last(d, x, rd / 2, 1, rd / 2);
  int real = d.binary(BinaryOp::Sub, d.binary(BinaryOp::Mul, cos, x1), d.binary(BinaryOp::Mul, sin, x2));
  int imag = d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, sin, x1), d.binary(BinaryOp::Mul, cos, x2));
  int y = join_last(d, {real, imag}, interleaved);
  if (rd < s[3]) y = join_last(d, {y, slice_last(d, x, rd, 1, s[3] - rd)}, false);
  d.set_output(0, in.size() == 4 ? d.transpose(y, {0, 2, 1, 3}) : d.view(y, in));
}

// SwiGLU (opset 26): A * sigmoid(alpha * A) * B.
void swiglu(Decomposer& d) {
  int a = d.input(0), b = d.input(1);
  if (d.shape(a) != d.shape(b)) d.fail("A and B must have the same shape");
  double alpha = d.node().attr_float("alpha", 1.0);
  int gate = d.unary(UnaryOp::Sigmoid, alpha == 1.0 ? a : d.binary(BinaryOp::Mul, a, d.scalar(alpha, d.dtype(a))));
  d.set_output(0, d.binary(BinaryOp::Mul, d.binary(BinaryOp::Mul, a, gate), b));
}

// CausalConvWithState: depthwise 1-d convolution over [past_state, input] (k - 1 zeros when
// there is no past), optional SiLU; the new state is the last k - 1 columns.
void causal_conv_with_state(Decomposer& d) {
  int x = d.input(0), w = d.input(1);
  Shape xs = d.shape(x), ws = d.shape(w);
  if (xs.size() != 3 || ws.size() != 3 || ws[0] != xs[1] || ws[1] != 1)
    d.fail("expected input [B, C, L] and weight [C, 1, k]");
  int64_t B = xs[0], C = xs[1], L = xs[2], k = ws[2];
  Shape padded_shape{B, C, L + k - 1};
  std::vector<int64_t> pst = contiguous_strides(padded_shape);
  std::vector<Copy> copies{{x, 0, contiguous_strides(xs), k - 1, pst, xs}};
  if (d.has_input(3)) {
    int past = d.input(3);
    if (d.shape(past) != Shape{B, C, k - 1}) d.fail("past_state must have shape " + shape_str({B, C, k - 1}));
    copies.push_back({past, 0, contiguous_strides(d.shape(past)), 0, pst, d.shape(past)});
  }
  int padded = d.raster(copies, d.dtype(x), padded_shape, true, 0.0);
  AtomicOp op;
  op.kind = AtomicKind::Conv;
  op.n = B, op.c = C, op.out_c = C, op.group = C;
  op.h = 1, op.w = L + k - 1, op.out_h = 1, op.out_w = L, op.kernel_w = k;
  op.inputs = {padded, w};
  if (d.has_input(2)) op.inputs.push_back(d.input(2));
  int y = d.view(d.emit(op, d.dtype(x), {B, C, 1, L}), {B, C, L});
  std::string act = d.node().attr_string("activation", "none");
  if (act == "silu" || act == "swish")
    y = d.cast(d.unary(UnaryOp::Silu, d.cast(y, DType::F32)), d.dtype(x));
  else if (act != "none")
    d.fail("unknown activation '" + act + "'");
  d.set_output(0, y);
  Shape state{B, C, k - 1};
  d.set_output(1, d.raster({{padded, L, pst, 0, contiguous_strides(state), state}}, d.dtype(x), state));
}

}  // namespace

void register_transformer_ops(CompositeRegistry& r) {
  r["RotaryEmbedding"] = {rotary_embedding};
  r["SwiGLU"] = {swiglu};
  r["CausalConvWithState"] = {causal_conv_with_state};
}

}  // namespace walle
