// AVX-512 f32 GEMM microkernel, 14x32. Compiled with -mavx512f -mavx512bw -mavx512dq
// -mavx512vl -mfma; only called after run-time detection.
//
// Why 14x32: two zmm of B (32 columns) per k step, each A element broadcast straight from
// memory into the FMA ({1to16} operand), so 14 rows give 28 accumulators + 2 B registers
// of the 32 zmm. Each k step is 28 FMAs against 2 vector loads + 14 broadcasts, which
// keeps both FMA ports busy while loads stay under the 2-3 per cycle the core can issue,
// and 28 independent chains cover the FMA latency (4 cycles x 2 ports = 8 needed).
// Measured against 8x32 and 12x32 on this machine; 14x32 was fastest for large K.
#include <immintrin.h>

#include "gemm_kernels.h"
#include "gemm_vec_math.h"

namespace walle::cpu::x86 {
namespace {

typedef int32_t vi16 __attribute__((vector_size(64)));
constexpr int kMR = kAvx512MR;
constexpr size_t kPrefetchK = 24;

// MR_ rows of a panel packed with row stride kMR; the tail of M gets its own instantiation
// so that a 1-row or 5-row tile does not pay for 14 rows of FMAs.
template <int MR_>
void tile(size_t nr, size_t kc, const float* a, const float* b, size_t bs, float* c, size_t ldc, bool accumulate,
          const TileEpilogue* epi) {
  __m512 c0[MR_], c1[MR_];
#pragma GCC unroll 14
  for (int i = 0; i < MR_; ++i) {
    c0[i] = c1[i] = _mm512_setzero_ps();
    // The C tile is read (accumulate) or written in the store step; start fetching it now
    // so its misses overlap the K loop instead of stalling the store step.
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
  for (size_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
    // B streams from L2 (the packed block is reused by every row panel); the hardware
    // prefetcher alone left ~15% of the FMA rate on the table, so fetch 24 k steps
    // (~340 cycles) ahead into L1.
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchK * bs), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchK * bs + 16), _MM_HINT_T0);
    b += bs;
#pragma GCC unroll 14
    for (int i = 0; i < MR_; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMR;
  }

  // Store step; the epilogue runs here, on registers, so C is written exactly once more.
  const __mmask16 m0 = nr >= 16 ? 0xffff : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
  __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
  if (epi && epi->col_bias) {
    cb0 = _mm512_maskz_loadu_ps(m0, epi->col_bias);
    cb1 = _mm512_maskz_loadu_ps(m1, epi->col_bias + 16);
  }
#pragma GCC unroll 14
  for (int i = 0; i < MR_; ++i) {
    float* cr = c + i * ldc;
    __m512 v0 = c0[i], v1 = c1[i];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (epi) {
      if (epi->row_bias) {
        const __m512 rb = _mm512_set1_ps(epi->row_bias[i]);
        v0 = _mm512_add_ps(v0, rb);
        v1 = _mm512_add_ps(v1, rb);
      }
      v0 = _mm512_add_ps(v0, cb0);
      v1 = _mm512_add_ps(v1, cb1);
      if (epi->residual) {
        const float* rr = epi->residual + i * epi->residual_ld;
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rr));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rr + 16));
      }
      if (epi->activation) {
        v0 = vactivate<__m512, vi16>(v0, *epi);
        v1 = vactivate<__m512, vi16>(v1, *epi);
      }
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

// 16 rows of 16 floats -> 16 columns of 16 rows, in place: 4x4 blocks within each 128-bit lane
// (unpack, shuffle), then the 4x4 grid of lanes (two rounds of shuffle_f32x4). GCC 12 warns
// about the unpack intrinsics' own placeholder operand (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + c], lane L: rows i..i+3 of column 4L + c
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 ab_lo = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 ab_hi = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 cd_lo = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 cd_hi = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
    t[c] = _mm512_shuffle_f32x4(ab_lo, cd_lo, _MM_SHUFFLE(2, 0, 2, 0));
    t[4 + c] = _mm512_shuffle_f32x4(ab_lo, cd_lo, _MM_SHUFFLE(3, 1, 3, 1));
    t[8 + c] = _mm512_shuffle_f32x4(ab_hi, cd_hi, _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + c] = _mm512_shuffle_f32x4(ab_hi, cd_hi, _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}
#pragma GCC diagnostic pop

}  // namespace

void pack_a14_avx512(const float* a, int64_t lda, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16, dst += 16 * kMR) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < kMR ? _mm512_loadu_ps(a + i * lda + k) : _mm512_setzero_ps();
    transpose16(r);
    for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dst + j * kMR, (1u << kMR) - 1, r[j]);
  }
  for (; k < kc; ++k, dst += kMR)
    for (int i = 0; i < kMR; ++i) dst[i] = a[i * lda + k];
}

void f32_gemm_14x32_avx512(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                           size_t ldc, bool accumulate, const TileEpilogue* epi) {
  switch (mr) {
    // clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_CASE(R) \
  case R: return tile<R>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    WALLE_CASE(1) WALLE_CASE(2) WALLE_CASE(3) WALLE_CASE(4) WALLE_CASE(5) WALLE_CASE(6)
    WALLE_CASE(7) WALLE_CASE(8) WALLE_CASE(9) WALLE_CASE(10) WALLE_CASE(11) WALLE_CASE(12)
    WALLE_CASE(13) WALLE_CASE(14)
#undef WALLE_CASE
        // clang-format on
        default : return;
  }
}

}  // namespace walle::cpu::x86
