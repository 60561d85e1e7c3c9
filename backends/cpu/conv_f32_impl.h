// Included by exactly one .cpp per instruction set, inside that file's anonymous namespace:
// row loops over contiguous output that the compiler vectorizes for the file's -m flags.
// Do not include from a header.
// The including file includes <algorithm>, <limits>, <vector>, cpu/scalar_ops.h and
// cpu/winograd_transforms.h first.
#include "cpu/math.h"

// Output columns [ow0, ow1) whose tap at input column offset `off` (= kw*dilation - pad)
// lands inside [0, w).
inline void valid_columns(const walle::AtomicOp& op, int64_t off, int64_t* ow0, int64_t* ow1) {
  *ow0 = off >= 0 ? 0 : (-off + op.stride_w - 1) / op.stride_w;
  *ow1 = op.w - off <= 0 ? 0 : std::min(op.out_w, (op.w - off + op.stride_w - 1) / op.stride_w);
  if (*ow1 < *ow0) *ow1 = *ow0;
}

void finish_row(const walle::AtomicOp& op, const float* __restrict res, float* __restrict d, int64_t n) {
  if (res)
    for (int64_t i = 0; i < n; ++i) d[i] += res[i];
  switch (op.activation) {
    case walle::Activation::None: return;
    case walle::Activation::Relu:
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] < 0.f ? 0.f : d[i];
      return;
    case walle::Activation::Clip: {
      const float lo = op.alpha, hi = op.beta;
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] < lo ? lo : (d[i] > hi ? hi : d[i]);
      return;
    }
    case walle::Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) d[i] = wm_sigmoid(d[i]);
      return;
    case walle::Activation::Gelu:
      for (int64_t i = 0; i < n; ++i) d[i] = wm_gelu(d[i]);
      return;
    case walle::Activation::Silu:
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] * wm_sigmoid(d[i]);
      return;
  }
}

// One output element of a depthwise conv, bounds-checked (border columns and rows).
inline float depthwise_at(const walle::AtomicOp& op, const float* src, const float* w, float bias, int64_t oh,
                          int64_t ow) {
  float acc = bias;
  for (int64_t kh = 0; kh < op.kernel_h; ++kh) {
    const int64_t ih = oh * op.stride_h - op.pad_top + kh * op.dilation_h;
    if (ih < 0 || ih >= op.h) continue;
    for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
      const int64_t iw = ow * op.stride_w - op.pad_left + kw * op.dilation_w;
      if (iw >= 0 && iw < op.w) acc += w[kh * op.kernel_w + kw] * src[ih * op.w + iw];
    }
  }
  return acc;
}

// Columns [lo, hi) whose every tap of a k-wide, undilated window lies inside the row.
inline void interior_columns(const walle::AtomicOp& op, int64_t k, int64_t* lo, int64_t* hi) {
  const int64_t sw = op.stride_w, pl = op.pad_left;
  *lo = (pl + sw - 1) / sw;
  *hi = op.w - k + pl >= 0 ? std::min(op.out_w, (op.w - k + pl) / sw + 1) : 0;
  if (*hi < *lo) *hi = *lo;
}

// The plane copied into a buffer padded with `fill` so that every 3x3 window of the output
// (stride s) lies inside it: rows (out_h - 1) * s + 3, columns (out_w - 1) * s + 3.
inline const float* padded_plane(const walle::AtomicOp& op, const float* src, float fill, int64_t* pw) {
  thread_local std::vector<float> buf;
  const int64_t ph = (op.out_h - 1) * op.stride_h + 3;
  *pw = (op.out_w - 1) * op.stride_w + 3;
  buf.assign(static_cast<size_t>(ph * *pw), fill);
  for (int64_t r = 0; r < ph; ++r) {
    const int64_t ih = r - op.pad_top;
    if (ih < 0 || ih >= op.h) continue;
    const int64_t c0 = std::max<int64_t>(0, op.pad_left), c1 = std::min<int64_t>(*pw, op.w + op.pad_left);
    if (c1 > c0)
      std::memcpy(buf.data() + r * *pw + c0, src + ih * op.w + (c0 - op.pad_left), (c1 - c0) * sizeof(float));
  }
  return buf.data();
}

// One output of a 3x3 depthwise window: bias + the nine taps at columns c..c+2 of three rows.
// The weights are copied into the object once per plane, so they stay in registers.
struct Window3x3 {
  float w0, w1, w2, w3, w4, w5, w6, w7, w8, bias;
  Window3x3(const float* w, float b)
      : w0(w[0]), w1(w[1]), w2(w[2]), w3(w[3]), w4(w[4]), w5(w[5]), w6(w[6]), w7(w[7]), w8(w[8]), bias(b) {}
  float operator()(const float* r0, const float* r1, const float* r2, int64_t c) const {
    return bias + w0 * r0[c] + w1 * r0[c + 1] + w2 * r0[c + 2] + w3 * r1[c] + w4 * r1[c + 1] + w5 * r1[c + 2] +
           w6 * r2[c] + w7 * r2[c + 1] + w8 * r2[c + 2];
  }
};

// 3x3, stride 1 or 2, undilated (MobileNet's depthwise layers): on a zero-padded copy of the
// plane every output keeps all nine taps in registers and sums them in one pass.
template <int kStride>
void depthwise_3x3(const walle::AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                   float* dst) {
  int64_t pw;
  const float* p = padded_plane(op, src, 0.f, &pw);
  const Window3x3 k(w, bias);
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
    const float* __restrict r0 = p + oh * op.stride_h * pw;
    const float* __restrict r1 = r0 + pw;
    const float* __restrict r2 = r1 + pw;
    for (int64_t ow = 0; ow < op.out_w; ++ow) {
      const int64_t c = ow * kStride;
      d[ow] = k(r0, r1, r2, c);
    }
    finish_row(op, residual ? residual + oh * op.out_w : nullptr, d, op.out_w);
  }
}

// Stride 1 on short rows (MobileNet's 28-, 14- and 7-wide layers): the 3x3 window as one flat
// stencil over the zero-padded plane, output i = oh * pw + ow reading p[i + kh * pw + kw], so
// the loop runs whole vectors over out_h * pw outputs instead of rows shorter than a vector or
// two (measured ~1.8x faster at 28 and 14 wide). The 2 extra outputs per row are dropped.
// (At stride 2 the same trick computes twice the outputs and measured slower.)
void depthwise_3x3_flat(const walle::AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                        float* dst) {
  int64_t pw;
  const float* __restrict p = padded_plane(op, src, 0.f, &pw);
  const int64_t n = (op.out_h - 1) * pw + op.out_w;  // through the last real output
  thread_local std::vector<float> flat;
  flat.resize(static_cast<size_t>(n));
  float* __restrict f = flat.data();
  const Window3x3 k(w, bias);
  const float* __restrict r0 = p;
  const float* __restrict r1 = p + pw;
  const float* __restrict r2 = p + 2 * pw;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i;
    f[i] = k(r0, r1, r2, c);
  }
  for (int64_t oh = 0; oh < op.out_h; ++oh) std::memcpy(dst + oh * op.out_w, f + oh * pw, op.out_w * sizeof(float));
  finish_row(op, residual, dst, op.out_h * op.out_w);  // the plane is contiguous: one pass
}

// Stride 2 reads a quarter of the plane per output, so padding a copy costs more than it
// saves: interior columns in one pass, the border element by element.
void depthwise_3x3_s2(const walle::AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                      float* dst) {
  int64_t lo, hi;
  interior_columns(op, 3, &lo, &hi);
  const Window3x3 k(w, bias);
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
    const int64_t ih = oh * op.stride_h - op.pad_top;
    if (ih < 0 || ih + 2 >= op.h) {
      for (int64_t ow = 0; ow < op.out_w; ++ow) d[ow] = depthwise_at(op, src, w, bias, oh, ow);
    } else {
      const float* __restrict r0 = src + ih * op.w - op.pad_left;
      const float* __restrict r1 = r0 + op.w;
      const float* __restrict r2 = r1 + op.w;
      for (int64_t ow = 0; ow < lo; ++ow) d[ow] = depthwise_at(op, src, w, bias, oh, ow);
      for (int64_t ow = lo; ow < hi; ++ow) {
        const int64_t c = 2 * ow;
        d[ow] = k(r0, r1, r2, c);
      }
      for (int64_t ow = hi; ow < op.out_w; ++ow) d[ow] = depthwise_at(op, src, w, bias, oh, ow);
    }
    finish_row(op, residual ? residual + oh * op.out_w : nullptr, d, op.out_w);
  }
}

// Row by row: the output row (at most a few KiB) stays in L1 while every tap adds a shifted
// (strided) input row to it.
void depthwise_plane_f32(const walle::AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                         float* dst) {
  const int64_t sw = op.stride_w;
  const bool k3 = op.kernel_h == 3 && op.kernel_w == 3 && op.dilation_h == 1 && op.dilation_w == 1;
  if (k3 && op.stride_h == 1 && sw == 1 && op.out_w < 32) return depthwise_3x3_flat(op, src, w, bias, residual, dst);
  if (k3 && (sw == 1 || sw == 2))
    return sw == 1 ? depthwise_3x3<1>(op, src, w, bias, residual, dst)
                   : depthwise_3x3_s2(op, src, w, bias, residual, dst);
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
    for (int64_t i = 0; i < op.out_w; ++i) d[i] = bias;
    for (int64_t kh = 0; kh < op.kernel_h; ++kh) {
      const int64_t ih = oh * op.stride_h - op.pad_top + kh * op.dilation_h;
      if (ih < 0 || ih >= op.h) continue;
      for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
        const float wv = w[kh * op.kernel_w + kw];
        const int64_t off = kw * op.dilation_w - op.pad_left;
        int64_t ow0, ow1;
        valid_columns(op, off, &ow0, &ow1);
        const float* __restrict s = src + ih * op.w + off;
        if (sw == 1)
          for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[ow];
        else if (sw == 2)
          for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[2 * ow];
        else
          for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[ow * sw];
      }
    }
    finish_row(op, residual ? residual + oh * op.out_w : nullptr, d, op.out_w);
  }
}

// 3x3 max pooling, stride 1 or 2, undilated, on a -inf padded copy of the plane (taps in the
// padding or the ceil-mode overhang never win, as in the reference).
// Branch-free (bitwise |): with a short-circuit || GCC keeps these loops scalar and branchy.
inline float max_nan(float a, float v) { return ((v > a) | (v != v)) ? v : a; }

template <int kStride>
void maxpool_3x3(const walle::AtomicOp& op, const float* src, float* dst) {
  int64_t pw;
  const float* p = padded_plane(op, src, -std::numeric_limits<float>::infinity(), &pw);
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
    const float* __restrict r0 = p + oh * op.stride_h * pw;
    const float* __restrict r1 = r0 + pw;
    const float* __restrict r2 = r1 + pw;
    for (int64_t ow = 0; ow < op.out_w; ++ow) {
      const int64_t c = ow * kStride;
      float m = r0[c];
      m = max_nan(m, r0[c + 1]);
      m = max_nan(m, r0[c + 2]);
      m = max_nan(m, r1[c]);
      m = max_nan(m, r1[c + 1]);
      m = max_nan(m, r1[c + 2]);
      m = max_nan(m, r2[c]);
      m = max_nan(m, r2[c + 1]);
      m = max_nan(m, r2[c + 2]);
      d[ow] = m;
    }
  }
}

// Stride 2: interior columns of interior rows in one pass (no padded copy: at stride 2 it
// costs more than it saves); the border through the general loop below.
// `line` holds at least 2 * (hi - lo) + 65 floats.
bool maxpool_3x3_s2_row(const walle::AtomicOp& op, const float* src, float* d, int64_t oh, int64_t lo, int64_t hi,
                        float* line) {
  const int64_t ih = oh * 2 - op.pad_top;
  if (ih < 0 || ih + 2 >= op.h) return false;
  const float* __restrict r0 = src + ih * op.w - op.pad_left;
  const float* __restrict r1 = r0 + op.w;
  const float* __restrict r2 = r1 + op.w;
  if (hi > lo) {
    // Vertical max of the three rows (unit stride, vectorizes), then the horizontal max of
    // three neighbours at stride 2 over that line (NaN is sticky, so the order is free).
    const int64_t c0 = 2 * lo, n = 2 * (hi - lo) + 1;
#if defined(__AVX512F__)
    // Masked tails: scalar tails of these short rows (13..112 columns) branch on the data.
    float* __restrict v = line;
    auto vmax = [](__m512 a, __m512 b) {  // b where b > a or b is NaN (NaN is sticky)
      __mmask16 k = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
      return _mm512_mask_blend_ps(k, a, b);
    };
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
      __m512 a = _mm512_maskz_loadu_ps(m, r0 + c0 + i);
      a = vmax(a, _mm512_maskz_loadu_ps(m, r1 + c0 + i));
      a = vmax(a, _mm512_maskz_loadu_ps(m, r2 + c0 + i));
      _mm512_storeu_ps(v + i, a);
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    float* __restrict o = d + lo;
    const int64_t cnt = hi - lo;
    for (int64_t i = 0; i < cnt; i += 16) {
      const __mmask16 m = cnt - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cnt - i)) - 1);
      const float* s = v + 2 * i;  // lanes past n read the padding; their results are masked off
      __m512 x0 = _mm512_loadu_ps(s), x1 = _mm512_loadu_ps(s + 16);
      __m512 y0 = _mm512_loadu_ps(s + 2), y1 = _mm512_loadu_ps(s + 18);
      __m512 a = _mm512_permutex2var_ps(x0, even, x1);
      a = vmax(a, _mm512_permutex2var_ps(x0, odd, x1));
      a = vmax(a, _mm512_permutex2var_ps(y0, even, y1));
      _mm512_mask_storeu_ps(o + i, m, a);
    }
#else
    float* __restrict v = line;
    for (int64_t i = 0; i < n; ++i) v[i] = max_nan(max_nan(r0[c0 + i], r1[c0 + i]), r2[c0 + i]);
    float* __restrict o = d + lo;
    for (int64_t i = 0; i < hi - lo; ++i) o[i] = max_nan(max_nan(v[2 * i], v[2 * i + 1]), v[2 * i + 2]);
#endif
  }
  auto border = [&](int64_t ow) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t kh = 0; kh < 3; ++kh)
      for (int64_t kw = 0; kw < 3; ++kw) {
        const int64_t iw = ow * 2 - op.pad_left + kw;
        if (iw >= 0 && iw < op.w) m = max_nan(m, src[(ih + kh) * op.w + iw]);
      }
    d[ow] = m;
  };
  for (int64_t ow = 0; ow < lo; ++ow) border(ow);
  for (int64_t ow = hi; ow < op.out_w; ++ow) border(ow);
  return true;
}

// Max: NaN wins (as in the reference). Average: the divisor counts the taps inside the input,
// or with count_include_pad also those in the explicit padding (never the ceil-mode
// overhang); that set is a product of a row range and a column range.
void pool_plane_f32(const walle::AtomicOp& op, const float* src, float* dst) {
  const int64_t sw = op.stride_w;
  float* count_w = nullptr;
  float cols[1024];
  if (!op.max_pool && op.out_w <= 1024) count_w = cols;
  std::vector<float> heap;
  if (!op.max_pool && !count_w) {
    heap.resize(op.out_w);
    count_w = heap.data();
  }
  if (count_w) {
    for (int64_t ow = 0; ow < op.out_w; ++ow) {
      int64_t c = 0;
      for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
        int64_t iw = ow * sw - op.pad_left + kw * op.dilation_w;
        c += op.count_include_pad ? (iw < op.w + op.pad_left) : (iw >= 0 && iw < op.w);
      }
      count_w[ow] = static_cast<float>(c);
    }
  }
  // Stride 1 only: at stride 2 the padded copy costs more than the row loops below.
  if (op.max_pool && op.kernel_h == 3 && op.kernel_w == 3 && op.dilation_h == 1 && op.dilation_w == 1 && sw == 1)
    return maxpool_3x3<1>(op, src, dst);
  const bool s2 = op.max_pool && op.kernel_h == 3 && op.kernel_w == 3 && op.dilation_h == 1 && op.dilation_w == 1 &&
                  sw == 2 && op.stride_h == 2;
  int64_t lo = 0, hi = 0;
  float line_stack[2 * 256 + 65];
  std::vector<float> line_heap;
  float* line = line_stack;
  if (s2) {
    interior_columns(op, 3, &lo, &hi);
    if (2 * (hi - lo) + 65 > 2 * 256 + 65) {
      line_heap.resize(static_cast<size_t>(2 * (hi - lo) + 65));
      line = line_heap.data();
    }
  }
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
    if (s2 && maxpool_3x3_s2_row(op, src, d, oh, lo, hi, line)) continue;
    const float init = op.max_pool ? -std::numeric_limits<float>::infinity() : 0.f;
    for (int64_t i = 0; i < op.out_w; ++i) d[i] = init;
    int64_t count_h = 0;
    for (int64_t kh = 0; kh < op.kernel_h; ++kh) {
      const int64_t ih = oh * op.stride_h - op.pad_top + kh * op.dilation_h;
      count_h += op.count_include_pad ? (ih < op.h + op.pad_top) : (ih >= 0 && ih < op.h);
      if (ih < 0 || ih >= op.h) continue;
      for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
        const int64_t off = kw * op.dilation_w - op.pad_left;
        int64_t ow0, ow1;
        valid_columns(op, off, &ow0, &ow1);
        const float* __restrict s = src + ih * op.w + off;
        if (op.max_pool) {
          if (sw == 1)
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              float v = s[ow];
              d[ow] = (v > d[ow] || v != v) ? v : d[ow];
            }
          else if (sw == 2)
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              float v = s[2 * ow];
              d[ow] = (v > d[ow] || v != v) ? v : d[ow];
            }
          else
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              float v = s[ow * sw];
              d[ow] = (v > d[ow] || v != v) ? v : d[ow];
            }
        } else {
          for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += s[ow * sw];
        }
      }
    }
    if (!op.max_pool)
      for (int64_t ow = 0; ow < op.out_w; ++ow) {
        float c = static_cast<float>(count_h) * count_w[ow];
        d[ow] = c > 0.f ? d[ow] / c : 0.f;
      }
  }
}

using walle::cpu::Winograd;  // cpu/winograd_transforms.h

// One 1-d transform applied to n tiles at once: out[j][tx] = T(in[0][tx], .., in[I-1][tx]).
// The tile loop is innermost over contiguous rows, so it vectorizes across tiles; the rows
// never overlap (ivdep: without it GCC falls back to scalar code behind alias checks).
template <int I, int O, typename Transform>
inline void transform_rows(const float* const (&in)[I], float* const (&out)[O], int64_t n, float add,
                           Transform transform) {
#pragma GCC ivdep
  for (int64_t tx = 0; tx < n; ++tx) {
    float d[I], r[O];
#pragma GCC unroll 8
    for (int k = 0; k < I; ++k) d[k] = in[k][tx];
    transform(d, r);
#pragma GCC unroll 8
    for (int k = 0; k < O; ++k) out[k][tx] = r[k] + add;
  }
}

// Calls fn(ty, tx0, tx1) for each tile row's share of tiles [t0, t1).
template <typename Fn>
inline void for_tile_rows(int64_t tiles_w, int64_t t0, int64_t t1, Fn fn) {
  for (int64_t ty = t0 / tiles_w; ty * tiles_w < t1; ++ty)
    fn(ty, std::max<int64_t>(t0 - ty * tiles_w, 0), std::min(t1 - ty * tiles_w, tiles_w));
}

// Input transform of tiles [t0, t1) of one channel plane. The tiles' alpha x alpha patches are
// first gathered into tap-major rows (patch[tap][tile], through a zero-padded copy of each
// input row, so no bounds checks), then B^T d B is two passes of 1-d transforms across all the
// tiles at once: whole vectors even when a tile row is short (14 tiles at 56 x 56). The
// results are copied into the GEMM's packed B panels, one panel-bounded run at a time (storing
// straight into the panels would write alpha^2 streams xi_stride apart, which alias in L1).
template <int M>
void winograd_input_f32(const float* x, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, int64_t tiles_w,
                        int64_t t0, int64_t t1, float* v, int64_t xi_stride, int64_t panel_stride, int64_t nr) {
  constexpr int A = M + 2;
  const int64_t nt = t1 - t0;
  thread_local std::vector<float> line, patch, cols, out;
  patch.resize(static_cast<size_t>(A * A * nt));
  cols.resize(patch.size());
  out.resize(patch.size());
  float* const pt = patch.data();
  for_tile_rows(tiles_w, t0, t1, [&](int64_t ty, int64_t tx0, int64_t tx1) {
    const int64_t n = tx1 - tx0, width = M * n + 2, col0 = M * tx0 - pad_left, l0 = ty * tiles_w + tx0 - t0;
    const bool inside = col0 >= 0 && col0 + width <= w;  // no column padding: read x in place
    line.resize(static_cast<size_t>(width));
    for (int r = 0; r < A; ++r) {
      const int64_t ih = M * ty - pad_top + r;
      float* dst[A];
      for (int c = 0; c < A; ++c) dst[c] = pt + (r * A + c) * nt + l0;
      if (ih < 0 || ih >= h) {
        for (int c = 0; c < A; ++c) std::fill(dst[c], dst[c] + n, 0.f);
        continue;
      }
      const float* src = x + ih * w + col0;
      if (!inside) {
        const int64_t c0 = std::max<int64_t>(col0, 0), c1 = std::min(col0 + width, w);
        std::fill(line.begin(), line.end(), 0.f);
        if (c1 > c0) std::memcpy(line.data() + (c0 - col0), x + ih * w + c0, (c1 - c0) * sizeof(float));
        src = line.data();
      }
      int64_t j = 0;
#if defined(__AVX512F__)
      // Tap c of 16 tiles is a stride-M gather; a tile row is often shorter than 16 tiles
      // (14 at 56 x 56), where a compiler-vectorized loop would fall back to scalar code.
      const __m512i index = _mm512_mullo_epi32(_mm512_set1_epi32(M),
                                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      for (; j < n; j += 16) {
        const __mmask16 mask = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
#pragma GCC unroll 8
        for (int c = 0; c < A; ++c)
          _mm512_mask_storeu_ps(dst[c] + j, mask,
                                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, src + M * j + c, 4));
      }
#endif
      for (; j < n; ++j) {  // tile by tile: its A taps of this row are contiguous in the input
#pragma GCC unroll 8
        for (int c = 0; c < A; ++c) dst[c][j] = src[M * j + c];
      }
    }
  });
  for (int c = 0; c < A; ++c) {  // B^T d: column c of every patch
    const float* in[A];
    float* to[A];
    for (int k = 0; k < A; ++k) {
      in[k] = patch.data() + (k * A + c) * nt;
      to[k] = cols.data() + (k * A + c) * nt;
    }
    transform_rows<A, A>(in, to, nt, 0.f, Winograd<M>::template input<float>);
  }
  for (int i = 0; i < A; ++i) {  // (B^T d) B: row i of every patch
    const float* in[A];
    float* to[A];
    for (int k = 0; k < A; ++k) {
      in[k] = cols.data() + (i * A + k) * nt;
      to[k] = out.data() + (i * A + k) * nt;
    }
    transform_rows<A, A>(in, to, nt, 0.f, Winograd<M>::template input<float>);
  }
  for (int64_t l0 = 0; l0 < nt;) {  // runs of tiles that stay inside one B panel
    const int64_t len = std::min(nr - l0 % nr, nt - l0);
    float* dst = v + (l0 / nr) * panel_stride + l0 % nr;
    for (int xi = 0; xi < A * A; ++xi)
      std::memcpy(dst + xi * xi_stride, out.data() + xi * nt + l0, len * sizeof(float));
    l0 += len;
  }
}

// Output transform of tiles [t0, t1) of one output channel: m[xi * xi_stride + t - t0] ->
// A^T m A + bias (+ residual), then the op's activation. Two passes of 1-d transforms across
// all the tiles leave output pixel (r, c) of every tile in row r * M + c of `pixels`; they are
// then scattered into the output rows.
template <int M>
void winograd_output_f32(const walle::AtomicOp& op, const float* m, int64_t xi_stride, int64_t tiles_w, int64_t t0,
                         int64_t t1, float bias, const float* residual, float* y) {
  constexpr int A = M + 2;
  const int64_t nt = t1 - t0;
  thread_local std::vector<float> cols, pixels;
  cols.resize(static_cast<size_t>(M * A * nt));
  pixels.resize(static_cast<size_t>(M * M * nt));
  for (int c = 0; c < A; ++c) {  // A^T m: column c of every tile
    const float* in[A];
    float* to[M];
    for (int k = 0; k < A; ++k) in[k] = m + (k * A + c) * xi_stride;
    for (int k = 0; k < M; ++k) to[k] = cols.data() + (k * A + c) * nt;
    transform_rows<A, M>(in, to, nt, 0.f, Winograd<M>::template output<float>);
  }
  for (int r = 0; r < M; ++r) {  // (A^T m) A + bias: output row r of every tile
    const float* in[A];
    float* to[M];
    for (int k = 0; k < A; ++k) in[k] = cols.data() + (r * A + k) * nt;
    for (int k = 0; k < M; ++k) to[k] = pixels.data() + (r * M + k) * nt;
    transform_rows<A, M>(in, to, nt, bias, Winograd<M>::template output<float>);
  }
  for_tile_rows(tiles_w, t0, t1, [&](int64_t ty, int64_t tx0, int64_t tx1) {
    const int64_t l0 = ty * tiles_w + tx0 - t0, ow0 = M * tx0, count = std::min(M * (tx1 - tx0), op.out_w - ow0);
    for (int r = 0; r < M; ++r) {
      const int64_t oh = M * ty + r;
      if (oh >= op.out_h) break;
      float* __restrict d = y + oh * op.out_w + ow0;
      const float* __restrict px = pixels.data() + r * M * nt + l0;
      for (int64_t i = 0; i < count; ++i) d[i] = px[(i % M) * nt + i / M];
      finish_row(op, residual ? residual + oh * op.out_w + ow0 : nullptr, d, count);
    }
  });
}

const walle::cpu::ConvF32 kConvTable = {depthwise_plane_f32,
                                        pool_plane_f32,
                                        {winograd_input_f32<2>, winograd_input_f32<4>},
                                        {winograd_output_f32<2>, winograd_output_f32<4>}};
