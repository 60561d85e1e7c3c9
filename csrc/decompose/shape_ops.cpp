// Ops that compute or change shapes: views (no copy) and plan-time constants.
#include <algorithm>
#include <cmath>

#include "decompose/registry.h"

namespace walle {

namespace {

int int64_constant(Decomposer& d, const std::vector<int64_t>& values) {
  Tensor t(DType::I64, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data_as<int64_t>());
  return d.add_constant(t);
}

// Shape(x)[start:end]: known once input shapes are resolved, so always a constant.
void shape_op(Decomposer& d) {
  const Shape& s = d.shape(d.input(0));
  int64_t r = static_cast<int64_t>(s.size());
  int64_t start = d.node().attr_int("start", 0), end = d.node().attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  d.set_output(0, int64_constant(d, std::vector<int64_t>(s.begin() + start, s.begin() + end)));
}

void size_op(Decomposer& d) {
  Tensor t(DType::I64, {});
  *t.data_as<int64_t>() = numel(d.shape(d.input(0)));
  d.set_output(0, d.add_constant(t));
}

void reshape(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  std::vector<int64_t> spec = d.const_ints(1, "shape");
  bool allow_zero = d.node().attr_int("allowzero", 0) != 0;
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) {
      if (infer >= 0) d.fail("more than one -1 in the target shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (spec[i] == 0 && !allow_zero) {
      if (i >= in.size()) d.fail("0 in target shape at index " + std::to_string(i) + " has no input dimension to copy");
      out[i] = in[i];
    } else if (spec[i] < 0) {
      d.fail("invalid dimension " + std::to_string(spec[i]) + " in target shape");
    } else {
      out[i] = spec[i];
    }
    known *= out[i];
  }
  if (infer >= 0) {
    if (known == 0 || numel(in) % known != 0)
      d.fail("cannot reshape " + shape_str(in) + " to target " + shape_str(spec));
    out[infer] = numel(in) / known;
  }
  if (numel(out) != numel(in)) d.fail("cannot reshape " + shape_str(in) + " to " + shape_str(out));
  d.set_output(0, d.view(x, out));
}

void flatten(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  int64_t r = static_cast<int64_t>(in.size());
  int64_t axis = d.node().attr_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) d.fail("axis out of range");
  int64_t outer = numel(Shape(in.begin(), in.begin() + axis));
  d.set_output(0, d.view(x, {outer, numel(Shape(in.begin() + axis, in.end()))}));
}

std::vector<int64_t> axes_of(Decomposer& d) {
  if (d.has_input(1)) return d.const_ints(1, "axes");
  return d.node().attr_ints("axes");
}

void squeeze(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  std::vector<int64_t> axes = axes_of(d);
  std::vector<bool> drop(in.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  } else {
    for (int64_t a : axes) {
      int64_t ax = d.normalize_axis(a, static_cast<int64_t>(in.size()));
      if (in[ax] != 1) d.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(in[ax]));
      drop[ax] = true;
    }
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  d.set_output(0, d.view(x, out));
}

void unsqueeze(Decomposer& d) {
  int x = d.input(0);
  const Shape& in = d.shape(x);
  std::vector<int64_t> axes = axes_of(d);
  int64_t r = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    int64_t ax = d.normalize_axis(a, r);
    if (inserted[ax]) d.fail("axis " + std::to_string(a) + " repeated");
    inserted[ax] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(inserted[i] ? 1 : in[k++]);
  d.set_output(0, d.view(x, out));
}

Tensor attribute_tensor(Decomposer& d) {
  const Node& n = d.node();
  auto it = n.attrs.find("value");
  if (it != n.attrs.end() && it->second.kind == Attribute::Kind::Tensor) return it->second.tensor;
  if (n.has("value_float")) {
    Tensor t(DType::F32, {});
    *t.data_as<float>() = static_cast<float>(n.attr_float("value_float", 0));
    return t;
  }
  if (n.has("value_int")) {
    Tensor t(DType::I64, {});
    *t.data_as<int64_t>() = n.attr_int("value_int", 0);
    return t;
  }
  if (n.has("value_floats")) {
    auto v = n.attr_floats("value_floats");
    Tensor t(DType::F32, {static_cast<int64_t>(v.size())});
    std::transform(v.begin(), v.end(), t.data_as<float>(), [](double x) { return static_cast<float>(x); });
    return t;
  }
  if (n.has("value_ints")) {
    auto v = n.attr_ints("value_ints");
    Tensor t(DType::I64, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t.data_as<int64_t>());
    return t;
  }
  return Tensor();
}

void constant(Decomposer& d) {
  Tensor t = attribute_tensor(d);
  if (!t.defined()) d.fail("has no value attribute this build supports");
  d.set_output(0, d.add_constant(t));
}

// ConstantOfShape: broadcast the one-element `value` (default float 0) to the given shape.
void constant_of_shape(Decomposer& d) {
  std::vector<int64_t> shape = d.const_ints(0, "shape");
  for (int64_t s : shape)
    if (s < 0) d.fail("negative dimension in shape");
  Tensor value = attribute_tensor(d);
  if (!value.defined()) value = Tensor(DType::F32, {1});
  int v = d.view(d.add_constant(value), {});
  d.set_output(0, d.broadcast_to(v, shape));
}

// Range(start, limit, delta): computed at plan time (its inputs are almost always constants).
void range(Decomposer& d) {
  DType t = d.dtype(d.input(0));
  double start = d.const_scalar(0, "start"), limit = d.const_scalar(1, "limit"), delta = d.const_scalar(2, "delta");
  if (delta == 0) d.fail("delta is zero");
  int64_t n = std::max<int64_t>(static_cast<int64_t>(std::ceil((limit - start) / delta)), 0);
  Tensor out(DType::F64, {n});
  for (int64_t i = 0; i < n; ++i) out.data_as<double>()[i] = start + static_cast<double>(i) * delta;
  d.set_output(0, d.cast(d.add_constant(out), t));
}

// BitCast (opset 26): the bytes unchanged, read as `to` (same element size).
void bitcast(Decomposer& d) {
  int64_t to = d.node().attr_int("to", 0);
  if (!dtype_is_valid(static_cast<int32_t>(to)) || to == static_cast<int64_t>(DType::String))
    d.fail("unsupported target type " + std::to_string(to));
  auto sub_byte = [](DType t) {
    return t == DType::U4 || t == DType::I4 || t == DType::F4E2M1 || t == DType::U2 || t == DType::I2;
  };
  if (sub_byte(static_cast<DType>(to)) || sub_byte(d.dtype(d.input(0))))
    d.fail("4- and 2-bit types are stored one per byte and cannot be bit-cast");
  d.set_output(0, d.reinterpret(d.input(0), static_cast<DType>(to)));
}

}  // namespace

void register_shape_ops(CompositeRegistry& r) {
  r["Shape"] = {shape_op};
  r["Size"] = {size_op};
  r["Reshape"] = {reshape};
  r["Flatten"] = {flatten};
  r["Squeeze"] = {squeeze};
  r["Unsqueeze"] = {unsqueeze};
  r["Constant"] = {constant};
  r["ConstantOfShape"] = {constant_of_shape};
  r["Range"] = {range};
  r["BitCast"] = {bitcast};
}

}  // namespace walle
