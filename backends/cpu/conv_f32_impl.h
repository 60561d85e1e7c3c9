// Included by exactly one .cpp per instruction set, inside that file's anonymous namespace:
// row loops over contiguous output that the compiler vectorizes for the file's -m flags.
// Do not include from a header.
// The including file includes <algorithm>, <limits>, <vector> and cpu/scalar_ops.h first.
#include "cpu/math.h"

// Output columns [ow0, ow1) whose tap at input column offset `off` (= kw*dilation - pad)
// lands inside [0, w).
inline void valid_columns(const walle::AtomicOp& op, int64_t off, int64_t* ow0, int64_t* ow1) {
  *ow0 = off >= 0 ? 0 : (-off + op.stride_w - 1) / op.stride_w;
  *ow1 = op.w - off <= 0 ? 0 : std::min(op.out_w, (op.w - off + op.stride_w - 1) / op.stride_w);
  if (*ow1 < *ow0) *ow1 = *ow0;
}

void finish_row(const walle::AtomicOp& op, const float* __restrict res, float* __restrict d, int64_t n) {
  if (res) for (int64_t i = 0; i < n; ++i) d[i] += res[i];
  switch (op.activation) {
    case walle::Activation::None: return;
    case walle::Activation::Relu: for (int64_t i = 0; i < n; ++i) d[i] = d[i] > 0.f ? d[i] : 0.f; return;
    case walle::Activation::Clip: {
      const float lo = op.alpha, hi = op.beta;
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] < lo ? lo : (d[i] > hi ? hi : d[i]);
      return;
    }
    case walle::Activation::Sigmoid: for (int64_t i = 0; i < n; ++i) d[i] = wm_sigmoid(d[i]); return;
    case walle::Activation::Gelu: for (int64_t i = 0; i < n; ++i) d[i] = wm_gelu(d[i]); return;
    case walle::Activation::Silu: for (int64_t i = 0; i < n; ++i) d[i] = d[i] * wm_sigmoid(d[i]); return;
  }
}

// Row by row: the output row (at most a few KiB) stays in L1 while every tap adds a shifted
// (strided) input row to it.
void depthwise_plane_f32(const walle::AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                         float* dst) {
  const int64_t sw = op.stride_w;
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
        if (sw == 1) for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[ow];
        else if (sw == 2) for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[2 * ow];
        else for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] += wv * s[ow * sw];
      }
    }
    finish_row(op, residual ? residual + oh * op.out_w : nullptr, d, op.out_w);
  }
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
  for (int64_t oh = 0; oh < op.out_h; ++oh) {
    float* __restrict d = dst + oh * op.out_w;
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
          if (sw == 1) for (int64_t ow = ow0; ow < ow1; ++ow) { float v = s[ow]; d[ow] = (v > d[ow] || v != v) ? v : d[ow]; }
          else if (sw == 2) for (int64_t ow = ow0; ow < ow1; ++ow) { float v = s[2 * ow]; d[ow] = (v > d[ow] || v != v) ? v : d[ow]; }
          else for (int64_t ow = ow0; ow < ow1; ++ow) { float v = s[ow * sw]; d[ow] = (v > d[ow] || v != v) ? v : d[ow]; }
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

const walle::cpu::ConvF32 kConvTable = {depthwise_plane_f32, pool_plane_f32};
