// LinearAttention (opset 26): a recurrent state S [B, Hkv, dk, dv] updated once per time step
// (linear, gated, delta and gated-delta rules) and read by the queries, unrolled over the
// sequence at plan time. In float32, as the reference (onnx/reference/ops/op_linear_attention.py).
#include <cmath>

#include "decompose/registry.h"

namespace walle {

namespace {

// [B, T, H*D] -> [B, H, T, D] in float32.
int heads_first(Decomposer& d, int x, int64_t heads) {
  Shape s = d.shape(x);
  if (s.size() != 3 || heads < 1 || s[2] % heads)
    d.fail("inputs must be [B, T, H*D] with H dividing the last dimension");
  return d.cast(d.transpose(d.view(x, {s[0], s[1], heads, s[2] / heads}), {0, 2, 1, 3}), DType::F32);
}

// x[:, :, t:t+1, :] of a [B, H, T, D] tensor.
int step(Decomposer& d, int x, int64_t t) {
  Shape s = d.shape(x), out = s;
  out[2] = 1;
  std::vector<int64_t> st = contiguous_strides(s);
  return d.raster({{x, t * st[2], st, 0, contiguous_strides(out), out}}, d.dtype(x), out);
}

void linear_attention(Decomposer& d) {
  const Node& n = d.node();
  std::string rule = n.attr_string("update_rule", "gated_delta");
  bool gated = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  if (!gated && !delta && rule != "linear") d.fail("unknown update_rule '" + rule + "'");
  if (gated != d.has_input(4)) d.fail("update_rule '" + rule + (gated ? "' needs" : "' forbids") + " the decay input");
  if (delta != d.has_input(5)) d.fail("update_rule '" + rule + (delta ? "' needs" : "' forbids") + " the beta input");
  int64_t hq = n.attr_int("q_num_heads", 0), hk = n.attr_int("kv_num_heads", 0);
  if (hq < 1 || hk < 1 || hq % hk) d.fail("q_num_heads must be a positive multiple of kv_num_heads");
  DType out_type = d.dtype(d.input(0));
  int q = heads_first(d, d.input(0), hq), k = heads_first(d, d.input(1), hk), v = heads_first(d, d.input(2), hk);
  Shape qs = d.shape(q), vs = d.shape(v);
  int64_t B = qs[0], T = qs[2], dk = qs[3], dv = vs[3], group = hq / hk;
  int decay = -1, beta = -1;
  if (gated) {  // per head [B, T, Hkv] or per key feature [B, T, Hkv*dk] -> [B, Hkv, T, 1 or dk]
    int g = d.input(4);
    int64_t last = d.shape(g).back();
    if (last != hk && last != hk * dk) d.fail("decay's last dimension must be kv_num_heads or kv_num_heads * d_k");
    decay = heads_first(d, g, hk);
  }
  if (delta) {
    int b = d.input(5);
    int64_t last = d.shape(b).back();
    if (last != hk && last != 1) d.fail("beta's last dimension must be kv_num_heads or 1");
    beta = heads_first(d, b, last);  // [B, Hkv or 1, T, 1]
  }
  DType state_type = out_type;
  int state;
  if (d.has_input(3)) {
    state_type = d.dtype(d.input(3));
    if (d.shape(d.input(3)) != Shape{B, hk, dk, dv}) d.fail("past_state must be " + shape_str({B, hk, dk, dv}));
    state = d.cast(d.input(3), DType::F32);
  } else {
    state = d.add_constant(Tensor(DType::F32, {B, hk, dk, dv}));
  }
  double scale = n.attr_float("scale", 0.0);
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(dk));
  int scale_id = d.scalar(scale, DType::F32);
  std::vector<Decomposer::Copy> outs;
  Shape ys{B, hq, T, dv};
  std::vector<int64_t> yst = contiguous_strides(ys);
  for (int64_t t = 0; t < T; ++t) {
    int kt = d.view(step(d, k, t), {B, hk, dk, 1});
    int vt = step(d, v, t);  // [B, Hkv, 1, dv]
    if (gated) {
      int g = step(d, decay, t);  // [B, Hkv, 1, 1 or dk]
      Shape gs = d.shape(g);
      state = d.binary(BinaryOp::Mul, state, d.view(d.unary(UnaryOp::Exp, g), {B, hk, gs[3], 1}));
    }
    if (delta) {  // v <- beta * (v - k^T S)
      int retrieved = d.matmul(d.view(kt, {B, hk, 1, dk}), state);
      int bt = step(d, beta, t);
      bt = d.view(bt, {B, d.shape(bt)[1], 1, 1});
      vt = d.binary(BinaryOp::Mul, bt, d.binary(BinaryOp::Sub, vt, retrieved));
    }
    state = d.binary(BinaryOp::Add, state, d.binary(BinaryOp::Mul, kt, vt));
    int read = state;
    if (group > 1)
      read = d.view(d.broadcast_to(d.view(state, {B, hk, 1, dk, dv}), {B, hk, group, dk, dv}), {B, hq, dk, dv});
    int yt = d.binary(BinaryOp::Mul, d.matmul(step(d, q, t), read), scale_id);  // [B, Hq, 1, dv]
    Shape one{B, hq, 1, dv};
    outs.push_back({yt, 0, contiguous_strides(one), t * yst[2], yst, one});
  }
  int y = d.raster(outs, DType::F32, ys);
  y = d.view(d.transpose(y, {0, 2, 1, 3}), {B, T, hq * dv});
  d.set_output(0, d.cast(y, out_type));
  d.set_output(1, d.cast(state, state_type));
}

}  // namespace

void register_linear_attention_ops(CompositeRegistry& r) { r["LinearAttention"] = {linear_attention}; }

}  // namespace walle
