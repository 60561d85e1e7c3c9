// The channel-blocked layout pass (see optimize.h): conv chains keep their activations as
// [N, C/16, H, W, 16] (ops/atomic.h) and convert to and from NCHW only at their edges.
#include <algorithm>
#include <array>
#include <map>

#include "runtime/optimize.h"

namespace walle {

namespace {

using Dims = std::array<int64_t, 4>;  // logical N, C, H, W of a blocked tensor

int64_t blocks(int64_t c) { return (c + kChannelBlock - 1) / kChannelBlock; }

// Unary ops that map 0 to 0, so the zero lanes past C stay zero.
bool keeps_zero(const AtomicOp& op) {
  switch (op.unary) {
    case UnaryOp::Identity:
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Relu:
    case UnaryOp::Tanh:
    case UnaryOp::LeakyRelu:
    case UnaryOp::Elu:
    case UnaryOp::HardSwish:
    case UnaryOp::Silu:
    case UnaryOp::Gelu:
    case UnaryOp::Square:
    case UnaryOp::Sin: return true;
    case UnaryOp::Clip: return op.alpha <= 0.f && op.beta >= 0.f;
    default: return false;
  }
}

bool binary_keeps_zero(BinaryOp b) {
  return b == BinaryOp::Add || b == BinaryOp::Sub || b == BinaryOp::Mul || b == BinaryOp::Max || b == BinaryOp::Min;
}

// A Raster converting between NCHW `plain` and blocked `blocked` (logical dims d): one region
// per image for the whole blocks and one for a partial last block; the pad lanes of a blocked
// output are zero-filled.
AtomicOp conversion(int src, int dst, const Dims& d, bool to_blocked, const std::string& origin) {
  AtomicOp op;
  op.kind = AtomicKind::Raster;
  op.inputs = {src};
  op.output = dst;
  op.origin = origin + (to_blocked ? " (to channel blocks)" : " (from channel blocks)");
  const int64_t B = kChannelBlock, hw = d[2] * d[3], full = d[1] / B, rest = d[1] % B;
  op.fill_output = to_blocked && rest != 0;
  for (int64_t n = 0; n < d[0]; ++n)
    for (int part = 0; part < 2; ++part) {
      const int64_t count = part == 0 ? full : (rest ? 1 : 0), lanes = part == 0 ? B : rest;
      if (count == 0) continue;
      View plain{n * d[1] * hw + part * full * B * hw, {B * hw, 1, hw}};
      View block{(n * blocks(d[1]) + part * full) * hw * B, {hw * B, B, 1}};
      Region r;
      r.from = to_blocked ? plain : block;
      r.to = to_blocked ? block : plain;
      r.size[0] = count, r.size[1] = hw, r.size[2] = lanes;
      op.regions.push_back(r);
    }
  return op;
}

// A Raster that concatenates blocked values of one image along channels, each copied whole
// to its place (SqueezeNet's fire modules): with whole blocks (C % 16 == 0) each input's
// blocked bytes land at the same offset as its NCHW bytes, so the same regions stay valid on
// the blocked tensors (and alias_concat_inputs can still make the copies disappear).
bool channel_concat(const AtomicOp& op, const AtomicGraph& g, const std::vector<bool>& blocked_out,
                    const std::vector<Dims>& dims, Dims* out) {
  if (op.fill_output || op.inputs.size() < 2 || op.regions.size() != op.inputs.size()) return false;
  std::vector<int64_t> start(op.inputs.size());
  int64_t channels = 0;
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    const int id = op.inputs[k];
    if (id < 0 || static_cast<size_t>(id) >= blocked_out.size() || !blocked_out[id]) return false;
    const Dims& d = dims[id];
    const Dims& d0 = dims[op.inputs[0]];
    if (d[0] != 1 || d[1] % kChannelBlock || d[2] != d0[2] || d[3] != d0[3]) return false;
    start[k] = channels;
    channels += d[1];
  }
  const Dims& d0 = dims[op.inputs[0]];
  const int64_t hw = d0[2] * d0[3];
  if (numel(g.tensors[op.output].shape) != channels * hw) return false;
  std::vector<bool> seen(op.inputs.size(), false);
  for (const Region& r : op.regions) {
    int64_t count = 0;
    if (r.src < 0 || static_cast<size_t>(r.src) >= op.inputs.size() || seen[r.src]) return false;
    seen[r.src] = true;
    if (!contiguous_run(r, &count) || count != dims[op.inputs[r.src]][1] * hw || r.from.offset != 0 ||
        r.to.offset != start[r.src] * hw)
      return false;
  }
  *out = {1, channels, d0[2], d0[3]};
  return true;
}

}  // namespace

void block_channels(AtomicGraph& g, const std::vector<int>& outputs, const Backend& backend) {
  if (!backend.has_blocked_layout()) return;
  const size_t n_tensors = g.tensors.size();
  std::vector<bool> blocked_out(n_tensors, false);  // the producer will write the blocked form
  std::vector<Dims> dims(n_tensors);
  std::vector<AtomicOp> ops = g.ops;
  std::vector<bool> is_blocked(ops.size(), false);
  auto f32 = [&](int id) { return id >= 0 && g.tensors[id].dtype == DType::F32; };
  auto produced_blocked = [&](int id) { return id >= 0 && static_cast<size_t>(id) < n_tensors && blocked_out[id]; };

  // 1. Decide, in execution order, which ops run blocked.
  for (size_t i = 0; i < ops.size(); ++i) {
    AtomicOp& op = ops[i];
    if (!f32(op.output) || numel(g.tensors[op.output].shape) == 0) continue;  // nothing to lay out
    const int in = op.inputs.empty() ? -1 : op.inputs[0];
    Dims out{};
    bool block = false;
    if (op.kind == AtomicKind::Conv || op.kind == AtomicKind::Pool) {
      const bool depthwise = op.kind == AtomicKind::Conv && op.group > 1;
      AtomicOp trial = op;
      trial.blocked_output = true;
      // A convolution reads a plain input in place when it has few channels (a first layer);
      // otherwise its input is converted once. Pooling only continues a blocked chain, and a
      // convolution with fewer output channels than a block stays plain (mostly padding).
      trial.blocked_input = produced_blocked(in) || depthwise || (op.kind == AtomicKind::Conv && op.c >= kChannelBlock);
      if (op.kind == AtomicKind::Pool && !produced_blocked(in)) continue;
      if (op.out_c < kChannelBlock) continue;
      block = backend.supports(trial, g);
      if (block) op = trial;
      out = {op.n, op.out_c, op.out_h, op.out_w};
    } else if (op.kind == AtomicKind::Unary && produced_blocked(in)) {
      out = dims[in];
      block = keeps_zero(op) || out[1] % kChannelBlock == 0;
    } else if (op.kind == AtomicKind::Binary && binary_keeps_zero(op.binary) && op.inputs.size() == 2 &&
               (produced_blocked(op.inputs[0]) || produced_blocked(op.inputs[1]))) {
      const Shape& shape = g.tensors[op.output].shape;
      out = dims[produced_blocked(op.inputs[0]) ? op.inputs[0] : op.inputs[1]];
      const bool same_blocks = !produced_blocked(op.inputs[0]) || !produced_blocked(op.inputs[1]) ||
                               dims[op.inputs[0]] == dims[op.inputs[1]];
      block = same_blocks && f32(op.inputs[0]) && f32(op.inputs[1]) && g.tensors[op.inputs[0]].shape == shape &&
              g.tensors[op.inputs[1]].shape == shape && numel(shape) == out[0] * out[1] * out[2] * out[3];
    } else if (op.kind == AtomicKind::Raster && !op.inputs.empty()) {
      block = channel_concat(op, g, blocked_out, dims, &out);
    } else if (op.kind == AtomicKind::Reduce && produced_blocked(in)) {
      const Dims& d = dims[in];
      const bool keeps = op.reduce == ReduceOp::Sum || op.reduce == ReduceOp::Mean || op.reduce == ReduceOp::Max ||
                         op.reduce == ReduceOp::Min;
      block = keeps && op.outer == d[0] * d[1] && op.reduce_size == d[2] * d[3] && op.inner == 1;
      out = {d[0], d[1], 1, 1};
    }
    if (!block) continue;
    if (op.kind == AtomicKind::Reduce) op.outer = dims[in][0] * blocks(dims[in][1]), op.inner = kChannelBlock;
    is_blocked[i] = true;
    blocked_out[op.output] = true;
    dims[op.output] = out;
  }

  // 2. Rewrite: a blocked op writes a new blocked tensor; the original id keeps meaning the
  // NCHW value and is made by a conversion only where something still reads it that way.
  std::vector<int> blocked_id(n_tensors, -1);
  auto new_blocked = [&](int plain, const Dims& d) {
    const Shape shape{d[0], blocks(d[1]), d[2], d[3], kChannelBlock};
    return g.add_tensor(DType::F32, shape, g.tensors[plain].name.empty() ? "" : g.tensors[plain].name + "/blocked");
  };
  for (size_t t = 0; t < n_tensors; ++t)
    if (blocked_out[t]) blocked_id[t] = new_blocked(static_cast<int>(t), dims[t]);

  // Which plain tensors are still read as NCHW: by a plain op, an alias (a reshape view), or
  // as a graph output.
  std::vector<bool> plain_needed(n_tensors, false);
  for (int o : outputs) plain_needed[o] = true;
  for (size_t t = 0; t < n_tensors; ++t)
    if (g.tensors[t].storage == Storage::Alias && g.tensors[t].alias_of >= 0)
      plain_needed[g.tensors[t].alias_of] = true;
  auto blocked_slot = [&](size_t i, size_t k) {
    const AtomicOp& op = ops[i];
    if (!is_blocked[i]) return false;
    if (op.kind == AtomicKind::Conv) return (k == 0 && op.blocked_input) || k == 3;
    return op.kind != AtomicKind::Pool || k == 0;
  };
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t k = 0; k < ops[i].inputs.size(); ++k) {
      const int id = ops[i].inputs[k];
      if (id >= 0 && static_cast<size_t>(id) < n_tensors && !blocked_slot(i, k)) plain_needed[id] = true;
    }

  std::vector<AtomicOp> rewritten;
  rewritten.reserve(ops.size() + 8);
  std::map<int, int> converted_in;  // plain tensor -> its blocked copy, made before a blocked consumer
  for (size_t i = 0; i < ops.size(); ++i) {
    AtomicOp op = ops[i];
    if (is_blocked[i]) {
      for (size_t k = 0; k < op.inputs.size(); ++k) {
        int& id = op.inputs[k];
        if (id < 0 || !blocked_slot(i, k)) continue;
        if (blocked_id[id] >= 0) {
          id = blocked_id[id];
          continue;
        }
        auto it = converted_in.find(id);
        if (it == converted_in.end()) {
          // A conv's input has its own c, h, w; every other blocked input has the output's dims.
          const Dims in_dims =
              op.kind == AtomicKind::Conv && k == 0 ? Dims{op.n, op.c, op.h, op.w} : dims[ops[i].output];
          const int b = new_blocked(id, in_dims);
          rewritten.push_back(conversion(id, b, in_dims, true, op.origin));
          it = converted_in.emplace(id, b).first;
        }
        id = it->second;
      }
      const int plain = op.output;
      op.output = blocked_id[plain];
      rewritten.push_back(op);
      if (plain_needed[plain]) rewritten.push_back(conversion(op.output, plain, dims[plain], false, op.origin));
    } else {
      rewritten.push_back(op);
    }
  }
  g.ops = std::move(rewritten);
}

}  // namespace walle
