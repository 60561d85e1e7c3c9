// Multi-backend plans: given the backend chosen for each op, decide where every tensor's bytes
// live and insert the copies a value needs to cross from one backend's memory to another's
// (ORT's "copy nodes at partition boundaries"). Graph outputs always end on the host.
#pragma once
#include <vector>

#include "ops/atomic.h"

namespace walle {

struct Placement {
  // Per op of the rewritten graph: the backend index running it, or -1 for an inserted copy.
  std::vector<int> op_backend;
  // Per op: its index in the graph before rewriting (-1 for an inserted copy).
  std::vector<int> source_op;
  // Per inserted copy: (from backend, to backend); by op index, unused for other ops.
  std::vector<std::pair<int, int>> copy;
  // Per tensor (meaningful for owners of bytes): the backend whose memory holds it.
  std::vector<int> tensor_backend;
};

// Rewrites `graph` (ops, new tensors) and `outputs` (a graph output computed elsewhere than the
// host gets a host copy). `host[b]` tells whether backend b uses plain host memory; backend 0
// must be the host (CPU). A copy is an identity Raster op so the liveness-based memory planner
// treats it like any other op. Constants are mirrored as device constants, uploaded at plan time.
Placement place_tensors(AtomicGraph& graph, std::vector<int>& outputs, const std::vector<int>& op_backend,
                        const std::vector<bool>& host);

// Arena offsets per backend: plan_memory() over each backend's tensors alone. Returns the arena
// size of every backend.
std::vector<int64_t> plan_memory_per_backend(AtomicGraph& graph, const std::vector<int>& outputs,
                                             const Placement& placement, size_t n_backends);

}  // namespace walle
