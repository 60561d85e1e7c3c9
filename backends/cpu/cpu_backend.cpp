// The CPU backend: host memory, and kernels chosen from the registry by the session's
// instruction set ("cpu" = best this processor has, "cpu-reference" = portable kernels only).
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/tensor.h"
#include "cpu/kernels.h"
#include "backend/backend.h"

namespace walle {

namespace cpu {

float* thread_buffer(size_t floats) {
  struct Buffer {
    float* p = nullptr;
    size_t n = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer b;
  if (b.n < floats) {
    std::free(b.p);
    b.p = static_cast<float*>(aligned_alloc_large(floats * sizeof(float)));
    b.n = b.p ? floats : 0;
    WALLE_CHECK(b.p != nullptr, Invalid, "cpu: out of memory for a kernel's work buffer");
  }
  return b.p;
}

}  // namespace cpu

namespace {

const KernelRegistry& cpu_registry() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    cpu::register_elementwise_kernels(r);
    cpu::register_data_kernels(r);
    cpu::register_reduce_kernels(r);
    cpu::register_matmul_kernels(r);
    cpu::register_conv_kernels(r);
    cpu::register_blocked_kernels(r);
    cpu::register_fused_kernels(r);
    cpu::register_index_kernels(r);
    cpu::register_text_kernels(r);
    return r;
  }();
  return registry;
}

class CpuBackend : public Backend {
 public:
  CpuBackend(std::string name, Isa isa) : name_(std::move(name)), isa_(isa) {}

  std::string name() const override { return name_; }

  bool supports(const AtomicOp& op, const AtomicGraph& graph) const override {
    return cpu_registry().find(op, graph, isa_) != nullptr;
  }

  std::unique_ptr<Kernel> make(const AtomicOp& op, const AtomicGraph& graph) const override {
    return make_variant(op, graph, "");
  }

  std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& graph) const override {
    std::vector<std::string> names;
    for (const Variant& v : variants(op, graph)) names.push_back(v.name);
    return names;
  }

  double variant_estimate_us(const AtomicOp& op, const AtomicGraph& graph,
                             const std::string& algorithm) const override {
    for (const Variant& v : variants(op, graph))
      if (v.name == algorithm) return v.estimate_us;
    return -1;
  }

  // "" builds the best guess (the first variant).
  std::unique_ptr<Kernel> make_variant(const AtomicOp& op, const AtomicGraph& graph,
                                       const std::string& algorithm) const override {
    const KernelRegistry::Entry& e = entry(op, graph);
    if (!e.variants) return e.factory(op, graph);
    const std::vector<Variant> offered = e.variants(op, graph);
    if (algorithm.empty()) return e.make_variant(op, graph, offered.front().name);
    for (const Variant& v : offered)
      if (v.name == algorithm) return e.make_variant(op, graph, algorithm);
    throw Error(ErrorKind::Invalid, op.origin + ": the " + name_ + " backend cannot run this " +
                                        atomic_kind_name(op.kind) + " as '" + algorithm + "'");
  }

  bool has_blocked_layout() const override { return isa_ == Isa::Avx512; }

  std::shared_ptr<void> allocate(size_t bytes) const override { return aligned_alloc_shared(bytes); }
  void copy_in(void* dst, const void* src, size_t bytes) const override { std::memcpy(dst, src, bytes); }
  void copy_out(void* dst, const void* src, size_t bytes) const override { std::memcpy(dst, src, bytes); }

 private:
  const KernelRegistry::Entry& entry(const AtomicOp& op, const AtomicGraph& graph) const {
    const KernelRegistry::Entry* e = cpu_registry().find(op, graph, isa_);
    if (!e)
      throw Error(ErrorKind::Unsupported, op.origin + ": the " + name_ + " backend has no " +
                                              atomic_kind_name(op.kind) + " kernel for " +
                                              dtype_name(graph.tensors[op.output].dtype));
    return *e;
  }
  std::vector<Variant> variants(const AtomicOp& op, const AtomicGraph& graph) const {
    const KernelRegistry::Entry& e = entry(op, graph);
    return e.variants ? e.variants(op, graph) : std::vector<Variant>{{""}};
  }

  std::string name_;
  Isa isa_;
};

}  // namespace

void register_cpu_backends(std::vector<BackendFactory>& out) {
  auto host = [](const char* name) { return [name] { return BackendStatus{name, true, true, "host", ""}; }; };
  out.push_back({"cpu", 0, host("cpu"),
                 [](const std::string& isa) { return std::make_shared<CpuBackend>("cpu", parse_isa(isa)); }});
  out.push_back({"cpu-reference", 1, host("cpu-reference"),
                 [](const std::string&) { return std::make_shared<CpuBackend>("cpu-reference", Isa::Reference); }});
}

}  // namespace walle
