// The device-independent half of the OpenCL, Vulkan and CUDA backends: how one atomic op maps
// onto launches of the kernels in kernels.inc (entry point, grid, slots, int parameters).
// Each backend only has to run Launch lists with its API; the index arithmetic lives here and
// in kernels.inc, once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/atomic.h"

namespace walle::gpu {

constexpr int kSlots = 6;
constexpr int kOutput = -2;  // slot bound to the op's output
constexpr int kUnused = -1;
// Slot bound to the kernel's status word (one int32), for ops whose answer depends on values
// only known at run time (Scatter with run-time indices, Random draws). The backend zeroes it
// before the launches and reads it after; a kernel sets it when it meets something it must not
// decide on its own (an index out of range, a draw too close to call). Then the op is rerun by
// the CPU reference kernel on copies of its operands (launch_backend.h, HostRerun), which
// gives the exact answer or the exact error: the device never answers a case it cannot get
// right, and the cost is paid only when it happens.
constexpr int kStatus = -3;

struct Launch {
  std::string entry;              // kernel name in kernels.inc
  int64_t global[3] = {1, 1, 1};  // work items per dimension
  int local[3] = {64, 1, 1};      // work-group size (rounded into the grid by the backend)
  int slots[kSlots] = {kUnused, kUnused, kUnused, kUnused, kUnused, kUnused};  // input index, kOutput or kStatus
  std::vector<int32_t> params;
  // Loop iterations one work item runs, all its loops together (an upper bound): the latency
  // of the serial kernels (Scatter with run-time tuples, Random, TopK, row kernels) for the
  // search, and what Capabilities::max_loop_steps is checked against.
  int64_t steps = 1;
};

// What a device can do, stated by its backend.
struct Capabilities {
  bool small_types = true;  // 1- and 2-byte elements (bool, uint8, float16 moves); not in our GLSL
  bool float64 = false;     // double arithmetic (Random's draws); OpenCL cl_khr_fp64, Vulkan shaderFloat64
  int max_work_group = 256;
  // Loop iterations a work item may run in all before the device cuts its loops short (0 = no
  // limit). llvmpipe (lavapipe) ends every loop of an invocation once 65535 iterations of all
  // its loops together have run, silently: kernels that could get there stay on the CPU.
  int64_t max_loop_steps = 0;
};

// True when a launch of `launches` binds kStatus (the plan must be checked after it runs).
bool checked(const std::vector<Launch>& launches);

// Algorithms for `op` on a device, best guess first ("" when the op has only one). They name
// a kernel variant and a work-group size, e.g. "gemm-t4/wg64", "conv-oc4/wg128".
std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& graph, const Capabilities& caps);

// Fills `out` and returns "" when the device can run `op` with `algorithm` ("" = first of
// algorithms()), else returns why not (shown by plan() when the op falls back to the CPU).
std::string plan_launches(const AtomicOp& op, const AtomicGraph& graph, const Capabilities& caps,
                          const std::string& algorithm, std::vector<Launch>* out);

}  // namespace walle::gpu
