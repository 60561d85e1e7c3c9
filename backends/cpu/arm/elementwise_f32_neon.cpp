// Float32 elementwise, reduce, softmax and layer-norm loops written with NEON intrinsics. Ops
// without a NEON loop here (the libm tail of UnaryOp, comparisons) use the portable loops of
// cpu/elementwise_f32_impl.h, included below for exactly that.
//
// Every loop handles the last n % 4 elements by running the same vector code on a zero-padded
// copy, so the tail gets the same arithmetic (and rounding) as the body.
#include <arm_neon.h>

#include <cstring>
#include <vector>

#include "cpu/elementwise_f32.h"
#include "cpu/scalar_ops.h"
#include "neon_math.h"

namespace {
#include "cpu/elementwise_f32_impl.h"
}  // namespace

namespace walle::cpu::arm {
namespace {

// y[i] = f(x[i]) four lanes at a time.
template <typename F>
void map_unary(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, f(vld1q_f32(x + i)));
  if (i < n) {
    float t[4] = {};
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    vst1q_f32(t, f(vld1q_f32(t)));
    std::memcpy(y + i, t, (n - i) * sizeof(float));
  }
}

inline float32x4_t clamp01(float32x4_t t) { return vminq_f32(vmaxq_f32(t, vsplat(0.f)), vsplat(1.f)); }

void unary_neon(UnaryOp op, const float* x, float* y, int64_t n, float alpha, float beta) {
  const float32x4_t zero = vsplat(0.f), one = vsplat(1.f), va = vsplat(alpha), vb = vsplat(beta);
  switch (op) {
    // Relu keeps NaN, as onnxruntime and numpy do (and the portable loop): FMAX returns NaN when
    // either operand is NaN.
    case UnaryOp::Relu: return map_unary(x, y, n, [&](float32x4_t v) { return vmaxq_f32(v, zero); });
    case UnaryOp::Clip:
      return map_unary(
          x, y, n, [&](float32x4_t v) { return vbslq_f32(vcltq_f32(v, va), va, vbslq_f32(vcgtq_f32(v, vb), vb, v)); });
    case UnaryOp::Sigmoid: return map_unary(x, y, n, vsigmoid);
    case UnaryOp::Tanh: return map_unary(x, y, n, vtanh);
    case UnaryOp::Exp: return map_unary(x, y, n, vexp);
    case UnaryOp::Erf: return map_unary(x, y, n, verf);
    case UnaryOp::Gelu: return map_unary(x, y, n, vgelu);
    case UnaryOp::Silu: return map_unary(x, y, n, vsilu);
    case UnaryOp::Neg: return map_unary(x, y, n, [](float32x4_t v) { return vnegq_f32(v); });
    case UnaryOp::Abs: return map_unary(x, y, n, [](float32x4_t v) { return vabsq_f32(v); });
    case UnaryOp::Sqrt: return map_unary(x, y, n, [](float32x4_t v) { return vsqrtq_f32(v); });
    case UnaryOp::Rsqrt: return map_unary(x, y, n, [&](float32x4_t v) { return vdivq_f32(one, vsqrtq_f32(v)); });
    case UnaryOp::Reciprocal: return map_unary(x, y, n, [&](float32x4_t v) { return vdivq_f32(one, v); });
    case UnaryOp::Square: return map_unary(x, y, n, [](float32x4_t v) { return vmulq_f32(v, v); });
    case UnaryOp::Identity: return map_unary(x, y, n, [](float32x4_t v) { return v; });
    case UnaryOp::LeakyRelu:
      return map_unary(x, y, n, [&](float32x4_t v) { return vbslq_f32(vcgeq_f32(v, zero), v, vmulq_f32(v, va)); });
    case UnaryOp::HardSigmoid: return map_unary(x, y, n, [&](float32x4_t v) { return clamp01(vfmaq_f32(vb, va, v)); });
    case UnaryOp::HardSwish:
      return map_unary(x, y, n, [&](float32x4_t v) {
        return vmulq_f32(v, clamp01(vaddq_f32(vdivq_f32(v, vsplat(6.f)), vsplat(0.5f))));
      });
    default: return unary_f32(op, x, y, n, alpha, beta);  // libm, one element at a time
  }
}

// y[i] = f(a[i*sa], b[i*sb]) for the three stride patterns broadcasting produces.
template <typename F>
void map_binary(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n, F f) {
  auto tail = [&](int64_t i) {
    if (i >= n) return;
    float ta[4] = {}, tb[4] = {}, t[4];
    for (int64_t k = i; k < n; ++k) ta[k - i] = a[k * sa], tb[k - i] = b[k * sb];
    vst1q_f32(t, f(vld1q_f32(ta), vld1q_f32(tb)));
    std::memcpy(y + i, t, (n - i) * sizeof(float));
  };
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, f(vld1q_f32(a + i), vld1q_f32(b + i)));
  } else if (sa == 1 && sb == 0) {
    const float32x4_t bv = vdupq_n_f32(b[0]);
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, f(vld1q_f32(a + i), bv));
  } else if (sa == 0 && sb == 1) {
    const float32x4_t av = vdupq_n_f32(a[0]);
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, f(av, vld1q_f32(b + i)));
  }
  tail(i);  // general strides go through here whole
}

void binary_neon(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (!(sa <= 1 && sb <= 1) || (sa == 0 && sb == 0)) return binary_f32(op, a, sa, b, sb, y, n);
  const float32x4_t zero = vsplat(0.f);
  switch (op) {
    case BinaryOp::Add:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vaddq_f32(p, q); });
    case BinaryOp::Sub:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vsubq_f32(p, q); });
    case BinaryOp::Mul:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vmulq_f32(p, q); });
    case BinaryOp::Div:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vdivq_f32(p, q); });
    // FMAX/FMIN propagate NaN from either side, as the portable loop does.
    case BinaryOp::Max:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vmaxq_f32(p, q); });
    case BinaryOp::Min:
      return map_binary(a, sa, b, sb, y, n, [](float32x4_t p, float32x4_t q) { return vminq_f32(p, q); });
    case BinaryOp::PRelu:
      return map_binary(a, sa, b, sb, y, n, [&](float32x4_t p, float32x4_t q) {
        return vbslq_f32(vcgeq_f32(p, zero), p, vmulq_f32(p, q));
      });
    default: return binary_f32(op, a, sa, b, sb, y, n);
  }
}

// ---- Reductions.
enum class Fold { Sum, SumSquare, Max, Min };

inline float32x4_t fold(Fold f, float32x4_t acc, float32x4_t v) {
  switch (f) {
    case Fold::Sum: return vaddq_f32(acc, v);
    case Fold::SumSquare: return vfmaq_f32(acc, v, v);
    case Fold::Max: return vmaxq_f32(acc, v);
    case Fold::Min: return vminq_f32(acc, v);
  }
  return acc;
}

inline float fold_lanes(Fold f, float32x4_t v) {
  return f == Fold::Max ? vmaxvq_f32(v) : f == Fold::Min ? vminvq_f32(v) : vaddvq_f32(v);
}

// Reduces one contiguous row with four independent vector accumulators (16 lanes).
float fold_row(Fold f, const float* x, int64_t n) {
  const bool extreme = f == Fold::Max || f == Fold::Min;
  const float32x4_t init = vdupq_n_f32(extreme && n > 0 ? x[0] : 0.f);  // identity for the padding
  float32x4_t acc[4] = {init, init, init, init};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int q = 0; q < 4; ++q) acc[q] = fold(f, acc[q], vld1q_f32(x + i + 4 * q));
  for (; i + 4 <= n; i += 4) acc[0] = fold(f, acc[0], vld1q_f32(x + i));
  if (i < n) {
    float t[4];
    vst1q_f32(t, init);
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    acc[1] = fold(f, acc[1], vld1q_f32(t));
  }
  const float32x4_t all = extreme ? fold(f, fold(f, acc[0], acc[1]), fold(f, acc[2], acc[3]))
                                  : vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
  return fold_lanes(f, all);
}

void reduce_neon(ReduceOp op, const float* x, int64_t outer, int64_t R, int64_t inner, float* y) {
  const Fold f = op == ReduceOp::Max         ? Fold::Max
                 : op == ReduceOp::Min       ? Fold::Min
                 : op == ReduceOp::SumSquare ? Fold::SumSquare
                                             : Fold::Sum;
  const float scale = op == ReduceOp::Mean ? 1.0f / static_cast<float>(R) : 1.0f;
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = x + o * R * inner;
    float* dst = y + o * inner;
    if (inner == 1) {
      dst[0] = fold_row(f, src, R) * scale;
      continue;
    }
    // Rows of `inner` values folded into dst, four columns at a time.
    int64_t i = 0;
    auto columns = [&](const float* (*load)(const float*, float*, int64_t), int64_t width) {
      float in[4], out[4];
      float32x4_t acc = vld1q_f32(load(src + i, in, width));
      if (f == Fold::SumSquare) acc = vmulq_f32(acc, acc);
      for (int64_t r = 1; r < R; ++r) acc = fold(f, acc, vld1q_f32(load(src + r * inner + i, in, width)));
      vst1q_f32(out, vmulq_n_f32(acc, scale));
      std::memcpy(dst + i, out, width * sizeof(float));
    };
    auto direct = [](const float* p, float*, int64_t) { return p; };
    auto padded = [](const float* p, float* t, int64_t w) {
      std::memset(t, 0, 4 * sizeof(float));
      std::memcpy(t, p, w * sizeof(float));
      return static_cast<const float*>(t);
    };
    for (; i + 4 <= inner; i += 4) columns(direct, 4);
    if (i < inner) columns(padded, inner - i);
  }
}

// ---- Softmax and layer norm over contiguous rows.
// Max, then exp and sum, then scale; results below FLT_MIN * sum are flushed to 0 as in the
// portable loop (masked attention rows would otherwise make denormals).
void softmax_neon(const float* x_, int64_t rows, int64_t R, float* y_) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = x_ + r * R;
    float* y = y_ + r * R;
    const float32x4_t m = vdupq_n_f32(fold_row(Fold::Max, x, R));
    map_unary(x, y, R, [&](float32x4_t v) { return vexp(vsubq_f32(v, m)); });
    const float sum = fold_row(Fold::Sum, y, R);
    const float32x4_t inv = vdupq_n_f32(1.0f / sum), tiny = vdupq_n_f32(1.17549435e-38f * sum), zero = vsplat(0.f);
    map_unary(y, y, R, [&](float32x4_t v) { return vbslq_f32(vcltq_f32(v, tiny), zero, vmulq_f32(v, inv)); });
  }
}

void masked_softmax_neon(const float* x, const uint8_t* cond, int64_t row0, int64_t rows, int64_t R,
                         int64_t rows_per_cond, float scale, float fill, float* y) {
  thread_local std::vector<float> buffer;
  buffer.resize(static_cast<size_t>(R));
  float* v = buffer.data();
  for (int64_t r = row0; r < row0 + rows; ++r) {
    const float* xr = x + r * R;
    if (cond) {
      const uint8_t* c = cond + (r / rows_per_cond) * R;
      for (int64_t i = 0; i < R; ++i) v[i] = c[i] ? xr[i] * scale : fill;
    } else {
      const float32x4_t s = vdupq_n_f32(scale);
      map_unary(xr, v, R, [&](float32x4_t t) { return vmulq_f32(t, s); });
    }
    softmax_neon(v, 1, R, y + r * R);
  }
}

// Two passes (mean, then variance about it, as the decomposition computes them), one store.
void layernorm_neon(const float* x, int64_t rows, int64_t R, const float* scale, const float* bias, float eps,
                    float* y) {
  for (int64_t r = 0; r < rows; ++r, x += R, y += R) {
    const float mean = fold_row(Fold::Sum, x, R) / static_cast<float>(R);
    const float32x4_t vm = vdupq_n_f32(mean);
    float32x4_t acc[2] = {vsplat(0.f), vsplat(0.f)};
    int64_t i = 0;
    for (; i + 8 <= R; i += 8)
      for (int q = 0; q < 2; ++q) {
        const float32x4_t d = vsubq_f32(vld1q_f32(x + i + 4 * q), vm);
        acc[q] = vfmaq_f32(acc[q], d, d);
      }
    float var = vaddvq_f32(vaddq_f32(acc[0], acc[1]));
    for (; i < R; ++i) var += (x[i] - mean) * (x[i] - mean);
    const float32x4_t inv = vdupq_n_f32(1.0f / std::sqrt(var / static_cast<float>(R) + eps));
    for (i = 0; i + 4 <= R; i += 4) {
      float32x4_t v = vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), inv);
      if (scale) v = vmulq_f32(v, vld1q_f32(scale + i));
      if (scale && bias) v = vaddq_f32(v, vld1q_f32(bias + i));  // bias only with scale, as the portable loop
      vst1q_f32(y + i, v);
    }
    for (; i < R; ++i) {
      float v = (x[i] - mean) * vgetq_lane_f32(inv, 0);
      if (scale) v *= scale[i];
      if (scale && bias) v += bias[i];
      y[i] = v;
    }
  }
}

const ElementwiseF32 kNeonTable = {unary_neon,   binary_neon,         reduce_neon,
                                   softmax_neon, masked_softmax_neon, layernorm_neon};

}  // namespace
}  // namespace walle::cpu::arm

namespace walle::cpu {
const ElementwiseF32& elementwise_f32_neon() { return arm::kNeonTable; }
}  // namespace walle::cpu
