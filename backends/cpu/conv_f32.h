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
  // Winograd F(2x2, 3x3) input transform of one channel plane (h x w, padded by pad_top /
  // pad_left, zero outside): tile t = ty * tiles_w + tx covers input rows 2ty - pad_top ..+3
  // and columns 2tx - pad_left ..+3; value xi (0..15) of B^T d B goes to
  // v[xi * xi_stride + (t / nr) * panel_stride + t % nr] (the GEMM's packed B panel layout).
  void (*winograd_f23_input)(const float* x, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left,
                             int64_t tiles_h, int64_t tiles_w, float* v, int64_t xi_stride, int64_t panel_stride,
                             int64_t nr);
  // Output transform of one output channel: m[xi * xi_stride + t] (xi = 0..15, t < tiles) ->
  // the out_h x out_w plane A^T M A + bias (+ residual), then the op's activation.
  void (*winograd_f23_output)(const AtomicOp& op, const float* m, int64_t xi_stride, int64_t tiles_w, float bias,
                              const float* residual, float* y);
};

const ConvF32& conv_f32(Isa isa);
const ConvF32& conv_f32_reference();
const ConvF32& conv_f32_avx2();
const ConvF32& conv_f32_avx512();

}  // namespace walle::cpu
