// Reductions and the normalizations built on them (Softmax, LayerNormalization).
#include <numeric>

#include "decompose/registry.h"

namespace walle {

namespace {

// ReduceX: axes from the attribute (opset < 18) or the optional input (opset >= 18); empty
// axes reduce everything unless noop_with_empty_axes.
template <ReduceOp R>
void reduce_op(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> axes = d.has_input(1) ? d.const_ints(1, "axes") : d.node().attr_ints("axes");
  bool keepdims = d.node().attr_int("keepdims", 1) != 0;
  if (axes.empty()) {
    if (d.node().attr_int("noop_with_empty_axes", 0)) {
      d.set_output(0, d.input(0));
      return;
    }
    axes.resize(d.rank(x));
    std::iota(axes.begin(), axes.end(), 0);
  }
  d.set_output(0, d.reduce(R, x, axes, keepdims));
}

template <ReduceOp R>
void arg_op(Decomposer& d) {
  int x = d.input(0);
  int64_t axis = d.node().attr_int("axis", 0);
  bool keepdims = d.node().attr_int("keepdims", 1) != 0;
  bool last = d.node().attr_int("select_last_index", 0) != 0;
  d.set_output(0, d.reduce(R, x, {axis}, keepdims, last));
}

// Axes a softmax normalizes over: the one axis (opset >= 13), or every axis from `axis` on
// when the converter marked the node with the pre-13 "coerce to 2-d" semantics.
std::vector<int64_t> softmax_axes(Decomposer& d, int x) {
  int64_t r = d.rank(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), r);
  if (!d.node().attr_int("coerce_2d", 0)) return {axis};
  std::vector<int64_t> axes;
  for (int64_t a = axis; a < r; ++a) axes.push_back(a);
  return axes;
}

// softmax(x) = exp(x - max) / sum(exp(x - max)); subtracting the max keeps exp finite.
void softmax_impl(Decomposer& d, bool log) {
  int x = d.input(0);
  std::vector<int64_t> axes = softmax_axes(d, x);
  int shifted = d.binary(BinaryOp::Sub, x, d.reduce(ReduceOp::Max, x, axes, true));
  int e = d.unary(UnaryOp::Exp, shifted);
  int sum = d.reduce(ReduceOp::Sum, e, axes, true);
  if (log)
    d.set_output(0, d.binary(BinaryOp::Sub, shifted, d.unary(UnaryOp::Log, sum)));
  else
    d.set_output(0, d.binary(BinaryOp::Div, e, sum));
}
void softmax(Decomposer& d) { softmax_impl(d, false); }
void log_softmax(Decomposer& d) { softmax_impl(d, true); }

// LayerNormalization (opset 17): normalize over axes [axis, rank), then scale and shift.
void layer_norm(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  int64_t axis = d.normalize_axis(d.node().attr_int("axis", -1), r);
  double eps = d.node().attr_float("epsilon", 1e-5);
  std::vector<int64_t> axes;
  for (int64_t a = axis; a < r; ++a) axes.push_back(a);
  DType t = d.dtype(x);
  int mean = d.reduce(ReduceOp::Mean, x, axes, true);
  int centered = d.binary(BinaryOp::Sub, x, mean);
  int var = d.reduce(ReduceOp::Mean, d.binary(BinaryOp::Mul, centered, centered), axes, true);
  int inv_std = d.unary(UnaryOp::Rsqrt, d.binary(BinaryOp::Add, var, d.scalar(eps, t)));
  int y = d.binary(BinaryOp::Mul, centered, inv_std);
  y = d.binary(BinaryOp::Mul, y, d.input(1));
  if (d.has_input(2)) y = d.binary(BinaryOp::Add, y, d.input(2));
  d.set_output(0, y);
  d.set_output(1, mean);
  d.set_output(2, inv_std);
}

}  // namespace

void register_reduce_ops(CompositeRegistry& r) {
  r["ReduceSum"] = {reduce_op<ReduceOp::Sum>};
  r["ReduceMean"] = {reduce_op<ReduceOp::Mean>};
  r["ReduceMax"] = {reduce_op<ReduceOp::Max>};
  r["ReduceMin"] = {reduce_op<ReduceOp::Min>};
  r["ReduceProd"] = {reduce_op<ReduceOp::Prod>};
  r["ReduceSumSquare"] = {reduce_op<ReduceOp::SumSquare>};
  r["ReduceL1"] = {reduce_op<ReduceOp::L1>};
  r["ReduceL2"] = {reduce_op<ReduceOp::L2>};
  r["ReduceLogSum"] = {reduce_op<ReduceOp::LogSum>};
  r["ReduceLogSumExp"] = {reduce_op<ReduceOp::LogSumExp>};
  r["ArgMax"] = {arg_op<ReduceOp::ArgMax>};
  r["ArgMin"] = {arg_op<ReduceOp::ArgMin>};
  r["Softmax"] = {softmax};
  r["LogSoftmax"] = {log_softmax};
  r["LayerNormalization"] = {layer_norm};
}

}  // namespace walle
