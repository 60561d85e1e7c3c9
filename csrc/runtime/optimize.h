// Rewrites of the atomic graph before memory planning.
#pragma once
#include <vector>

#include "ops/atomic.h"

namespace walle {

// Fuses Add(residual) and activations into the Conv/MatMul that produces their input, and a
// constant per-column Add into MatMul as its bias. `outputs` are graph outputs (never fused away).
void fuse_epilogues(AtomicGraph& graph, const std::vector<int>& outputs);

// Drops ops whose results no graph output needs.
void remove_dead_ops(AtomicGraph& graph, const std::vector<int>& outputs);

// Assigns arena offsets to Arena tensors, reusing memory of tensors whose lifetimes do not
// overlap (greedy by size, largest first). Returns the arena size in bytes.
int64_t plan_memory(AtomicGraph& graph, const std::vector<int>& outputs);

}  // namespace walle
