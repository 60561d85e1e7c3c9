// Resize (opset 11-19) and Upsample, decomposed one axis at a time: interpolation is
// separable, so each resized axis becomes a Gather of the taps and a weighted sum over them.
// Tap indices and weights depend only on shapes and attributes, so they are plan-time
// constants computed exactly as the ONNX reference does (onnx/reference/ops/op_resize.py).
#include <algorithm>
#include <cmath>

#include "decompose/registry.h"

namespace walle {

namespace {

struct ResizeAttrs {
  std::string mode, transform, nearest_mode;
  double cubic_a = -0.75, extrapolation = 0;
  bool antialias = false, exclude_outside = false;
};

// Interpolation weights of the taps around a source position, `ratio` in (0, 1].
std::vector<double> coefficients(const ResizeAttrs& at, double ratio, double scale) {
  if (at.mode == "nearest") {
    if (ratio == 1.0) return {0, 1};
    const std::string& m = at.nearest_mode;
    if (m == "round_prefer_floor") return {double(ratio <= 0.5), double(ratio > 0.5)};
    if (m == "round_prefer_ceil") return {double(ratio < 0.5), double(ratio >= 0.5)};
    if (m == "floor") return {1, 0};
    return {0, 1};  // ceil
  }
  std::vector<double> c;
  double A = at.cubic_a;
  if (at.mode == "linear" && !at.antialias) return {1 - ratio, ratio};
  if (at.mode == "cubic" && !at.antialias) {
    double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
    return {((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A, ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
            ((A + 2) * q - (A + 3)) * q * q + 1, ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A};
  }
  // Antialias (downsampling): the filter is stretched by 1/scale.
  scale = std::min(scale, 1.0);
  if (at.mode == "linear") {
    int64_t start = static_cast<int64_t>(std::floor(-1 / scale) + 1);
    for (int64_t i = start; i < start + 2 - 2 * start; ++i)
      c.push_back(std::clamp(1 - std::abs((i - ratio) * scale), 0.0, 1.0));
  } else {
    int64_t start = static_cast<int64_t>(std::floor(-2 / scale) + 1);
    for (int64_t i = start; i < 2 - start; ++i) {
      double x = std::abs(scale * (i - ratio)), x2 = x * x, x3 = x2 * x;
      c.push_back(x <= 1 ? (A + 2) * x3 - (A + 3) * x2 + 1 : x < 2 ? A * x3 - 5 * A * x2 + 8 * A * x - 4 * A : 0.0);
    }
  }
  double sum = 0;
  for (double v : c) sum += v;
  for (double& v : c) v /= sum;
  return c;
}

// Source coordinate of output index y (the doc's coordinate_transformation_mode formulas).
double source_coordinate(const ResizeAttrs& at, double y, double scale, int64_t in, int64_t out_int,
                         const double* roi) {
  double out = scale * static_cast<double>(in);
  const std::string& m = at.transform;
  if (m == "align_corners") return out == 1 ? 0.0 : y * (in - 1) / (out - 1);
  if (m == "asymmetric") return y / scale;
  if (m == "tf_crop_and_resize") {
    double x = out == 1 ? (roi[1] - roi[0]) * (in - 1) / 2 : y * (roi[1] - roi[0]) * (in - 1) / (out - 1);
    return x + roi[0] * (in - 1);
  }
  if (m == "pytorch_half_pixel") return out == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
  if (m == "half_pixel") return (y + 0.5) / scale - 0.5;
  double offset = in / 2.0 * (1 - out_int / out);  // half_pixel_symmetric
  return offset + (y + 0.5) / scale - 0.5;
}

// Resizes axis `a` of x to `out` elements. Integer inputs that need weights are computed in
// float32 and rounded with saturation, as the reference's saturate_cast does.
int resize_axis(Decomposer& d, int x, int64_t a, int64_t out, double scale, const ResizeAttrs& at, const double* roi) {
  Shape s = d.shape(x);
  int64_t in = s[a];
  std::vector<std::vector<double>> w(out);
  std::vector<int64_t> idx;
  std::vector<char> outside(out, 0);
  bool single_tap = true;
  for (int64_t o = 0; o < out; ++o) {
    double xo = source_coordinate(at, static_cast<double>(o), scale, in, out, roi);
    if (at.transform == "tf_crop_and_resize") outside[o] = xo < 0 || xo > in - 1;
    double fl = std::floor(xo);
    w[o] = coefficients(at, xo == fl ? 1.0 : xo - fl, scale);
    int64_t n = static_cast<int64_t>(w[o].size()), pad = (n + 1) / 2;
    double xp = xo + static_cast<double>(pad), p = std::floor(xp), frac = xp - p;
    int64_t offset =
        n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1);
    int64_t start = static_cast<int64_t>(p) + offset - pad;
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      int64_t i = start + k;
      if (at.exclude_outside && (i < 0 || i >= in)) w[o][k] = 0;
      sum += w[o][k];
      idx.push_back(std::clamp<int64_t>(i, 0, in - 1));
    }
    if (at.exclude_outside && sum != 0)
      for (double& v : w[o]) v /= sum;
    int ones = 0, zeros = 0;
    for (double v : w[o]) ones += v == 1.0, zeros += v == 0.0;
    single_tap = single_tap && ones == 1 && zeros == n - 1 && !outside[o];
  }
  int64_t taps = static_cast<int64_t>(w[0].size());
  auto gather = [&](const std::vector<int64_t>& ids) {
    Tensor t(DType::I64, {static_cast<int64_t>(ids.size())});
    std::copy(ids.begin(), ids.end(), t.data_as<int64_t>());
    AtomicOp op;
    op.kind = AtomicKind::Gather;
    op.outer = numel(Shape(s.begin(), s.begin() + a));
    op.axis_size = in;
    op.inner = numel(Shape(s.begin() + a + 1, s.end()));
    op.inputs = {x, d.add_constant(t)};
    Shape g = s;
    g[a] = static_cast<int64_t>(ids.size());
    return d.emit(op, d.dtype(x), g);
  };
  Shape out_shape = s;
  out_shape[a] = out;
  if (single_tap) {  // nearest: a pure gather, exact for every type
    std::vector<int64_t> pick;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < taps; ++k)
        if (w[o][k] == 1.0) pick.push_back(idx[o * taps + k]);
    return gather(pick);
  }
  DType t = d.dtype(x), ct = t == DType::F64 ? DType::F64 : DType::F32;
  Shape tap_shape = s;
  tap_shape[a] = out;
  tap_shape.insert(tap_shape.begin() + a + 1, taps);
  int g = d.cast(d.view(gather(idx), tap_shape), ct);
  Shape wshape(tap_shape.size(), 1);
  wshape[a] = out;
  wshape[a + 1] = taps;
  Tensor wt(DType::F64, wshape);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t k = 0; k < taps; ++k) wt.data_as<double>()[o * taps + k] = w[o][k];
  int y = d.reduce(ReduceOp::Sum, d.binary(BinaryOp::Mul, g, d.cast(d.add_constant(wt), ct)), {a + 1}, false);
  if (std::count(outside.begin(), outside.end(), 1)) {
    Shape mshape(out_shape.size(), 1);
    mshape[a] = out;
    Tensor mt(DType::Bool, mshape);
    std::copy(outside.begin(), outside.end(), mt.data_as<char>());
    y = d.select(d.add_constant(mt), d.scalar(at.extrapolation, ct), y);
  }
  if (t == ct) return y;
  if (!dtype_is_float(t)) {
    double lo = 0, hi = 0;
    switch (t) {
      case DType::U8: hi = 255; break;
      case DType::I8: lo = -128, hi = 127; break;
      case DType::U16: hi = 65535; break;
      case DType::I16: lo = -32768, hi = 32767; break;
      default: d.fail(std::string("mode '") + at.mode + "' is not supported for " + dtype_name(t));
    }
    y = d.unary(UnaryOp::Round, y);
    y = d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, y, d.scalar(lo, ct)), d.scalar(hi, ct));
  }
  return d.cast(y, t);
}

std::vector<double> const_doubles(Decomposer& d, int i, const char* what) {
  const Tensor* t = d.constant(d.input(i));
  if (!t) d.const_ints(i, what);  // throws: the value must be known when planning
  std::vector<double> v;
  for (int64_t k = 0; k < t->numel(); ++k) v.push_back(t->scalar_as_double(k));
  return v;
}

void resize(Decomposer& d) {
  const Node& n = d.node();
  bool upsample = n.op_type == "Upsample" || d.num_inputs() == 2;  // Upsample and Resize-10: (X, scales)
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t r = static_cast<int64_t>(s.size());
  ResizeAttrs at;
  at.mode = n.attr_string("mode", "nearest");
  at.transform = n.attr_string("coordinate_transformation_mode", upsample ? "asymmetric" : "half_pixel");
  at.nearest_mode = n.attr_string("nearest_mode", upsample ? "floor" : "round_prefer_floor");
  at.cubic_a = n.attr_float("cubic_coeff_a", -0.75);
  at.extrapolation = n.attr_float("extrapolation_value", 0.0);
  at.antialias = n.attr_int("antialias", 0) != 0;
  at.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  if (at.mode != "nearest" && at.mode != "linear" && at.mode != "cubic") d.fail("unknown mode '" + at.mode + "'");
  std::vector<int64_t> axes = n.attr_ints("axes");
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  for (auto& a : axes) a = d.normalize_axis(a, r);
  std::vector<double> scale(r, 1.0), roi;
  for (int64_t i = 0; i < r; ++i) roi.push_back(0.0);
  for (int64_t i = 0; i < r; ++i) roi.push_back(1.0);
  Shape out = s;
  int scales_input = upsample ? 1 : 2;
  bool have_sizes = !upsample && d.has_input(3) && numel(d.shape(d.input(3))) > 0;
  if (!upsample && d.has_input(1) && numel(d.shape(d.input(1))) > 0) {
    std::vector<double> v = const_doubles(d, 1, "roi");
    if (v.size() != 2 * axes.size())
      d.fail("roi has " + std::to_string(v.size()) + " values for " + std::to_string(axes.size()) + " axes");
    for (size_t i = 0; i < axes.size(); ++i) roi[axes[i]] = v[i], roi[r + axes[i]] = v[axes.size() + i];
  }
  if (have_sizes) {
    std::vector<int64_t> sizes = d.const_ints(3, "sizes");
    if (sizes.size() != axes.size())
      d.fail("sizes has " + std::to_string(sizes.size()) + " values for " + std::to_string(axes.size()) + " axes");
    for (size_t i = 0; i < axes.size(); ++i)
      scale[axes[i]] = static_cast<double>(sizes[i]) / static_cast<double>(s[axes[i]]), out[axes[i]] = sizes[i];
    std::string policy = n.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") {  // one scale for every axis, then round half up
      double k = scale[axes[0]];
      for (int64_t a : axes) k = policy == "not_larger" ? std::min(k, scale[a]) : std::max(k, scale[a]);
      for (int64_t a : axes) scale[a] = k, out[a] = static_cast<int64_t>(k * static_cast<double>(s[a]) + 0.5);
    }
  } else {
    std::vector<double> v = const_doubles(d, scales_input, "scales");
    if (upsample && v.size() == static_cast<size_t>(r)) axes.resize(r);
    if (v.size() != axes.size())
      d.fail("scales has " + std::to_string(v.size()) + " values for " + std::to_string(axes.size()) + " axes");
    for (size_t i = 0; i < axes.size(); ++i) {
      if (v[i] <= 0) d.fail("scales must be positive");
      scale[axes[i]] = v[i];
      out[axes[i]] = static_cast<int64_t>(v[i] * static_cast<double>(s[axes[i]]));
    }
  }
  int y = x;
  for (int64_t a : axes) {
    bool identity =
        std::abs(scale[a] - 1.0) < 1e-9 && out[a] == s[a] && std::abs(roi[a]) < 1e-9 && std::abs(roi[r + a] - 1) < 1e-9;
    if (identity) continue;
    if (out[a] == 0 || s[a] == 0) d.fail("resizing to or from an empty axis is not supported");
    double axis_roi[2] = {roi[a], roi[r + a]};
    y = resize_axis(d, y, a, out[a], scale[a], at, axis_roi);
  }
  d.set_output(0, y);
}

}  // namespace

void register_resize_ops(CompositeRegistry& r) {
  r["Resize"] = {resize};
  r["Upsample"] = {resize};
}

}  // namespace walle
