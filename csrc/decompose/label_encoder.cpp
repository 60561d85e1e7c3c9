// ai.onnx.ml LabelEncoder (opsets 2-4) by decomposition: each input element is compared with
// every key (Equal, strings included), the matching key's position picks the value (Gather)
// and elements without a match get the default (Select). Duplicate keys: the last one wins,
// as in the ONNX reference (a dict built from the key list). Float keys compare bit for bit,
// as the spec says, so a NaN key matches NaN inputs.
#include <cstring>

#include "core/strings.h"
#include "decompose/registry.h"

namespace walle {

namespace {

// A 1-d constant from one of the typed list attributes, or from the tensor attribute.
Tensor list_attr(Decomposer& d, const std::string& stem, DType* type) {
  const Node& n = d.node();
  std::vector<Tensor> found;
  if (const Tensor* t = n.attr_tensor(stem + "_tensor")) found.push_back(t->reshaped({t->numel()}));
  if (n.has(stem + "_strings")) {
    std::vector<std::string> v = n.attr_strings(stem + "_strings");
    found.push_back(
        make_string_tensor({static_cast<int64_t>(v.size())}, std::vector<std::string_view>(v.begin(), v.end())));
  }
  if (n.has(stem + "_int64s")) {
    std::vector<int64_t> v = n.attr_ints(stem + "_int64s");
    Tensor t(DType::I64, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t.data_as<int64_t>());
    found.push_back(t);
  }
  if (n.has(stem + "_floats")) {
    std::vector<double> v = n.attr_floats(stem + "_floats");
    Tensor t(DType::F32, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data_as<float>()[i] = static_cast<float>(v[i]);
    found.push_back(t);
  }
  if (found.size() != 1) d.fail("exactly one of " + stem + "_tensor, _strings, _int64s, _floats must be given");
  *type = found[0].dtype();
  return found[0];
}

// The default as a scalar of the values' type (spec defaults: -1, -0.0, "_Unused").
Tensor default_value(Decomposer& d, DType type) {
  const Node& n = d.node();
  if (const Tensor* t = n.attr_tensor("default_tensor")) {
    if (t->numel() != 1) d.fail("default_tensor must hold one value");
    if (t->dtype() != type) d.fail("default_tensor's type differs from the values'");
    return t->reshaped({});
  }
  if (type == DType::String) {
    std::string s = n.attr_string("default_string", "_Unused");
    return make_string_tensor({}, {s});
  }
  if (type == DType::I64) {
    Tensor t(DType::I64, {});
    *t.data_as<int64_t>() = n.attr_int("default_int64", -1);
    return t;
  }
  if (type == DType::F32) {
    Tensor t(DType::F32, {});
    *t.data_as<float>() = static_cast<float>(n.attr_float("default_float", -0.0));
    return t;
  }
  d.fail(std::string("values of type ") + dtype_name(type) + " need a default_tensor");
}

// The integer type of a float's size: float keys compare as their bits.
int as_bits(Decomposer& d, int x) {
  switch (dtype_size(d.dtype(x))) {
    case 2: return d.reinterpret(x, DType::I16);
    case 4: return d.reinterpret(x, DType::I32);
    default: return d.reinterpret(x, DType::I64);
  }
}

void label_encoder(Decomposer& d) {
  int x = d.input(0);
  DType key_type, value_type;
  Tensor keys = list_attr(d, "keys", &key_type);
  Tensor values = list_attr(d, "values", &value_type);
  if (keys.numel() != values.numel())
    d.fail(std::to_string(keys.numel()) + " keys but " + std::to_string(values.numel()) + " values");
  DType xt = d.dtype(x);
  if ((xt == DType::String) != (key_type == DType::String))
    d.fail(std::string("the input is ") + dtype_name(xt) + " but the keys are " + dtype_name(key_type));
  Shape shape = d.shape(x);
  int64_t N = numel(shape), K = keys.numel();
  int fallback = d.add_constant(default_value(d, value_type));
  if (K == 0) {
    d.set_output(0, d.broadcast_to(fallback, shape));
    return;
  }
  int k = d.cast(d.add_constant(keys), xt);  // numeric keys in the input's type
  int flat = d.view(x, {N, 1});
  k = d.view(k, {1, K});
  if (dtype_is_float(xt)) {
    flat = as_bits(d, flat);
    k = as_bits(d, k);
  }
  int eq = d.binary(BinaryOp::Equal, flat, k);                                      // [N, K]
  int found = d.reduce(ReduceOp::Max, eq, {1}, false);                              // [N]
  int position = d.reduce(ReduceOp::ArgMax, eq, {1}, false, /*select_last=*/true);  // [N]
  AtomicOp gather;
  gather.kind = AtomicKind::Gather;
  gather.outer = 1;
  gather.axis_size = K;
  gather.inner = 1;
  gather.inputs = {d.add_constant(values), position};
  int picked = d.emit(gather, value_type, {N});
  d.set_output(0, d.view(d.select(found, picked, fallback), shape));
}

}  // namespace

void register_label_encoder_ops(CompositeRegistry& r) { r["LabelEncoder"] = {label_encoder}; }

}  // namespace walle
