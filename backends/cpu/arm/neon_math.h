// Float math on NEON vectors (4 x f32) for the aarch64 kernels: the same approximations as
// cpu/math.h (wm_exp, wm_erf, ...), so the NEON path matches the portable one to a few ulp.
// Internal linkage on purpose (anonymous namespace): see cpu/gemm_ukernel.h.
#pragma once
#include <arm_neon.h>

#include <cstdint>

namespace walle::cpu::arm {
namespace {

inline float32x4_t vsplat(float v) { return vdupq_n_f32(v); }

// exp(x) = 2^n * p(r), n = round(x / ln2), r = x - n ln2 (ln2 in hi + lo parts); ~2 ulp.
inline float32x4_t vexp(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vsplat(-87.3f)), vsplat(88.3f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vsplat(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vsplat(0.693145751953125f));
  r = vfmsq_f32(r, n, vsplat(1.428606765330187045e-06f));
  float32x4_t p = vsplat(1.9875691500e-4f);
  p = vfmaq_f32(vsplat(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vsplat(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vsplat(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vsplat(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vsplat(5.0000001201e-1f), p, r);
  p = vaddq_f32(vfmaq_f32(r, vmulq_f32(p, r), r), vsplat(1.0f));  // p r^2 + r + 1
  const int32x4_t bits = vaddq_s32(vreinterpretq_s32_f32(p), vshlq_n_s32(vcvtq_s32_f32(n), 23));
  return vreinterpretq_f32_s32(bits);
}

inline float32x4_t vsigmoid(float32x4_t x) {
  return vdivq_f32(vsplat(1.0f), vaddq_f32(vsplat(1.0f), vexp(vnegq_f32(x))));
}

inline float32x4_t vsilu(float32x4_t x) { return vmulq_f32(x, vsigmoid(x)); }

// tanh: 1 - 2 / (e^{2|x|} + 1), and an odd series below 0.25 where that loses digits.
inline float32x4_t vtanh(float32x4_t x) {
  const float32x4_t ax = vabsq_f32(x), x2 = vmulq_f32(ax, ax);
  const float32x4_t big =
      vsubq_f32(vsplat(1.0f), vdivq_f32(vsplat(2.0f), vaddq_f32(vexp(vaddq_f32(ax, ax)), vsplat(1.0f))));
  float32x4_t s = vfmaq_f32(vsplat(-0.0539682540f), x2, vsplat(0.0218694885f));
  s = vfmaq_f32(vsplat(0.133333333f), x2, s);
  s = vfmaq_f32(vsplat(-0.333333333f), x2, s);
  s = vmulq_f32(ax, vfmaq_f32(vsplat(1.0f), x2, s));
  const float32x4_t t = vbslq_f32(vcltq_f32(ax, vsplat(0.25f)), s, big);
  return vbslq_f32(vcltq_f32(x, vsplat(0.f)), vnegq_f32(t), t);
}

// erf through erfc's Chebyshev fit (Numerical Recipes), a series near 0; abs error < 1.3e-7.
inline float32x4_t verf(float32x4_t x) {
  const float32x4_t z = vabsq_f32(x);
  const float32x4_t t = vdivq_f32(vsplat(1.0f), vfmaq_f32(vsplat(1.0f), z, vsplat(0.5f)));
  static const float c[10] = {-1.26551223f, 1.00002368f,  0.37409196f, 0.09678418f,  -0.18628806f,
                              0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
  float32x4_t poly = vsplat(c[9]);
  for (int i = 8; i >= 0; --i) poly = vfmaq_f32(vsplat(c[i]), t, poly);
  const float32x4_t erfc = vmulq_f32(t, vexp(vfmsq_f32(poly, z, z)));
  float32x4_t r = vsubq_f32(vsplat(1.0f), erfc);
  r = vbslq_f32(vcltq_f32(x, vsplat(0.f)), vnegq_f32(r), r);
  const float32x4_t z2 = vmulq_f32(z, z);
  const float32x4_t series =
      vmulq_f32(x, vfmaq_f32(vsplat(1.1283791671f), z2, vfmaq_f32(vsplat(-0.3761263890f), z2, vsplat(0.1128379167f))));
  return vbslq_f32(vcltq_f32(z, vsplat(0.02f)), series, r);
}

inline float32x4_t vgelu(float32x4_t x) {
  const float32x4_t e = verf(vmulq_f32(x, vsplat(0.70710678118654752f)));
  return vmulq_f32(vmulq_f32(vsplat(0.5f), x), vaddq_f32(vsplat(1.0f), e));
}

// The GEMM epilogue's activation, by walle::cpu::Activation's value.
inline float32x4_t vactivate(float32x4_t v, int activation, float lo, float hi) {
  switch (activation) {
    case 1: return vmaxq_f32(v, vsplat(0.f));                        // Relu
    case 2: return vminq_f32(vmaxq_f32(v, vsplat(lo)), vsplat(hi));  // Clip
    case 3: return vsigmoid(v);                                      // Sigmoid
    case 4: return vgelu(v);                                         // Gelu (erf form)
    case 5: return vsilu(v);                                         // Silu
    default: return v;
  }
}

}  // namespace
}  // namespace walle::cpu::arm
