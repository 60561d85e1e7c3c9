// What the OpenCL, Vulkan and CUDA backends share: which ops they run, in which variants, and
// the kernels' launches all come from the launch planner (launch_plan.h); a backend adds only
// its memory, copies and how it turns launches into a kernel.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gpu/launch_plan.h"
#include "runtime/backend.h"

namespace walle::gpu {

class LaunchBackend : public Backend {
 public:
  // `name` "opencl"; `label` the kernel-name prefix ("cl"); `caps` outlive the backend.
  LaunchBackend(std::string name, std::string label, std::string device_name, const Capabilities& caps)
      : name_(std::move(name)), label_(std::move(label)), device_name_(std::move(device_name)), caps_(caps) {}

  std::string name() const override { return name_; }
  std::string device_key() const override { return name_ + ":" + device_name_; }
  bool host_memory() const override { return false; }

  bool supports(const AtomicOp& op, const AtomicGraph& g) const override { return unsupported_reason(op, g).empty(); }
  std::string unsupported_reason(const AtomicOp& op, const AtomicGraph& g) const override {
    std::vector<Launch> launches;
    return plan_launches(op, g, caps_, "", &launches);
  }
  std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& g) const override {
    return gpu::algorithms(op, g, caps_);
  }
  std::unique_ptr<Kernel> make(const AtomicOp& op, const AtomicGraph& g) const override { return make_variant(op, g, ""); }
  std::unique_ptr<Kernel> make_variant(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm) const override {
    std::vector<Launch> launches;
    std::string why = plan_launches(op, g, caps_, algorithm, &launches);
    if (!why.empty()) throw Error(ErrorKind::Unsupported, op.origin + ": the " + name_ + " backend cannot run this op: " + why);
    std::string label = label_ + "-" + atomic_kind_name(op.kind);
    if (!algorithm.empty()) label += "-" + algorithm;
    else if (!launches.empty()) label = label_ + "-" + launches.front().entry;
    return make_kernel(std::move(launches), std::move(label));
  }

 protected:
  virtual std::unique_ptr<Kernel> make_kernel(std::vector<Launch> launches, std::string label) const = 0;

 private:
  std::string name_, label_, device_name_;
  const Capabilities& caps_;
};

// BackendStatus of a backend whose device `open()` returns (or throws the reason it cannot).
template <typename Open>
BackendStatus device_status(const char* name, Open open) {
  BackendStatus s;
  s.name = name;
  s.built = true;
  try {
    s.device = open().name;
    s.available = true;
  } catch (const Error& e) {
    s.reason = e.what();
  }
  return s;
}

}  // namespace walle::gpu
