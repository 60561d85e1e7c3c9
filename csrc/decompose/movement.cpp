// Data-movement ops: each is one Raster op (strided region copies) or a Gather.
#include <algorithm>

#include "core/strings.h"
#include "decompose/registry.h"

namespace walle {

namespace {

using Copy = Decomposer::Copy;

void transpose(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  std::vector<int64_t> perm = d.node().attr_ints("perm");
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  d.set_output(0, d.transpose(x, perm));
}

void concat(Decomposer& d) {
  int first = -1;
  for (int i = 0; i < d.num_inputs() && first < 0; ++i)
    if (d.has_input(i)) first = d.input(i);
  Shape out = d.shape(first);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), static_cast<int64_t>(out.size()));
  out[axis] = 0;
  for (int i = 0; i < d.num_inputs(); ++i) {
    const Shape& s = d.shape(d.input(i));
    if (s.size() != out.size()) d.fail("inputs have different ranks");
    for (size_t k = 0; k < s.size(); ++k)
      if (static_cast<int64_t>(k) != axis && s[k] != d.shape(first)[k])
        d.fail("input " + std::to_string(i) + " has shape " + shape_str(s) + ", incompatible with " +
               shape_str(d.shape(first)));
    out[axis] += s[axis];
  }
  std::vector<int64_t> dst_strides = contiguous_strides(out);
  std::vector<Copy> copies;
  int64_t offset = 0;
  for (int i = 0; i < d.num_inputs(); ++i) {
    int x = d.input(i);
    const Shape& s = d.shape(x);
    copies.push_back({x, 0, contiguous_strides(s), offset * dst_strides[axis], dst_strides, s});
    offset += s[axis];
  }
  d.set_output(0, d.raster(copies, d.dtype(first), out));
}

// Slice (opset >= 10 inputs: starts, ends, axes, steps), clamped as the ONNX doc says.
void slice(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts = d.const_ints(1, "starts"), ends = d.const_ints(2, "ends");
  std::vector<int64_t> axes, steps;
  if (d.has_input(3))
    axes = d.const_ints(3, "axes");
  else
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (d.has_input(4))
    steps = d.const_ints(4, "steps");
  else
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    d.fail("starts, ends, axes and steps have different lengths");
  std::vector<int64_t> in_strides = contiguous_strides(in);
  Copy c{x, 0, in_strides, 0, {}, in};
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = d.normalize_axis(axes[i], r), dim = in[a], step = steps[i];
    if (step == 0) d.fail("step is 0");
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    int64_t n = step > 0 ? (e > s ? (e - s + step - 1) / step : 0) : (s > e ? (s - e - step - 1) / -step : 0);
    c.sizes[a] = n;
    c.src_offset += s * in_strides[a];
    c.src_strides[a] = in_strides[a] * step;
  }
  c.dst_strides = contiguous_strides(c.sizes);
  Shape out = c.sizes;
  d.set_output(0, d.raster({c}, d.dtype(x), out));
}

void split(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), d.rank(x));
  size_t n_out = d.outputs().size();
  std::vector<int64_t> sizes;
  if (d.has_input(1))
    sizes = d.const_ints(1, "split");
  else if (d.node().has("split"))
    sizes = d.node().attr_ints("split");
  else {  // equal parts; the last may be smaller (opset 18 num_outputs)
    int64_t part = (in[axis] + static_cast<int64_t>(n_out) - 1) / static_cast<int64_t>(n_out);
    for (size_t i = 0; i < n_out; ++i)
      sizes.push_back(std::min<int64_t>(part, in[axis] - part * static_cast<int64_t>(i)));
  }
  if (sizes.size() != n_out) d.fail("split sizes do not match the number of outputs");
  std::vector<int64_t> in_strides = contiguous_strides(in);
  int64_t start = 0;
  for (size_t i = 0; i < n_out; ++i) {
    Shape out = in;
    out[axis] = sizes[i];
    Copy c{x, start * in_strides[axis], in_strides, 0, contiguous_strides(out), out};
    d.set_output(static_cast<int>(i), d.raster({c}, d.dtype(x), out));
    start += sizes[i];
  }
  if (start != in[axis]) d.fail("split sizes sum to " + std::to_string(start) + ", not " + std::to_string(in[axis]));
}

void expand(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> shape = d.const_ints(1, "shape");
  // Expand broadcasts both ways: a 1 in `shape` keeps the input's dimension.
  Shape target = broadcast_shapes(d.shape(x), shape, d.node().label());
  d.set_output(0, d.broadcast_to(x, target));
}

void tile(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  std::vector<int64_t> repeats = d.const_ints(1, "repeats");
  if (repeats.size() != in.size())
    d.fail("repeats has " + std::to_string(repeats.size()) + " entries for rank " + std::to_string(in.size()));
  // View the output as [r0, d0, r1, d1, ...] and copy the input with stride 0 over each r.
  Shape out, sizes;
  std::vector<int64_t> src_strides, in_strides = contiguous_strides(in);
  for (size_t i = 0; i < in.size(); ++i) {
    out.push_back(in[i] * repeats[i]);
    sizes.push_back(repeats[i]);
    sizes.push_back(in[i]);
    src_strides.push_back(0);
    src_strides.push_back(in_strides[i]);
  }
  std::vector<int64_t> dst_strides = contiguous_strides(sizes);
  d.set_output(0, d.raster({Copy{x, 0, src_strides, 0, dst_strides, sizes}}, d.dtype(x), out));
}

// Fills the borders of axis `a` of y, whose interior along that axis is [lo, lo + n), for the
// edge, reflect and wrap modes (ONNX Pad doc; numpy.pad semantics, one axis after another).
int pad_borders(Decomposer& d, int y, int64_t a, int64_t lo, int64_t n, int64_t hi, const std::string& mode) {
  Shape s = d.shape(y);
  std::vector<int64_t> st = contiguous_strides(s);
  auto slab = [&](int64_t src_start, int64_t src_step, int64_t dst_start, int64_t count) {
    Copy c{y, src_start * st[a], st, dst_start * st[a], st, s};
    c.sizes[a] = count;
    c.src_strides[a] = st[a] * src_step;
    return c;
  };
  int64_t limit = mode == "reflect" ? n - 1 : mode == "wrap" ? n : (n > 0 ? lo + hi : 0);
  if (lo > limit || hi > limit)
    d.fail("pads of " + std::to_string(lo) + " and " + std::to_string(hi) + " are too large for '" + mode +
           "' mode on an axis of size " + std::to_string(n));
  std::vector<Copy> copies{slab(lo, 1, lo, n)};
  if (mode == "edge") {
    copies.push_back(slab(lo, 0, 0, lo));
    copies.push_back(slab(lo + n - 1, 0, lo + n, hi));
  } else if (mode == "reflect") {  // the edge itself is not repeated
    copies.push_back(slab(2 * lo, -1, 0, lo));
    copies.push_back(slab(lo + n - 2, -1, lo + n, hi));
  } else {  // wrap
    copies.push_back(slab(n, 1, 0, lo));
    copies.push_back(slab(lo, 1, lo + n, hi));
  }
  return d.raster(copies, d.dtype(y), s);
}

// Pad (opset >= 11: pads and constant_value as inputs; axes as input in opset 18).
void pad(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> pads = d.const_ints(1, "pads");
  std::vector<int64_t> axes;
  if (d.has_input(3))
    axes = d.const_ints(3, "axes");
  else
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size())
    d.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * axes.size()));
  std::vector<int64_t> before(r, 0), after(r, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = d.normalize_axis(axes[i], r);
    // Within +-kMaxDim: the output dims and copy offsets below are then exact in int64.
    before[a] = d.require_range(pads[i], -kMaxDim, kMaxDim, "pads");
    after[a] = d.require_range(pads[i + axes.size()], -kMaxDim, kMaxDim, "pads");
  }
  std::string mode = d.node().attr_string("mode", "constant");
  bool strings = d.dtype(x) == DType::String;  // zero handles pad with "", the default
  double value = d.has_input(2) && !strings ? d.const_scalar(2, "constant_value") : 0.0;
  Shape out(r);
  for (int64_t i = 0; i < r; ++i) {
    out[i] = in[i] + before[i] + after[i];
    if (out[i] < 0) d.fail("padding makes dimension " + std::to_string(i) + " negative");
  }
  // Every stride and copy offset below is at most the output's element count.
  __int128 count = 1;
  for (int64_t v : out) count = d.checked(count * v, "Pad's output element count");
  std::vector<int64_t> src_strides = contiguous_strides(in), dst_strides = contiguous_strides(out);
  // The interior: crop where a pad is negative.
  Copy core{x, 0, src_strides, 0, dst_strides, {}};
  for (int64_t i = 0; i < r; ++i) {
    // Crops beyond the input leave an empty interior (and keep the source offset within it).
    int64_t crop_lo = std::min(std::max<int64_t>(-before[i], 0), in[i]);
    int64_t crop_hi = std::min(std::max<int64_t>(-after[i], 0), in[i] - crop_lo);
    core.sizes.push_back(in[i] - crop_lo - crop_hi);
    core.src_offset += crop_lo * src_strides[i];
    core.dst_offset += std::max<int64_t>(before[i], 0) * dst_strides[i];
  }
  if (mode != "constant" && mode != "edge" && mode != "reflect" && mode != "wrap")
    d.fail("unknown pad mode '" + mode + "'");
  int y = d.raster({core}, d.dtype(x), out, true, mode == "constant" ? value : 0.0);
  if (strings && mode == "constant" && d.has_input(2) && numel(d.shape(d.input(2))) == 1 &&
      !string_at(d.value(d.input(2), "a string constant_value"), 0).empty()) {
    // Another string: a plan-time mask of the interior selects x's strings or the value.
    Tensor inside(DType::Bool, out);
    std::vector<int64_t> out_strides = contiguous_strides(out);
    for (int64_t p = 0; p < inside.numel(); ++p) {
      bool in_core = true;
      for (int64_t i = 0; i < r && in_core; ++i) {
        int64_t at = p / out_strides[i] % out[i], lo = std::max<int64_t>(before[i], 0);
        in_core = at >= lo && at < lo + core.sizes[i];
      }
      inside.data_as<bool>()[p] = in_core;
    }
    y = d.select(d.add_constant(inside), y, d.view(d.input(2), {}));
  }
  if (mode != "constant")
    for (int64_t i = 0; i < r; ++i)
      if (before[i] > 0 || after[i] > 0)
        y = pad_borders(d, y, i, std::max<int64_t>(before[i], 0), core.sizes[i], std::max<int64_t>(after[i], 0), mode);
  d.set_output(0, y);
}

// CenterCropPad (opset 18): each listed axis cropped or zero-padded to `shape` around its
// centre; an odd difference puts the extra element at the end (reference op_center_crop_pad).
void center_crop_pad(Decomposer& d) {
  int x = d.input(0);
  Shape in = d.shape(x);
  int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> target = d.const_ints(1, "shape");
  std::vector<int64_t> axes = d.node().attr_ints("axes");
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (axes.size() != target.size())
    d.fail("shape has " + std::to_string(target.size()) + " values for " + std::to_string(axes.size()) + " axes");
  Shape out = in;
  for (size_t i = 0; i < axes.size(); ++i) out[d.normalize_axis(axes[i], r)] = target[i];
  std::vector<int64_t> src = contiguous_strides(in), dst = contiguous_strides(out);
  Copy c{x, 0, src, 0, dst, {}};
  for (int64_t a = 0; a < r; ++a) {
    c.sizes.push_back(std::min(in[a], out[a]));
    if (out[a] < in[a])
      c.src_offset += (in[a] - out[a]) / 2 * src[a];
    else
      c.dst_offset += (out[a] - in[a]) / 2 * dst[a];
  }
  d.set_output(0, d.raster({c}, d.dtype(x), out, true, 0.0));
}

// ReverseSequence: the first sequence_lens[b] steps of each batch entry reversed along
// time_axis, the rest copied; the lengths must be plan-time values.
void reverse_sequence(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t r = static_cast<int64_t>(s.size());
  int64_t bax = d.normalize_axis(d.node().attr_int("batch_axis", 1), r),
          tax = d.normalize_axis(d.node().attr_int("time_axis", 0), r);
  std::vector<int64_t> lens = d.const_ints(1, "sequence_lens");
  if (static_cast<int64_t>(lens.size()) != s[bax] || bax == tax)
    d.fail("sequence_lens must have one length per batch entry");
  std::vector<int64_t> st = contiguous_strides(s);
  std::vector<Copy> copies;
  for (int64_t b = 0; b < s[bax]; ++b) {
    int64_t len = std::clamp<int64_t>(lens[b], 0, s[tax]);
    Shape part = s;
    part[bax] = 1;
    part[tax] = len;
    Copy rev{x, b * st[bax] + (len - 1) * st[tax], st, b * st[bax], st, part};
    rev.src_strides[tax] = -st[tax];
    copies.push_back(rev);
    part[tax] = s[tax] - len;
    copies.push_back({x, b * st[bax] + len * st[tax], st, b * st[bax] + len * st[tax], st, part});
  }
  d.set_output(0, d.raster(copies, d.dtype(x), s));
}

void gather(Decomposer& d) {
  int data = d.input(0), indices = d.input(1);
  const Shape& in = d.shape(data);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), d.rank(data));
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.outer = numel(Shape(in.begin(), in.begin() + axis));
  op.axis_size = in[axis];
  op.inner = numel(Shape(in.begin() + axis + 1, in.end()));
  if (d.dtype(indices) != DType::I64 && d.dtype(indices) != DType::I32) indices = d.cast(indices, DType::I64);
  op.inputs = {data, indices};
  Shape out(in.begin(), in.begin() + axis);
  for (int64_t s : d.shape(indices)) out.push_back(s);
  out.insert(out.end(), in.begin() + axis + 1, in.end());
  // Out-of-range constant indices are a model error caught now rather than at run time.
  if (const Tensor* c = d.constant(indices))
    for (int64_t v : c->to_int64_vector())
      if (v < -op.axis_size || v >= op.axis_size)
        d.fail("index " + std::to_string(v) + " is out of range for axis of size " + std::to_string(op.axis_size));
  d.set_output(0, d.emit(op, d.dtype(data), out));
}

}  // namespace

void register_movement_ops(CompositeRegistry& r) {
  r["Transpose"] = {transpose};
  r["Concat"] = {concat};
  r["Slice"] = {slice};
  r["Split"] = {split};
  r["Expand"] = {expand};
  r["Tile"] = {tile};
  r["Pad"] = {pad};
  r["CenterCropPad"] = {center_crop_pad};
  r["ReverseSequence"] = {reverse_sequence};
  r["Gather"] = {gather};
}

}  // namespace walle
