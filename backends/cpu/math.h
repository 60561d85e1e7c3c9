// Branch-free float math that compilers vectorize. Included inside an anonymous namespace by
// each instruction-set translation unit, so every ISA gets its own copy (no ODR mixing).
//
// Accuracy: exp ~2 ulp over [-87, 88]; erf absolute error < 1.3e-7 (Numerical Recipes' erfc
// Chebyshev fit); tanh relative error < 1e-6.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

inline float wm_exp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // n = round(x / ln2) by the 1.5 * 2^23 trick: std::floor does not vectorize in GCC unless
  // -fno-trapping-math, and without vectorization every exp/sigmoid/erf loop ran scalar.
  float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693145751953125f;  // ln2 split in hi + lo for an exact reduction
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, 4);
  bits += static_cast<int32_t>(n) << 23;  // multiply by 2^n
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

inline float wm_sigmoid(float x) { return 1.0f / (1.0f + wm_exp(-x)); }

inline float wm_tanh(float x) {
  float ax = std::fabs(x);
  float big = 1.0f - 2.0f / (wm_exp(2.0f * ax) + 1.0f);
  float x2 = ax * ax;
  float small = ax * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * 0.0218694885f))));
  float t = ax < 0.25f ? small : big;
  return x < 0 ? -t : t;
}

inline float wm_erf(float x) {
  float z = std::fabs(x);
  float t = 1.0f / (1.0f + 0.5f * z);
  float poly =
      -1.26551223f +
      t * (1.00002368f +
           t * (0.37409196f +
                t * (0.09678418f +
                     t * (-0.18628806f +
                          t * (0.27886807f +
                               t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  float erfc = t * wm_exp(-z * z + poly);
  float r = 1.0f - erfc;
  // near zero use the series, whose relative error stays small
  float small = x * (1.1283791671f - 0.3761263890f * z * z + 0.1128379167f * z * z * z * z);
  r = x < 0 ? -r : r;
  return z < 0.02f ? small : r;
}

inline float wm_gelu(float x) { return 0.5f * x * (1.0f + wm_erf(x * 0.70710678118654752f)); }
