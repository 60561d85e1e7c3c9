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

struct Launch {
  std::string entry;                 // kernel name in kernels.inc
  int64_t global[3] = {1, 1, 1};     // work items per dimension
  int local[3] = {64, 1, 1};         // work-group size (rounded into the grid by the backend)
  int slots[kSlots] = {kUnused, kUnused, kUnused, kUnused, kUnused, kUnused};  // input index or kOutput
  std::vector<int32_t> params;
};

// What a device can do, stated by its backend.
struct Capabilities {
  bool small_types = true;  // 1- and 2-byte elements (bool, uint8, float16 moves); not in our GLSL
  int max_work_group = 256;
};

// Algorithms for `op` on a device, best guess first ("" when the op has only one). They name
// a kernel variant and a work-group size, e.g. "gemm-t4/wg64", "conv-oc4/wg128".
std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& graph, const Capabilities& caps);

// Fills `out` and returns "" when the device can run `op` with `algorithm` ("" = first of
// algorithms()), else returns why not (shown by plan() when the op falls back to the CPU).
std::string plan_launches(const AtomicOp& op, const AtomicGraph& graph, const Capabilities& caps,
                          const std::string& algorithm, std::vector<Launch>* out);

}  // namespace walle::gpu
