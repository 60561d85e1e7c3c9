// Normalizations built from reductions: RMS, instance, group, Lp and mean-variance
// normalization (formulas from the ONNX operator docs / function bodies).
#include <numeric>

#include "decompose/registry.h"

namespace walle {

namespace {

std::vector<int64_t> axes_from(int64_t first, int64_t rank) {
  std::vector<int64_t> axes;
  for (int64_t a = first; a < rank; ++a) axes.push_back(a);
  return axes;
}

// Half-precision inputs are normalized in float32 when stash_type says so (the default).
int stash(Decomposer& d, int x) {
  DType t = d.dtype(x);
  bool widen = d.node().attr_int("stash_type", 1) == 1 && (t == DType::F16 || t == DType::BF16);
  return widen ? d.cast(x, DType::F32) : x;
}

// (x - mean) / sqrt(var + eps) over `axes`.
int standardize(Decomposer& d, int x, const std::vector<int64_t>& axes, double eps) {
  int mean = d.reduce(ReduceOp::Mean, x, axes, true);
  int centered = d.binary(BinaryOp::Sub, x, mean);
  int var = d.reduce(ReduceOp::Mean, d.binary(BinaryOp::Mul, centered, centered), axes, true);
  int inv = d.unary(UnaryOp::Rsqrt, d.binary(BinaryOp::Add, var, d.scalar(eps, d.dtype(x))));
  return d.binary(BinaryOp::Mul, centered, inv);
}

// Per-channel [C] parameter shaped to broadcast over [N, C, d...].
int per_channel(Decomposer& d, int p, int64_t rank) {
  Shape s(static_cast<size_t>(rank - 1), 1);
  s[0] = numel(d.shape(p));
  return d.view(p, s);
}

// RMSNormalization (opset 23): x / sqrt(mean(x^2 over [axis, rank)) + eps) * scale.
void rms_norm(Decomposer& d) {
  int x = d.input(0);
  DType t = d.dtype(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), d.rank(x));
  int xs = stash(d, x);
  int ms = d.reduce(ReduceOp::Mean, d.binary(BinaryOp::Mul, xs, xs), axes_from(axis, d.rank(x)), true);
  int inv =
      d.unary(UnaryOp::Rsqrt, d.binary(BinaryOp::Add, ms, d.scalar(d.node().attr_float("epsilon", 1e-5), d.dtype(xs))));
  int y = d.cast(d.binary(BinaryOp::Mul, xs, inv), t);
  d.set_output(0, d.binary(BinaryOp::Mul, y, d.input(1)));
}

void instance_norm(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  int y = standardize(d, x, axes_from(2, r), d.node().attr_float("epsilon", 1e-5));
  y = d.binary(BinaryOp::Mul, y, per_channel(d, d.input(1), r));
  d.set_output(0, d.binary(BinaryOp::Add, y, per_channel(d, d.input(2), r)));
}

// GroupNormalization (opset 21: scale and bias per channel): standardize each group of
// C / num_groups channels of each sample.
void group_norm(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t groups = d.node().attr_int("num_groups", 1);
  if (s.size() < 2 || groups < 1 || s[1] % groups) d.fail("channels " + shape_str(s) + " do not split into groups");
  DType t = d.dtype(x);
  int g = d.view(stash(d, x), {s[0], groups, numel(s) / (s[0] * groups)});
  int y = d.cast(d.view(standardize(d, g, {2}, d.node().attr_float("epsilon", 1e-5)), s), t);
  int64_t r = static_cast<int64_t>(s.size());
  int scale = d.input(1), bias = d.input(2);
  if (numel(d.shape(scale)) != s[1]) d.fail("scale must have one value per channel (opset 21)");
  y = d.binary(BinaryOp::Mul, y, per_channel(d, scale, r));
  d.set_output(0, d.binary(BinaryOp::Add, y, per_channel(d, bias, r)));
}

// LpNormalization: x / ||x||_p along axis (p = 1 or 2).
void lp_norm(Decomposer& d) {
  int x = d.input(0);
  int64_t p = d.node().attr_int("p", 2);
  if (p != 1 && p != 2) d.fail("p must be 1 or 2");
  int norm = d.reduce(p == 1 ? ReduceOp::L1 : ReduceOp::L2, x, {d.node().attr_int("axis", -1)}, true);
  int zero = d.scalar(0, d.dtype(x));
  d.set_output(0, d.select(d.binary(BinaryOp::Equal, norm, zero), zero, d.binary(BinaryOp::Div, x, norm)));  // 0/0 -> 0
}

// MeanVarianceNormalization: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over `axes`.
void mean_variance_norm(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> axes = d.node().attr_ints("axes", {0, 2, 3});
  int mean = d.reduce(ReduceOp::Mean, x, axes, true);
  int mean_sq = d.reduce(ReduceOp::Mean, d.binary(BinaryOp::Mul, x, x), axes, true);
  int var = d.binary(BinaryOp::Sub, mean_sq, d.binary(BinaryOp::Mul, mean, mean));
  int denom = d.binary(BinaryOp::Add, d.unary(UnaryOp::Sqrt, var), d.scalar(1e-9, d.dtype(x)));
  d.set_output(0, d.binary(BinaryOp::Div, d.binary(BinaryOp::Sub, x, mean), denom));
}

}  // namespace

void register_norm_ops(CompositeRegistry& r) {
  r["RMSNormalization"] = {rms_norm};
  r["InstanceNormalization"] = {instance_norm};
  r["GroupNormalization"] = {group_norm};
  r["LpNormalization"] = {lp_norm};
  r["MeanVarianceNormalization"] = {mean_variance_norm};
}

}  // namespace walle
