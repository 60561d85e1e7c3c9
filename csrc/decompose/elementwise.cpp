// Elementwise composite ops: each is one Unary/Binary/Select/Cast atomic op, or a few.
#include <algorithm>
#include <cmath>

#include "decompose/registry.h"

namespace walle {

namespace {

template <UnaryOp U>
void unary_op(Decomposer& d) {
  d.set_output(0, d.unary(U, d.input(0)));
}
template <BinaryOp B>
void binary_op(Decomposer& d) {
  d.set_output(0, d.binary(B, d.input(0), d.input(1)));
}

// Max, Min, Sum, Mean take any number of inputs and broadcast them all.
template <BinaryOp B>
void variadic_op(Decomposer& d) {
  int acc = d.input(0);
  for (int i = 1; i < d.num_inputs(); ++i) acc = d.binary(B, acc, d.input(i));
  d.set_output(0, acc);
}

void mean_op(Decomposer& d) {
  int acc = d.input(0);
  for (int i = 1; i < d.num_inputs(); ++i) acc = d.binary(BinaryOp::Add, acc, d.input(i));
  d.set_output(0, d.binary(BinaryOp::Div, acc, d.scalar(d.num_inputs(), d.dtype(acc))));
}

void leaky_relu(Decomposer& d) {
  d.set_output(0, d.unary(UnaryOp::LeakyRelu, d.input(0), static_cast<float>(d.node().attr_float("alpha", 0.01))));
}
void elu(Decomposer& d) {
  d.set_output(0, d.unary(UnaryOp::Elu, d.input(0), static_cast<float>(d.node().attr_float("alpha", 1.0))));
}
void hard_sigmoid(Decomposer& d) {
  d.set_output(0, d.unary(UnaryOp::HardSigmoid, d.input(0), static_cast<float>(d.node().attr_float("alpha", 0.2)),
                          static_cast<float>(d.node().attr_float("beta", 0.5))));
}

// Clip: min/max are optional inputs (opset >= 11; the converter turns older attributes into
// inputs). Float tensors use the Unary Clip; other types use Max/Min.
void clip(Decomposer& d) {
  int x = d.input(0);
  bool has_min = d.has_input(1), has_max = d.has_input(2);
  if (d.dtype(x) == DType::F32 && (!has_min || d.constant(d.input(1))) && (!has_max || d.constant(d.input(2)))) {
    float lo = has_min ? static_cast<float>(d.const_scalar(1, "min")) : -INFINITY;
    float hi = has_max ? static_cast<float>(d.const_scalar(2, "max")) : INFINITY;
    d.set_output(0, d.unary(UnaryOp::Clip, x, lo, hi));
    return;
  }
  if (has_min) x = d.binary(BinaryOp::Max, x, d.input(1));
  if (has_max) x = d.binary(BinaryOp::Min, x, d.input(2));
  d.set_output(0, x);
}

// Gelu (opset 20): exact erf form, or the tanh approximation.
void gelu(Decomposer& d) {
  int x = d.input(0);
  if (d.node().attr_string("approximate", "none") == "none") {
    d.set_output(0, d.unary(UnaryOp::Gelu, x));
    return;
  }
  DType t = d.dtype(x);
  // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  int x3 = d.binary(BinaryOp::Mul, d.binary(BinaryOp::Mul, x, x), x);
  int inner = d.binary(BinaryOp::Add, x, d.binary(BinaryOp::Mul, x3, d.scalar(0.044715, t)));
  int th = d.unary(UnaryOp::Tanh, d.binary(BinaryOp::Mul, inner, d.scalar(0.7978845608028654, t)));
  int half_x = d.binary(BinaryOp::Mul, x, d.scalar(0.5, t));
  d.set_output(0, d.binary(BinaryOp::Mul, half_x, d.binary(BinaryOp::Add, th, d.scalar(1.0, t))));
}

void mod(Decomposer& d) {
  BinaryOp op = d.node().attr_int("fmod", 0) ? BinaryOp::FMod : BinaryOp::Mod;
  d.set_output(0, d.binary(op, d.input(0), d.input(1)));
}

void bit_shift(Decomposer& d) {
  BinaryOp op = d.node().attr_string("direction", "") == "LEFT" ? BinaryOp::BitShiftLeft : BinaryOp::BitShiftRight;
  d.set_output(0, d.binary(op, d.input(0), d.input(1)));
}

// PRelu: slope broadcasts unidirectionally to x.
void prelu(Decomposer& d) { d.set_output(0, d.binary(BinaryOp::PRelu, d.input(0), d.input(1))); }

// Pow with an integer or float exponent of another type: ONNX allows mixed types.
void pow_op(Decomposer& d) {
  int x = d.input(0), y = d.input(1);
  if (d.dtype(y) != d.dtype(x)) y = d.cast(y, d.dtype(x));
  d.set_output(0, d.binary(BinaryOp::Pow, x, y));
}

void where(Decomposer& d) { d.set_output(0, d.select(d.input(0), d.input(1), d.input(2))); }

// Cast / CastLike attributes for float8 targets: saturate (default 1), round_mode (e8m0).
int cast_with_attrs(Decomposer& d, int x, DType to) {
  bool saturate = d.node().attr_int("saturate", 1) != 0;
  std::string mode = d.node().attr_string("round_mode", "up");
  int round = mode == "down" ? 1 : (mode == "nearest" ? 2 : 0);
  return d.cast(x, to, saturate, round);
}

void cast(Decomposer& d) {
  int64_t to = d.node().attr_int("to", 1);
  if (!dtype_is_valid(static_cast<int32_t>(to))) d.fail("unsupported target type " + std::to_string(to));
  d.set_output(0, cast_with_attrs(d, d.input(0), static_cast<DType>(to)));
}
void cast_like(Decomposer& d) { d.set_output(0, cast_with_attrs(d, d.input(0), d.dtype(d.input(1)))); }

void identity(Decomposer& d) { d.set_output(0, d.input(0)); }

}  // namespace

void register_elementwise_ops(CompositeRegistry& r) {
  r["Relu"] = {unary_op<UnaryOp::Relu>};
  r["Sigmoid"] = {unary_op<UnaryOp::Sigmoid>};
  r["Tanh"] = {unary_op<UnaryOp::Tanh>};
  r["Exp"] = {unary_op<UnaryOp::Exp>};
  r["Log"] = {unary_op<UnaryOp::Log>};
  r["Sqrt"] = {unary_op<UnaryOp::Sqrt>};
  r["Reciprocal"] = {unary_op<UnaryOp::Reciprocal>};
  r["Neg"] = {unary_op<UnaryOp::Neg>};
  r["Abs"] = {unary_op<UnaryOp::Abs>};
  r["Erf"] = {unary_op<UnaryOp::Erf>};
  r["Floor"] = {unary_op<UnaryOp::Floor>};
  r["Ceil"] = {unary_op<UnaryOp::Ceil>};
  r["Round"] = {unary_op<UnaryOp::Round>};
  r["Sin"] = {unary_op<UnaryOp::Sin>};
  r["Cos"] = {unary_op<UnaryOp::Cos>};
  r["Not"] = {unary_op<UnaryOp::Not>};
  r["Sign"] = {unary_op<UnaryOp::Sign>};
  r["Softplus"] = {unary_op<UnaryOp::Softplus>};
  r["HardSwish"] = {unary_op<UnaryOp::HardSwish>};
  r["IsNaN"] = {unary_op<UnaryOp::IsNaN>};
  r["LeakyRelu"] = {leaky_relu};
  r["Elu"] = {elu};
  r["HardSigmoid"] = {hard_sigmoid};
  r["Clip"] = {clip};
  r["Gelu"] = {gelu};
  r["Add"] = {binary_op<BinaryOp::Add>};
  r["Sub"] = {binary_op<BinaryOp::Sub>};
  r["Mul"] = {binary_op<BinaryOp::Mul>};
  r["Div"] = {binary_op<BinaryOp::Div>};
  r["Pow"] = {pow_op};
  r["Mod"] = {mod};
  r["BitShift"] = {bit_shift};
  r["Equal"] = {binary_op<BinaryOp::Equal>};
  r["Less"] = {binary_op<BinaryOp::Less>};
  r["Greater"] = {binary_op<BinaryOp::Greater>};
  r["LessOrEqual"] = {binary_op<BinaryOp::LessEqual>};
  r["GreaterOrEqual"] = {binary_op<BinaryOp::GreaterEqual>};
  r["And"] = {binary_op<BinaryOp::And>};
  r["Or"] = {binary_op<BinaryOp::Or>};
  r["Xor"] = {binary_op<BinaryOp::Xor>};
  r["PRelu"] = {prelu};
  r["Max"] = {variadic_op<BinaryOp::Max>};
  r["Min"] = {variadic_op<BinaryOp::Min>};
  r["Sum"] = {variadic_op<BinaryOp::Add>};
  r["Mean"] = {mean_op};
  r["Where"] = {where};
  r["Cast"] = {cast};
  r["CastLike"] = {cast_like};
  r["Identity"] = {identity};
}

}  // namespace walle
