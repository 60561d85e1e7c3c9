// NEON f32 GEMM microkernel, 8x12 (the shape ARM's own libraries use on 32-register cores).
// A's 8 values per k step sit in two registers and multiply B by lane (FMLA v.4s, v.4s,
// v.s[l]), so no broadcast instructions are needed; rows past mr are computed but not stored.
#include <arm_neon.h>

#include <cstring>

#include "gemm_kernels.h"
#include "neon_math.h"

namespace walle::cpu::arm {
namespace {

// Loads n <= 12 floats of p into three vectors (zero past n) without reading past p[n-1].
inline void load12(const float* p, size_t n, float32x4_t v[3]) {
  if (n >= 12) {
    v[0] = vld1q_f32(p), v[1] = vld1q_f32(p + 4), v[2] = vld1q_f32(p + 8);
    return;
  }
  float t[12] = {};
  std::memcpy(t, p, n * sizeof(float));
  v[0] = vld1q_f32(t), v[1] = vld1q_f32(t + 4), v[2] = vld1q_f32(t + 8);
}

inline void store12(float* p, size_t n, const float32x4_t v[3]) {
  if (n >= 12) {
    vst1q_f32(p, v[0]), vst1q_f32(p + 4, v[1]), vst1q_f32(p + 8, v[2]);
    return;
  }
  float t[12];
  vst1q_f32(t, v[0]), vst1q_f32(t + 4, v[1]), vst1q_f32(t + 8, v[2]);
  std::memcpy(p, t, n * sizeof(float));
}

}  // namespace

void f32_gemm_8x12_neon(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                        size_t ldc, bool accumulate, const TileEpilogue* epi) {
  float32x4_t acc[8][3];
  for (int i = 0; i < 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = vdupq_n_f32(0.f);
  for (size_t k = 0; k < kc; ++k, a += kNeonMR, b += b_stride) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    // clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_NEON_ROW(i, av, lane)                         \
  acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane);     \
  acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane);     \
  acc[i][2] = vfmaq_laneq_f32(acc[i][2], b2, av, lane);
    WALLE_NEON_ROW(0, a0, 0) WALLE_NEON_ROW(1, a0, 1) WALLE_NEON_ROW(2, a0, 2) WALLE_NEON_ROW(3, a0, 3)
    WALLE_NEON_ROW(4, a1, 0) WALLE_NEON_ROW(5, a1, 1) WALLE_NEON_ROW(6, a1, 2) WALLE_NEON_ROW(7, a1, 3)
#undef WALLE_NEON_ROW
    // clang-format on
  }

  // Store step: accumulate, bias, residual and activation on registers; the N tail goes
  // through a small buffer so no byte past column nr is read or written.
  float32x4_t col_bias[3] = {vdupq_n_f32(0.f), vdupq_n_f32(0.f), vdupq_n_f32(0.f)};
  if (epi && epi->col_bias) load12(epi->col_bias, nr, col_bias);
  for (size_t i = 0; i < mr; ++i) {
    float* cr = c + i * ldc;
    float32x4_t v[3] = {acc[i][0], acc[i][1], acc[i][2]};
    if (accumulate) {
      float32x4_t old[3];
      load12(cr, nr, old);
      for (int q = 0; q < 3; ++q) v[q] = vaddq_f32(v[q], old[q]);
    }
    if (epi) {
      const float32x4_t rb = vdupq_n_f32(epi->row_bias ? epi->row_bias[i] : 0.f);
      float32x4_t res[3] = {vdupq_n_f32(0.f), vdupq_n_f32(0.f), vdupq_n_f32(0.f)};
      if (epi->residual) load12(epi->residual + i * epi->residual_ld, nr, res);
      for (int q = 0; q < 3; ++q)
        v[q] = vactivate(vaddq_f32(vaddq_f32(vaddq_f32(v[q], rb), col_bias[q]), res[q]), epi->activation, epi->clip_min,
                         epi->clip_max);
    }
    store12(cr, nr, v);
  }
}

}  // namespace walle::cpu::arm
