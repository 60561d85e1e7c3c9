// Loss functions (ONNX NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss), decomposed: the
// class picked by each target is selected with a one-hot mask (Equal against the class
// iota) and a sum over the class axis, so no gather-by-element op is needed.
#include <numeric>

#include "decompose/registry.h"

namespace walle {

namespace {

int iota(Decomposer& d, int64_t n, DType t) {
  Tensor v(DType::I64, {n});
  std::iota(v.data_as<int64_t>(), v.data_as<int64_t>() + n, int64_t{0});
  return d.cast(d.add_constant(v), t);
}

std::vector<int64_t> all_axes(Decomposer& d, int x) {
  std::vector<int64_t> axes(d.rank(x));
  std::iota(axes.begin(), axes.end(), int64_t{0});
  return axes;
}

// input [N, C, d...] (log-probabilities), target [N, d...] -> loss per the `reduction`
// attribute. Targets equal to ignore_index contribute nothing to the sum nor to the mean's
// denominator, which is the sum of the picked weights (ONNX NegativeLogLikelihoodLoss doc).
int nll(Decomposer& d, int input, int target, int weight) {
  const Shape in = d.shape(input);
  if (in.size() < 2) d.fail("input must have rank >= 2, got " + shape_str(in));
  DType t = d.dtype(input), tt = d.dtype(target);
  Shape class_shape(in.size(), 1);
  class_shape[1] = in[1];
  Shape target_shape = d.shape(target);
  if (target_shape.size() + 1 != in.size()) d.fail("target rank does not match input rank - 1");
  Shape expanded = target_shape;
  expanded.insert(expanded.begin() + 1, 1);
  int ignored = -1, safe = target;
  if (d.node().has("ignore_index")) {
    ignored =
        d.binary(BinaryOp::Equal, target, d.scalar(static_cast<double>(d.node().attr_int("ignore_index", 0)), tt));
    safe = d.select(ignored, d.scalar(0, tt), target);
  }
  int onehot = d.binary(BinaryOp::Equal, d.view(safe, expanded), d.view(iota(d, in[1], tt), class_shape));
  int picked = d.reduce(ReduceOp::Sum, d.binary(BinaryOp::Mul, input, d.cast(onehot, t)), {1}, false);
  int w;
  if (weight >= 0) {
    AtomicOp g;  // weight[safe]
    g.kind = AtomicKind::Gather;
    g.axis_size = d.shape(weight)[0];
    g.inputs = {weight, safe};
    w = d.emit(g, t, target_shape);
  } else {
    w = d.broadcast_to(d.scalar(1, t), target_shape);
  }
  if (ignored >= 0) w = d.select(ignored, d.scalar(0, t), w);
  int loss = d.binary(BinaryOp::Mul, d.unary(UnaryOp::Neg, picked), w);
  std::string reduction = d.node().attr_string("reduction", "mean");
  if (reduction == "none") return loss;
  int sum = d.reduce(ReduceOp::Sum, loss, all_axes(d, loss), false);
  if (reduction == "sum") return sum;
  if (reduction != "mean") d.fail("unknown reduction '" + reduction + "'");
  return d.binary(BinaryOp::Div, sum, d.reduce(ReduceOp::Sum, w, all_axes(d, w), false));
}

void nll_loss(Decomposer& d) { d.set_output(0, nll(d, d.input(0), d.input(1), d.has_input(2) ? d.input(2) : -1)); }

// SoftmaxCrossEntropyLoss = NLL of log_softmax over the class axis; output 1 is the log_softmax.
void softmax_cross_entropy(Decomposer& d) {
  int x = d.input(0);
  int shifted = d.binary(BinaryOp::Sub, x, d.reduce(ReduceOp::Max, x, {1}, true));
  int log_prob = d.binary(BinaryOp::Sub, shifted,
                          d.unary(UnaryOp::Log, d.reduce(ReduceOp::Sum, d.unary(UnaryOp::Exp, shifted), {1}, true)));
  d.set_output(0, nll(d, log_prob, d.input(1), d.has_input(2) ? d.input(2) : -1));
  d.set_output(1, log_prob);
}

}  // namespace

void register_loss_ops(CompositeRegistry& r) {
  r["NegativeLogLikelihoodLoss"] = {nll_loss};
  r["SoftmaxCrossEntropyLoss"] = {softmax_cross_entropy};
}

}  // namespace walle
