#include "runtime/placement.h"

#include <map>

#include "runtime/optimize.h"

namespace walle {

namespace {

// Where a host backend's tensors live: all host backends share memory, so their index is 0.
int memory_of(int backend, const std::vector<bool>& host) { return host[backend] ? 0 : backend; }

class Placer {
 public:
  Placer(AtomicGraph& g, const std::vector<bool>& host) : g_(g), host_(host) {}

  // A tensor holding value `id` in memory `mem`, inserting a copy when there is none yet.
  int on(int id, int mem) {
    int r = g_.root(id);
    auto& have = copies_[r];
    if (have.empty()) have[home(r)] = r;
    int held;
    auto it = have.find(mem);
    if (it != have.end()) {
      held = it->second;
    } else if (g_.tensors[r].storage == Storage::Constant) {
      held = new_tensor(r, mem);  // a device constant: uploaded once at plan time, no copy op
      g_.tensors[held].storage = Storage::Constant;
      g_.tensors[held].constant = g_.tensors[r].constant;
      have[mem] = held;
    } else {
      int src = have.count(0) ? have[0] : have.begin()->second;
      held = new_tensor(r, mem);
      emit_copy(src, held, backend_of(src), mem);
      have[mem] = held;
    }
    if (id == r) return held;
    // A view (reshape) of the value: the same view of the copy.
    auto key = std::make_pair(id, mem);
    auto v = views_.find(key);
    if (v != views_.end()) return v->second;
    int view = g_.add_tensor(g_.tensors[id].dtype, g_.tensors[id].shape, g_.tensors[id].name);
    g_.tensors[view].storage = Storage::Alias;
    g_.tensors[view].alias_of = held;
    set_backend(view, mem);
    views_[key] = view;
    return view;
  }

  void run_op(AtomicOp op, int backend) {
    int mem = memory_of(backend, host_);
    for (int& id : op.inputs)
      if (id >= 0) id = on(id, mem);
    int out = op.output;
    int r = g_.root(out);
    if (mem != 0 && g_.tensors[r].storage == Storage::Output) {
      // The caller's result buffer is host memory: compute on the device, then copy it out.
      int dev = new_tensor(r, mem);
      op.output = dev;
      push(std::move(op), backend, current_source_);
      set_backend(r, 0);
      copies_[r] = {{0, r}, {mem, dev}};
      emit_copy(dev, r, mem, 0);
      return;
    }
    set_backend(r, mem);
    copies_[r] = {{mem, r}};
    push(std::move(op), backend, current_source_);
  }

  void finish_outputs(std::vector<int>& outputs) {
    for (int& id : outputs) {
      int r = g_.root(id);
      if (g_.tensors[r].storage == Storage::Output) continue;
      id = on(id, 0);  // the end of run() reads outputs from host memory
    }
  }

  Placement result(std::vector<AtomicOp>& ops) {
    ops = std::move(ops_);
    placement_.tensor_backend.resize(g_.tensors.size(), 0);
    return std::move(placement_);
  }

  int current_source_ = -1;

 private:
  int home(int r) {
    const AtomicTensor& t = g_.tensors[r];
    if (t.storage == Storage::Arena) return backend_of(r);
    return 0;  // inputs, constants and the caller's outputs are host memory
  }
  int backend_of(int id) {
    int r = g_.root(id);
    return r < static_cast<int>(placement_.tensor_backend.size()) ? placement_.tensor_backend[r] : 0;
  }
  void set_backend(int id, int mem) {
    if (placement_.tensor_backend.size() < g_.tensors.size()) placement_.tensor_backend.resize(g_.tensors.size(), 0);
    placement_.tensor_backend[id] = mem;
  }
  int new_tensor(int like, int mem) {
    int id = g_.add_tensor(g_.tensors[like].dtype, g_.tensors[like].shape, g_.tensors[like].name);
    set_backend(id, mem);
    return id;
  }
  void emit_copy(int src, int dst, int from, int to) {
    AtomicOp copy;
    copy.kind = AtomicKind::Raster;
    copy.inputs = {src};
    copy.output = dst;
    copy.origin = "copy " + g_.tensors[dst].name;
    Region whole;
    whole.size[2] = numel(g_.tensors[dst].shape);
    copy.regions = {whole};
    push(std::move(copy), -1, -1);
    placement_.copy.back() = {from, to};
  }
  void push(AtomicOp op, int backend, int source) {
    ops_.push_back(std::move(op));
    placement_.op_backend.push_back(backend);
    placement_.source_op.push_back(source);
    placement_.copy.emplace_back(-1, -1);
  }

  AtomicGraph& g_;
  const std::vector<bool>& host_;
  std::vector<AtomicOp> ops_;
  Placement placement_;
  std::map<int, std::map<int, int>> copies_;  // value (root) -> memory -> tensor holding it
  std::map<std::pair<int, int>, int> views_;  // (view tensor, memory) -> view of the copy
};

}  // namespace

Placement place_tensors(AtomicGraph& g, std::vector<int>& outputs, const std::vector<int>& op_backend,
                        const std::vector<bool>& host) {
  Placer placer(g, host);
  std::vector<AtomicOp> ops = std::move(g.ops);
  g.ops.clear();
  for (size_t i = 0; i < ops.size(); ++i) {
    placer.current_source_ = static_cast<int>(i);
    placer.run_op(std::move(ops[i]), op_backend[i]);
  }
  placer.finish_outputs(outputs);
  return placer.result(g.ops);
}

std::vector<int64_t> plan_memory_per_backend(AtomicGraph& g, const std::vector<int>& outputs,
                                             const Placement& placement, size_t n_backends) {
  std::vector<int64_t> sizes(n_backends, 0);
  std::vector<Storage> saved(g.tensors.size());
  for (size_t id = 0; id < g.tensors.size(); ++id) saved[id] = g.tensors[id].storage;
  for (size_t b = 0; b < n_backends; ++b) {
    // plan_memory() places every Arena tensor; hide the other backends' tensors from it.
    bool any = false;
    for (size_t id = 0; id < g.tensors.size(); ++id) {
      bool mine = placement.tensor_backend[id] == static_cast<int>(b);
      g.tensors[id].storage = saved[id] == Storage::Arena && !mine ? Storage::Input : saved[id];
      any = any || (saved[id] == Storage::Arena && mine);
    }
    std::vector<int64_t> offsets;
    if (any) sizes[b] = plan_memory(g, outputs);
  }
  for (size_t id = 0; id < g.tensors.size(); ++id) g.tensors[id].storage = saved[id];
  return sizes;
}

}  // namespace walle
