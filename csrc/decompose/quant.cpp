// Linear quantization (ONNX QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear),
// decomposed into Binary, Unary Round (half to even, as the spec requires), Max/Min
// saturation and Cast. Scales may be per tensor, per axis or per block (opset 21).
#include <cmath>

#include "core/small_types.h"
#include "decompose/registry.h"

namespace walle {

namespace {

// Shapes `p` (scale or zero point) to broadcast against x: per-tensor as is, per-axis as
// [1..C..1], per-block repeated block_size times along axis and cropped to x's extent.
int align_param(Decomposer& d, int p, int x) {
  Shape xs = d.shape(x), ps = d.shape(p);
  int64_t r = static_cast<int64_t>(xs.size());
  if (numel(ps) == 1) return d.view(p, {});
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 1), r);
  int64_t block = d.node().attr_int("block_size", 0);
  if (block <= 0) {
    if (ps.size() != 1 || ps[0] != xs[axis])
      d.fail("per-axis scale must be 1-d with " + std::to_string(xs[axis]) + " values");
    Shape s(static_cast<size_t>(r), 1);
    s[axis] = xs[axis];
    return d.view(p, s);
  }
  if (static_cast<int64_t>(ps.size()) != r) d.fail("blocked scale must have the input's rank");
  Shape wide = ps;  // [.., nb, 1, ..] -> [.., nb, block, ..] -> [.., nb*block, ..] -> crop
  wide.insert(wide.begin() + axis + 1, 1);
  Shape rep = wide;
  rep[axis + 1] = block;
  int b = d.broadcast_to(d.view(p, wide), rep);
  Shape merged = ps;
  merged[axis] = ps[axis] * block;
  b = d.view(b, merged);
  if (merged[axis] != xs[axis]) {
    Shape crop = merged;
    crop[axis] = xs[axis];
    b = d.raster({{b, 0, contiguous_strides(merged), 0, contiguous_strides(crop), crop}}, d.dtype(p), crop);
  }
  return b;
}

void integer_range(DType t, double& lo, double& hi) {
  switch (t) {
    case DType::U8:
      lo = 0;
      hi = 255;
      break;
    case DType::I8:
      lo = -128;
      hi = 127;
      break;
    case DType::U16:
      lo = 0;
      hi = 65535;
      break;
    case DType::I16:
      lo = -32768;
      hi = 32767;
      break;
    case DType::U4:
      lo = 0;
      hi = 15;
      break;
    case DType::I4:
      lo = -8;
      hi = 7;
      break;
    case DType::U2:
      lo = 0;
      hi = 3;
      break;
    case DType::I2:
      lo = -2;
      hi = 1;
      break;
    case DType::I32:
      lo = -2147483648.0;
      hi = 2147483647.0;
      break;
    default: lo = hi = 0;
  }
}

bool is_float8(DType t) {
  return t == DType::F8E4M3FN || t == DType::F8E4M3FNUZ || t == DType::F8E5M2 || t == DType::F8E5M2FNUZ ||
         t == DType::F4E2M1 || t == DType::F8E8M0;
}

// y = saturate(round(x / scale) + zero_point)
void quantize(Decomposer& d) {
  int x = d.input(0);
  DType out = d.has_input(2) ? d.dtype(d.input(2)) : static_cast<DType>(d.node().attr_int("output_dtype", 0));
  if (out == DType::Undefined) out = DType::U8;
  DType ct = d.dtype(x) == DType::F64 ? DType::F64 : DType::F32;
  int xf = d.cast(x, ct);
  int scale = d.cast(align_param(d, d.input(1), x), ct);
  int q = d.binary(BinaryOp::Div, xf, scale);
  if (is_float8(out)) {  // no rounding step: the cast rounds to nearest even
    d.set_output(0, d.cast(q, out, d.node().attr_int("saturate", 1) != 0, 2));
    return;
  }
  double lo, hi;
  integer_range(out, lo, hi);
  if (lo == hi) d.fail(std::string("unsupported quantized type ") + dtype_name(out));
  q = d.unary(UnaryOp::Round, q);
  if (d.has_input(2)) q = d.binary(BinaryOp::Add, q, d.cast(align_param(d, d.input(2), x), ct));
  q = d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, q, d.scalar(lo, ct)), d.scalar(hi, ct));
  d.set_output(0, d.cast(q, out));
}

// y = (x - zero_point) * scale, in the scale's type (or output_dtype)
void dequantize(Decomposer& d) {
  int x = d.input(0);
  DType st = d.dtype(d.input(1));
  DType out = d.node().has("output_dtype") && d.node().attr_int("output_dtype", 0)
                  ? static_cast<DType>(d.node().attr_int("output_dtype", 0))
                  : st;
  DType ct = out == DType::F64 ? DType::F64 : DType::F32;
  int v = d.cast(x, ct);
  if (d.has_input(2) && !is_float8(d.dtype(d.input(2))))
    v = d.binary(BinaryOp::Sub, v, d.cast(align_param(d, d.input(2), x), ct));
  d.set_output(0, d.cast(d.binary(BinaryOp::Mul, v, d.cast(align_param(d, d.input(1), x), ct)), out));
}

// DynamicQuantizeLinear: uint8 with scale = (max(0, max x) - min(0, min x)) / 255 and
// zero point = saturate(round(-min / scale)).
void dynamic_quantize(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> all;
  for (int64_t a = 0; a < d.rank(x); ++a) all.push_back(a);
  int zero = d.scalar(0, DType::F32);
  int mx = d.binary(BinaryOp::Max, d.reduce(ReduceOp::Max, x, all, false), zero);
  int mn = d.binary(BinaryOp::Min, d.reduce(ReduceOp::Min, x, all, false), zero);
  int scale = d.binary(BinaryOp::Div, d.binary(BinaryOp::Sub, mx, mn), d.scalar(255, DType::F32));
  int zp = d.unary(UnaryOp::Round, d.binary(BinaryOp::Div, d.unary(UnaryOp::Neg, mn), scale));
  zp = d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, zp, zero), d.scalar(255, DType::F32));
  int q = d.binary(BinaryOp::Add, d.unary(UnaryOp::Round, d.binary(BinaryOp::Div, x, scale)), zp);
  q = d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, q, zero), d.scalar(255, DType::F32));
  d.set_output(0, d.cast(q, DType::U8));
  d.set_output(1, scale);
  d.set_output(2, d.cast(zp, DType::U8));
}

}  // namespace

void register_quant_ops(CompositeRegistry& r) {
  r["QuantizeLinear"] = {quantize};
  r["DequantizeLinear"] = {dequantize};
  r["DynamicQuantizeLinear"] = {dynamic_quantize};
}

}  // namespace walle
