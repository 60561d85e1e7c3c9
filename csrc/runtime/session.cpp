#include "runtime/session.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include <unistd.h>

#include "core/environment.h"
#include "core/error.h"
#include "core/strings.h"
#include "decompose/registry.h"
#include "runtime/optimize.h"
#include "runtime/placement.h"
#include "search/search.h"

namespace walle {

struct Session::Plan {
  AtomicGraph graph;
  std::vector<int> outputs;                      // tensor ids of the graph outputs, flat
  std::vector<Value::Kind> output_kinds;         // per graph output: what it computes
  std::vector<size_t> output_counts;             // per graph output: its tensors in `outputs`
  std::vector<std::unique_ptr<Kernel>> kernels;  // one per graph.ops entry
  std::shared_ptr<void> arena;
  std::shared_ptr<void> scratch;
  // Multi-backend plans (more than one backend in backends_); empty otherwise.
  Placement placement;                                    // op -> backend, tensor -> memory, copies
  std::vector<std::shared_ptr<void>> arenas;              // per backend memory (index 0 = host)
  std::map<int, std::shared_ptr<void>> device_constants;  // constants uploaded to a device
  std::vector<search::OpDecision> decisions;              // per op: the search's choice and costs
  std::vector<double> op_us;                              // per-op kernel time summed over runs (profiling)
  int64_t folded_bytes = 0;                               // constants folded while planning
  int64_t runs = 0;
};

namespace {

int64_t resolved_memory_limit(int64_t bytes) {
  if (bytes < 0)
    throw Error(ErrorKind::Input,
                "memory_limit must be >= 0 bytes (0: the machine's memory), got " + std::to_string(bytes));
  if (bytes > 0) return bytes;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : INT64_MAX;
}

int checked_threads(int threads) {
  if (threads < 1 || threads > kMaxThreads)
    throw Error(ErrorKind::Input,
                "threads must be 1 to " + std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
  return threads;
}

// A planning failure as the caller sees it: the file named, and an inconsistency found while
// decomposing (Error(Invalid), naming the node and field) reported as `kind`: a model error
// at load, an input error at run (the given inputs' shapes or values made the plan fail).
Error planning_error(const Error& e, ErrorKind kind, const std::string& path) {
  return Error(e.kind() == ErrorKind::Invalid ? kind : e.kind(), "model '" + path + "': " + e.what());
}

// SessionOptions::force: keys are atomic kind names or "layout" ("nchw" or "blocked").
void check_force_keys(const std::map<std::string, std::string>& force) {
  for (const auto& [key, value] : force) {
    if (key == "layout") {
      if (value != "nchw" && value != "blocked")
        throw Error(ErrorKind::Invalid, "force layout='" + value + "': choose 'nchw' or 'blocked'");
      continue;
    }
    std::string kinds;
    bool known = false;
    for (int k = 0; k <= static_cast<int>(AtomicKind::Text); ++k) {
      const std::string name = atomic_kind_name(static_cast<AtomicKind>(k));
      known = known || name == key;
      kinds += (kinds.empty() ? "" : ", ") + name;
    }
    if (!known)
      throw Error(ErrorKind::Invalid, "force: '" + key + "' is not an atomic op kind (" + kinds + ") or 'layout'");
  }
}

search::SearchOptions search_options(const SessionOptions& options) {
  search::SearchOptions so;
  so.tune = options.mode == "tune";
  so.force = options.force;
  so.force.erase("layout");
  return so;
}

// An op with an empty output has nothing to compute, and its backend's kernel is not even made:
// a kernel's plan may still walk the other dimensions (a blocked convolution of 2^40 empty
// pixels made one tile record per 14 of them), and run() skips the op.
class NothingToCompute : public Kernel {
 public:
  void run(const KernelIO&, ThreadPool&) override {}
  std::string name() const override { return "none (empty output)"; }
};

std::unique_ptr<Kernel> make_kernel(const Backend& backend, const AtomicOp& op, const AtomicGraph& g,
                                    const std::string& variant) {
  if (numel(g.tensors[op.output].shape) == 0) return std::make_unique<NothingToCompute>();
  return backend.make_variant(op, g, variant);
}

std::string layout_of(const AtomicOp& op) {
  if (op.kind != AtomicKind::Conv && op.kind != AtomicKind::Pool) return "";
  if (op.blocked_input == op.blocked_output) return op.blocked_input ? "blocked" : "nchw";
  return op.blocked_input ? "blocked->nchw" : "nchw->blocked";
}

}  // namespace

Session::Session(std::shared_ptr<const Model> model, SessionOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      backend_(make_backend(options_.backend == "auto" ? "cpu" : options_.backend, options_.isa)),
      evaluator_(make_backend("cpu")),
      pool_(checked_threads(options_.threads)) {
  check_force_keys(options_.force);
  options_.memory_limit = resolved_memory_limit(options_.memory_limit);
  open_backends();
  if (profile_requested_by_environment()) options_.profile = true;
  // Plan now for the declared shapes when they are all fixed, so load errors surface early
  // and the first run is not slower than the rest. (A sequence's length or an optional's
  // presence is known only at the first run.)
  Signature signature;
  for (const ValueInfo& v : inputs()) {
    if (v.kind != ValueKind::Tensor || v.unknown_rank) return;
    for (int64_t d : v.dims)
      if (d < 0) return;
    signature.kinds.push_back(Value::Kind::Tensor);
    signature.counts.push_back(1);
    signature.shapes.push_back(v.dims);
  }
  try {
    plan(signature);
  } catch (const InputValueNeeded&) {  // planned at the first run, when the value is known
  } catch (const Error& e) { throw planning_error(e, ErrorKind::Model, model_->path); }
}

bool Session::planned_values_differ(const std::vector<Tensor>& given) const {
  for (size_t i = 0; i < value_inputs_.size() && i < given.size(); ++i) {
    if (!value_inputs_[i]) continue;
    const Tensor& old = planned_values_[i];
    if (!old.defined() || !same_values(old, given[i])) return true;
  }
  return false;
}

// The backends a plan may use: the CPU alone, the CPU plus one device backend (which runs every
// op it supports; the CPU runs the rest), or for "auto" the CPU plus every usable device.
void Session::open_backends() {
  if (options_.mode != "estimate" && options_.mode != "tune")
    throw Error(ErrorKind::Invalid, "mode must be 'estimate' or 'tune', got '" + options_.mode + "'");
  if (options_.backend == "auto") {
    backends_ = {backend_};
    for (const BackendStatus& s : backend_status())
      if (s.available && s.name != "cpu" && s.name != "cpu-reference") backends_.push_back(make_backend(s.name));
  } else if (backend_->host_memory()) {
    backends_ = {backend_};
  } else {
    backends_ = {make_backend("cpu", options_.isa), backend_};
  }
}

namespace {

std::string expected_kind(const ValueInfo& v) {
  switch (v.kind) {
    case ValueKind::Tensor: return "a tensor";
    case ValueKind::Sequence: return "a sequence of tensors";
    case ValueKind::Optional: return "an optional tensor (a tensor, or None)";
    case ValueKind::OptionalSequence: return "an optional sequence (a sequence of tensors, or None)";
  }
  return "?";
}

std::string given_kind(const Value& x) {
  switch (x.kind) {
    case Value::Kind::Tensor: return "a tensor";
    case Value::Kind::Sequence: return "a sequence of " + std::to_string(x.tensors.size()) + " tensors";
    case Value::Kind::None: return "None (no value)";
  }
  return "?";
}

bool kind_fits(const ValueInfo& v, const Value& x) {
  switch (x.kind) {
    case Value::Kind::Tensor: return v.kind == ValueKind::Tensor || v.kind == ValueKind::Optional;
    case Value::Kind::Sequence: return v.is_sequence();
    case Value::Kind::None: return v.is_optional();
  }
  return false;
}

// `label` names the input ("input 'x'", or "input 'x' item 2" for a sequence element).
void check_tensor(const ValueInfo& v, const Tensor& t, const std::string& label) {
  if (t.dtype() != v.dtype)
    throw Error(ErrorKind::Input, label + ": expected dtype " + dtype_name(v.dtype) + ", got " + dtype_name(t.dtype()));
  if (v.unknown_rank) return;
  bool ok = t.shape().size() == v.dims.size();
  for (size_t k = 0; ok && k < v.dims.size(); ++k) ok = v.dims[k] < 0 || v.dims[k] == t.shape()[k];
  if (ok) return;
  std::string expected = "[";
  for (size_t k = 0; k < v.dims.size(); ++k)
    expected += (k ? ", " : "") + (v.dims[k] < 0 ? (v.dim_names[k].empty() ? std::string("?") : v.dim_names[k])
                                                 : std::to_string(v.dims[k]));
  throw Error(ErrorKind::Input, label + ": expected shape " + expected + "], got " + shape_str(t.shape()));
}

}  // namespace

void Session::check_inputs(const std::vector<Value>& given) const {
  if (given.size() != inputs().size())
    throw Error(ErrorKind::Input,
                "expected " + std::to_string(inputs().size()) + " inputs, got " + std::to_string(given.size()));
  for (size_t i = 0; i < given.size(); ++i) {
    const ValueInfo& v = inputs()[i];
    const Value& x = given[i];
    std::string label = "input '" + v.name + "'";
    if (!kind_fits(v, x))
      throw Error(ErrorKind::Input, label + ": expected " + expected_kind(v) + ", got " + given_kind(x));
    bool well_formed = x.kind == Value::Kind::Sequence || x.tensors.size() == (x.kind == Value::Kind::Tensor ? 1u : 0u);
    if (!well_formed)
      throw Error(ErrorKind::Input, label + ": malformed value (" + std::to_string(x.tensors.size()) + " tensors)");
    for (size_t k = 0; k < x.tensors.size(); ++k)
      check_tensor(v, x.tensors[k], x.kind == Value::Kind::Sequence ? label + " item " + std::to_string(k) : label);
  }
}

void Session::plan(const Signature& signature, const std::vector<Tensor>* values) {
  auto p = std::make_shared<Plan>();
  AtomicGraph& g = p->graph;
  const Graph& graph = model_->graph;
  std::map<std::string, int> ids;
  Decomposer d(g, *evaluator_);
  d.set_memory_limit(options_.memory_limit);
  size_t n_flat = signature.shapes.size();
  value_inputs_.resize(n_flat, false);
  std::vector<Tensor> value_copies(n_flat);
  size_t flat = 0;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const ValueInfo& info = graph.inputs[i];
    const Value::Kind kind = signature.kinds[i];
    std::vector<int> items;
    for (size_t k = 0; k < signature.counts[i]; ++k, ++flat) {
      std::string name = kind == Value::Kind::Sequence ? info.name + "[" + std::to_string(k) + "]" : info.name;
      int id = g.add_tensor(info.dtype, signature.shapes[flat], name);
      g.tensors[id].io_index = static_cast<int>(flat);
      if (values && value_inputs_[flat]) {
        value_copies[flat] = deep_copy((*values)[flat]);  // strings too: the caller's buffers go away
        g.tensors[id].storage = Storage::Constant;
        g.tensors[id].constant = value_copies[flat];
      } else {
        g.tensors[id].storage = Storage::Input;
      }
      items.push_back(id);
    }
    // Sequences and empty optionals are plan-time placeholders (see Decomposer).
    if (kind == Value::Kind::Tensor)
      ids[info.name] = items[0];
    else if (kind == Value::Kind::Sequence)
      ids[info.name] = d.make_sequence(items);
    else
      ids[info.name] = d.make_empty_optional();
  }
  auto value_id = [&](const std::string& name) -> int {
    if (name.empty()) return -1;
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    auto init = graph.initializers.find(name);
    if (init == graph.initializers.end()) throw Error(ErrorKind::Model, "value '" + name + "' is not defined");
    int id = g.add_tensor(init->second.dtype(), init->second.shape(), name);
    g.tensors[id].storage = Storage::Constant;
    g.tensors[id].constant = init->second;
    ids[name] = id;
    return id;
  };

  d.set_resolver(value_id);  // names read by control-flow bodies
  for (const Node& node : graph.nodes) {
    const CompositeOp* op = find_composite(node.op_type);
    if (!op) throw Error(ErrorKind::Unsupported, node.label() + ": operator '" + node.op_type + "' is not supported");
    std::vector<int> in;
    for (const std::string& name : node.inputs) in.push_back(value_id(name));
    d.begin(node, in);
    try {
      op->decompose(d);
    } catch (const InputValueNeeded& e) {
      if (value_inputs_[e.input] || !values) throw;
      value_inputs_[e.input] = true;  // plan again with that input's value as a constant
      plan(signature, values);
      return;
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      int id = d.outputs()[k];
      if (id < 0)
        throw Error(ErrorKind::Unsupported, node.label() + ": output " + std::to_string(k) + " is not supported");
      ids[node.outputs[k]] = id;
    }
  }
  // Graph outputs, flattened like the inputs: a sequence contributes its items, an empty
  // optional nothing. What the graph computes must be what the model declares.
  for (const ValueInfo& v : graph.outputs) {
    int id = value_id(v.name);
    Value::Kind kind = d.is_sequence(id)         ? Value::Kind::Sequence
                       : d.is_empty_optional(id) ? Value::Kind::None
                                                 : Value::Kind::Tensor;
    if (!kind_fits(v, Value{kind, {}})) {
      const char* computed = kind == Value::Kind::Sequence ? "a sequence"
                             : kind == Value::Kind::None   ? "an empty optional"
                                                           : "a tensor";
      throw Error(ErrorKind::Model, "graph output '" + v.name + "' is declared " + expected_kind(v) +
                                        ", but the graph computes " + computed);
    }
    std::vector<int> items = kind == Value::Kind::Sequence ? d.sequence(id)
                             : kind == Value::Kind::Tensor ? std::vector<int>{id}
                                                           : std::vector<int>{};
    p->output_kinds.push_back(kind);
    p->output_counts.push_back(items.size());
    p->outputs.insert(p->outputs.end(), items.begin(), items.end());
  }

  p->folded_bytes = d.folded_bytes();
  fuse_patterns(g, p->outputs, *backend_);
  fuse_epilogues(g, p->outputs);
  const bool host_only = backends_.size() == 1 || search_chooses_host_only(g, p->outputs);
  auto layout = options_.force.find("layout");
  if (host_only && (layout == options_.force.end() || layout->second != "nchw"))
    block_channels(g, p->outputs, *backend_);
  merge_rasters(g, p->outputs);
  remove_dead_ops(g, p->outputs);
  // A graph output computed by an op into its own tensor is written straight into the
  // caller's result buffer; any other output (a view, a constant, an input) is copied.
  for (size_t j = 0; j < p->outputs.size(); ++j) {
    AtomicTensor& t = g.tensors[p->outputs[j]];
    if (t.storage == Storage::Arena) {
      t.storage = Storage::Output;
      t.io_index = static_cast<int>(j);
    }
  }
  if (!host_only) {
    assign_and_place(*p);
  } else {
    if (backend_->host_memory()) alias_concat_inputs(g, p->outputs);
    arena_bytes_ = plan_memory(g, p->outputs);
    check_memory(*p, 0);
    p->arena = backend_->allocate(static_cast<size_t>(arena_bytes_));
    // The search on one backend chooses each op's variant (tune mode: by measurement).
    p->decisions = search::choose_backends(g, p->outputs, {backend_}, search_options(options_), pool_).ops;
    for (size_t i = 0; i < g.ops.size(); ++i) {
      std::unique_ptr<Kernel> kernel = make_kernel(*backend_, g.ops[i], g, p->decisions[i].algorithm);
      kernel->plan(g.ops[i], g);
      release_packed_weights(g.ops[i], g);
      p->kernels.push_back(std::move(kernel));
    }
  }
  check_forced(*p);
  // One scratch buffer in host memory serves every kernel (they run one at a time).
  size_t scratch_bytes = 0;
  for (const auto& kernel : p->kernels)
    if (kernel) scratch_bytes = std::max(scratch_bytes, kernel->scratch_bytes());
  check_memory(*p, scratch_bytes);
  if (scratch_bytes) p->scratch = evaluator_->allocate(scratch_bytes);
  plan_ = std::move(p);
  planned_ = signature;
  planned_values_ = std::move(value_copies);
}

// Once a kernel has packed an op's weights, the file pages holding the originals are returned,
// so the session does not hold each weight twice (the mapped original and the packed copy).
// A kernel that reads a constant at run time instead refetches its pages on the first run.
void Session::release_packed_weights(const AtomicOp& op, const AtomicGraph& g) const {
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    if (op.inputs[k] < 0 || !g.is_constant(op.inputs[k])) continue;
    const Tensor& t = g.tensors[g.root(op.inputs[k])].constant;
    model_->release_pages(t.data(), t.nbytes());
  }
}

// With "auto", a graph whose every op the search places on the host gets the host's own plan:
// its layout rewrites (channel-blocked chains) and in-place concats, which the multi-backend
// placement does not make, so "auto" runs such a graph as fast as backend="cpu".
bool Session::search_chooses_host_only(const AtomicGraph& g, const std::vector<int>& outputs) {
  if (options_.backend != "auto" || backends_.size() == 1) return false;
  const search::SearchResult choice = search::choose_backends(g, outputs, backends_, search_options(options_), pool_);
  return std::all_of(choice.ops.begin(), choice.ops.end(), [](const search::OpDecision& d) { return d.backend == 0; });
}

// Multi-backend planning: the search picks a backend (and algorithm) per op, copies are
// inserted where values cross memories, and each backend gets its own arena.
void Session::assign_and_place(Plan& p) {
  AtomicGraph& g = p.graph;
  search::SearchOptions so = search_options(options_);
  so.fixed_backend = options_.backend == "auto" ? -1 : 1;
  search::SearchResult choice = search::choose_backends(g, p.outputs, backends_, so, pool_);
  std::vector<int> op_backend;
  for (const search::OpDecision& d : choice.ops) op_backend.push_back(d.backend);
  std::vector<bool> host;
  for (const auto& b : backends_) host.push_back(b->host_memory());
  p.placement = place_tensors(g, p.outputs, op_backend, host);
  std::vector<int64_t> sizes = plan_memory_per_backend(g, p.outputs, p.placement, backends_.size());
  arena_bytes_ = 0;
  for (int64_t size : sizes) arena_bytes_ += size;
  check_memory(p, 0);
  p.arenas.resize(backends_.size());
  for (size_t b = 0; b < backends_.size(); ++b) {
    if (b == 0 || sizes[b] > 0) p.arenas[b] = backends_[b]->allocate(static_cast<size_t>(sizes[b]));
  }
  p.arena = p.arenas[0];
  for (size_t id = 0; id < g.tensors.size(); ++id) {
    const AtomicTensor& t = g.tensors[id];
    int mem = p.placement.tensor_backend[id];
    if (t.storage != Storage::Constant || mem == 0) continue;
    std::shared_ptr<void> buf = backends_[mem]->allocate(t.constant.nbytes());
    backends_[mem]->copy_in(buf.get(), t.constant.data(), t.constant.nbytes());
    p.device_constants[static_cast<int>(id)] = buf;
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    int b = p.placement.op_backend[i], src = p.placement.source_op[i];
    p.decisions.push_back(src >= 0 ? choice.ops[src] : search::OpDecision{});
    if (b < 0) {
      p.kernels.push_back(nullptr);  // a copy between memories, run by run()
      continue;
    }
    std::unique_ptr<Kernel> kernel = make_kernel(*backends_[b], g.ops[i], g, p.decisions.back().algorithm);
    kernel->plan(g.ops[i], g);
    release_packed_weights(g.ops[i], g);
    p.kernels.push_back(std::move(kernel));
  }
}

// SessionOptions::memory_limit against what the plan takes (arena_bytes_ set), before allocating.
void Session::check_memory(const Plan& p, size_t scratch_bytes) const {
  __int128 outputs = 0;  // the result tensors each run allocates
  for (const AtomicTensor& t : p.graph.tensors)
    if (t.storage == Storage::Output) outputs += static_cast<__int128>(numel(t.shape)) * dtype_size(t.dtype);
  const __int128 needed = static_cast<__int128>(p.folded_bytes) + arena_bytes_ + scratch_bytes + outputs;
  if (needed <= options_.memory_limit) return;
  throw Error(ErrorKind::Invalid,
              "the plan needs " + std::to_string(static_cast<int64_t>(needed)) + " bytes (" +
                  std::to_string(arena_bytes_) + " of intermediate tensors, " +
                  std::to_string(static_cast<int64_t>(outputs)) + " of outputs, " + std::to_string(scratch_bytes) +
                  " of kernel scratch, " + std::to_string(p.folded_bytes) + " of folded constants), past its memory " +
                  "limit of " + std::to_string(options_.memory_limit) + " bytes (walle.load(memory_limit=...))");
}

// A forced variant that no op of its kind ran is a mistake to report (a misspelt name, or a
// variant that applies to none of this model's ops), not to ignore.
void Session::check_forced(const Plan& p) const {
  for (const auto& [kind, variant] : options_.force) {
    if (kind == "layout") continue;
    std::string offered;
    bool used = false;
    for (size_t i = 0; i < p.graph.ops.size() && !used; ++i) {
      const AtomicOp& op = p.graph.ops[i];
      if (atomic_kind_name(op.kind) != kind || !p.kernels[i]) continue;
      used = p.decisions[i].algorithm == variant;
      const Backend& be = *backends_[p.arenas.empty() ? 0 : p.placement.op_backend[i]];
      for (const std::string& a : be.algorithms(op, p.graph))
        if (!a.empty() && offered.find("'" + a + "'") == std::string::npos)
          offered += (offered.empty() ? "" : ", ") + ("'" + a + "'");
    }
    if (!used)
      throw Error(ErrorKind::Backend,
                  "force " + kind + "='" + variant + "': no " + kind +
                      " of this model can run that way (their variants: " + (offered.empty() ? "none" : offered) + ")");
  }
}

// An inserted copy: host <-> device through the device backend, device <-> device via the host.
void Session::copy_between(std::pair<int, int> dir, void* dst, const void* src, const AtomicTensor& t) {
  size_t bytes = static_cast<size_t>(numel(t.shape)) * dtype_size(t.dtype);
  if (bytes == 0) return;
  const Backend& from = *backends_[dir.first];
  const Backend& to = *backends_[dir.second];
  if (from.host_memory()) {
    to.copy_in(dst, src, bytes);
  } else if (to.host_memory()) {
    from.copy_out(dst, src, bytes);
  } else {
    std::vector<char> staging(bytes);
    from.copy_out(staging.data(), src, bytes);
    to.copy_in(dst, staging.data(), bytes);
  }
}

// The plan for these inputs (made unless the current one fits them); returns the flat tensors
// the plan binds by io_index. The caller holds mutex_.
std::vector<Tensor> Session::plan_for(const std::vector<Value>& inputs) {
  check_inputs(inputs);
  Signature signature;
  std::vector<Tensor> given;
  for (const Value& x : inputs) {
    signature.kinds.push_back(x.kind);
    signature.counts.push_back(x.tensors.size());
    for (const Tensor& t : x.tensors) {
      signature.shapes.push_back(t.shape());
      given.push_back(t);
    }
  }
  if (!plan_ || !(signature == planned_) || planned_values_differ(given)) {
    // Flat indices shift when a sequence's length or an optional's presence changes: the
    // inputs needed by value are found again.
    if (!signature.same_layout(planned_)) value_inputs_.clear();
    try {
      plan(signature, &given);
    } catch (const Error& e) { throw planning_error(e, ErrorKind::Input, model_->path); }
  }
  return given;
}

void Session::prepare(const std::vector<Value>& inputs) {
  std::lock_guard<std::mutex> lock(mutex_);
  plan_for(inputs);
}

std::vector<Value> Session::run(const std::vector<Value>& inputs) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Tensor> given = plan_for(inputs);  // flat: the tensors the plan binds by io_index
  Plan& p = *plan_;
  AtomicGraph& g = p.graph;

  std::vector<Tensor> results(p.outputs.size());
  for (size_t j = 0; j < p.outputs.size(); ++j) {
    const AtomicTensor& t = g.tensors[p.outputs[j]];
    if (t.storage == Storage::Output && t.io_index == static_cast<int>(j)) results[j] = Tensor(t.dtype, t.shape);
  }
  // Address of every tensor for this run.
  std::vector<void*> address(g.tensors.size(), nullptr);
  char* arena = static_cast<char*>(p.arena.get());
  const bool multi = !p.arenas.empty();
  for (size_t id = 0; id < g.tensors.size(); ++id) {
    int root = static_cast<int>(id);
    int64_t offset = 0;  // bytes into the root (in-place concat inputs)
    while (g.tensors[root].storage == Storage::Alias) {
      offset += g.tensors[root].alias_offset;
      root = g.tensors[root].alias_of;
    }
    const AtomicTensor& t = g.tensors[root];
    switch (t.storage) {
      case Storage::Arena:
        address[id] =
            (multi ? static_cast<char*>(p.arenas[p.placement.tensor_backend[root]].get()) : arena) + t.arena_offset;
        break;
      case Storage::Constant: {
        auto dev = multi ? p.device_constants.find(root) : p.device_constants.end();
        address[id] = dev != p.device_constants.end() ? dev->second.get() : t.constant.data();
        break;
      }
      case Storage::Input: address[id] = given[t.io_index].data(); break;
      case Storage::Output: address[id] = results[t.io_index].data(); break;
      case Storage::Alias: break;
    }
    if (offset && address[id]) address[id] = static_cast<char*>(address[id]) + offset;
  }
  // Strings made by this run's kernels; string outputs keep it (and whatever else their
  // handles point into) alive, so they stay valid after the next run.
  auto strings = std::make_shared<StringArena>();
  KernelIO io;
  io.scratch = p.scratch.get();
  io.strings = strings.get();
  const bool profile = options_.profile;
  if (profile) {
    p.op_us.resize(g.ops.size(), 0.0);
    ++p.runs;
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const AtomicOp& op = g.ops[i];
    // An op with an empty output has nothing to compute (NothingToCompute); a copy between
    // memories of nothing needs no call either.
    if (numel(g.tensors[op.output].shape) == 0) continue;
    io.inputs.clear();
    for (int id : op.inputs) io.inputs.push_back(id >= 0 ? address[id] : nullptr);
    io.output = address[op.output];
    auto start = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    if (p.kernels[i])
      p.kernels[i]->run(io, pool_);
    else
      copy_between(p.placement.copy[i], io.output, io.inputs[0], g.tensors[op.output]);
    if (profile)
      p.op_us[i] += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  if (multi)
    for (const auto& b : backends_) b->sync();
  for (size_t j = 0; j < p.outputs.size(); ++j) {
    if (results[j].defined()) continue;
    const AtomicTensor& t = g.tensors[p.outputs[j]];
    results[j] = Tensor(t.dtype, t.shape);
    std::memcpy(results[j].data(), address[p.outputs[j]], results[j].nbytes());
  }
  std::shared_ptr<void> string_owners;
  for (Tensor& r : results) {
    if (r.dtype() != DType::String) continue;
    if (!string_owners) {
      // An output string may be a run input's, a constant's (model weights, a plan-time fold's
      // arena, a value input's copy) or this run's: the output keeps all of those alive.
      std::vector<std::shared_ptr<void>> owners{strings, std::const_pointer_cast<Model>(model_)};
      for (const Tensor& in : given)
        if (in.dtype() == DType::String) owners.push_back(in.owner());
      for (const AtomicTensor& t : g.tensors)
        if (t.storage == Storage::Constant && t.dtype == DType::String) owners.push_back(t.constant.owner());
      string_owners = keep_all(std::move(owners));
    }
    r = keep_alive(r, string_owners);
  }
  std::vector<Value> values;
  size_t first = 0;
  for (size_t k = 0; k < p.output_kinds.size(); ++k) {
    std::vector<Tensor> items(results.begin() + first, results.begin() + first + p.output_counts[k]);
    values.push_back({p.output_kinds[k], std::move(items)});
    first += p.output_counts[k];
  }
  return values;
}

std::vector<PlannedOp> Session::plan_report() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<PlannedOp> rows;
  if (!plan_) return rows;
  for (size_t i = 0; i < plan_->graph.ops.size(); ++i) {
    const AtomicOp& op = plan_->graph.ops[i];
    int64_t macs = 0;
    if (op.kind == AtomicKind::Conv)
      macs = op.n * op.out_c * op.out_h * op.out_w * (op.c / op.group) * op.kernel_h * op.kernel_w;
    else if (op.kind == AtomicKind::MatMul)
      macs = op.batch * op.M * op.N * op.K;
    const bool multi = !plan_->arenas.empty();
    PlannedOp row;
    row.origin = op.origin;
    row.shape = shape_str(plan_->graph.tensors[op.output].shape);
    row.total_us = i < plan_->op_us.size() ? plan_->op_us[i] : 0.0;
    row.runs = plan_->runs;
    if (multi && !plan_->kernels[i]) {
      auto [from, to] = plan_->placement.copy[i];
      row.kind = "Copy";
      row.kernel = "copy";
      row.backend = backends_[from]->name() + "->" + backends_[to]->name();
      rows.push_back(row);
      continue;
    }
    row.kind = atomic_kind_name(op.kind);
    row.kernel = plan_->kernels[i]->name();
    row.macs = macs;
    row.backend = multi ? backends_[plan_->placement.op_backend[i]]->name() : backend_->name();
    row.layout = layout_of(op);
    const Backend& be = multi ? *backends_[plan_->placement.op_backend[i]] : *backend_;
    for (const std::string& v : be.algorithms(op, plan_->graph))
      if (!v.empty()) row.variants.push_back(v);
    if (i < plan_->decisions.size()) {
      const search::OpDecision& d = plan_->decisions[i];
      row.algorithm = d.algorithm;
      row.estimate_us = d.estimate_us;
      row.measured_us = d.measured_us;
      row.candidates = d.candidates;
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace walle
