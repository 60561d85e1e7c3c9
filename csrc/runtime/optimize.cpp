#include "runtime/optimize.h"

#include <algorithm>
#include <cstdlib>
#include <map>

namespace walle {

namespace {

// Number of ops reading each tensor, plus one for each graph output and each alias of it.
std::vector<int> use_counts(const AtomicGraph& g, const std::vector<int>& outputs) {
  std::vector<int> uses(g.tensors.size(), 0);
  for (const AtomicOp& op : g.ops)
    for (int id : op.inputs)
      if (id >= 0) ++uses[id];
  for (int id : outputs) ++uses[id];
  for (const AtomicTensor& t : g.tensors)
    if (t.storage == Storage::Alias) ++uses[t.alias_of];
  return uses;
}

bool fusable_activation(const AtomicOp& op, Activation* act) {
  if (op.kind != AtomicKind::Unary) return false;
  switch (op.unary) {
    case UnaryOp::Relu: *act = Activation::Relu; return true;
    case UnaryOp::Clip: *act = Activation::Clip; return true;
    case UnaryOp::Sigmoid: *act = Activation::Sigmoid; return true;
    case UnaryOp::Gelu: *act = Activation::Gelu; return true;
    case UnaryOp::Silu: *act = Activation::Silu; return true;
    default: return false;
  }
}

}  // namespace

void fuse_epilogues(AtomicGraph& g, const std::vector<int>& outputs) {
  std::vector<int> uses = use_counts(g, outputs);
  std::map<int, size_t> producer;  // tensor id -> op index
  for (size_t i = 0; i < g.ops.size(); ++i) producer[g.ops[i].output] = i;
  std::vector<bool> removed(g.ops.size(), false);
  auto is_f32 = [&](int id) { return g.tensors[id].dtype == DType::F32; };

  for (size_t i = 0; i < g.ops.size(); ++i) {
    AtomicOp& op = g.ops[i];
    // The candidate producer: a Conv/MatMul whose output only this op reads.
    // A reshape view of the producer's output (MatMul [128, 768] seen as [1, 128, 768]) is
    // followed to its root when the view is the root's only reader.
    auto producer_of = [&](int id) -> AtomicOp* {
      if (uses[id] != 1) return nullptr;
      if (g.tensors[id].storage == Storage::Alias) {
        int root = g.tensors[id].alias_of;
        if (g.tensors[root].storage == Storage::Alias || uses[root] != 1 ||
            numel(g.tensors[root].shape) != numel(g.tensors[id].shape))
          return nullptr;
        id = root;
      }
      auto it = producer.find(id);
      if (it == producer.end() || removed[it->second] || uses[id] != 1) return nullptr;
      AtomicOp& p = g.ops[it->second];
      if ((p.kind != AtomicKind::Conv && p.kind != AtomicKind::MatMul) || !is_f32(id)) return nullptr;
      return &p;
    };
    Activation act;
    if (fusable_activation(op, &act)) {
      AtomicOp* p = producer_of(op.inputs[0]);
      if (!p || p->activation != Activation::None) continue;
      p->activation = act;
      p->alpha = op.alpha;
      p->beta = op.beta;
      p->output = op.output;
      producer[op.output] = static_cast<size_t>(p - g.ops.data());
      removed[i] = true;
      continue;
    }
    if (op.kind != AtomicKind::Binary || op.binary != BinaryOp::Add) continue;
    for (int side = 0; side < 2; ++side) {
      int mine = op.inputs[side], other = op.inputs[1 - side];
      AtomicOp* p = producer_of(mine);
      if (!p || p->activation != Activation::None) continue;
      // The other operand must exist before the producer runs (ops keep their positions).
      auto other_producer = producer.find(g.root(other));
      if (other_producer != producer.end() && other_producer->second > static_cast<size_t>(p - g.ops.data())) continue;
      const Shape& out = g.tensors[op.output].shape;
      if (g.tensors[other].shape == out && g.tensors[mine].shape == out) {  // residual
        if (p->inputs.size() > 3) continue;
        p->inputs.resize(4, -1);
        p->inputs[3] = other;
      } else if (p->kind == AtomicKind::MatMul && p->inputs.size() == 2 && g.is_constant(other) &&
                 numel(g.tensors[other].shape) == p->N && g.tensors[other].shape.back() == p->N &&
                 g.tensors[mine].shape == out) {  // constant per-column bias
        p->inputs.push_back(other);
      } else {
        continue;
      }
      p->output = op.output;
      producer[op.output] = static_cast<size_t>(p - g.ops.data());
      removed[i] = true;
      break;
    }
  }
  std::vector<AtomicOp> kept;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(g.ops[i]));
  g.ops = std::move(kept);
}

namespace {

// The copy `read`, which reads a tensor that the dense single region `write` produced, as a
// copy from write's source, or false when that is not one strided 3-d region. `write` fills the
// tensor in row-major order of its sizes S, so index d has digits (d / (S1 S2), d / S2 % S1,
// d % S2) and holds source element from.offset + digits . from.stride. Each dimension of
// `read` must step one digit without carrying into the next; a dimension that runs across a
// digit boundary in whole turns (a walk both copies' simplification merged) is split there,
// as long as the result still has at most three dimensions.
bool compose_regions(const Region& write, const Region& read, Region* out) {
  const int64_t* S = write.size;
  const int64_t place[3] = {S[1] * S[2], S[2], 1};
  const int64_t n = S[0] * S[1] * S[2];
  if (read.from.offset < 0 || read.from.offset >= n) return false;
  const int64_t start[3] = {read.from.offset / place[0], read.from.offset / place[1] % S[1], read.from.offset % S[2]};
  struct Dim {
    int64_t size, from, to;
    int digit;     // -1: a stride-0 dimension (repeats one element)
    int64_t step;  // in units of the digit
  };
  std::vector<Dim> work, done;
  for (int m = 0; m < 3; ++m)
    if (read.size[m] > 1) work.push_back({read.size[m], read.from.stride[m], read.to.stride[m], -1, 0});
  while (!work.empty()) {
    Dim d = work.back();
    work.pop_back();
    if (d.from == 0) {
      done.push_back(d);
      continue;
    }
    if (d.from < 0) return false;
    int k = 0;
    while (k < 3 && !(d.from % place[k] == 0 && d.from / place[k] < S[k])) ++k;
    if (k == 3) return false;
    d.digit = k;
    d.step = d.from / place[k];
    if (start[k] + d.step * (d.size - 1) < S[k]) {
      done.push_back(d);
      continue;
    }
    // Runs over digit k's end: split into whole turns of digit k (each turn visits the same
    // digit values, start[k] + step * i < S[k]), stepped by the next digit up.
    if (k == 0 || S[k] % d.step != 0 || start[k] >= d.step || d.size % (S[k] / d.step) != 0) return false;
    const int64_t turn = S[k] / d.step;
    work.push_back({d.size / turn, d.from * turn, d.to * turn, -1, 0});
    d.size = turn;
    done.push_back(d);
  }
  if (done.size() > 3) return false;
  // Destination order, outermost first, so the copy's inner loop stays the unit-stride one.
  std::sort(done.begin(), done.end(), [](const Dim& a, const Dim& b) {
    return std::abs(a.to) != std::abs(b.to) ? std::abs(a.to) > std::abs(b.to) : std::abs(a.from) > std::abs(b.from);
  });
  int64_t reached[3] = {start[0], start[1], start[2]};
  for (const Dim& d : done)
    if (d.digit >= 0) reached[d.digit] += d.step * (d.size - 1);
  for (int k = 0; k < 3; ++k)
    if (reached[k] >= S[k]) return false;  // two dimensions stepping one digit would carry
  *out = Region{};
  out->src = read.src;
  out->from.offset = write.from.offset;
  for (int k = 0; k < 3; ++k) out->from.offset += start[k] * write.from.stride[k];
  out->to.offset = read.to.offset;
  for (int m = 0; m < 3; ++m) out->from.stride[m] = out->to.stride[m] = 0;
  for (size_t m = 0; m < done.size(); ++m) {
    const Dim& d = done[m];
    const int slot = 3 - static_cast<int>(done.size()) + static_cast<int>(m);
    out->size[slot] = d.size;
    out->from.stride[slot] = d.digit < 0 ? 0 : d.step * write.from.stride[d.digit];
    out->to.stride[slot] = d.to;
  }
  return true;
}

// The same copy with its dimensions ordered by destination stride, largest first (a transpose
// may walk its source in order and scatter into the destination).
Region by_destination_order(Region r) {
  int order[3] = {0, 1, 2};
  std::sort(order, order + 3, [&](int a, int b) {
    const int64_t sa = r.size[a] == 1 ? -1 : r.to.stride[a], sb = r.size[b] == 1 ? -1 : r.to.stride[b];
    return sa > sb;
  });
  Region out = r;
  for (int k = 0; k < 3; ++k) {
    out.size[k] = r.size[order[k]];
    out.from.stride[k] = r.from.stride[order[k]];
    out.to.stride[k] = r.to.stride[order[k]];
  }
  return out;
}

// `write` fills its whole output, in row-major order of its sizes, with unit last stride.
bool dense_write(const Region& write, int64_t numel_out) {
  const int64_t* S = write.size;
  const int64_t expected[3] = {S[1] * S[2], S[2], 1};
  if (write.to.offset != 0 || S[0] * S[1] * S[2] != numel_out) return false;
  for (int k = 0; k < 3; ++k)
    if (S[k] > 1 && write.to.stride[k] != expected[k]) return false;
  return true;
}

}  // namespace

void merge_rasters(AtomicGraph& g, const std::vector<int>& outputs) {
  const std::vector<int> uses = use_counts(g, outputs);
  std::vector<int> producer(g.tensors.size(), -1);
  for (size_t i = 0; i < g.ops.size(); ++i) producer[g.ops[i].output] = static_cast<int>(i);
  for (AtomicOp& op : g.ops) {
    if (op.kind != AtomicKind::Raster || op.fill_output) continue;
    bool changed = false;
    for (Region& r : op.regions) {
      if (r.src < 0 || static_cast<size_t>(r.src) >= op.inputs.size()) continue;
      int t = op.inputs[r.src];
      if (t < 0 || uses[t] != 1) continue;
      if (g.tensors[t].storage == Storage::Alias) {  // a reshape view: same linear indices
        const int root = g.tensors[t].alias_of;
        if (g.tensors[t].alias_offset != 0 || g.tensors[root].storage == Storage::Alias || uses[root] != 1 ||
            numel(g.tensors[root].shape) != numel(g.tensors[t].shape))
          continue;
        t = root;
      }
      if (g.tensors[t].storage != Storage::Arena || producer[t] < 0) continue;
      const AtomicOp& first = g.ops[producer[t]];
      if (first.kind != AtomicKind::Raster || first.fill_output || first.regions.size() != 1) continue;
      const Region w = by_destination_order(first.regions[0]);
      if (w.src < 0 || static_cast<size_t>(w.src) >= first.inputs.size() || first.inputs[w.src] < 0) continue;
      const int source = first.inputs[w.src];
      if (g.tensors[source].dtype != g.tensors[t].dtype || !dense_write(w, numel(g.tensors[t].shape))) continue;
      Region merged;
      if (!compose_regions(w, r, &merged)) continue;
      auto at = std::find(op.inputs.begin(), op.inputs.end(), source);
      if (at == op.inputs.end()) at = op.inputs.insert(op.inputs.end(), source);
      merged.src = static_cast<int>(at - op.inputs.begin());
      r = merged;
      changed = true;
    }
    if (!changed) continue;
    // Drop inputs no region reads any more (the merged-away tensors), renumbering the rest.
    std::vector<int> index(op.inputs.size(), -1), kept;
    for (const Region& r : op.regions)
      if (r.src >= 0 && index[r.src] < 0) {
        index[r.src] = static_cast<int>(kept.size());
        kept.push_back(op.inputs[r.src]);
      }
    for (Region& r : op.regions)
      if (r.src >= 0) r.src = index[r.src];
    op.inputs = std::move(kept);
  }
}

void remove_dead_ops(AtomicGraph& g, const std::vector<int>& outputs) {
  std::vector<bool> needed(g.tensors.size(), false);
  auto need = [&](int id) {
    while (id >= 0 && !needed[id]) {
      needed[id] = true;
      id = g.tensors[id].storage == Storage::Alias ? g.tensors[id].alias_of : -1;
    }
  };
  for (int id : outputs) need(id);
  std::vector<bool> keep(g.ops.size(), false);
  for (size_t i = g.ops.size(); i-- > 0;) {
    if (!needed[g.ops[i].output]) continue;
    keep[i] = true;
    for (int id : g.ops[i].inputs) need(id);
  }
  std::vector<AtomicOp> kept;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (keep[i]) kept.push_back(std::move(g.ops[i]));
  g.ops = std::move(kept);
}

bool contiguous_run(const Region& r, int64_t* count) {
  int64_t size[3], fs[3], ts[3];
  int n = 0;
  for (int k = 0; k < 3; ++k) {
    if (r.size[k] == 1) continue;
    size[n] = r.size[k];
    fs[n] = r.from.stride[k];
    ts[n] = r.to.stride[k];
    ++n;
  }
  int64_t total = 1;
  for (int k = n - 1; k >= 0; --k) {
    if (fs[k] != total || ts[k] != total) return false;
    total *= size[k];
  }
  *count = total;
  return true;
}

namespace {

// Inclusive element range of a region's destination.
std::pair<int64_t, int64_t> destination_extent(const Region& r) {
  int64_t lo = r.to.offset, hi = r.to.offset;
  for (int k = 0; k < 3; ++k) {
    int64_t span = (r.size[k] - 1) * r.to.stride[k];
    if (span < 0)
      lo += span;
    else
      hi += span;
  }
  return {lo, hi};
}

}  // namespace

void alias_concat_inputs(AtomicGraph& g, const std::vector<int>& outputs) {
  std::vector<int> uses = use_counts(g, outputs);
  std::vector<int> producer(g.tensors.size(), -1);
  for (size_t i = 0; i < g.ops.size(); ++i) producer[g.ops[i].output] = static_cast<int>(i);
  std::vector<bool> removed(g.ops.size(), false);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    AtomicOp& op = g.ops[i];
    if (op.kind != AtomicKind::Raster || op.fill_output || op.regions.empty()) continue;
    const AtomicTensor& out = g.tensors[op.output];
    const Storage out_storage = g.tensors[g.root(op.output)].storage;
    if (out_storage != Storage::Arena && out_storage != Storage::Output) continue;
    std::vector<bool> drop(op.regions.size(), false);
    for (size_t r = 0; r < op.regions.size(); ++r) {
      const Region& reg = op.regions[r];
      if (reg.src < 0 || static_cast<size_t>(reg.src) >= op.inputs.size()) continue;
      const int x = op.inputs[reg.src];
      if (x < 0 || x == op.output) continue;
      AtomicTensor& t = g.tensors[x];
      if (t.storage != Storage::Arena || uses[x] != 1 || t.dtype != out.dtype || producer[x] < 0 ||
          producer[x] >= static_cast<int>(i) || reg.from.offset != 0)
        continue;
      int64_t count = 0;
      if (!contiguous_run(reg, &count) || count != numel(t.shape) || count == 0) continue;
      const int64_t lo = reg.to.offset, hi = reg.to.offset + count - 1;
      if (lo < 0 || hi >= numel(out.shape)) continue;
      bool clash = false;  // another region writing into the same range (order would matter)
      for (size_t q = 0; q < op.regions.size() && !clash; ++q) {
        if (q == r) continue;
        auto [qlo, qhi] = destination_extent(op.regions[q]);
        clash = qlo <= hi && lo <= qhi;
      }
      if (clash) continue;
      t.storage = Storage::Alias;
      t.alias_of = op.output;
      t.alias_offset = lo * static_cast<int64_t>(dtype_size(out.dtype));
      drop[r] = true;
    }
    std::vector<Region> kept;
    for (size_t r = 0; r < op.regions.size(); ++r)
      if (!drop[r]) kept.push_back(op.regions[r]);
    op.regions = std::move(kept);
    if (op.regions.empty()) removed[i] = true;
  }
  std::vector<AtomicOp> kept;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(g.ops[i]));
  g.ops = std::move(kept);
}

int64_t plan_memory(AtomicGraph& g, const std::vector<int>& outputs) {
  const int64_t n_ops = static_cast<int64_t>(g.ops.size());
  std::vector<int64_t> first(g.tensors.size(), -1), last(g.tensors.size(), -1);
  for (int64_t t = 0; t < n_ops; ++t) {
    int out = g.root(g.ops[t].output);
    if (first[out] < 0) first[out] = t;
    last[out] = std::max(last[out], t);
    for (int id : g.ops[t].inputs)
      if (id >= 0) last[g.root(id)] = std::max(last[g.root(id)], t);
  }
  for (int id : outputs) last[g.root(id)] = n_ops;  // read when the run ends
  struct Block {
    int id;
    int64_t bytes, first, last;
  };
  std::vector<Block> blocks;
  for (size_t id = 0; id < g.tensors.size(); ++id) {
    const AtomicTensor& t = g.tensors[id];
    if (t.storage != Storage::Arena || first[id] < 0) continue;
    int64_t bytes = (numel(t.shape) * static_cast<int64_t>(dtype_size(t.dtype)) + 63) / 64 * 64;
    blocks.push_back({static_cast<int>(id), std::max<int64_t>(bytes, 64), first[id], last[id]});
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.bytes != b.bytes ? a.bytes > b.bytes : a.first < b.first; });
  struct Placed {
    int64_t offset, bytes, first, last;
  };
  std::vector<Placed> placed;
  int64_t arena = 0;
  for (const Block& b : blocks) {
    // Lowest offset whose range collides with no live-overlapping placed block.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= b.last && b.first <= p.last) busy.emplace_back(p.offset, p.offset + p.bytes);
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + b.bytes <= lo) break;
      offset = std::max(offset, hi);
    }
    g.tensors[b.id].arena_offset = offset;
    placed.push_back({offset, b.bytes, b.first, b.last});
    arena = std::max(arena, offset + b.bytes);
  }
  return arena;
}

}  // namespace walle
