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
  // Winograd F(m x m, 3 x 3), [0]: m = 2, [1]: m = 4 (alpha = m + 2). Tiles are numbered
  // t = ty * tiles_w + tx; tile t covers input rows m*ty - pad_top .. +alpha and columns
  // m*tx - pad_left .. +alpha (zero outside the plane) and output rows/columns m*ty.., m*tx...
  // Input transform of tiles [t0, t1) of one input channel plane (h x w): value xi
  // (0..alpha^2-1) of B^T d B goes to v[xi * xi_stride + (l / nr) * panel_stride + l % nr],
  // l = t - t0 (the GEMM's packed B panel layout).
  void (*winograd_input[2])(const float* x, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, int64_t tiles_w,
                            int64_t t0, int64_t t1, float* v, int64_t xi_stride, int64_t panel_stride, int64_t nr);
  // Output transform of tiles [t0, t1) of one output channel: m[xi * xi_stride + t - t0] ->
  // A^T M A + bias (+ residual), then the op's activation, into the out_h x out_w plane y.
  void (*winograd_output[2])(const AtomicOp& op, const float* m, int64_t xi_stride, int64_t tiles_w, int64_t t0,
                             int64_t t1, float bias, const float* residual, float* y);
};

const ConvF32& conv_f32(Isa isa);
const ConvF32& conv_f32_reference();
const ConvF32& conv_f32_avx2();
const ConvF32& conv_f32_avx512();
const ConvF32& conv_f32_neon();

}  // namespace walle::cpu
