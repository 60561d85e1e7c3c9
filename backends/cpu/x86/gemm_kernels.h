// Per-ISA f32 GEMM microkernels (x86). Each is compiled in its own translation unit with
// its own -m flags, so this header must stay plain C++: no inline functions or templates
// that both a portable and an ISA-specific file could instantiate (the linker would keep
// one copy, possibly the AVX-512 one, for the portable caller).
//
// The microkernel contract (TileEpilogue, GemmUkernelFn) is in cpu/gemm_ukernel.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cpu/gemm_ukernel.h"

namespace walle::cpu::x86 {

using cpu::GemmUkernelFn;
using cpu::TileEpilogue;

// AVX2 + FMA: 6x16 = 12 ymm accumulators + 2 B vectors + 1 broadcast of 16 registers.
constexpr int kAvx2MR = 6, kAvx2NR = 16;
void f32_gemm_6x16_avx2(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                        size_t ldc, bool accumulate, const TileEpilogue* epi);

// AVX-512: 14x32 = 28 zmm accumulators + 2 B vectors; A is broadcast from memory.
constexpr int kAvx512MR = 14, kAvx512NR = 32;
void f32_gemm_14x32_avx512(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                           size_t ldc, bool accumulate, const TileEpilogue* epi);
// Packs a full 14-row panel of row-major A (rows `lda` apart), kc columns: dst[k*14 + i] =
// a[i*lda + k]. Activations are packed on every call; this transposes 16 columns at a time
// in registers (~3x the rate of the scalar loop).
void pack_a14_avx512(const float* a, int64_t lda, int64_t kc, float* dst);

}  // namespace walle::cpu::x86
