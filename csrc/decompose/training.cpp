// Optimizer steps of the ai.onnx.preview.training domain (Adagrad, Adam, Momentum) and two
// ai.onnx.ml transforms (Binarizer, ArrayFeatureExtractor): elementwise formulas from the
// ONNX docs (onnx/reference/ops/aionnx_preview_training, aionnxml). The iteration count T is
// a run-time value: its branches are Selects.
#include "decompose/registry.h"

namespace walle {

namespace {

struct Step {
  Decomposer& d;
  DType t;
  int num(double v) { return d.scalar(v, t); }
  int add(int a, int b) { return d.binary(BinaryOp::Add, a, b); }
  int sub(int a, int b) { return d.binary(BinaryOp::Sub, a, b); }
  int mul(int a, int b) { return d.binary(BinaryOp::Mul, a, b); }
  int div(int a, int b) { return d.binary(BinaryOp::Div, a, b); }
  int scaled(double k, int x) { return mul(num(k), x); }
};

// Inputs R, T, then `groups` lists of n tensors each (X, G, and the optimizer's states).
int64_t tensors_per_group(Decomposer& d, int64_t groups) {
  int64_t n = (d.num_inputs() - 2) / groups;
  if (n < 1 || 2 + n * groups != d.num_inputs()) d.fail("expected R, T and " + std::to_string(groups) + " lists of equal length");
  return n;
}

void adagrad(Decomposer& d) {
  int64_t n = tensors_per_group(d, 3);
  const Node& node = d.node();
  for (int64_t i = 0; i < n; ++i) {
    int x = d.input(2 + i), g = d.input(2 + n + i), h = d.input(2 + 2 * n + i);
    Step s{d, d.dtype(x)};
    int t = d.cast(d.input(1), s.t);
    int r = s.div(d.cast(d.input(0), s.t), s.add(s.num(1), s.scaled(node.attr_float("decay_factor", 0.0), t)));
    int gr = s.add(s.scaled(node.attr_float("norm_coefficient", 0.0), x), g);
    int hn = s.add(h, s.mul(gr, gr));
    int hs = s.add(d.unary(UnaryOp::Sqrt, hn), s.num(node.attr_float("epsilon", 0.0)));
    d.set_output(static_cast<int>(i), s.sub(x, s.div(s.mul(r, gr), hs)));
    d.set_output(static_cast<int>(n + i), hn);
  }
}

void momentum(Decomposer& d) {
  int64_t n = tensors_per_group(d, 3);
  const Node& node = d.node();
  double alpha = node.attr_float("alpha", 0.0), beta = node.attr_float("beta", 0.0);
  bool nesterov = node.attr_string("mode", "standard") == "nesterov";
  for (int64_t i = 0; i < n; ++i) {
    int x = d.input(2 + i), g = d.input(2 + n + i), v = d.input(2 + 2 * n + i);
    Step s{d, d.dtype(x)};
    int r = d.cast(d.input(0), s.t);
    int first = d.binary(BinaryOp::Greater, d.input(1), d.scalar(0, d.dtype(d.input(1))));
    int b = d.select(first, s.num(beta), s.num(1));  // beta from the second step on
    int gr = s.add(s.scaled(node.attr_float("norm_coefficient", 0.0), x), g);
    int vn = s.add(s.scaled(alpha, v), s.mul(b, gr));
    int step = nesterov ? s.add(gr, s.scaled(alpha, vn)) : vn;
    d.set_output(static_cast<int>(i), s.sub(x, s.mul(r, step)));
    d.set_output(static_cast<int>(n + i), vn);
  }
}

void adam(Decomposer& d) {
  int64_t n = tensors_per_group(d, 4);
  const Node& node = d.node();
  double alpha = node.attr_float("alpha", 0.9), beta = node.attr_float("beta", 0.999);
  for (int64_t i = 0; i < n; ++i) {
    int x = d.input(2 + i), g = d.input(2 + n + i), v = d.input(2 + 2 * n + i), h = d.input(2 + 3 * n + i);
    Step s{d, d.dtype(x)};
    int r = d.cast(d.input(0), s.t), t = d.cast(d.input(1), s.t);
    int gr = s.add(s.scaled(node.attr_float("norm_coefficient", 0.0), x), g);
    int vn = s.add(s.scaled(alpha, v), s.scaled(1 - alpha, gr));
    int hn = s.add(s.scaled(beta, h), s.scaled(1 - beta, s.mul(gr, gr)));
    int hs = s.add(d.unary(UnaryOp::Sqrt, hn), s.num(node.attr_float("epsilon", 1e-6)));
    // bias correction from the second step on: r * sqrt(1 - beta^T) / (1 - alpha^T)
    int pa = d.binary(BinaryOp::Pow, s.num(alpha), t), pb = d.binary(BinaryOp::Pow, s.num(beta), t);
    int corrected = s.div(s.mul(r, d.unary(UnaryOp::Sqrt, s.sub(s.num(1), pb))), s.sub(s.num(1), pa));
    int ra = d.select(d.binary(BinaryOp::Greater, t, s.num(0)), corrected, r);
    int xn = s.sub(x, s.mul(ra, s.div(vn, hs)));
    d.set_output(static_cast<int>(i), s.scaled(1 - node.attr_float("norm_coefficient_post", 0.0), xn));
    d.set_output(static_cast<int>(n + i), vn);
    d.set_output(static_cast<int>(2 * n + i), hn);
  }
}

void binarizer(Decomposer& d) {
  int x = d.input(0);
  int above = d.binary(BinaryOp::Greater, x, d.scalar(d.node().attr_float("threshold", 0.0), d.dtype(x)));
  d.set_output(0, d.cast(above, d.dtype(x)));
}

// ArrayFeatureExtractor: x[..., indices] with the indices flattened; a 1-d x gives [1, n].
void array_feature_extractor(Decomposer& d) {
  int x = d.input(0), idx = d.cast(d.input(1), DType::I64);
  Shape s = d.shape(x);
  int64_t n = numel(d.shape(idx));
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.outer = numel(Shape(s.begin(), s.end() - 1));
  op.axis_size = s.back();
  op.inner = 1;
  op.inputs = {x, d.view(idx, {n})};
  Shape out = s.size() == 1 ? Shape{1, n} : s;
  out.back() = n;
  d.set_output(0, d.emit(op, d.dtype(x), out));
}

}  // namespace

void register_training_ops(CompositeRegistry& r) {
  r["Adagrad"] = {adagrad};
  r["Momentum"] = {momentum};
  r["Adam"] = {adam};
  r["Binarizer"] = {binarizer};
  r["ArrayFeatureExtractor"] = {array_feature_extractor};
}

}  // namespace walle
