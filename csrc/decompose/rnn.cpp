// RNN, GRU and LSTM (ONNX docs, equations per gate), unrolled over the sequence at plan time:
// the input projections of all steps are one MatMul, then each step is a MatMul with the
// recurrence weights and elementwise gates. Directions: forward, reverse, bidirectional;
// layout 0 ([seq, batch, ...]) and 1 ([batch, seq, ...]).
#include "decompose/registry.h"

namespace walle {

namespace {

struct Cell {
  std::string kind;  // "RNN", "GRU", "LSTM"
  int64_t gates, hidden;
  std::vector<std::string> acts;
  std::vector<double> alphas, betas;
  double clip = 0;
  bool linear_before_reset = false, input_forget = false;
};

// Activation `i` of direction `dir` (ONNX: the list holds one entry per gate function per direction).
int activate(Decomposer& d, const Cell& c, size_t i, int x) {
  const std::string& a = c.acts[i];
  auto alpha = [&](double dflt) { return static_cast<float>(i < c.alphas.size() ? c.alphas[i] : dflt); };
  auto beta = [&](double dflt) { return static_cast<float>(i < c.betas.size() ? c.betas[i] : dflt); };
  DType t = d.dtype(x);
  if (a == "Sigmoid") return d.unary(UnaryOp::Sigmoid, x);
  if (a == "Tanh") return d.unary(UnaryOp::Tanh, x);
  if (a == "Relu") return d.unary(UnaryOp::Relu, x);
  if (a == "HardSigmoid") return d.unary(UnaryOp::HardSigmoid, x, alpha(0.2), beta(0.5));
  if (a == "LeakyRelu") return d.unary(UnaryOp::LeakyRelu, x, alpha(0.01));
  if (a == "Elu") return d.unary(UnaryOp::Elu, x, alpha(1.0));
  if (a == "Softplus") return d.unary(UnaryOp::Softplus, x);
  if (a == "Affine")
    return d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, x, d.scalar(alpha(1.0), t)), d.scalar(beta(0.0), t));
  if (a == "ScaledTanh")
    return d.binary(BinaryOp::Mul, d.unary(UnaryOp::Tanh, d.binary(BinaryOp::Mul, x, d.scalar(beta(1.0), t))),
                    d.scalar(alpha(1.0), t));
  d.fail("activation '" + a + "' is not supported");
}

// Columns [g*h, (g+1)*h) of a [rows, G*h] tensor.
int gate(Decomposer& d, int x, int64_t g, int64_t h) {
  Shape s = d.shape(x), out{s[0], h};
  std::vector<int64_t> st = contiguous_strides(s);
  return d.raster({{x, g * h, st, 0, contiguous_strides(out), out}}, d.dtype(x), out);
}

// Row `i` of a [n, ...] tensor, without its first axis.
int row(Decomposer& d, int x, int64_t i) {
  Shape s = d.shape(x), out(s.begin() + 1, s.end());
  std::vector<int64_t> st = contiguous_strides(s);
  return d.raster({{x, i * st[0], std::vector<int64_t>(st.begin() + 1, st.end()), 0, contiguous_strides(out), out}},
                  d.dtype(x), out);
}

int clipped(Decomposer& d, const Cell& c, int x) {
  if (c.clip <= 0) return x;
  DType t = d.dtype(x);
  return d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, x, d.scalar(-c.clip, t)), d.scalar(c.clip, t));
}

// One direction over the whole sequence; returns per-step H (in time order), final H and C.
struct Run {
  std::vector<int> hs;
  int h, c;
};
Run run_direction(Decomposer& d, const Cell& c, int x, int64_t dir, bool reverse, size_t act0) {
  Shape xs = d.shape(x);  // [seq, batch, input]
  int64_t seq = xs[0], batch = xs[1], h = c.hidden, G = c.gates;
  DType t = d.dtype(x);
  int w = row(d, d.input(1), dir), r = row(d, d.input(2), dir);                // [G*h, in], [G*h, h]
  int xw = d.matmul(d.view(x, {seq * batch, xs[2]}), d.transpose(w, {1, 0}));  // [seq*batch, G*h]
  int rt = d.transpose(r, {1, 0});
  int wb = -1, rb = -1;
  if (d.has_input(3)) {
    int b = row(d, d.input(3), dir);  // [2*G*h]: Wb then Rb
    wb = gate(d, d.view(b, {1, 2 * G * h}), 0, G * h);
    rb = gate(d, d.view(b, {1, 2 * G * h}), 1, G * h);
    xw = d.binary(BinaryOp::Add, xw, wb);
  }
  xw = d.view(xw, {seq, batch, G * h});
  int hp = d.has_input(5) ? row(d, d.input(5), dir) : d.add_constant(Tensor(t, {batch, h}));
  int cp = c.kind == "LSTM" && d.has_input(6) ? row(d, d.input(6), dir) : d.add_constant(Tensor(t, {batch, h}));
  int peep = c.kind == "LSTM" && d.has_input(7) ? d.view(row(d, d.input(7), dir), {1, 3 * h}) : -1;
  auto add = [&](int a, int b) { return d.binary(BinaryOp::Add, a, b); };
  auto mul = [&](int a, int b) { return d.binary(BinaryOp::Mul, a, b); };
  Run out;
  out.hs.assign(seq, -1);
  for (int64_t k = 0; k < seq; ++k) {
    int64_t step = reverse ? seq - 1 - k : k;
    int xg = row(d, xw, step);  // [batch, G*h]
    if (c.kind == "GRU") {      // gates z, r, h (ONNX GRU)
      int hr = d.matmul(hp, rt);
      if (rb >= 0) hr = add(hr, rb);
      int z = activate(d, c, act0, clipped(d, c, add(gate(d, xg, 0, h), gate(d, hr, 0, h))));
      int rr = activate(d, c, act0, clipped(d, c, add(gate(d, xg, 1, h), gate(d, hr, 1, h))));
      int hh;
      if (c.linear_before_reset)
        hh = add(gate(d, xg, 2, h), mul(rr, gate(d, hr, 2, h)));
      else {
        int rh = d.matmul(mul(rr, hp), gate(d, rt, 2, h));  // (r * H) Rh^T
        if (rb >= 0) rh = add(rh, gate(d, rb, 2, h));
        hh = add(gate(d, xg, 2, h), rh);
      }
      hh = activate(d, c, act0 + 1, clipped(d, c, hh));
      int one_minus_z = d.binary(BinaryOp::Sub, d.scalar(1, t), z);
      hp = add(mul(one_minus_z, hh), mul(z, hp));
    } else {
      int g = d.matmul(hp, rt);
      if (rb >= 0) g = add(g, rb);
      g = add(xg, g);
      if (c.kind == "RNN") {
        hp = activate(d, c, act0, clipped(d, c, g));
      } else {  // LSTM gates i, o, f, c; peepholes i, o, f
        auto peephole = [&](int pre, int64_t p, int cell) {
          return peep >= 0 ? add(pre, mul(gate(d, peep, p, h), cell)) : pre;
        };
        int i = activate(d, c, act0, clipped(d, c, peephole(gate(d, g, 0, h), 0, cp)));
        int f = c.input_forget ? d.binary(BinaryOp::Sub, d.scalar(1, t), i)
                               : activate(d, c, act0, clipped(d, c, peephole(gate(d, g, 2, h), 2, cp)));
        int cc = activate(d, c, act0 + 1, clipped(d, c, gate(d, g, 3, h)));
        cp = add(mul(f, cp), mul(i, cc));
        int o = activate(d, c, act0, clipped(d, c, peephole(gate(d, g, 1, h), 1, cp)));
        hp = mul(o, activate(d, c, act0 + 2, cp));
      }
    }
    out.hs[step] = hp;
  }
  out.h = hp;
  out.c = cp;
  return out;
}

void recurrent(Decomposer& d, Cell c) {
  const Node& n = d.node();
  c.hidden = n.attr_int("hidden_size", 0);
  c.clip = n.attr_float("clip", 0.0);
  c.alphas = n.attr_floats("activation_alpha");
  c.betas = n.attr_floats("activation_beta");
  c.linear_before_reset = n.attr_int("linear_before_reset", 0) != 0;
  c.input_forget = n.attr_int("input_forget", 0) != 0;
  std::string direction = n.attr_string("direction", "forward");
  int64_t dirs = direction == "bidirectional" ? 2 : 1;
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    d.fail("unknown direction '" + direction + "'");
  size_t per_dir = c.acts.size();
  if (n.has("activations")) {
    auto it = n.attrs.find("activations");
    c.acts = it->second.strings;
    if (c.acts.size() != per_dir * dirs) d.fail("expected " + std::to_string(per_dir * dirs) + " activations");
  } else if (dirs == 2) {
    std::vector<std::string> forward = c.acts;
    c.acts.insert(c.acts.end(), forward.begin(), forward.end());
  }
  bool batch_first = n.attr_int("layout", 0) != 0;
  int x = d.input(0);
  if (batch_first) x = d.transpose(x, {1, 0, 2});
  Shape xs = d.shape(x);
  if (c.hidden < 1 || d.shape(d.input(1)) != Shape{dirs, c.gates * c.hidden, xs[2]})
    d.fail("W must be [num_directions, gates * hidden_size, input_size]");
  if (d.has_input(4)) {  // sequence_lens: only full lengths are supported
    for (int64_t len : d.const_ints(4, "sequence_lens"))
      if (len != xs[0]) d.fail("sequence_lens shorter than the sequence are not supported");
  }
  if (batch_first && (d.has_input(5) || d.has_input(6))) d.fail("initial states with layout = 1 are not supported");
  std::vector<Run> runs;
  for (int64_t dir = 0; dir < dirs; ++dir)
    runs.push_back(run_direction(d, c, x, dir, direction == "reverse" || dir == 1, dir * per_dir));
  int64_t seq = xs[0], batch = xs[1], h = c.hidden;
  DType t = d.dtype(x);
  // Y [seq, dirs, batch, h]; Y_h, Y_c [dirs, batch, h]
  Shape ys{seq, dirs, batch, h}, hs{dirs, batch, h}, one{batch, h};
  std::vector<int64_t> yst = contiguous_strides(ys), hst = contiguous_strides(hs);
  std::vector<Decomposer::Copy> yc, hc, cc;
  for (int64_t dir = 0; dir < dirs; ++dir) {
    for (int64_t s = 0; s < seq; ++s)
      yc.push_back({runs[dir].hs[s], 0, contiguous_strides(one), s * yst[0] + dir * yst[1], {yst[2], yst[3]}, one});
    hc.push_back({runs[dir].h, 0, contiguous_strides(one), dir * hst[0], {hst[1], hst[2]}, one});
    cc.push_back({runs[dir].c, 0, contiguous_strides(one), dir * hst[0], {hst[1], hst[2]}, one});
  }
  int y = d.raster(yc, t, ys), yh = d.raster(hc, t, hs), yc_ = d.raster(cc, t, hs);
  if (batch_first) {
    y = d.transpose(y, {2, 0, 1, 3});
    yh = d.transpose(yh, {1, 0, 2});
    yc_ = d.transpose(yc_, {1, 0, 2});
  }
  d.set_output(0, y);
  d.set_output(1, yh);
  d.set_output(2, yc_);
}

void rnn(Decomposer& d) { recurrent(d, Cell{"RNN", 1, 0, {"Tanh"}}); }
void gru(Decomposer& d) { recurrent(d, Cell{"GRU", 3, 0, {"Sigmoid", "Tanh"}}); }
void lstm(Decomposer& d) { recurrent(d, Cell{"LSTM", 4, 0, {"Sigmoid", "Tanh", "Tanh"}}); }

}  // namespace

void register_rnn_ops(CompositeRegistry& r) {
  r["RNN"] = {rnn};
  r["GRU"] = {gru};
  r["LSTM"] = {lstm};
}

}  // namespace walle
