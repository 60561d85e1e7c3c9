// Sequence ops (ONNX "Sequence" section). A sequence is a plan-time list of tensors
// (Decomposer::make_sequence); these ops only rearrange the list, and the tensors themselves
// are copied by Concat-like rasters where needed. Positions fed as model inputs become
// plan-time values (the session re-plans when they change).
#include <algorithm>

#include "decompose/registry.h"

namespace walle {

namespace {

// A position in [-n, n) (or [-n, n] where `end_ok`, for insertion), made non-negative.
int64_t position(Decomposer& d, int input, int64_t n, bool end_ok) {
  std::vector<int64_t> v = d.const_ints(input, "position");
  if (v.size() != 1) d.fail("position must be a scalar");
  int64_t p = v[0] < 0 ? v[0] + n : v[0];
  if (p < 0 || p > n || (p == n && !end_ok))
    d.fail("position " + std::to_string(v[0]) + " is out of range for a sequence of " + std::to_string(n));
  return p;
}

void sequence_empty(Decomposer& d) { d.set_output(0, d.make_sequence({})); }

void sequence_construct(Decomposer& d) {
  std::vector<int> items;
  for (int i = 0; i < d.num_inputs(); ++i) items.push_back(d.input(i));
  d.set_output(0, d.make_sequence(items));
}

void sequence_insert(Decomposer& d) {
  std::vector<int> items = d.sequence(d.input(0));
  int64_t n = static_cast<int64_t>(items.size());
  int64_t p = d.has_input(2) ? position(d, 2, n, true) : n;
  items.insert(items.begin() + p, d.input(1));
  d.set_output(0, d.make_sequence(items));
}

void sequence_erase(Decomposer& d) {
  std::vector<int> items = d.sequence(d.input(0));
  int64_t n = static_cast<int64_t>(items.size());
  if (n == 0) d.fail("cannot erase from an empty sequence");
  int64_t p = d.has_input(1) ? position(d, 1, n, false) : n - 1;
  items.erase(items.begin() + p);
  d.set_output(0, d.make_sequence(items));
}

void sequence_at(Decomposer& d) {
  const std::vector<int>& items = d.sequence(d.input(0));
  d.set_output(0, items[position(d, 1, static_cast<int64_t>(items.size()), false)]);
}

void sequence_length(Decomposer& d) {
  Tensor t(DType::I64, {});
  *t.data_as<int64_t>() = static_cast<int64_t>(d.sequence(d.input(0)).size());
  d.set_output(0, d.add_constant(t));
}

// ConcatFromSequence: Concat along `axis`, or Stack along a new axis when new_axis = 1.
void concat_from_sequence(Decomposer& d) {
  const std::vector<int>& items = d.sequence(d.input(0));
  if (items.empty()) d.fail("cannot concatenate an empty sequence");
  bool stack = d.node().attr_int("new_axis", 0) != 0;
  Shape first = d.shape(items[0]);
  int64_t r = static_cast<int64_t>(first.size()) + (stack ? 1 : 0);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), r);
  Shape out = first;
  if (stack) out.insert(out.begin() + axis, 0);
  out[axis] = 0;
  std::vector<Shape> shapes;
  for (int id : items) {
    Shape s = d.shape(id);
    if (stack) s.insert(s.begin() + axis, 1);
    if (static_cast<int64_t>(s.size()) != r) d.fail("sequence elements have different ranks");
    for (int64_t k = 0; k < r; ++k)
      if (k != axis && s[k] != out[k])
        d.fail("sequence element of shape " + shape_str(d.shape(id)) + " does not match " + shape_str(first));
    out[axis] += s[axis];
    shapes.push_back(s);
  }
  std::vector<int64_t> st = contiguous_strides(out);
  std::vector<Decomposer::Copy> copies;
  int64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    copies.push_back({items[i], 0, contiguous_strides(shapes[i]), offset * st[axis], st, shapes[i]});
    offset += shapes[i][axis];
  }
  d.set_output(0, d.raster(copies, d.dtype(items[0]), out));
}

// SplitToSequence: pieces of `split` (a scalar chunk length or a list of lengths), or of
// length 1 with the axis removed unless keepdims.
void split_to_sequence(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), static_cast<int64_t>(s.size()));
  std::vector<int64_t> sizes;
  bool squeeze = false;
  if (!d.has_input(1)) {
    sizes.assign(s[axis], 1);
    squeeze = d.node().attr_int("keepdims", 1) == 0;
  } else {
    std::vector<int64_t> v = d.const_ints(1, "split");
    if (d.rank(d.input(1)) == 0) {
      d.require_count(v, 1, "split");
      if (v[0] < 1) d.fail("split must be positive");
      for (int64_t at = 0; at < s[axis]; at += v[0]) sizes.push_back(std::min(v[0], s[axis] - at));
    } else {
      sizes = v;
    }
  }
  std::vector<int64_t> st = contiguous_strides(s);
  std::vector<int> items;
  int64_t start = 0;
  for (int64_t n : sizes) {
    Shape piece = s;
    piece[axis] = n;
    if (start + n > s[axis] || n < 0) d.fail("split lengths exceed the axis size " + std::to_string(s[axis]));
    int y = d.raster({{x, start * st[axis], st, 0, contiguous_strides(piece), piece}}, d.dtype(x), piece);
    if (squeeze) piece.erase(piece.begin() + axis);
    items.push_back(d.view(y, piece));
    start += n;
  }
  if (start != s[axis]) d.fail("split lengths sum to " + std::to_string(start) + ", not " + std::to_string(s[axis]));
  d.set_output(0, d.make_sequence(items));
}

}  // namespace

void register_sequence_ops(CompositeRegistry& r) {
  r["SequenceEmpty"] = {sequence_empty};
  r["SequenceConstruct"] = {sequence_construct};
  r["SequenceInsert"] = {sequence_insert};
  r["SequenceErase"] = {sequence_erase};
  r["SequenceAt"] = {sequence_at};
  r["SequenceLength"] = {sequence_length};
  r["ConcatFromSequence"] = {concat_from_sequence};
  r["SplitToSequence"] = {split_to_sequence};
}

}  // namespace walle
