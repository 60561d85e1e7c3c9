// AVX-512 kernels for the channel-blocked layout (cpu/conv_blocked.h): direct convolution,
// depthwise convolution and pooling, 16 channels per zmm. Compiled with AVX-512 flags and
// called only after run-time detection; plain C++ interface (see conv_blocked_kernels.h).
//
// Direct convolution tile: MR output pixels of one output row x 32 output channels (two
// channel blocks), 2*MR zmm accumulators. Per input channel: two weight vectors from the
// packed panel and one broadcast per pixel, straight from the input (pixel i of the tile is
// at i * PIX floats: 16 or 32 in the blocked layout, 1 or 2 in plain NCHW). The input is read
// in place - no im2col, no packing - which is where this beats conv-as-GEMM on this layout.
#include <immintrin.h>

#include "conv_blocked_kernels.h"
#include "gemm_vec_math.h"
#include "cpu/winograd_transforms.h"

namespace walle::cpu::x86 {
namespace {

typedef int32_t vi16 __attribute__((vector_size(64)));
constexpr int64_t kPrefetchSteps = 16;  // weight rows fetched ahead (weights stream from L2)

inline __m512 epilogue(__m512 v, const BlockedConvArgs& a, int j, const float* res) {
  v = _mm512_add_ps(v, _mm512_loadu_ps(a.bias + 16 * j));
  if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res));
  if (a.epi.activation) v = vactivate<__m512, vi16>(v, a.epi);
  return v;
}

// Pixel i of a tile sits at i * PIX in one output row (RL = 0), or, for maps at most 7 wide,
// at column i % RL of the tile's (i / RL)-th row (two rows per tile, `row_stride` apart).
constexpr int tile_row(int i, int RL) { return RL ? i / RL : 0; }
constexpr int tile_col(int i, int RL) { return RL ? i % RL : i; }

// NB: output blocks in the panel (2, or 1 for the last block of an odd count: no work is
// spent on a block that does not exist).
template <int MR, int PIX, int RL, int NB>
void conv_tile(const BlockedConvArgs& a) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  const float* w = a.weights;
  for (int64_t g = 0; g < a.groups; ++g) {
    const int64_t channels = g + 1 == a.groups ? a.last_group_channels : a.group_channels;
    for (int t = 0; t < a.taps; ++t, w += (a.group_channels - channels) * 32) {
      const float* p = a.in + g * a.group_stride + a.tap_offsets[t];
      for (int64_t ch = 0; ch < channels; ++ch, p += a.channel_stride, w += 32) {
        const __m512 w0 = _mm512_loadu_ps(w), w1 = NB == 2 ? _mm512_loadu_ps(w + 16) : w0;
        _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchSteps * 32), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchSteps * 32 + 16), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < MR; ++i) {
          const __m512 x = _mm512_set1_ps(p[tile_row(i, RL) * a.row_stride + tile_col(i, RL) * PIX]);
          c0[i] = _mm512_fmadd_ps(x, w0, c0[i]);
          if (NB == 2) c1[i] = _mm512_fmadd_ps(x, w1, c1[i]);
        }
      }
    }
  }
  // Lanes past the real output channels stay zero: the layout's invariant, whatever the
  // activation makes of a zero.
  const __mmask16 m0 = a.lane_mask[0], m1 = a.lane_mask[1];
  float* o0 = a.out;
  float* o1 = a.out + a.out_block_stride;
  const float* r0 = a.residual;
  const float* r1 = a.residual ? a.residual + a.out_block_stride : nullptr;
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_ps(o0 + 16 * i, _mm512_maskz_mov_ps(m0, epilogue(c0[i], a, 0, r0 ? r0 + 16 * i : nullptr)));
    if (NB == 2)
      _mm512_storeu_ps(o1 + 16 * i, _mm512_maskz_mov_ps(m1, epilogue(c1[i], a, 1, r1 ? r1 + 16 * i : nullptr)));
  }
}

template <int PIX, int NB>
void conv_tile_pix(const BlockedConvArgs& a, int mr) {
  switch (mr) {
    // clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_CASE(R) \
  case R: return conv_tile<R, PIX, 0, NB>(a);
    WALLE_CASE(1) WALLE_CASE(2) WALLE_CASE(3) WALLE_CASE(4) WALLE_CASE(5) WALLE_CASE(6)
    WALLE_CASE(7) WALLE_CASE(8) WALLE_CASE(9) WALLE_CASE(10) WALLE_CASE(11) WALLE_CASE(12)
    WALLE_CASE(13) WALLE_CASE(14)
#undef WALLE_CASE
        // clang-format on
        default : return;
  }
}

inline __m512 window_init(bool max_pool) { return max_pool ? _mm512_set1_ps(-__builtin_inff()) : _mm512_setzero_ps(); }

// NaN-propagating max (as the reference pool): x wins if x > acc or x is NaN.
inline __m512 nan_max(__m512 acc, __m512 x) {
  const __mmask16 take = _mm512_cmp_ps_mask(x, acc, _CMP_GT_OQ) | _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(acc, take, x);
}

// Interior pixels [ow0, ow1) of output row oh of a 3x3 depthwise convolution, P at a time
// while P fit (returns where it stopped), with the epilogue; `rows` is the row's first input
// row (ih0) at column -pad_left, taps ky0..ky1-1 inside the input. No calls inside: a call
// would spill the nine weight registers (every zmm register is caller-saved).
template <int S, int P>
inline int64_t depthwise3x3_pixels(const BlockedWindowArgs& a, int64_t oh, const float* rows, int64_t ky0, int64_t ky1,
                                   int64_t ow0, int64_t ow1, const __m512 (&w)[9], __m512 bias) {
  int64_t ow = ow0;
  for (; ow + P <= ow1; ow += P) {
    __m512 acc[P];
#pragma GCC unroll 8
    for (int u = 0; u < P; ++u) acc[u] = _mm512_setzero_ps();
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ++ky) {
      if (ky < ky0 || ky >= ky1) continue;
      const float* row = rows + (ky * a.w + ow * S) * 16;
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx)
#pragma GCC unroll 8
        for (int u = 0; u < P; ++u)
          acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(row + (u * S + kx) * 16), w[ky * 3 + kx], acc[u]);
    }
    float* out = a.out + (oh * a.out_w + ow) * 16;
    const float* res = a.residual ? a.residual + (oh * a.out_w + ow) * 16 : nullptr;
#pragma GCC unroll 8
    for (int u = 0; u < P; ++u) {
      __m512 v = _mm512_add_ps(acc[u], bias);
      if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + 16 * u));
      if (a.epi.activation) v = vactivate<__m512, vi16>(v, a.epi);
      _mm512_storeu_ps(out + 16 * u, _mm512_maskz_mov_ps(a.lane_mask, v));
    }
  }
  return ow;
}

// One pixel whose window runs past the left or right edge: the taps inside the input only.
template <int S>
inline void depthwise3x3_edge(const BlockedWindowArgs& a, int64_t oh, const float* rows, int64_t ky0, int64_t ky1,
                              int64_t ow, const __m512 (&w)[9], __m512 bias) {
  __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 3
  for (int ky = 0; ky < 3; ++ky) {
    if (ky < ky0 || ky >= ky1) continue;
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; ++kx) {
      const int64_t iw = ow * S - a.pad_left + kx;
      if (iw >= 0 && iw < a.w)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(rows + (ky * a.w + ow * S + kx) * 16), w[ky * 3 + kx], acc);
    }
  }
  __m512 v = _mm512_add_ps(acc, bias);
  if (a.residual) v = _mm512_add_ps(v, _mm512_loadu_ps(a.residual + (oh * a.out_w + ow) * 16));
  if (a.epi.activation) v = vactivate<__m512, vi16>(v, a.epi);
  _mm512_storeu_ps(a.out + (oh * a.out_w + ow) * 16, _mm512_maskz_mov_ps(a.lane_mask, v));
}

// Output row oh of a 3x3 depthwise convolution: the nine weights loaded once, interior pixels
// [lo, hi) eight, then four, then one at a time, the edge pixels around them one by one (on
// a 7x7 map two of every seven pixels are edges, so they get the same register-held weights).
template <int S>
void depthwise3x3_row(const BlockedWindowArgs& a, int64_t oh, const float* rows, int64_t ky0, int64_t ky1, int64_t lo,
                      int64_t hi) {
  const __m512 bias = _mm512_loadu_ps(a.bias);
  __m512 w[9];
  for (int t = 0; t < 9; ++t) w[t] = _mm512_loadu_ps(a.weights + 16 * t);
  for (int64_t ow = 0; ow < lo; ++ow) depthwise3x3_edge<S>(a, oh, rows, ky0, ky1, ow, w, bias);
  int64_t ow = depthwise3x3_pixels<S, 8>(a, oh, rows, ky0, ky1, lo, hi, w, bias);
  ow = depthwise3x3_pixels<S, 4>(a, oh, rows, ky0, ky1, ow, hi, w, bias);
  depthwise3x3_pixels<S, 1>(a, oh, rows, ky0, ky1, ow, hi, w, bias);
  for (ow = hi; ow < a.out_w; ++ow) depthwise3x3_edge<S>(a, oh, rows, ky0, ky1, ow, w, bias);
}

}  // namespace

template <int PIX, int NB>
void conv_two_rows(const BlockedConvArgs& a, int row_len) {
  switch (row_len) {
    // clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_CASE(W) \
  case W: return conv_tile<2 * W, PIX, W, NB>(a);
    WALLE_CASE(1) WALLE_CASE(2) WALLE_CASE(3) WALLE_CASE(4) WALLE_CASE(5) WALLE_CASE(6) WALLE_CASE(7)
#undef WALLE_CASE
        // clang-format on
        default : return;
  }
}

template <int NB>
void conv_tile_blocks(const BlockedConvArgs& a, int mr) {
  if (a.row_len)
    return a.pixel_stride == 16 ? conv_two_rows<16, NB>(a, a.row_len) : conv_two_rows<32, NB>(a, a.row_len);
  switch (a.pixel_stride) {
    case 16: return conv_tile_pix<16, NB>(a, mr);
    case 32: return conv_tile_pix<32, NB>(a, mr);
    case 1: return conv_tile_pix<1, NB>(a, mr);
    case 2: return conv_tile_pix<2, NB>(a, mr);
    default: return;
  }
}

void conv_blocked_tile_avx512(const BlockedConvArgs& a, int mr) {
  return a.blocks == 2 ? conv_tile_blocks<2>(a, mr) : conv_tile_blocks<1>(a, mr);
}

// One output row of one channel block. Interior pixels (every tap inside the input) take
// four at a time with independent accumulators; border pixels check each tap.
void window_row_avx512(const BlockedWindowArgs& a, int64_t oh) {
  const int64_t ih0 = oh * a.stride_h - a.pad_top;
  int64_t ky0 = 0, ky1 = a.kernel_h;
  while (ky0 < ky1 && ih0 + ky0 * a.dilation_h < 0) ++ky0;
  while (ky1 > ky0 && ih0 + (ky1 - 1) * a.dilation_h >= a.h) --ky1;
  const bool depthwise = a.weights != nullptr;
  // Interior columns: ow*stride - pad >= 0 and ow*stride - pad + (kw-1)*dil < w.
  int64_t lo = (a.pad_left + a.stride_w - 1) / a.stride_w;
  int64_t hi = a.w - 1 - (a.kernel_w - 1) * a.dilation_w + a.pad_left;
  hi = hi < 0 ? 0 : hi / a.stride_w + 1;
  if (hi > a.out_w) hi = a.out_w;
  if (lo > hi) lo = hi;
  // avg pool divisor for a pixel: taps inside the input, or inside input + explicit padding.
  auto divisor = [&](int64_t ow) {
    int64_t rows = 0, cols = 0;
    for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
      const int64_t ih = ih0 + ky * a.dilation_h;
      rows += a.count_include_pad ? (ih < a.h + a.pad_top) : (ih >= 0 && ih < a.h);
    }
    for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
      const int64_t iw = ow * a.stride_w - a.pad_left + kx * a.dilation_w;
      cols += a.count_include_pad ? (iw < a.w + a.pad_left) : (iw >= 0 && iw < a.w);
    }
    return static_cast<float>(rows * cols);
  };
  auto finish = [&](__m512 acc, int64_t ow) {
    float* out = a.out + (oh * a.out_w + ow) * 16;
    if (depthwise) {
      acc = _mm512_add_ps(acc, _mm512_loadu_ps(a.bias));
      if (a.residual) acc = _mm512_add_ps(acc, _mm512_loadu_ps(a.residual + (oh * a.out_w + ow) * 16));
      if (a.epi.activation) acc = vactivate<__m512, vi16>(acc, a.epi);
    } else if (!a.max_pool) {
      const float d = divisor(ow);
      acc = d > 0 ? _mm512_div_ps(acc, _mm512_set1_ps(d)) : _mm512_setzero_ps();
    }
    _mm512_storeu_ps(out, _mm512_maskz_mov_ps(a.lane_mask, acc));
  };
  auto tap = [&](__m512 acc, const float* src, int64_t t) {
    const __m512 x = _mm512_loadu_ps(src);
    if (depthwise) return _mm512_fmadd_ps(x, _mm512_loadu_ps(a.weights + 16 * t), acc);
    return a.max_pool ? nan_max(acc, x) : _mm512_add_ps(acc, x);
  };
  auto border = [&](int64_t ow) {
    __m512 acc = window_init(a.max_pool && !depthwise);
    for (int64_t ky = ky0; ky < ky1; ++ky)
      for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
        const int64_t iw = ow * a.stride_w - a.pad_left + kx * a.dilation_w;
        if (iw < 0 || iw >= a.w) continue;
        acc = tap(acc, a.in + ((ih0 + ky * a.dilation_h) * a.w + iw) * 16, ky * a.kernel_w + kx);
      }
    finish(acc, ow);
  };
  // 3x3 depthwise (MobileNet's): the nine weight vectors stay in registers, eight pixels at a
  // time with every tap unrolled (neighbouring pixels share their input loads).
  if (depthwise && a.kernel_h == 3 && a.kernel_w == 3 && a.dilation_h == 1 && a.dilation_w == 1 &&
      (a.stride_w == 1 || a.stride_w == 2)) {
    const float* rows = a.in + (ih0 * a.w - a.pad_left) * 16;
    if (a.stride_w == 1)
      depthwise3x3_row<1>(a, oh, rows, ky0, ky1, lo, hi);
    else
      depthwise3x3_row<2>(a, oh, rows, ky0, ky1, lo, hi);
    return;
  }
  for (int64_t ow = 0; ow < lo; ++ow) border(ow);
  int64_t ow = lo;
  for (; ow + 4 <= hi; ow += 4) {
    __m512 acc[4];
    for (int u = 0; u < 4; ++u) acc[u] = window_init(a.max_pool && !depthwise);
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      const float* row = a.in + ((ih0 + ky * a.dilation_h) * a.w + ow * a.stride_w - a.pad_left) * 16;
      for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
        const float* src = row + kx * a.dilation_w * 16;
        for (int u = 0; u < 4; ++u) acc[u] = tap(acc[u], src + u * a.stride_w * 16, ky * a.kernel_w + kx);
      }
    }
    for (int u = 0; u < 4; ++u) finish(acc[u], ow + u);
  }
  for (; ow < a.out_w; ++ow) border(ow);
}

// Winograd F(4x4, 3x3): 16 channels per vector, the 1-d transforms of cpu/winograd_transforms.h
// applied first down each column of the 6x6 patch, then along each row.
void winograd_input_blocked_avx512(const WinogradInputArgs& a, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t y0 = 4 * (t / a.tiles_w) - a.pad_top, x0 = 4 * (t % a.tiles_w) - a.pad_left;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= a.h && x0 + 6 <= a.w;
    const float* base = a.in + (y0 * a.w + x0) * 16;
    __m512 cols[6][6];  // cols[i][c]: row i of B^T d, column c
    for (int c = 0; c < 6; ++c) {
      __m512 d[6], r[6];
      const bool col_in = x0 + c >= 0 && x0 + c < a.w;
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i)
        d[i] = inside || (col_in && y0 + i >= 0 && y0 + i < a.h) ? _mm512_loadu_ps(base + (i * a.w + c) * 16)
                                                                 : _mm512_setzero_ps();
      Winograd<4>::input(d, r);
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) cols[i][c] = r[i];
    }
    float* v = a.v + 16 * (t - t0);
    for (int i = 0; i < 6; ++i) {
      __m512 r[6];
      Winograd<4>::input(cols[i], r);
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) _mm512_storeu_ps(v + (i * 6 + j) * a.xi_stride, r[j]);
    }
  }
}

void winograd_output_blocked_avx512(const WinogradOutputArgs& a, int64_t t0, int64_t t1) {
  const __m512 bias = _mm512_loadu_ps(a.bias);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t oy0 = 4 * (t / a.tiles_w), ox0 = 4 * (t % a.tiles_w);
    const float* m = a.m + 16 * (t - t0);
    __m512 rows[4][6];  // rows[r][c]: row r of A^T m, column c
    for (int c = 0; c < 6; ++c) {
      __m512 d[6], r[4];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) d[i] = _mm512_loadu_ps(m + (i * 6 + c) * a.xi_stride);
      Winograd<4>::output(d, r);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) rows[i][c] = r[i];
    }
    for (int r = 0; r < 4 && oy0 + r < a.out_h; ++r) {
      __m512 o[4];
      Winograd<4>::output(rows[r], o);
      const int64_t at = ((oy0 + r) * a.out_w + ox0) * 16;
      for (int c = 0; c < 4 && ox0 + c < a.out_w; ++c) {
        __m512 v = _mm512_add_ps(o[c], bias);
        if (a.residual) v = _mm512_add_ps(v, _mm512_loadu_ps(a.residual + at + 16 * c));
        if (a.epi.activation) v = vactivate<__m512, vi16>(v, a.epi);
        _mm512_storeu_ps(a.out + at + 16 * c, _mm512_maskz_mov_ps(a.lane_mask, v));
      }
    }
  }
}

}  // namespace walle::cpu::x86
