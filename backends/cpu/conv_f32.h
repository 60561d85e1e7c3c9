// Float32 depthwise-convolution and pooling loops, one table per instruction set: the same
// source (conv_f32_impl.h) is compiled once per ISA with that ISA's flags, like the
// elementwise tables. Each function handles one channel plane; the kernels in
// conv_kernels.cpp split planes over threads.
#pragma once
#include <cstdint>

#include "core/cpu_features.h"
#include "ops/atomic.h"

namespace walle::cpu {

struct ConvF32 {
  // Plane `ch` of a depthwise Conv op: dst[oh, ow] = bias + sum over taps w[kh, kw] * x[ih, iw]
  // (+ residual, then the op's activation). src/dst/residual point at the plane.
  void (*depthwise_plane)(const AtomicOp& op, const float* src, const float* w, float bias, const float* residual,
                          float* dst);
  // One plane of a Pool op (max or average, as the reference pool kernel defines them).
  void (*pool_plane)(const AtomicOp& op, const float* src, float* dst);
};

const ConvF32& conv_f32(Isa isa);
const ConvF32& conv_f32_reference();
const ConvF32& conv_f32_avx2();
const ConvF32& conv_f32_avx512();

}  // namespace walle::cpu
