// Included by exactly one .cpp per instruction set, inside that file's anonymous namespace:
// plain loops over contiguous data that the compiler vectorizes for the file's -m flags.
// Do not include from a header.
#include "cpu/math.h"

template <typename F>
void map_unary(const float* __restrict x, float* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

void unary_f32(walle::UnaryOp op, const float* x, float* y, int64_t n, float alpha, float beta) {
  using walle::UnaryOp;
  switch (op) {
    case UnaryOp::Relu: return map_unary(x, y, n, [](float v) { return v < 0.f ? 0.f : v; });  // NaN stays NaN
    case UnaryOp::Clip: return map_unary(x, y, n, [=](float v) { return v < alpha ? alpha : (v > beta ? beta : v); });
    case UnaryOp::Sigmoid: return map_unary(x, y, n, [](float v) { return wm_sigmoid(v); });
    case UnaryOp::Tanh: return map_unary(x, y, n, [](float v) { return wm_tanh(v); });
    case UnaryOp::Exp: return map_unary(x, y, n, [](float v) { return wm_exp(v); });
    case UnaryOp::Erf: return map_unary(x, y, n, [](float v) { return wm_erf(v); });
    case UnaryOp::Gelu: return map_unary(x, y, n, [](float v) { return wm_gelu(v); });
    case UnaryOp::Silu: return map_unary(x, y, n, [](float v) { return v * wm_sigmoid(v); });
    case UnaryOp::Neg: return map_unary(x, y, n, [](float v) { return -v; });
    case UnaryOp::Abs: return map_unary(x, y, n, [](float v) { return std::fabs(v); });
    case UnaryOp::Sqrt: return map_unary(x, y, n, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt: return map_unary(x, y, n, [](float v) { return 1.0f / std::sqrt(v); });
    case UnaryOp::Reciprocal: return map_unary(x, y, n, [](float v) { return 1.0f / v; });
    case UnaryOp::Square: return map_unary(x, y, n, [](float v) { return v * v; });
    case UnaryOp::Identity: return map_unary(x, y, n, [](float v) { return v; });
    case UnaryOp::LeakyRelu: return map_unary(x, y, n, [=](float v) { return v >= 0.f ? v : v * alpha; });
    case UnaryOp::HardSigmoid:
      return map_unary(x, y, n, [=](float v) {
        float t = alpha * v + beta;
        return t < 0.f ? 0.f : (t > 1.f ? 1.f : t);
      });
    case UnaryOp::HardSwish:
      return map_unary(x, y, n, [](float v) {
        float t = v / 6.f + 0.5f;
        return v * (t < 0.f ? 0.f : (t > 1.f ? 1.f : t));
      });
    default:  // the rest go through libm one element at a time
      for (int64_t i = 0; i < n; ++i) y[i] = walle::cpu::unary_scalar(op, x[i], alpha, beta);
  }
}

template <typename F>
void map_binary(const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb, float* __restrict y,
                int64_t n, F f) {
  // Separate loops for the three stride patterns so each one vectorizes.
  if (sa == 1 && sb == 1)
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  else if (sa == 1 && sb == 0) {
    float bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    float av = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i * sa], b[i * sb]);
}

void binary_f32(walle::BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  using walle::BinaryOp;
  switch (op) {
    case BinaryOp::Add: return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p + q; });
    case BinaryOp::Sub: return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p - q; });
    case BinaryOp::Mul: return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p * q; });
    case BinaryOp::Div: return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p / q; });
    case BinaryOp::Max:
      return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p != p ? p : (p > q ? p : q); });
    case BinaryOp::Min:
      return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p != p ? p : (p < q ? p : q); });
    case BinaryOp::PRelu: return map_binary(a, sa, b, sb, y, n, [](float p, float q) { return p >= 0.f ? p : p * q; });
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = walle::cpu::binary_scalar(op, a[i * sa], b[i * sb]);
  }
}

void reduce_f32(walle::ReduceOp op, const float* x, int64_t outer, int64_t R, int64_t inner, float* y) {
  using walle::ReduceOp;
  const bool is_max = op == ReduceOp::Max, is_min = op == ReduceOp::Min, square = op == ReduceOp::SumSquare;
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = x + o * R * inner;
    float* dst = y + o * inner;
    if (inner == 1) {  // contiguous row: independent partial sums let the loop vectorize
      float acc[16];
      for (int k = 0; k < 16; ++k) acc[k] = (is_max || is_min) ? src[0] : 0.f;
      int64_t r = 0;
      for (; r + 16 <= R; r += 16)
        for (int k = 0; k < 16; ++k) {
          float v = src[r + k];
          acc[k] = is_max   ? (v > acc[k] ? v : acc[k])
                   : is_min ? (v < acc[k] ? v : acc[k])
                            : acc[k] + (square ? v * v : v);
        }
      float total = acc[0];
      for (int k = 1; k < 16; ++k)
        total = is_max   ? (acc[k] > total ? acc[k] : total)
                : is_min ? (acc[k] < total ? acc[k] : total)
                         : total + acc[k];
      for (; r < R; ++r) {
        float v = src[r];
        total = is_max ? (v > total ? v : total) : is_min ? (v < total ? v : total) : total + (square ? v * v : v);
      }
      dst[0] = op == ReduceOp::Mean ? total / static_cast<float>(R) : total;
      continue;
    }
    for (int64_t i = 0; i < inner; ++i) dst[i] = (is_max || is_min) ? src[i] : (square ? src[i] * src[i] : src[i]);
    for (int64_t r = 1; r < R; ++r) {
      const float* row = src + r * inner;
      if (is_max)
        for (int64_t i = 0; i < inner; ++i) dst[i] = row[i] > dst[i] ? row[i] : dst[i];
      else if (is_min)
        for (int64_t i = 0; i < inner; ++i) dst[i] = row[i] < dst[i] ? row[i] : dst[i];
      else if (square)
        for (int64_t i = 0; i < inner; ++i) dst[i] += row[i] * row[i];
      else
        for (int64_t i = 0; i < inner; ++i) dst[i] += row[i];
    }
    if (op == ReduceOp::Mean) {
      float scale = 1.0f / static_cast<float>(R);
      for (int64_t i = 0; i < inner; ++i) dst[i] *= scale;
    }
  }
}

// Sum of n floats with 16 independent partial sums (so the loop vectorizes).
inline float row_sum(const float* x, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += x[i + k];
  float total = 0.f;
  for (int k = 0; k < 16; ++k) total += acc[k];
  for (; i < n; ++i) total += x[i];
  return total;
}

// Three passes over a row that stays in L1: max, exp and sum, scale. Results below FLT_MIN
// are flushed to zero: masked attention scores (-3.4e38) give ~1e-40 otherwise, and those
// denormals make the next MatMul tens of times slower (an absolute change below 1.2e-38).
void softmax_f32(const float* x_, int64_t rows, int64_t R, float* y_) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict x = x_ + r * R;
    float* __restrict y = y_ + r * R;
    // The running max in a 16-lane vector: GCC leaves the per-lane form of this loop scalar.
    typedef float lanes16 __attribute__((vector_size(64)));
    lanes16 acc = lanes16{} + x[0];
    int64_t i = 0;
    for (; i + 16 <= R; i += 16) {
      lanes16 v;
      std::memcpy(&v, x + i, sizeof(v));
      acc = v > acc ? v : acc;
    }
    float m = acc[0];
    for (int k = 1; k < 16; ++k) m = acc[k] > m ? acc[k] : m;
    for (; i < R; ++i) m = x[i] > m ? x[i] : m;
    for (i = 0; i < R; ++i) y[i] = wm_exp(x[i] - m);
    const float sum = row_sum(y, R), inv = 1.0f / sum;
    // Compare before scaling, so no denormal is ever produced (denormal arithmetic is slow too).
    const float tiny = 1.17549435e-38f * sum;
    for (i = 0; i < R; ++i) y[i] = y[i] < tiny ? 0.f : y[i] * inv;
  }
}

// The scores row is formed in a per-thread buffer that stays in L1, then softmax_f32 runs on it.
void masked_softmax_f32(const float* x, const uint8_t* cond, int64_t row0, int64_t rows, int64_t R,
                        int64_t rows_per_cond, float scale, float fill, float* y) {
  thread_local std::vector<float> buffer;
  buffer.resize(static_cast<size_t>(R));
  float* __restrict v = buffer.data();
  for (int64_t r = row0; r < row0 + rows; ++r) {
    const float* __restrict xr = x + r * R;
    if (cond) {
      const uint8_t* __restrict c = cond + (r / rows_per_cond) * R;
      for (int64_t i = 0; i < R; ++i) v[i] = c[i] ? xr[i] * scale : fill;
    } else {
      for (int64_t i = 0; i < R; ++i) v[i] = xr[i] * scale;
    }
    softmax_f32(v, 1, R, y + r * R);
  }
}

// Two-pass mean and variance (as the decomposition computes them), then one fused store.
void layernorm_f32(const float* x, int64_t rows, int64_t R, const float* scale, const float* bias, float eps,
                   float* y) {
  for (int64_t r = 0; r < rows; ++r, x += R, y += R) {
    const float mean = row_sum(x, R) / static_cast<float>(R);
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= R; i += 16)
      for (int k = 0; k < 16; ++k) acc[k] += (x[i + k] - mean) * (x[i + k] - mean);
    float var = 0.f;
    for (int k = 0; k < 16; ++k) var += acc[k];
    for (; i < R; ++i) var += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / std::sqrt(var / static_cast<float>(R) + eps);
    if (scale && bias)
      for (i = 0; i < R; ++i) y[i] = (x[i] - mean) * inv * scale[i] + bias[i];
    else if (scale)
      for (i = 0; i < R; ++i) y[i] = (x[i] - mean) * inv * scale[i];
    else
      for (i = 0; i < R; ++i) y[i] = (x[i] - mean) * inv;
  }
}

const walle::cpu::ElementwiseF32 kTable = {unary_f32,   binary_f32,         reduce_f32,
                                           softmax_f32, masked_softmax_f32, layernorm_f32};
