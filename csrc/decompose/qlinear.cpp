// Integer and quantized-linear MatMul/Conv (MatMulInteger, ConvInteger, QLinearMatMul,
// QLinearConv): zero points subtracted, the product accumulated exactly in float64 (int8
// products summed stay far below 2^53), then rescaled, rounded half to even and saturated,
// as the ONNX reference does (onnx/reference/ops/op_qlinear_*.py, op_*_integer.py).
#include "decompose/registry.h"

namespace walle {

namespace {

// x - zero_point in float64; a 1-d zero point of length `per_axis_len` applies along `axis`.
int centered(Decomposer& d, int x, int zp_input, int64_t axis) {
  int v = d.cast(x, DType::F64);
  if (!d.has_input(zp_input)) return v;
  int zp = d.cast(d.input(zp_input), DType::F64);
  Shape zs = d.shape(zp);
  if (numel(zs) > 1) {  // per row / column / channel: a 1-d zero point as long as that axis
    int64_t a = d.normalize_axis(axis, d.rank(x), "the zero point's axis");
    if (numel(zs) != d.shape(x)[a])
      d.fail("a per-axis zero point has " + std::to_string(numel(zs)) + " values for an axis of " +
             std::to_string(d.shape(x)[a]));
    Shape s(static_cast<size_t>(d.rank(x)), 1);
    s[a] = numel(zs);
    zp = d.view(zp, s);
  }
  return d.binary(BinaryOp::Sub, v, zp);
}

int per_axis(Decomposer& d, int scale, int64_t rank, int64_t axis) {
  if (numel(d.shape(scale)) <= 1) return scale;
  int64_t a = d.normalize_axis(axis, rank, "the scale's axis");
  Shape s(static_cast<size_t>(rank), 1);
  s[a] = numel(d.shape(scale));
  return d.view(scale, s);
}

// round(acc * multiplier + zp) saturated to the zero point's type.
int requantize(Decomposer& d, int acc, int multiplier, int zp_input, DType fallback) {
  DType out = d.has_input(zp_input) ? d.dtype(d.input(zp_input)) : fallback;
  int y = d.binary(BinaryOp::Mul, acc, d.cast(multiplier, DType::F64));
  if (d.has_input(zp_input)) y = d.binary(BinaryOp::Add, y, d.cast(d.input(zp_input), DType::F64));
  y = d.unary(UnaryOp::Round, y);
  double lo = out == DType::I8 ? -128 : out == DType::U8 ? 0 : out == DType::I16 ? -32768 : 0;
  double hi = out == DType::I8 ? 127 : out == DType::U8 ? 255 : out == DType::I16 ? 32767 : 65535;
  if (out != DType::I8 && out != DType::U8 && out != DType::I16 && out != DType::U16)
    d.fail(std::string("output type ") + dtype_name(out) + " is not supported");
  y = d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, y, d.scalar(lo, DType::F64)), d.scalar(hi, DType::F64));
  return d.cast(y, out);
}

void matmul_integer(Decomposer& d) {
  int a = centered(d, d.input(0), 2, d.rank(d.input(0)) - 2), b = centered(d, d.input(1), 3, d.rank(d.input(1)) - 1);
  d.set_output(0, d.cast(d.matmul(a, b), DType::I32));
}

void conv_integer(Decomposer& d) {
  int x = centered(d, d.input(0), 2, 1), w = centered(d, d.input(1), 3, 0);
  d.set_output(0, d.cast(emit_conv(d, x, w, -1), DType::I32));
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)
void qlinear_matmul(Decomposer& d) {
  int64_t ra = d.rank(d.input(0)), rb = d.rank(d.input(3));
  int a = centered(d, d.input(0), 2, ra - 2), b = centered(d, d.input(3), 5, rb - 1);
  int acc = d.matmul(a, b);
  int64_t r = d.rank(acc);
  int sa = per_axis(d, d.input(1), r, r - 2), sb = per_axis(d, d.input(4), r, r - 1);
  int m = d.binary(BinaryOp::Div, d.binary(BinaryOp::Mul, sa, sb), d.input(6));
  d.set_output(0, requantize(d, acc, m, 7, d.dtype(d.input(0))));
}

// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B): B is int32 at scale x_scale * w_scale.
void qlinear_conv(Decomposer& d) {
  int x = centered(d, d.input(0), 2, 1), w = centered(d, d.input(3), 5, 0);
  int acc = emit_conv(d, x, w, d.has_input(8) ? d.cast(d.input(8), DType::F64) : -1);
  int64_t r = d.rank(acc);
  int m = d.binary(BinaryOp::Div, d.binary(BinaryOp::Mul, d.input(1), per_axis(d, d.input(4), r, 1)), d.input(6));
  d.set_output(0, requantize(d, acc, m, 7, d.dtype(d.input(0))));
}

}  // namespace

void register_qlinear_ops(CompositeRegistry& r) {
  r["MatMulInteger"] = {matmul_integer};
  r["ConvInteger"] = {conv_integer};
  r["QLinearMatMul"] = {qlinear_matmul};
  r["QLinearConv"] = {qlinear_conv};
}

}  // namespace walle
