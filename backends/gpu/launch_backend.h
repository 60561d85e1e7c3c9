// What the OpenCL, Vulkan and CUDA backends share: which ops they run, in which variants, and
// the kernels' launches all come from the launch planner (launch_plan.h); a backend adds only
// its memory, copies and how it turns launches into a kernel.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gpu/launch_plan.h"
#include "backend/backend.h"

namespace walle::gpu {

// The CPU reference kernel of an op whose device plan is checked (launch_plan.h, kStatus):
// when the device sets the status word, the backend's kernel calls run() with its own copies,
// and the op's output is what the CPU computes from the same operands (or the CPU's error).
class HostRerun {
 public:
  using Copy = std::function<void(void* dst, const void* src, size_t bytes)>;
  HostRerun(const AtomicOp& op, const AtomicGraph& g);
  // copy_out: device -> host, copy_in: host -> device (the backend's copies, safe to call
  // from its kernel's run() once that has released its queue).
  void run(const KernelIO& io, ThreadPool& pool, const Copy& copy_out, const Copy& copy_in) const;

 private:
  std::shared_ptr<Backend> cpu_;
  std::unique_ptr<Kernel> kernel_;
  std::vector<size_t> in_bytes_;
  size_t out_bytes_ = 0;
};

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
  std::unique_ptr<Kernel> make(const AtomicOp& op, const AtomicGraph& g) const override {
    return make_variant(op, g, "");
  }
  std::unique_ptr<Kernel> make_variant(const AtomicOp& op, const AtomicGraph& g,
                                       const std::string& algorithm) const override {
    std::vector<Launch> launches;
    std::string why = plan_launches(op, g, caps_, algorithm, &launches);
    if (!why.empty())
      throw Error(ErrorKind::Unsupported, op.origin + ": the " + name_ + " backend cannot run this op: " + why);
    std::string label = label_ + "-" + atomic_kind_name(op.kind);
    if (!algorithm.empty())
      label += "-" + algorithm;
    else if (!launches.empty())
      label = label_ + "-" + launches.back().entry;
    std::unique_ptr<HostRerun> rerun = checked(launches) ? std::make_unique<HostRerun>(op, g) : nullptr;
    return make_kernel(std::move(launches), std::move(label), std::move(rerun));
  }
  int64_t serial_steps(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm) const override {
    std::vector<Launch> launches;
    if (!plan_launches(op, g, caps_, algorithm, &launches).empty()) return 0;
    int64_t steps = 0;  // launches run one after another
    for (const Launch& l : launches) steps += l.steps;
    return steps;
  }

 protected:
  // `rerun` is set when the launches bind kStatus: the kernel must then zero the status word
  // before its launches, read it after, and call rerun->run() when it is not zero.
  virtual std::unique_ptr<Kernel> make_kernel(std::vector<Launch> launches, std::string label,
                                              std::unique_ptr<HostRerun> rerun) const = 0;

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
  } catch (const Error& e) { s.reason = e.what(); }
  return s;
}

}  // namespace walle::gpu
