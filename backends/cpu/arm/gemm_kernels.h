// f32 GEMM microkernels for aarch64 NEON (contract in cpu/gemm_ukernel.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cpu/gemm_ukernel.h"

namespace walle::cpu::arm {

// 8x12: 24 q-register accumulators + 3 for the B row + 2 for the 8 A values = 29 of the 32
// vector registers. Each k step is 24 FMAs (by lane of A, no broadcasts) against 5 loads.
constexpr int kNeonMR = 8, kNeonNR = 12;
void f32_gemm_8x12_neon(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                        size_t ldc, bool accumulate, const TileEpilogue* epi);

}  // namespace walle::cpu::arm
