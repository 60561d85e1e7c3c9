// Optimizer steps of the ai.onnx.preview.training domain (Adagrad, Adam, Momentum) and two
// ai.onnx.ml transforms (Binarizer, ArrayFeatureExtractor): elementwise formulas from the
// ONNX docs (onnx/reference/ops/aionnx_preview_training, aionnxml). The iteration count T is
// a run-time value: its branches are Selects.
#include <algorithm>
#include <cmath>
#include <functional>

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
  if (n < 1 || 2 + n * groups != d.num_inputs())
    d.fail("expected R, T and " + std::to_string(groups) + " lists of equal length");
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

// TreeEnsemble (ai.onnx.ml opset 5), SUM/AVERAGE aggregation, no post transform: every
// node's "row reaches here" mask is its parent's AND its branch condition, and each leaf adds
// its weight to its target where it is reached (a tree as masks, not as a traversal).
void tree_ensemble(Decomposer& d) {
  const Node& n = d.node();
  auto tensor_values = [&](const char* name) {
    std::vector<double> v;
    auto it = n.attrs.find(name);
    if (it != n.attrs.end())
      for (int64_t i = 0; i < it->second.tensor.numel(); ++i) v.push_back(it->second.tensor.scalar_as_double(i));
    return v;
  };
  int64_t agg = n.attr_int("aggregate_function", 1);
  if (agg != 0 && agg != 1) d.fail("only SUM and AVERAGE aggregation are supported");
  if (n.attr_int("post_transform", 0) != 0) d.fail("post_transform is not supported");
  int x = d.input(0);
  Shape xs = d.shape(x);
  if (xs.size() != 2) d.fail("X must be [N, features]");
  DType t = d.dtype(x);
  std::vector<double> splits = tensor_values("nodes_splits"), modes = tensor_values("nodes_modes"),
                      weights = tensor_values("leaf_weights");
  std::vector<double> members = tensor_values("membership_values");
  std::vector<int64_t> feature = n.attr_ints("nodes_featureids"), tnode = n.attr_ints("nodes_truenodeids"),
                       fnode = n.attr_ints("nodes_falsenodeids");
  std::vector<int64_t> tleaf = n.attr_ints("nodes_trueleafs"), fleaf = n.attr_ints("nodes_falseleafs"),
                       targets = n.attr_ints("leaf_targetids");
  std::vector<int64_t> roots = n.attr_ints("tree_roots"), missing = n.attr_ints("nodes_missing_value_tracks_true");
  int64_t n_targets = n.attr_int("n_targets", 1);
  // members of MEMBER node k: the k-th NaN-separated run of membership_values
  std::vector<std::vector<double>> sets;
  size_t pos = 0;
  for (size_t k = 0; k < modes.size(); ++k) {
    sets.emplace_back();
    if (modes[k] != 6) continue;
    while (pos < members.size() && !std::isnan(members[pos])) sets.back().push_back(members[pos++]);
    ++pos;
  }
  std::vector<int> column(n_targets, -1);
  std::function<void(int64_t, bool, int)> visit = [&](int64_t id, bool leaf, int reach) {
    if (leaf) {
      int64_t tgt = targets.at(id);
      int w = d.cast(d.select(reach, d.scalar(weights.at(id), t), d.scalar(0, t)), t);
      column.at(tgt) = column[tgt] < 0 ? w : d.binary(BinaryOp::Add, column[tgt], w);
      return;
    }
    std::vector<int64_t> st = contiguous_strides(xs);
    int v = d.raster({{x, feature.at(id), {st[0]}, 0, {1}, {xs[0]}}}, t, {xs[0]});
    int mode = static_cast<int>(modes.at(id));
    int split = d.scalar(splits.at(id), t), cond;
    if (mode == 6) {
      cond = d.binary(BinaryOp::Equal, v, d.scalar(std::nan(""), t));  // all false
      for (double m : sets[id]) cond = d.binary(BinaryOp::Or, cond, d.binary(BinaryOp::Equal, v, d.scalar(m, t)));
    } else {
      static const BinaryOp ops[] = {BinaryOp::LessEqual, BinaryOp::Less,  BinaryOp::GreaterEqual,
                                     BinaryOp::Greater,   BinaryOp::Equal, BinaryOp::Equal};
      if (mode < 0 || mode > 5) d.fail("unknown node mode " + std::to_string(mode));
      cond = d.binary(ops[mode], v, split);
      if (mode == 5) cond = d.unary(UnaryOp::Not, cond);
    }
    if (!missing.empty() && missing.at(id)) cond = d.binary(BinaryOp::Or, cond, d.unary(UnaryOp::IsNaN, v));
    visit(tnode.at(id), tleaf.at(id) != 0, d.binary(BinaryOp::And, reach, cond));
    visit(fnode.at(id), fleaf.at(id) != 0, d.binary(BinaryOp::And, reach, d.unary(UnaryOp::Not, cond)));
  };
  Tensor all(DType::Bool, {xs[0]});
  std::fill_n(all.data_as<bool>(), xs[0], true);
  for (int64_t r : roots) {
    bool leaf = tleaf.at(r) && fleaf.at(r) && tnode.at(r) == fnode.at(r);
    visit(r, leaf, d.add_constant(all));
  }
  Shape out{xs[0], n_targets};
  std::vector<Decomposer::Copy> copies;
  for (int64_t k = 0; k < n_targets; ++k)
    if (column[k] >= 0) copies.push_back({column[k], 0, {1}, k, {n_targets}, {xs[0]}});
  int y = d.raster(copies, t, out, true, 0.0);
  if (agg == 0) y = d.binary(BinaryOp::Div, y, d.scalar(static_cast<double>(roots.size()), t));
  d.set_output(0, y);
}

}  // namespace

void register_training_ops(CompositeRegistry& r) {
  r["TreeEnsemble"] = {tree_ensemble};
  r["Adagrad"] = {adagrad};
  r["Momentum"] = {momentum};
  r["Adam"] = {adam};
  r["Binarizer"] = {binarizer};
  r["ArrayFeatureExtractor"] = {array_feature_extractor};
}

}  // namespace walle
