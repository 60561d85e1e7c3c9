// Ops defined by index arithmetic: the index pattern is a plan-time constant (a mask, a
// one-hot, a triangular matrix) combined with the data by Select, Equal or MatMul, or a
// reshape-transpose-reshape (DepthToSpace, SpaceToDepth).
#include <numeric>

#include "decompose/registry.h"

namespace walle {

namespace {

// 0, 1, ..., n-1 shaped to lie along `axis` of a rank-`rank` tensor.
int iota_along(Decomposer& d, int64_t n, int64_t axis, int64_t rank, DType t) {
  Tensor v(DType::I64, {n});
  std::iota(v.data_as<int64_t>(), v.data_as<int64_t>() + n, int64_t{0});
  Shape s(static_cast<size_t>(rank), 1);
  s[axis] = n;
  return d.view(d.cast(d.add_constant(v), t), s);
}

// Bool matrix [rows, cols]: keep(i, j).
template <typename F>
int mask_matrix(Decomposer& d, int64_t rows, int64_t cols, F keep) {
  Tensor m(DType::Bool, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m.data_as<bool>()[i * cols + j] = keep(i, j);
  return d.add_constant(m);
}

// Trilu: keep the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims.
void trilu(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  if (s.size() < 2) d.fail("input must have rank >= 2");
  int64_t k = d.has_input(1) ? static_cast<int64_t>(d.const_scalar(1, "k")) : 0;
  bool upper = d.node().attr_int("upper", 1) != 0;
  int mask =
      mask_matrix(d, s[s.size() - 2], s.back(), [&](int64_t i, int64_t j) { return upper ? j - i >= k : j - i <= k; });
  d.set_output(0, d.select(mask, x, d.scalar(0, d.dtype(x))));
}

// EyeLike: ones on diagonal k of a matrix shaped like the input.
void eye_like(Decomposer& d) {
  Shape s = d.shape(d.input(0));
  if (s.size() != 2) d.fail("input must be 2-d");
  int64_t k = d.node().attr_int("k", 0);
  DType t = d.node().has("dtype") ? static_cast<DType>(d.node().attr_int("dtype", 1)) : d.dtype(d.input(0));
  if (!dtype_is_valid(static_cast<int32_t>(t))) d.fail("unsupported dtype");
  int mask = mask_matrix(d, s[0], s[1], [&](int64_t i, int64_t j) { return j - i == k; });
  d.set_output(0, d.cast(mask, t));
}

// OneHot(indices, depth, values=[off, on]): a new axis of size depth; negative indices count
// from the end; out-of-range indices give all `off`.
void one_hot(Decomposer& d) {
  int idx = d.cast(d.input(0), DType::I64);
  int64_t depth = static_cast<int64_t>(d.const_scalar(1, "depth"));
  int values = d.input(2);
  Shape s = d.shape(idx);
  int64_t r = static_cast<int64_t>(s.size()) + 1;
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), r);
  int neg = d.binary(BinaryOp::Less, idx, d.scalar(0, DType::I64));
  idx = d.select(neg, d.binary(BinaryOp::Add, idx, d.scalar(static_cast<double>(depth), DType::I64)), idx);
  Shape expanded = s;
  expanded.insert(expanded.begin() + axis, 1);
  int hot = d.binary(BinaryOp::Equal, d.view(idx, expanded), iota_along(d, depth, axis, r, DType::I64));
  DType t = d.dtype(values);
  auto pick = [&](int64_t i) {
    Decomposer::Copy c{values, i, {}, 0, {}, {}};
    return d.raster({c}, t, {});
  };
  d.set_output(0, d.select(hot, pick(1), pick(0)));
}

// Hardmax: 1 at the first maximum along axis, 0 elsewhere.
void hardmax(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), r);
  int arg = d.reduce(ReduceOp::ArgMax, x, {axis}, true);
  int hot = d.binary(BinaryOp::Equal, arg, iota_along(d, d.shape(x)[axis], axis, r, DType::I64));
  d.set_output(0, d.cast(hot, d.dtype(x)));
}

// DepthToSpace (DCR or CRD) and SpaceToDepth: reshape, transpose, reshape.
void depth_to_space(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t b = d.node().attr_int("blocksize", 1);
  if (s.size() != 4 || b < 1 || s[1] % (b * b)) d.fail("needs NCHW input with C divisible by blocksize^2");
  int64_t n = s[0], c = s[1] / (b * b), h = s[2], w = s[3];
  bool crd = d.node().attr_string("mode", "DCR") == "CRD";
  int v = crd ? d.view(x, {n, c, b, b, h, w}) : d.view(x, {n, b, b, c, h, w});
  int t = crd ? d.transpose(v, {0, 1, 4, 2, 5, 3}) : d.transpose(v, {0, 3, 4, 1, 5, 2});
  d.set_output(0, d.view(t, {n, c, h * b, w * b}));
}

void space_to_depth(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t b = d.node().attr_int("blocksize", 1);
  if (s.size() != 4 || b < 1 || s[2] % b || s[3] % b) d.fail("needs NCHW input with H and W divisible by blocksize");
  int64_t n = s[0], c = s[1], h = s[2] / b, w = s[3] / b;
  // DCR puts the block offset before the channel in the output channel index, CRD after.
  bool crd = d.node().attr_string("mode", "DCR") == "CRD";
  int t = d.transpose(d.view(x, {n, c, h, b, w, b}),
                      crd ? std::vector<int64_t>{0, 1, 3, 5, 2, 4} : std::vector<int64_t>{0, 3, 5, 1, 2, 4});
  d.set_output(0, d.view(t, {n, c * b * b, h, w}));
}

// CumSum along axis = x @ T with T a constant triangular 0/1 matrix (exclusive drops the
// diagonal, reverse flips the triangle).
void cumsum(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  int64_t axis = d.normalize_axis(static_cast<int64_t>(d.const_scalar(1, "axis")), r);
  bool exclusive = d.node().attr_int("exclusive", 0) != 0, reverse = d.node().attr_int("reverse", 0) != 0;
  int64_t n = d.shape(x)[axis];
  int tri = mask_matrix(d, n, n, [&](int64_t i, int64_t j) {
    if (reverse) return exclusive ? i > j : i >= j;
    return exclusive ? i < j : i <= j;
  });
  std::vector<int64_t> perm;
  for (int64_t a = 0; a < r; ++a)
    if (a != axis) perm.push_back(a);
  perm.push_back(axis);
  std::vector<int64_t> inverse(r);
  for (int64_t a = 0; a < r; ++a) inverse[perm[a]] = a;
  int y = d.matmul(d.transpose(x, perm), d.cast(tri, d.dtype(x)));
  d.set_output(0, d.transpose(y, inverse));
}

// CumProd along axis by a log-depth scan (Hillis-Steele): y *= y shifted by 1, 2, 4, ...
// places, the vacated places filled with 1. Exclusive first shifts x by one place; reverse
// shifts the other way. Exact for integers (only multiplications of the inputs).
void cumprod(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t axis = d.normalize_axis(static_cast<int64_t>(d.const_scalar(1, "axis")), d.rank(x));
  bool exclusive = d.node().attr_int("exclusive", 0) != 0, reverse = d.node().attr_int("reverse", 0) != 0;
  int64_t n = s[axis];
  std::vector<int64_t> st = contiguous_strides(s);
  auto shift = [&](int y, int64_t by) {
    Shape part = s;
    part[axis] = std::max<int64_t>(n - by, 0);
    int64_t src = reverse ? by * st[axis] : 0, dst = reverse ? 0 : by * st[axis];
    return d.raster({{y, src, st, dst, st, part}}, d.dtype(x), s, true, 1.0);
  };
  int y = exclusive ? shift(x, 1) : x;
  for (int64_t by = 1; by < n; by *= 2) y = d.binary(BinaryOp::Mul, y, shift(y, by));
  d.set_output(0, y);
}

// GatherElements: out[..i..] = data[..index[..i..] on axis..]; decomposed as a one-hot over
// the axis and a sum, after cropping data to the index's extent on the other axes.
// GatherElements: one flat Gather. Each index's position in the flattened data is its own
// coordinates (a plan-time constant) with the axis coordinate replaced by the index, so any
// element type moves as bytes (strings included). An index outside [-n, n) becomes one the
// Gather kernel reports as out of range, rather than another element read silently.
void gather_elements(Decomposer& d) {
  int data = d.input(0), idx = d.cast(d.input(1), DType::I64);
  Shape ds = d.shape(data), is = d.shape(idx);
  int64_t r = static_cast<int64_t>(ds.size());
  if (static_cast<int64_t>(is.size()) != r) d.fail("data and indices must have the same rank");
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), r), n = ds[axis];
  for (int64_t k = 0; k < r; ++k)
    if (k != axis && is[k] > ds[k])
      d.fail("indices " + shape_str(is) + " exceed data " + shape_str(ds) + " off the axis");
  std::vector<int64_t> data_strides = contiguous_strides(ds), index_strides = contiguous_strides(is);
  Tensor base(DType::I64, is);
  for (int64_t p = 0; p < base.numel(); ++p) {
    int64_t offset = 0;
    for (int64_t k = 0; k < r; ++k)
      if (k != axis) offset += (p / index_strides[k] % is[k]) * data_strides[k];
    base.data_as<int64_t>()[p] = offset;
  }
  int neg = d.binary(BinaryOp::Less, idx, d.scalar(0, DType::I64));
  idx = d.select(neg, d.binary(BinaryOp::Add, idx, d.scalar(static_cast<double>(n), DType::I64)), idx);
  int bad = d.binary(BinaryOp::Or, d.binary(BinaryOp::Less, idx, d.scalar(0, DType::I64)),
                     d.binary(BinaryOp::GreaterEqual, idx, d.scalar(static_cast<double>(n), DType::I64)));
  int flat = d.binary(BinaryOp::Add,
                      d.binary(BinaryOp::Mul, idx, d.scalar(static_cast<double>(data_strides[axis]), DType::I64)),
                      d.add_constant(base));
  int64_t total = numel(ds);
  flat = d.select(bad, d.scalar(static_cast<double>(-total - 1), DType::I64), flat);
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.origin = " (an index outside [" + std::to_string(-n) + ", " + std::to_string(n) + ") along axis " +
              std::to_string(axis) + ")";
  op.outer = 1;
  op.axis_size = total;
  op.inner = 1;
  op.inputs = {d.view(data, {total}), d.view(flat, {numel(is)})};
  d.set_output(0, d.view(d.emit(op, d.dtype(data), {numel(is)}), is));
}

}  // namespace

void register_index_ops(CompositeRegistry& r) {
  r["Trilu"] = {trilu};
  r["EyeLike"] = {eye_like};
  r["OneHot"] = {one_hot};
  r["Hardmax"] = {hardmax};
  r["DepthToSpace"] = {depth_to_space};
  r["SpaceToDepth"] = {space_to_depth};
  r["CumSum"] = {cumsum};
  r["CumProd"] = {cumprod};
  r["GatherElements"] = {gather_elements};
}

}  // namespace walle
