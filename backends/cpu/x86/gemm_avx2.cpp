// AVX2+FMA f32 GEMM microkernel, 6x16. Compiled with -mavx2 -mfma; only called after
// run-time detection.
//
// Why 6x16: with 16 ymm registers, 6 rows x 2 vectors = 12 accumulators, 2 for the B row
// and 1 for the broadcast A element. 12 independent FMA chains cover the FMA latency
// (4 cycles x 2 ports = 8 needed), and each k step is 12 FMAs against 2 loads + 6
// broadcasts. This is the classic Haswell-era shape (BLIS, OpenBLAS use the same).
#include <immintrin.h>

#include "gemm_kernels.h"
#include "gemm_vec_math.h"

namespace walle::cpu::x86 {
namespace {

typedef int32_t vi8 __attribute__((vector_size(32)));
constexpr int kMR = kAvx2MR;
constexpr size_t kPrefetchK = 32;  // one 64-byte line of B per k step

inline __m256i lane_mask(size_t n) {  // lanes [0, n) set, n may exceed 8
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int lim = n > 8 ? 8 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lim), iota);
}

template <int MR_>
void tile(size_t nr, size_t kc, const float* a, const float* b, size_t bs, float* c, size_t ldc, bool accumulate,
          const TileEpilogue* epi) {
  __m256 c0[MR_], c1[MR_];
#pragma GCC unroll 6
  for (int i = 0; i < MR_; ++i) {
    c0[i] = c1[i] = _mm256_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);  // see avx512
  }
  for (size_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    // B streams from L2; fetch a few hundred cycles ahead (see gemm_avx512.cpp).
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchK * bs), _MM_HINT_T0);
    b += bs;
#pragma GCC unroll 6
    for (int i = 0; i < MR_; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMR;
  }

  // Store step with the epilogue applied on registers. Full tiles use plain loads/stores;
  // the N tail uses maskload/maskstore so no byte past column nr is touched.
  const bool full = nr >= 16;
  const __m256i m0 = lane_mask(nr), m1 = lane_mask(nr > 8 ? nr - 8 : 0);
  auto load = [&](const float* p, __m256i m) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); };
  __m256 cb0 = _mm256_setzero_ps(), cb1 = _mm256_setzero_ps();
  if (epi && epi->col_bias) {
    cb0 = load(epi->col_bias, m0);
    cb1 = load(epi->col_bias + 8, m1);
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR_; ++i) {
    float* cr = c + i * ldc;
    __m256 v0 = c0[i], v1 = c1[i];
    if (accumulate) {
      v0 = _mm256_add_ps(v0, load(cr, m0));
      v1 = _mm256_add_ps(v1, load(cr + 8, m1));
    }
    if (epi) {
      if (epi->row_bias) {
        const __m256 rb = _mm256_set1_ps(epi->row_bias[i]);
        v0 = _mm256_add_ps(v0, rb);
        v1 = _mm256_add_ps(v1, rb);
      }
      v0 = _mm256_add_ps(v0, cb0);
      v1 = _mm256_add_ps(v1, cb1);
      if (epi->residual) {
        const float* rr = epi->residual + i * epi->residual_ld;
        v0 = _mm256_add_ps(v0, load(rr, m0));
        v1 = _mm256_add_ps(v1, load(rr + 8, m1));
      }
      if (epi->activation) {
        v0 = vactivate<__m256, vi8>(v0, *epi);
        v1 = vactivate<__m256, vi8>(v1, *epi);
      }
    }
    if (full) {
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    } else {
      _mm256_maskstore_ps(cr, m0, v0);
      _mm256_maskstore_ps(cr + 8, m1, v1);
    }
  }
}

}  // namespace

void f32_gemm_6x16_avx2(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t b_stride, float* c,
                        size_t ldc, bool accumulate, const TileEpilogue* epi) {
  switch (mr) {
    case 1: return tile<1>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    case 2: return tile<2>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    case 3: return tile<3>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    case 4: return tile<4>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    case 5: return tile<5>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    case 6: return tile<6>(nr, kc, a, b, b_stride, c, ldc, accumulate, epi);
    default: return;
  }
}

}  // namespace walle::cpu::x86
