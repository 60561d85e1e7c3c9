// The narrow surface a backend shows the session (and, later, the search): can you run this
// atomic op, make me a kernel for it, and manage your memory.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/strings.h"
#include "core/thread_pool.h"
#include "ops/atomic.h"

namespace walle {

// Resolved addresses of one op's operands for one run.
struct KernelIO {
  std::vector<const void*> inputs;  // nullptr for an absent optional input
  void* output = nullptr;
  void* scratch = nullptr;  // scratch_bytes() of temporary space, shared by all kernels
  // Where kernels that make strings (Text) put their bytes; lives as long as the run's
  // string outputs (core/strings.h). The session sets it for every run.
  StringArena* strings = nullptr;
};

// XNNPACK-style life cycle: plan() once per resolved shapes (packing weights, choosing tiles,
// sizing scratch), then run() any number of times, possibly from several sessions' runs.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void plan(const AtomicOp& op, const AtomicGraph& graph) {
    (void)op;
    (void)graph;
  }
  virtual void run(const KernelIO& io, ThreadPool& pool) = 0;
  // Temporary space run() needs (im2col columns, ...). Kernels run one after another, so the
  // session gives all of them the same buffer, sized for the largest.
  virtual size_t scratch_bytes() const { return 0; }
  // Name of the implementation, e.g. "f32-conv-im2col-gemm-avx512" (shown by Session::plan).
  virtual std::string name() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(const AtomicOp& op, const AtomicGraph& graph) const = 0;
  virtual std::unique_ptr<Kernel> make(const AtomicOp& op, const AtomicGraph& graph) const = 0;
  // Memory the backend owns. The CPU backend hands out host memory; device backends map or copy.
  virtual std::shared_ptr<void> allocate(size_t bytes) const = 0;
  virtual void copy_in(void* dst, const void* host_src, size_t bytes) const = 0;
  virtual void copy_out(void* host_dst, const void* src, size_t bytes) const = 0;
  virtual void sync() const {}

  // --- What multi-backend plans and the search (csrc/search) also ask. The defaults describe
  // a host backend with one algorithm per op, so the CPU backend needs none of them.
  // True when kernels take plain host pointers. Device backends hand out their own addresses
  // (see backends/gpu/address_map.h) that only their kernels and copy_in/copy_out understand.
  virtual bool host_memory() const { return true; }
  // Names the hardware ("opencl:pthread-skylake-avx512"): the key of calibration/tuning caches.
  virtual std::string device_key() const { return name(); }
  // Algorithm variants for `op` (algorithm, tile, layout), best guess first; "" when there is
  // just one. The search chooses among them (tune mode measures them) and plan() shows it.
  virtual std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& graph) const {
    (void)op;
    (void)graph;
    return {""};
  }
  // The backend's own estimate of a variant's time from its kernels' rates (plan()'s "why"),
  // or -1 when it has none (the search's calibrated model always estimates the op as well).
  virtual double variant_estimate_us(const AtomicOp& op, const AtomicGraph& graph, const std::string& algorithm) const {
    (void)op;
    (void)graph;
    (void)algorithm;
    return -1;
  }
  virtual std::unique_ptr<Kernel> make_variant(const AtomicOp& op, const AtomicGraph& graph,
                                               const std::string& algorithm) const {
    (void)algorithm;
    return make(op, graph);
  }
  // True when the backend has kernels for the channel-blocked layout (ops/atomic.h); the
  // block_channels pass then asks supports() about each Conv/Pool with the layout flags set.
  virtual bool has_blocked_layout() const { return false; }
  // Why supports() is false, for plan() ("" when it is true or there is nothing to say).
  virtual std::string unsupported_reason(const AtomicOp& op, const AtomicGraph& graph) const {
    (void)op;
    (void)graph;
    return "";
  }
  // Steps one thread of the device takes in sequence to run `op` (a kernel that walks a
  // stream or a row in one work item): the latency the bandwidth/flops model cannot see.
  // 0 = fully parallel, or a host backend (its estimate already covers it).
  virtual int64_t serial_steps(const AtomicOp& op, const AtomicGraph& graph, const std::string& algorithm) const {
    (void)op;
    (void)graph;
    (void)algorithm;
    return 0;
  }
};

// What this build has and whether this machine can run it (walle.backends()).
struct BackendStatus {
  std::string name;
  bool built = false;      // compiled into this build
  bool available = false;  // a driver and device were found here
  std::string device;      // the device when available
  std::string reason;      // why not, when unavailable
};
std::vector<BackendStatus> backend_status();

// One way to run an op, as a kernel registry entry offers it: its name and the kernel's own
// time estimate (-1: none).
struct Variant {
  std::string name;
  double estimate_us = -1;
};

// Kernels of one backend, keyed by atomic kind. Each entry states the instruction set it needs
// and which ops it accepts; the most specialised acceptable entry wins. An entry with several
// algorithms lists them (`variants`, best guess first) and builds the one asked for
// (`make_variant`); the others have one, built by `factory`.
class KernelRegistry {
 public:
  using Accepts = std::function<bool(const AtomicOp&, const AtomicGraph&)>;
  using Factory = std::function<std::unique_ptr<Kernel>(const AtomicOp&, const AtomicGraph&)>;
  using Variants = std::function<std::vector<Variant>(const AtomicOp&, const AtomicGraph&)>;
  using VariantFactory =
      std::function<std::unique_ptr<Kernel>(const AtomicOp&, const AtomicGraph&, const std::string& variant)>;
  struct Entry {
    std::string name;
    Isa isa;
    Accepts accepts;
    Factory factory;
    Variants variants = nullptr;
    VariantFactory make_variant = nullptr;
  };

  void add(AtomicKind kind, Entry entry);
  // Best entry for `op` whose isa is at most `isa`; nullptr if none accepts it.
  const Entry* find(const AtomicOp& op, const AtomicGraph& graph, Isa isa) const;

 private:
  std::map<AtomicKind, std::vector<Entry>> entries_;
};

// How a backend is found by name. Each backend's folder adds its factories through the
// registration function its backend.cmake names (backends/backend_support.cmake), so the
// engine holds no list of backends. `status` never throws; `make` throws Error(Backend) with
// the reason the device is unusable. `isa` is the session's instruction-set choice (CPU only).
struct BackendFactory {
  std::string name;
  int order = 100;  // position in listings (the CPU first)
  std::function<BackendStatus()> status;
  std::function<std::shared_ptr<Backend>(const std::string& isa)> make;
};

// "cpu" (best instruction set of this processor), "cpu-reference" (portable kernels only), a
// device backend ("opencl", "vulkan", "cuda") or any other that registered; throws
// Error(Backend) naming why one is missing from this build or unusable on this machine.
std::shared_ptr<Backend> make_backend(const std::string& name, const std::string& isa = "auto");
std::vector<std::string> backend_names();

}  // namespace walle
