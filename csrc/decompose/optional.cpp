// Optional ops (ONNX "Optional" section). An optional exists only at plan time, like a
// sequence: a present optional is its value itself, an empty one a placeholder
// (Decomposer::make_empty_optional). So these ops emit nothing; whether an optional is empty
// is decided when the model is planned (an optional model input's presence is part of the
// plan's signature, see Session::plan).
#include "decompose/registry.h"

namespace walle {

namespace {

// Optional(V) wraps V; Optional() with the `type` attribute is the empty optional of that type.
void optional(Decomposer& d) {
  if (d.has_input(0)) {
    if (d.is_empty_optional(d.input(0)))
      d.fail("the input is already an optional (optional of optional is not an ONNX type)");
    d.set_output(0, d.input(0));
    return;
  }
  if (!d.node().has("type")) d.fail("an Optional without an input needs the 'type' attribute");
  d.set_output(0, d.make_empty_optional());
}

// True unless the input is an empty optional or not given at all (ONNX 18 also accepts a
// plain tensor or sequence, which always has an element).
void optional_has_element(Decomposer& d) {
  Tensor t(DType::Bool, {});
  *t.data_as<bool>() = d.has_input(0) && !d.is_empty_optional(d.input(0));
  d.set_output(0, d.add_constant(t));
}

// The optional's value; a plain tensor or sequence passes through (ONNX 18).
void optional_get_element(Decomposer& d) {
  int x = d.input(0);
  if (d.is_empty_optional(x)) d.fail("the optional is empty (check OptionalHasElement first)");
  d.set_output(0, x);
}

}  // namespace

void register_optional_ops(CompositeRegistry& r) {
  r["Optional"] = {optional};
  r["OptionalHasElement"] = {optional_has_element};
  r["OptionalGetElement"] = {optional_get_element};
}

}  // namespace walle
