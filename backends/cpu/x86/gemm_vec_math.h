// Vectorised epilogue activations for the x86 microkernels, written once with GCC/Clang
// vector extensions and included by each ISA file, which compiles it with its own -m flags
// (so the same source becomes SSE, AVX2 or AVX-512 code). Everything has internal linkage
// (anonymous namespace) on purpose: an inline function with external linkage compiled with
// -mavx512f in one file could be chosen by the linker for a portable caller.
//
// Bit reinterpretation uses vector casts ((VI)v), which GCC defines as a bitcast.
// Accuracy: exp ~2 ulp (Cephes polynomial), erf abs error < 2e-7 (Abramowitz-Stegun 7.1.26),
// well within the tolerance the tests allow against std::exp / std::erf.
#pragma once
#include <cstdint>

#include "gemm_kernels.h"

namespace walle::cpu::x86 {
namespace {

// VF: float vector, VI: int32 vector of the same width.
template <class VF, class VI>
inline VF vexp(VF x) {
  x = x < -87.3f ? VF{} - 87.3f : x;  // below this exp underflows to a denormal
  x = x > 88.7f ? VF{} + 88.7f : x;   // above this exp(x) -> inf via the exponent field
  VF fx = x * 1.44269504088896341f + 0.5f;
  VI n = __builtin_convertvector(fx, VI);    // truncates toward zero; a true compare is -1,
  n += __builtin_convertvector(n, VF) > fx;  // so this turns truncation into floor
  VF nf = __builtin_convertvector(n, VF);
  VF r = x - nf * 0.693359375f + nf * 2.12194440e-4f;  // x - n*ln2 in two parts
  VF p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  VI bits = (n + 127) << 23;
  return p * (VF)(bits);
}

template <class VF, class VI>
inline VF vsigmoid(VF x) {
  return 1.0f / (1.0f + vexp<VF, VI>(-x));
}

template <class VF, class VI>
inline VF verf(VF x) {
  VI sign_mask = (VI)(x) & (VI{} + static_cast<int32_t>(0x80000000u));
  VI abs_bits = (VI)(x) & (VI{} + 0x7fffffff);
  VF ax = (VF)(abs_bits);
  VF t = 1.0f / (1.0f + 0.3275911f * ax);
  VF p = t * 1.061405429f - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  p = p * t;
  VF y = 1.0f - p * vexp<VF, VI>(-ax * ax);
  VI ybits = (VI)(y) | sign_mask;
  return (VF)(ybits);
}

// Applies the activation code of TileEpilogue (the order of walle::cpu::Activation:
// None, Relu, Clip, Sigmoid, Gelu, Silu).
template <class VF, class VI>
inline VF vactivate(VF x, const TileEpilogue& e) {
  switch (e.activation) {
    case 1: return x < 0.0f ? VF{} : x;  // NaN lanes stay NaN
    case 2: {
      x = x < e.clip_min ? VF{} + e.clip_min : x;
      return x > e.clip_max ? VF{} + e.clip_max : x;
    }
    case 3: return vsigmoid<VF, VI>(x);
    case 4: return 0.5f * x * (1.0f + verf<VF, VI>(x * 0.70710678118654752f));
    case 5: return x * vsigmoid<VF, VI>(x);
    default: return x;
  }
}

}  // namespace
}  // namespace walle::cpu::x86
