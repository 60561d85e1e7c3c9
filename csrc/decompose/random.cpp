// Random ops on the Random atomic: RandomUniform(Like), Bernoulli, and Dropout in training
// mode. Seeded draws follow numpy's RandomState(seed), as the ONNX reference does; unseeded
// ones are drawn from an OS seed when the plan is made.
#include <algorithm>

#include "decompose/registry.h"

namespace walle {

namespace {

int64_t seed_of(Decomposer& d) {
  return d.node().has("seed") ? static_cast<int64_t>(d.node().attr_float("seed", 0.0)) : -1;
}

// Uniform float64 draws in [0, 1) of `shape`.
int uniform(Decomposer& d, const Shape& shape) {
  AtomicOp op;
  op.kind = AtomicKind::Random;
  op.seed = seed_of(d);
  return d.emit(op, DType::F64, shape);
}

// RandomUniform(Like): rand(shape) cast to dtype, then * (high - low) + low in dtype.
void random_uniform_impl(Decomposer& d, const Shape& shape, DType t) {
  int u = d.cast(uniform(d, shape), t);
  double low = d.node().attr_float("low", 0.0), high = d.node().attr_float("high", 1.0);
  d.set_output(0, d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, u, d.scalar(high - low, t)), d.scalar(low, t)));
}
void random_uniform(Decomposer& d) {
  random_uniform_impl(d, d.node().attr_ints("shape"), static_cast<DType>(d.node().attr_int("dtype", 1)));
}
void random_uniform_like(Decomposer& d) {
  int x = d.input(0);
  random_uniform_impl(d, d.shape(x),
                      d.node().has("dtype") ? static_cast<DType>(d.node().attr_int("dtype", 1)) : d.dtype(x));
}

void bernoulli(Decomposer& d) {
  int p = d.input(0);
  AtomicOp op;
  op.kind = AtomicKind::Random;
  op.bernoulli = true;
  op.seed = seed_of(d);
  op.inputs = {p};
  d.set_output(0, d.emit(op, d.node().has("dtype") ? static_cast<DType>(d.node().attr_int("dtype", 1)) : d.dtype(p),
                         d.shape(p)));
}

// Dropout (opset 12+): the identity at inference; in training mode (a plan-time value), keep
// each element where a uniform draw >= ratio and scale by 1 / (1 - ratio) (reference _dropout).
void dropout(Decomposer& d) {
  int x = d.input(0);
  bool training = d.has_input(2) && [&] {
    std::vector<int64_t> v = d.value_ints(d.input(2), "training_mode");
    d.require_count(v, 1, "training_mode");
    return v[0] != 0;
  }();
  float ratio = d.has_input(1) ? static_cast<float>(d.const_scalar(1, "ratio")) : 0.5f;
  if (!training || ratio == 0.0f) {
    d.set_output(0, x);
    Tensor mask(DType::Bool, d.shape(x));
    std::fill_n(mask.data_as<bool>(), mask.numel(), true);
    d.set_output(1, d.add_constant(mask));
    return;
  }
  int keep = d.binary(BinaryOp::GreaterEqual, uniform(d, d.shape(x)), d.scalar(static_cast<double>(ratio), DType::F64));
  DType t = d.dtype(x);
  int y = d.binary(BinaryOp::Mul, d.binary(BinaryOp::Mul, x, d.cast(keep, t)), d.scalar(1.0f / (1.0f - ratio), t));
  d.set_output(0, y);
  d.set_output(1, keep);
}

}  // namespace

void register_random_ops(CompositeRegistry& r) {
  r["RandomUniform"] = {random_uniform};
  r["RandomUniformLike"] = {random_uniform_like};
  r["Bernoulli"] = {bernoulli};
  r["Dropout"] = {dropout};
}

}  // namespace walle
