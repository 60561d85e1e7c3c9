// Rewrites of the atomic graph before memory planning.
#pragma once
#include <vector>

#include "ops/atomic.h"
#include "backend/backend.h"

namespace walle {

// Fuses Add(residual) and activations into the Conv/MatMul that produces their input, and a
// constant per-column Add into MatMul as its bias. `outputs` are graph outputs (never fused away).
void fuse_epilogues(AtomicGraph& graph, const std::vector<int>& outputs);

// Recognizes decomposed patterns and rewrites them into fewer atomic ops (fuse_patterns.cpp):
//  - the erf form of GELU (x * 0.5 * (1 + erf(x / sqrt 2))) becomes Unary Gelu, which
//    fuse_epilogues can then move into a MatMul/Conv epilogue;
//  - Softmax and LayerNorm along the last axis become one Fused op, only where `backend`
//    supports it (a backend without the fused kernel keeps the atomic ops).
// Run before fuse_epilogues.
void fuse_patterns(AtomicGraph& graph, const std::vector<int>& outputs, const Backend& backend);

// The channel-blocked layout (ops/atomic.h) inside conv chains, where `backend` has kernels
// for it: each Conv (and each Pool, Reduce over H*W, and zero-preserving elementwise op fed by
// a blocked value) whose blocked kernel the backend supports writes a blocked tensor; NCHW
// tensors are made by conversion Rasters only where something still reads them so (a plain
// op, a reshape view, a graph output), and a blocked op's NCHW input is converted once. Run
// after fuse_epilogues (so the conv epilogues are in place) and before merge_rasters (which
// folds the conversions into neighbouring rasters).
void block_channels(AtomicGraph& graph, const std::vector<int>& outputs, const Backend& backend);

// Raster of a raster (MNN's region merging): a Raster region that reads a tensor another Raster
// wrote whole with one dense region - Split then Transpose (BERT's head split), Slice then
// Reshape then Transpose, ... - reads that raster's source directly when the composed walk is
// still a strided 3-d walk (no index carries across the first raster's dimensions). The first
// raster is then dead (remove_dead_ops drops it): one copy instead of two. Run before it.
void merge_rasters(AtomicGraph& graph, const std::vector<int>& outputs);

// Drops ops whose results no graph output needs.
void remove_dead_ops(AtomicGraph& graph, const std::vector<int>& outputs);

// In-place concatenation: an input of a Raster op (Concat) that an earlier op produces into its
// own tensor, that nothing else reads, and that the raster copies whole and contiguously to
// one range of its output becomes an alias of that range (Storage::Alias with alias_offset):
// its producer writes straight into the output and the copy is dropped (a raster left with no
// regions is removed). Host-memory plans only; run after the graph outputs are marked.
void alias_concat_inputs(AtomicGraph& graph, const std::vector<int>& outputs);

// The region as one run of `count` elements at unit stride on both sides (after dropping
// size-1 dims and merging dims that continue each other), or false.
bool contiguous_run(const Region& region, int64_t* count);

// Assigns arena offsets to Arena tensors, reusing memory of tensors whose lifetimes do not
// overlap (greedy by size, largest first). Returns the arena size in bytes.
int64_t plan_memory(AtomicGraph& graph, const std::vector<int>& outputs);

}  // namespace walle
