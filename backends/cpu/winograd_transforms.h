// Winograd F(m x m, 3 x 3) transforms, m = 2 or 4 (Lavin & Gray 2016), alpha = m + 2, on any
// value type T with + - and scalar * (float, or a GCC vector such as __m512 holding one value
// per channel). Written out rather than as generic matrix products: multiplying by a constant
// 0 cannot be folded away under IEEE rules, and the explicit forms share subexpressions.
//
// Internal linkage on purpose (anonymous namespace): each ISA file compiles its own copy with
// its own -m flags, and a shared inline instance could reach a portable caller as AVX-512 code.
#pragma once

namespace walle::cpu {
namespace {

template <int M>
struct Winograd;

template <>
struct Winograd<2> {
  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
  template <typename T>
  static inline void input(const T (&d)[4], T (&r)[4]) {
    r[0] = d[0] - d[2];
    r[1] = d[1] + d[2];
    r[2] = d[2] - d[1];
    r[3] = d[1] - d[3];
  }
  // A^T = [1 1 1 0; 0 1 -1 -1]
  template <typename T>
  static inline void output(const T (&m)[4], T (&o)[2]) {
    o[0] = m[0] + m[1] + m[2];
    o[1] = m[1] - m[2] - m[3];
  }
};

template <>
struct Winograd<4> {
  // B^T rows: [4 0 -5 0 1 0], [0 -4 -4 1 1 0], [0 4 -4 -1 1 0], [0 -2 -1 2 1 0],
  // [0 2 -1 -2 1 0], [0 4 0 -5 0 1]
  template <typename T>
  static inline void input(const T (&d)[6], T (&r)[6]) {
    const T a = d[4] - 4.f * d[2], b = d[3] - 4.f * d[1];
    const T c = d[4] - d[2], e = 2.f * (d[3] - d[1]);
    r[0] = 4.f * d[0] - 5.f * d[2] + d[4];
    r[1] = a + b;
    r[2] = a - b;
    r[3] = c + e;
    r[4] = c - e;
    r[5] = 4.f * d[1] - 5.f * d[3] + d[5];
  }
  // A^T rows: [1 1 1 1 1 0], [0 1 -1 2 -2 0], [0 1 1 4 4 0], [0 1 -1 8 -8 1]
  template <typename T>
  static inline void output(const T (&m)[6], T (&o)[4]) {
    const T s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = m[0] + s12 + s34;
    o[1] = d12 + 2.f * d34;
    o[2] = s12 + 4.f * s34;
    o[3] = d12 + 8.f * d34 + m[5];
  }
};

// G for each m: the transformed kernel is U = G g G^T, g the 3x3 kernel (computed once, in
// double, at plan time).
constexpr double kWinogradG2[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
constexpr double kWinogradG4[6][3] = {{1. / 4, 0, 0},
                                      {-1. / 6, -1. / 6, -1. / 6},
                                      {-1. / 6, 1. / 6, -1. / 6},
                                      {1. / 24, 1. / 12, 1. / 6},
                                      {1. / 24, -1. / 12, 1. / 6},
                                      {0, 0, 1}};

// U = G g G^T of one 3x3 kernel `k` (row-major) into u[alpha * alpha] (row-major), m = 2 or 4.
inline void winograd_kernel_transform(int m, const float* k, float* u) {
  const int A = m + 2;
  const double* G = m == 2 ? &kWinogradG2[0][0] : &kWinogradG4[0][0];
  double gk[6 * 3];  // G g
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < 3; ++j) gk[i * 3 + j] = G[i * 3] * k[j] + G[i * 3 + 1] * k[3 + j] + G[i * 3 + 2] * k[6 + j];
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j)
      u[i * A + j] =
          static_cast<float>(gk[i * 3] * G[j * 3] + gk[i * 3 + 1] * G[j * 3 + 1] + gk[i * 3 + 2] * G[j * 3 + 2]);
}

}  // namespace
}  // namespace walle::cpu
