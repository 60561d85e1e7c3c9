// Index-driven ops on the Scatter and TopK atomics: ScatterND, ScatterElements (and the
// opset < 11 Scatter), TensorScatter, GatherND, TopK. Every scatter becomes index tuples
// ([count, q] int64) plus a run of `inner` elements per tuple; elementwise forms build the
// tuples from constant coordinate grids (ONNX docs; onnx/reference/ops/op_scatter*.py).
#include <algorithm>

#include "decompose/registry.h"

namespace walle {

namespace {

// An int64 constant of `shape` holding each element's coordinate along `axis`.
int coordinates(Decomposer& d, const Shape& shape, int64_t axis) {
  Tensor t(DType::I64, shape);
  int64_t inner = numel(Shape(shape.begin() + axis + 1, shape.end())), n = shape[axis];
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<int64_t>()[i] = (i / inner) % n;
  return d.add_constant(t);
}

// Equal-shaped int64 tensors side by side along a new last axis: [..., parts].
int stack_last(Decomposer& d, const std::vector<int>& parts) {
  Shape s = d.shape(parts[0]), out = s;
  int64_t q = static_cast<int64_t>(parts.size());
  out.push_back(q);
  std::vector<Decomposer::Copy> copies;
  for (int64_t j = 0; j < q; ++j) {
    std::vector<int64_t> dst = contiguous_strides(s);
    for (int64_t& v : dst) v *= q;
    copies.push_back({parts[j], 0, contiguous_strides(s), j, dst, s});
  }
  return d.raster(copies, DType::I64, out);
}

int emit_scatter(Decomposer& d, int data, int tuples, int updates, int64_t q, const std::string& reduction) {
  Shape ds = d.shape(data);
  AtomicOp op;
  op.kind = AtomicKind::Scatter;
  op.scatter_dims.assign(ds.begin(), ds.begin() + q);
  op.inner = numel(Shape(ds.begin() + q, ds.end()));
  int64_t count = numel(d.shape(tuples)) / std::max<int64_t>(q, 1);
  if (numel(d.shape(updates)) != count * op.inner)
    d.fail("updates have shape " + shape_str(d.shape(updates)) + ", which does not match the indices");
  if (d.dtype(updates) != d.dtype(data)) d.fail("updates and data have different types");
  if (reduction != "none") {
    op.accumulate = true;
    if (reduction == "add")
      op.binary = BinaryOp::Add;
    else if (reduction == "mul")
      op.binary = BinaryOp::Mul;
    else if (reduction == "max")
      op.binary = BinaryOp::Max;
    else if (reduction == "min")
      op.binary = BinaryOp::Min;
    else
      d.fail("unknown reduction '" + reduction + "'");
  }
  op.inputs = {data, d.view(d.cast(tuples, DType::I64), {count, q}), d.view(updates, {count, op.inner})};
  return d.emit(op, d.dtype(data), ds);
}

void scatter_nd(Decomposer& d) {
  int data = d.input(0), idx = d.input(1);
  int64_t q = d.shape(idx).empty() ? 0 : d.shape(idx).back();
  if (q < 1 || q > d.rank(data)) d.fail("the last dimension of indices must be in [1, rank of data]");
  d.set_output(0, emit_scatter(d, data, idx, d.input(2), q, d.node().attr_string("reduction", "none")));
}

// ScatterElements: tuple = the update's own coordinates with indices[...] on `axis`.
void scatter_elements(Decomposer& d) {
  int data = d.input(0), idx = d.cast(d.input(1), DType::I64);
  Shape is = d.shape(idx);
  int64_t r = d.rank(data);
  if (static_cast<int64_t>(is.size()) != r) d.fail("data and indices must have the same rank");
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", 0), r);
  std::vector<int> parts;
  for (int64_t a = 0; a < r; ++a) parts.push_back(a == axis ? idx : coordinates(d, is, a));
  d.set_output(0,
               emit_scatter(d, data, stack_last(d, parts), d.input(2), r, d.node().attr_string("reduction", "none")));
}

// TensorScatter (opset 24): update rows written into the cache along `axis` starting at
// write_indices[batch], wrapping around in circular mode.
void tensor_scatter(Decomposer& d) {
  int cache = d.input(0), upd = d.input(1);
  Shape cs = d.shape(cache), us = d.shape(upd);
  int64_t r = static_cast<int64_t>(cs.size());
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -2), r);
  if (axis < 1) d.fail("axis must come after the batch axis");
  Shape prefix(us.begin(), us.begin() + axis + 1);
  std::vector<int> parts;
  for (int64_t a = 0; a < axis; ++a) parts.push_back(coordinates(d, prefix, a));
  int seq = coordinates(d, prefix, axis);
  if (d.has_input(2)) {
    Shape bshape(prefix.size(), 1);
    bshape[0] = prefix[0];
    seq = d.binary(BinaryOp::Add, seq, d.view(d.cast(d.input(2), DType::I64), bshape));
  }
  std::string mode = d.node().attr_string("mode", "linear");
  if (mode == "circular")
    seq = d.binary(BinaryOp::Mod, seq, d.scalar(static_cast<double>(cs[axis]), DType::I64));
  else if (mode != "linear")
    d.fail("unknown mode '" + mode + "'");
  parts.push_back(seq);
  d.set_output(0, emit_scatter(d, cache, stack_last(d, parts), upd, axis + 1, "none"));
}

// GatherND: each index tuple (after batch_dims shared leading dims) picks a slice; done as
// one Gather over the flattened leading dims with offsets computed elementwise.
void gather_nd(Decomposer& d) {
  int data = d.input(0), idx = d.cast(d.input(1), DType::I64);
  Shape ds = d.shape(data), is = d.shape(idx);
  int64_t b = d.node().attr_int("batch_dims", 0), q = is.back();
  if (b < 0 || b + q > static_cast<int64_t>(ds.size())) d.fail("batch_dims plus the index length exceed the data rank");
  Shape dims(ds.begin() + b, ds.begin() + b + q);
  std::vector<int64_t> st = contiguous_strides(dims);
  Tensor strides(DType::I64, {q}), sizes(DType::I64, {q});
  for (int64_t j = 0; j < q; ++j) strides.data_as<int64_t>()[j] = st[j], sizes.data_as<int64_t>()[j] = dims[j];
  int zero = d.scalar(0, DType::I64);
  idx = d.select(d.binary(BinaryOp::Less, idx, zero), d.binary(BinaryOp::Add, idx, d.add_constant(sizes)), idx);
  int flat = d.reduce(ReduceOp::Sum, d.binary(BinaryOp::Mul, idx, d.add_constant(strides)), {-1}, false);
  int64_t block = numel(dims), batch = numel(Shape(ds.begin(), ds.begin() + b));
  if (b > 0) {  // add each batch's base offset
    Shape fs = d.shape(flat);
    Shape bs(fs.begin(), fs.begin() + b);
    int base = d.binary(BinaryOp::Mul,
                        d.view(coordinates(d, {batch}, 0),
                               [&] {
                                 Shape s = bs;
                                 s.resize(fs.size(), 1);
                                 return s;
                               }()),
                        d.scalar(static_cast<double>(block), DType::I64));
    flat = d.binary(BinaryOp::Add, flat, base);
  }
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.outer = 1;
  op.axis_size = batch * block;
  op.inner = numel(Shape(ds.begin() + b + q, ds.end()));
  op.inputs = {data, flat};
  Shape out(is.begin(), is.end() - 1);
  out.insert(out.end(), ds.begin() + b + q, ds.end());
  d.set_output(0, d.emit(op, d.dtype(data), out));
}

// TopK: the TopK atomic gives sorted indices; the values are gathered with them.
void topk(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), d.rank(x));
  int64_t k = d.const_int(1, "K");
  if (k < 0 || k > s[axis])
    d.fail("K = " + std::to_string(k) + " is out of range for an axis of " + std::to_string(s[axis]));
  AtomicOp op;
  op.kind = AtomicKind::TopK;
  op.outer = numel(Shape(s.begin(), s.begin() + axis));
  op.reduce_size = s[axis];
  op.inner = numel(Shape(s.begin() + axis + 1, s.end()));
  op.k = k;
  op.largest = d.node().attr_int("largest", 1) != 0;
  op.inputs = {x};
  Shape out = s;
  out[axis] = k;
  int idx = d.emit(op, DType::I64, out);
  // flat position of (o, idx, i) in x: (o * n + idx) * inner + i
  Shape col{op.outer, k, op.inner};
  int o = d.binary(BinaryOp::Mul, coordinates(d, col, 0), d.scalar(static_cast<double>(s[axis]), DType::I64));
  int flat = d.binary(BinaryOp::Add,
                      d.binary(BinaryOp::Mul, d.binary(BinaryOp::Add, o, d.view(idx, col)),
                               d.scalar(static_cast<double>(op.inner), DType::I64)),
                      coordinates(d, col, 2));
  AtomicOp g;
  g.kind = AtomicKind::Gather;
  g.outer = 1;
  g.axis_size = numel(s);
  g.inner = 1;
  g.inputs = {x, flat};
  d.set_output(0, d.view(d.emit(g, d.dtype(x), col), out));
  d.set_output(1, idx);
}

// MaxUnpool: zeros of the inferred shape ((in - 1) * stride + kernel - pads per spatial axis)
// with X's values written at MaxPool's flat indices, then placed at the top-left corner of
// output_shape when that is given (reference op_max_unpool.py).
void max_unpool(Decomposer& d) {
  int x = d.input(0), idx = d.input(1);
  Shape xs = d.shape(x);
  size_t k = xs.size() - 2;
  std::vector<int64_t> kernel = d.node().attr_ints("kernel_shape"),
                       strides = d.node().attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> pads = d.node().attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  if (kernel.size() != k || strides.size() != k || pads.size() != 2 * k)
    d.fail("kernel_shape, strides and pads must match the spatial rank");
  Shape inferred{xs[0], xs[1]};
  for (size_t i = 0; i < k; ++i) inferred.push_back((xs[2 + i] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + k]);
  int zeros = d.add_constant(Tensor(d.dtype(x), {numel(inferred)}));
  int64_t n = numel(xs);
  int y = d.view(emit_scatter(d, zeros, d.view(d.cast(idx, DType::I64), {n, 1}), d.view(x, {n}), 1, "none"), inferred);
  if (d.has_input(2)) {
    Shape out = d.const_ints(2, "output_shape");
    if (out.size() != inferred.size()) d.fail("output_shape has the wrong rank");
    Shape common;
    for (size_t i = 0; i < out.size(); ++i) common.push_back(std::min(out[i], inferred[i]));
    y = d.raster({{y, 0, contiguous_strides(inferred), 0, contiguous_strides(out), common}}, d.dtype(x), out, true,
                 0.0);
  }
  d.set_output(0, y);
}

}  // namespace

void register_scatter_ops(CompositeRegistry& r) {
  r["ScatterND"] = {scatter_nd};
  r["ScatterElements"] = {scatter_elements};
  r["Scatter"] = {scatter_elements};  // opset 9-10 name of ScatterElements
  r["TensorScatter"] = {tensor_scatter};
  r["GatherND"] = {gather_nd};
  r["TopK"] = {topk};
  r["MaxUnpool"] = {max_unpool};
}

}  // namespace walle
