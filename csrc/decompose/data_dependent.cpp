// Ops whose output shape depends on input values: NonZero, Compress, Unique. The shapes of
// a plan are static, so the values that decide them must be plan-time values: constants, or
// model inputs the session then plans with (re-planning when they change). Compress only
// needs its condition; the data moves with a Gather at run time.
#include <algorithm>
#include <map>
#include <numeric>

#include "core/strings.h"
#include "decompose/registry.h"

namespace walle {

namespace {

std::vector<long double> numbers(const Tensor& t) {
  std::vector<long double> v(t.numel());
  if (dtype_is_float(t.dtype())) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.scalar_as_double(i);
  } else {
    std::vector<int64_t> ints = t.to_int64_vector();
    std::copy(ints.begin(), ints.end(), v.begin());
  }
  return v;
}

int int64_constant(Decomposer& d, const std::vector<int64_t>& values, Shape shape) {
  Tensor t(DType::I64, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<int64_t>());
  return d.add_constant(t);
}

// x's slices `picks` along `axis`, in that order (a Gather with constant indices).
int take(Decomposer& d, int x, int64_t axis, const std::vector<int64_t>& picks) {
  Shape s = d.shape(x);
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.outer = numel(Shape(s.begin(), s.begin() + axis));
  op.axis_size = s[axis];
  op.inner = numel(Shape(s.begin() + axis + 1, s.end()));
  op.inputs = {x, int64_constant(d, picks, {static_cast<int64_t>(picks.size())})};
  Shape out = s;
  out[axis] = static_cast<int64_t>(picks.size());
  return d.emit(op, d.dtype(x), out);
}

void nonzero(Decomposer& d) {
  Tensor x = d.value(d.input(0), "the input of NonZero");
  std::vector<long double> v = numbers(x);
  Shape s = x.shape();
  int64_t r = static_cast<int64_t>(s.size());
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (v[i] != 0) hits.push_back(i);
  int64_t n = static_cast<int64_t>(hits.size());
  std::vector<int64_t> coords(r * n), st = contiguous_strides(s);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t a = 0; a < r; ++a) coords[a * n + j] = hits[j] / st[a] % s[a];
  d.set_output(0, int64_constant(d, coords, {r, n}));
}

void compress(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> cond = d.value_ints(d.input(1), "condition");
  bool has_axis = d.node().has("axis");
  if (!has_axis) x = d.view(x, {numel(d.shape(x))});
  int64_t axis = has_axis ? d.normalize_axis(d.node().attr_int("axis", 0), d.rank(x)) : 0;
  if (static_cast<int64_t>(cond.size()) > d.shape(x)[axis]) d.fail("condition is longer than the axis");
  std::vector<int64_t> picks;
  for (size_t i = 0; i < cond.size(); ++i)
    if (cond[i]) picks.push_back(static_cast<int64_t>(i));
  d.set_output(0, take(d, x, axis, picks));
}

// Unique (opset 11): unique elements (or slices along `axis`), sorted or in order of first
// occurrence, with first-occurrence indices, inverse indices and counts. Strings compare by
// their UTF-8 bytes, which orders them by code point as numpy does.
template <typename V>
void unique_of(Decomposer& d, int xid, const std::vector<V>& v, Shape s, bool has_axis) {
  bool sorted = d.node().attr_int("sorted", 1) != 0;
  int64_t axis = has_axis ? d.normalize_axis(d.node().attr_int("axis", 0), static_cast<int64_t>(s.size())) : 0;
  if (!has_axis) s = {numel(s)};
  int64_t n = s[axis], outer = numel(Shape(s.begin(), s.begin() + axis)),
          inner = numel(Shape(s.begin() + axis + 1, s.end()));
  auto key = [&](int64_t i) {  // slice i along the axis, as a comparable list
    std::vector<V> k;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) k.push_back(v[(o * n + i) * inner + j]);
    return k;
  };
  std::map<std::vector<V>, int64_t> first;  // slice -> first index
  std::vector<int64_t> order;               // unique slices by first occurrence
  std::vector<std::vector<V>> keys(n);
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = key(i);
    if (first.emplace(keys[i], i).second) order.push_back(i);
  }
  if (sorted) std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  std::map<std::vector<V>, int64_t> position;
  for (size_t u = 0; u < order.size(); ++u) position[keys[order[u]]] = static_cast<int64_t>(u);
  std::vector<int64_t> inverse(n), counts(order.size(), 0);
  for (int64_t i = 0; i < n; ++i) ++counts[inverse[i] = position[keys[i]]];
  int64_t m = static_cast<int64_t>(order.size());
  int flat = has_axis ? xid : d.view(xid, s);
  d.set_output(0, take(d, flat, axis, order));
  d.set_output(1, int64_constant(d, order, {m}));
  d.set_output(2, int64_constant(d, inverse, {n}));
  d.set_output(3, int64_constant(d, counts, {m}));
}

void unique(Decomposer& d) {
  int xid = d.input(0);
  Tensor x = d.value(xid, "the input of Unique");  // a copy: emitting ops grows the tensor table
  bool has_axis = d.node().has("axis");
  if (x.dtype() != DType::String) return unique_of(d, xid, numbers(x), x.shape(), has_axis);
  std::vector<std::string_view> v(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) v[i] = string_at(x, i);
  unique_of(d, xid, v, x.shape(), has_axis);
}

// IoU > threshold of two boxes, corners [y1, x1, y2, x2] in any order or [xc, yc, w, h]
// (ONNX NonMaxSuppression, center_point_box).
bool suppresses(const double* a, const double* b, bool center, double threshold) {
  auto span = [&](const double* box, int axis, double& lo, double& hi) {
    if (center) {
      double c = box[axis == 0 ? 0 : 1], half = box[axis == 0 ? 2 : 3] / 2;
      lo = c - half, hi = c + half;
    } else {
      double u = box[axis == 0 ? 1 : 0], v = box[axis == 0 ? 3 : 2];
      lo = std::min(u, v), hi = std::max(u, v);
    }
  };
  double ax0, ax1, bx0, bx1, ay0, ay1, by0, by1;
  span(a, 0, ax0, ax1), span(b, 0, bx0, bx1), span(a, 1, ay0, ay1), span(b, 1, by0, by1);
  double ix = std::min(ax1, bx1) - std::max(ax0, bx0), iy = std::min(ay1, by1) - std::max(ay0, by0);
  if (ix <= 0 || iy <= 0) return false;
  double inter = ix * iy, area_a = (ax1 - ax0) * (ay1 - ay0), area_b = (bx1 - bx0) * (by1 - by0);
  double uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}

// NonMaxSuppression: per batch and class, greedy selection by descending score (ties: lower
// box index first), dropping boxes that overlap a selected one by more than iou_threshold.
void non_max_suppression(Decomposer& d) {
  Tensor boxes = d.value(d.input(0), "boxes"), scores = d.value(d.input(1), "scores");
  if (boxes.rank() != 3 || boxes.shape()[2] != 4 || scores.rank() != 3)
    d.fail("boxes must be [B, N, 4] and scores [B, C, N]");
  int64_t B = boxes.shape()[0], N = boxes.shape()[1], C = scores.shape()[1];
  int64_t max_out = d.has_input(2) && numel(d.shape(d.input(2)))
                        ? std::max<int64_t>(d.const_int(2, "max_output_boxes_per_class"), 0)
                        : 0;
  double iou = d.has_input(3) && numel(d.shape(d.input(3))) ? d.const_scalar(3, "iou_threshold") : 0.0;
  bool has_score = d.has_input(4) && numel(d.shape(d.input(4)));
  double min_score = has_score ? d.const_scalar(4, "score_threshold") : 0.0;
  bool center = d.node().attr_int("center_point_box", 0) != 0;
  std::vector<long double> bv = numbers(boxes), sv = numbers(scores);
  std::vector<double> box(bv.begin(), bv.end());
  std::vector<int64_t> picked;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const long double* sc = sv.data() + (b * C + c) * N;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < N; ++i)
        if (!has_score || sc[i] > min_score) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sc[x] > sc[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool ok = true;
        for (int64_t j : kept) ok = ok && !suppresses(&box[(b * N + i) * 4], &box[(b * N + j) * 4], center, iou);
        if (!ok) continue;
        kept.push_back(i);
        picked.insert(picked.end(), {b, c, i});
      }
    }
  d.set_output(0, int64_constant(d, picked, {static_cast<int64_t>(picked.size()) / 3, 3}));
}

}  // namespace

void register_data_dependent_ops(CompositeRegistry& r) {
  r["NonZero"] = {nonzero};
  r["Compress"] = {compress};
  r["Unique"] = {unique};
  r["NonMaxSuppression"] = {non_max_suppression};
}

}  // namespace walle
