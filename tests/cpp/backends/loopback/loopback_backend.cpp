// "test-loopback": the portable CPU kernels under another name, with two variants per op
// ("plain" and "again", the same kernel) so that the search has a choice to make. Counts the
// kernels it makes, so a test can tell that sessions really ran it.
#include <atomic>

#include "backend/backend.h"

namespace walle {

std::atomic<int> g_loopback_kernels_made{0};

namespace {

class LoopbackBackend : public Backend {
 public:
  std::string name() const override { return "test-loopback"; }
  bool supports(const AtomicOp& op, const AtomicGraph& g) const override { return cpu_->supports(op, g); }
  std::unique_ptr<Kernel> make(const AtomicOp& op, const AtomicGraph& g) const override {
    return make_variant(op, g, "plain");
  }
  std::vector<std::string> algorithms(const AtomicOp&, const AtomicGraph&) const override { return {"plain", "again"}; }
  std::unique_ptr<Kernel> make_variant(const AtomicOp& op, const AtomicGraph& g, const std::string&) const override {
    ++g_loopback_kernels_made;
    return cpu_->make(op, g);
  }
  std::shared_ptr<void> allocate(size_t bytes) const override { return cpu_->allocate(bytes); }
  void copy_in(void* dst, const void* src, size_t bytes) const override { cpu_->copy_in(dst, src, bytes); }
  void copy_out(void* dst, const void* src, size_t bytes) const override { cpu_->copy_out(dst, src, bytes); }

 private:
  std::shared_ptr<Backend> cpu_ = make_backend("cpu-reference");
};

}  // namespace

void register_loopback_backend(std::vector<BackendFactory>& out) {
  out.push_back({"test-loopback", 90, [] { return BackendStatus{"test-loopback", true, true, "host (test)", ""}; },
                 [](const std::string&) { return std::make_shared<LoopbackBackend>(); }});
}

}  // namespace walle
