// The f32 GEMM microkernel contract, shared by every instruction set's kernels (x86/, arm/)
// and the portable one in gemm.cpp. Plain declarations only: each ISA file is compiled with
// its own flags, so nothing here may be an inline function both could instantiate.
//
// Contract of "f32_gemm_<MR>x<NR>_<isa>":
//   C[mr x nr] = (accumulate ? C : 0) + A_panel * B_panel, then the epilogue if epi != null.
//   A_panel: packed, element (i, k) at a[k * MR + i], i < mr <= MR (rows >= mr may hold
//            anything: a kernel may read them but never stores their results).
//   B_panel: element (k, j) at b[k * b_stride + j], j < NR; all NR columns are read, so a
//            panel narrower than NR must be zero padded (pack it) but only nr columns are
//            stored. b_stride is NR for packed panels or ldb when B is read in place.
//   C: row stride ldc, unit column stride.
#pragma once
#include <cstddef>
#include <cstdint>

namespace walle::cpu {

// The part of GemmEpilogue that touches one tile, with pointers already offset to it.
struct TileEpilogue {
  const float* row_bias;  // row_bias[i], i < mr; or null
  const float* col_bias;  // col_bias[j], j < nr; or null
  const float* residual;  // residual[i * residual_ld + j]; or null
  int64_t residual_ld;
  int activation;  // static_cast<int>(walle::cpu::Activation)
  float clip_min, clip_max;
};

using GemmUkernelFn = void (*)(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride,
                               float* c, size_t ldc, bool accumulate, const TileEpilogue* epi);

}  // namespace walle::cpu
