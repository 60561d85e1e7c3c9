// Control flow (If, Loop, Scan, SequenceMap), unrolled at plan time: each op decomposes its
// body inline (Decomposer::inline_graph) once per branch taken or iteration. Conditions and
// trip counts must be plan-time values; when they come from model inputs the session plans
// with those values and re-plans when they change. Scan's iteration count is a shape, so
// Scan always unrolls. A body whose condition depends on data computed at run time is an
// error naming the node.
#include <algorithm>

#include "decompose/registry.h"

namespace walle {

namespace {

constexpr int64_t kMaxIterations = 1 << 16;  // an unrolled plan beyond this is a runaway loop

const Graph& body(Decomposer& d, const char* name) {
  auto it = d.node().attrs.find(name);
  if (it == d.node().attrs.end() || it->second.kind != Attribute::Kind::Graph || !it->second.graph)
    d.fail(std::string("attribute '") + name + "' (a graph) is missing");
  return *it->second.graph;
}

bool truth(Decomposer& d, int id, const char* what) {
  std::vector<int64_t> v = d.value_ints(id, what);
  if (v.size() != 1) d.fail(std::string(what) + " must be a single value");
  return v[0] != 0;
}

int scalar_int(Decomposer& d, int64_t v) {
  Tensor t(DType::I64, {});
  *t.data_as<int64_t>() = v;
  return d.add_constant(t);
}

int scalar_bool(Decomposer& d, bool v) {
  Tensor t(DType::Bool, {});
  *t.data_as<bool>() = v;
  return d.add_constant(t);
}

// Stacks equal-shaped tensors along a new axis `axis`.
int stack(Decomposer& d, const std::vector<int>& items, int64_t axis) {
  Shape s = d.shape(items[0]);
  Shape out = s;
  out.insert(out.begin() + axis, static_cast<int64_t>(items.size()));
  std::vector<int64_t> dst = contiguous_strides(out);
  std::vector<Decomposer::Copy> copies;
  for (size_t i = 0; i < items.size(); ++i) {
    if (d.shape(items[i]) != s)
      d.fail("iterations produced scan outputs of different shapes: " + shape_str(s) + " and " +
             shape_str(d.shape(items[i])));
    Shape one = s;
    one.insert(one.begin() + axis, 1);
    std::vector<int64_t> dst_one = dst;
    copies.push_back({items[i], 0, contiguous_strides(one), static_cast<int64_t>(i) * dst[axis], dst_one, one});
  }
  return d.raster(copies, d.dtype(items[0]), out);
}

// Element `i` of x along `axis`, that axis removed.
int take(Decomposer& d, int x, int64_t axis, int64_t i) {
  Shape s = d.shape(x), piece = s;
  piece[axis] = 1;
  std::vector<int64_t> st = contiguous_strides(s);
  int y = d.raster({{x, i * st[axis], st, 0, contiguous_strides(piece), piece}}, d.dtype(x), piece);
  piece.erase(piece.begin() + axis);
  return d.view(y, piece);
}

void if_op(Decomposer& d) {
  int cond = d.input(0);
  const Graph& branch = body(d, truth(d, cond, "cond") ? "then_branch" : "else_branch");
  std::vector<int> out = d.inline_graph(branch, {});
  for (size_t i = 0; i < out.size(); ++i) d.set_output(static_cast<int>(i), out[i]);
}

// Loop (ONNX doc): body(iteration, cond, carried...) -> (cond, carried..., scan outputs...).
void loop(Decomposer& d) {
  const Graph& g = body(d, "body");
  const Node& node = d.node();
  d.require_inputs(2, "M and cond, either may be empty");
  std::vector<int> node_inputs;
  for (int i = 0; i < d.num_inputs(); ++i) node_inputs.push_back(d.has_input(i) ? d.input(i) : -1);
  int64_t trips = kMaxIterations;
  if (node_inputs[0] >= 0) trips = d.const_int(0, "trip count M");
  bool cond = node_inputs[1] < 0 || truth(d, node_inputs[1], "cond");
  std::vector<int> carried(node_inputs.begin() + 2, node_inputs.end());
  if (g.inputs.size() != 2 + carried.size() || g.outputs.size() < 1 + carried.size())
    d.fail("the body has " + std::to_string(g.inputs.size()) + " inputs and " + std::to_string(g.outputs.size()) +
           " outputs; with " + std::to_string(carried.size()) + " carried values it needs " +
           std::to_string(2 + carried.size()) + " inputs (iteration, cond, carried...) and at least " +
           std::to_string(1 + carried.size()) + " outputs (cond, carried...)");
  size_t n_scan = g.outputs.size() - 1 - carried.size();
  std::vector<std::vector<int>> scans(n_scan);
  int64_t i = 0;
  for (; i < trips && cond; ++i) {
    if (i >= kMaxIterations) d.fail("more than " + std::to_string(kMaxIterations) + " iterations");
    std::vector<int> in{scalar_int(d, i), scalar_bool(d, cond)};
    in.insert(in.end(), carried.begin(), carried.end());
    std::vector<int> out = d.inline_graph(g, in);
    d.begin(node, node_inputs);
    cond = truth(d, out[0], "the body's condition output");
    for (size_t k = 0; k < carried.size(); ++k) carried[k] = out[1 + k];
    for (size_t k = 0; k < n_scan; ++k) scans[k].push_back(out[1 + carried.size() + k]);
  }
  for (size_t k = 0; k < carried.size(); ++k) d.set_output(static_cast<int>(k), carried[k]);
  for (size_t k = 0; k < n_scan; ++k) {
    if (scans[k].empty()) d.fail("a Loop with zero iterations has scan outputs of unknown shape");
    int y = d.is_sequence(scans[k][0]) ? d.make_sequence(scans[k]) : stack(d, scans[k], 0);
    d.set_output(static_cast<int>(carried.size() + k), y);
  }
}

// One Scan (opset >= 9 semantics): states carried through the body; scan inputs sliced
// and scan outputs stacked along their axes, in reverse where the directions say so.
// Returns the final states, then the stacked outputs.
std::vector<int> scan_once(Decomposer& d, const Graph& g, const std::vector<int>& node_inputs, std::vector<int> states,
                           const std::vector<int>& scans, bool batch_major) {
  const Node& node = d.node();
  int64_t m = static_cast<int64_t>(scans.size()), n_state = static_cast<int64_t>(states.size());
  int64_t n_out = static_cast<int64_t>(g.outputs.size()) - n_state;
  if (n_out < 0 || static_cast<int64_t>(g.inputs.size()) != n_state + m)
    d.fail("the body has " + std::to_string(g.inputs.size()) + " inputs and " + std::to_string(g.outputs.size()) +
           " outputs for " + std::to_string(n_state) + " states and " + std::to_string(m) + " scan inputs");
  std::vector<int64_t> in_axes =
      batch_major ? std::vector<int64_t>(m, 0) : node.attr_ints("scan_input_axes", std::vector<int64_t>(m, 0));
  std::vector<int64_t> in_dirs =
      node.attr_ints(batch_major ? "directions" : "scan_input_directions", std::vector<int64_t>(m, 0));
  std::vector<int64_t> out_axes =
      batch_major ? std::vector<int64_t>(n_out, 0) : node.attr_ints("scan_output_axes", std::vector<int64_t>(n_out, 0));
  std::vector<int64_t> out_dirs = batch_major
                                      ? std::vector<int64_t>(n_out, 0)
                                      : node.attr_ints("scan_output_directions", std::vector<int64_t>(n_out, 0));
  d.require_count(in_axes, m, "scan_input_axes");
  d.require_count(in_dirs, m, "scan_input_directions");
  d.require_count(out_axes, n_out, "scan_output_axes");
  d.require_count(out_dirs, n_out, "scan_output_directions");
  int64_t length = -1;
  for (int64_t j = 0; j < m; ++j) {
    in_axes[j] = d.normalize_axis(in_axes[j], d.rank(scans[j]));
    int64_t len = d.shape(scans[j])[in_axes[j]];
    if (length >= 0 && len != length) d.fail("scan inputs have different lengths");
    length = len;
  }
  std::vector<std::vector<int>> outs(n_out);
  for (int64_t t = 0; t < length; ++t) {
    std::vector<int> in = states;
    for (int64_t j = 0; j < m; ++j) in.push_back(take(d, scans[j], in_axes[j], in_dirs[j] ? length - 1 - t : t));
    std::vector<int> out = d.inline_graph(g, in);
    d.begin(node, node_inputs);
    for (int64_t k = 0; k < n_state; ++k) states[k] = out[k];
    for (int64_t k = 0; k < n_out; ++k) outs[k].push_back(out[n_state + k]);
  }
  std::vector<int> result = states;
  for (int64_t k = 0; k < n_out; ++k) {
    if (outs[k].empty()) d.fail("a Scan over zero elements has outputs of unknown shape");
    if (out_dirs[k]) std::reverse(outs[k].begin(), outs[k].end());
    result.push_back(stack(d, outs[k], d.normalize_axis(out_axes[k], d.rank(outs[k][0]) + 1)));
  }
  return result;
}

// Scan. Opset 8's form (marked batch_major by the converter) has a leading sequence_lens
// input and a batch axis on every state and scan tensor: it runs once per batch entry.
void scan(Decomposer& d) {
  const Graph& g = body(d, "body");
  const Node& node = d.node();
  bool batch_major = node.attr_int("batch_major", 0) != 0;
  std::vector<int> node_inputs;
  for (int i = 0; i < d.num_inputs(); ++i) node_inputs.push_back(d.has_input(i) ? d.input(i) : -1);
  size_t first = batch_major ? 1 : 0;
  int64_t m = node.attr_int("num_scan_inputs", 0);
  int64_t n_state = static_cast<int64_t>(node_inputs.size() - first) - m;
  if (m < 1 || n_state < 0) d.fail("num_scan_inputs is out of range");
  std::vector<int> states(node_inputs.begin() + first, node_inputs.begin() + first + n_state);
  std::vector<int> scans(node_inputs.begin() + first + n_state, node_inputs.end());
  if (!batch_major) {
    std::vector<int> out = scan_once(d, g, node_inputs, states, scans, false);
    for (size_t k = 0; k < out.size(); ++k) d.set_output(static_cast<int>(k), out[k]);
    return;
  }
  for (int x : scans) d.require_rank(x, 2, INT64_MAX, "a batch-major scan input");
  for (int s : states) d.require_rank(s, 1, INT64_MAX, "a batch-major state");
  int64_t batch = d.shape(scans[0])[0];
  if (node_inputs[0] >= 0)
    for (int64_t len : d.const_ints(0, "sequence_lens"))
      if (len != d.shape(scans[0])[1]) d.fail("sequence_lens shorter than the sequence are not supported");
  std::vector<std::vector<int>> per_output;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int> sb, xb;
    for (int s : states) sb.push_back(take(d, s, 0, b));
    for (int x : scans) xb.push_back(take(d, x, 0, b));
    std::vector<int> out = scan_once(d, g, node_inputs, sb, xb, true);
    per_output.resize(out.size());
    for (size_t k = 0; k < out.size(); ++k) per_output[k].push_back(out[k]);
  }
  for (size_t k = 0; k < per_output.size(); ++k) d.set_output(static_cast<int>(k), stack(d, per_output[k], 0));
}

// SequenceMap: the body runs once per element of the first input sequence; further inputs
// are sequences (taken element-wise) or tensors (passed whole). Outputs are sequences.
void sequence_map(Decomposer& d) {
  const Graph& g = body(d, "body");
  const Node& node = d.node();
  d.require_inputs(1, "the input sequence");
  std::vector<int> node_inputs;
  for (int i = 0; i < d.num_inputs(); ++i) node_inputs.push_back(d.input(i));
  size_t n = d.sequence(node_inputs[0]).size();
  std::vector<std::vector<int>> outs(g.outputs.size());
  for (size_t i = 0; i < n; ++i) {
    std::vector<int> in;
    for (int x : node_inputs) {
      if (!d.is_sequence(x)) {
        in.push_back(x);
        continue;
      }
      const std::vector<int>& items = d.sequence(x);
      if (items.size() != n) d.fail("input sequences have different lengths");
      in.push_back(items[i]);
    }
    std::vector<int> out = d.inline_graph(g, in);
    d.begin(node, node_inputs);
    for (size_t k = 0; k < out.size(); ++k) outs[k].push_back(out[k]);
  }
  for (size_t k = 0; k < outs.size(); ++k) d.set_output(static_cast<int>(k), d.make_sequence(outs[k]));
}

}  // namespace

void register_control_flow_ops(CompositeRegistry& r) {
  r["If"] = {if_op};
  r["Loop"] = {loop};
  r["Scan"] = {scan};
  r["SequenceMap"] = {sequence_map};
}

}  // namespace walle
