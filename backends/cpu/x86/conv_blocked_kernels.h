// AVX-512 inner loops of the channel-blocked conv/depthwise/pool kernels (cpu/conv_blocked.cpp
// drives them). Plain structs and functions only: the implementation file is compiled with
// AVX-512 flags (see gemm_kernels.h for why no inline code is shared).
#pragma once
#include <cstdint>

#include "gemm_kernels.h"

namespace walle::cpu::x86 {

// One direct-convolution tile: `mr` (<= 14) output pixels x one panel of 32 output channels.
//   out[j][i] = bias[j] + sum over groups g, taps t, channels c of
//               in[g * group_stride + tap_offsets[t] + c * channel_stride + i * pixel_stride]
//               * weights[((g * taps + t) * group_channels + c) * 32 + j]
// then residual, activation, and lanes outside lane_mask zeroed. Output block b (b < blocks)
// of pixel i is stored at out + b * out_block_stride + 16 * i (residual likewise).
// last_group_channels (<= group_channels) is how many channels of the last group are real:
// the rest (zero input lanes, zero weights) are skipped, not multiplied.
struct BlockedConvArgs {
  const float* in;
  int64_t groups, group_stride, group_channels, channel_stride;
  int64_t last_group_channels;
  const int64_t* tap_offsets;
  int taps;
  int64_t pixel_stride;  // 16 or 32 (blocked input, stride 1 or 2); 1 or 2 (plain input)
  // Two-row tiles (blocked input, rows of row_len <= 7 pixels, mr = 2 * row_len): pixel i is
  // at (i / row_len) * row_stride + (i % row_len) * pixel_stride. 0: one row.
  int row_len;
  int64_t row_stride;
  const float* weights;
  const float* bias;  // 32 values
  const float* residual;
  float* out;
  int64_t out_block_stride;
  int blocks;  // 1 or 2 output blocks in this panel
  uint16_t lane_mask[2];
  TileEpilogue epi;
};
void conv_blocked_tile_avx512(const BlockedConvArgs& args, int mr);

// Depthwise convolution (weights != null: 16 * kernel_h * kernel_w per channel block, tap-major)
// or pooling (weights == null) of one channel block of a blocked tensor, one output row per call.
struct BlockedWindowArgs {
  const float* in;  // this channel block: h x w x 16
  int64_t h, w, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  const float* weights;
  const float* bias;      // 16 values (depthwise)
  const float* residual;  // this channel block, out_h x out_w x 16 (depthwise), or null
  bool max_pool, count_include_pad;
  float* out;  // this channel block: out_h x out_w x 16
  uint16_t lane_mask;
  TileEpilogue epi;
};
void window_row_avx512(const BlockedWindowArgs& args, int64_t oh);

// Winograd F(4x4, 3x3) on the blocked layout (cpu/conv_blocked.cpp drives it): tile t covers
// output rows 4 * (t / tiles_w) .. + 3 and columns 4 * (t % tiles_w) .. + 3; its 36 transformed
// values of one channel block sit at v[xi * xi_stride + 16 * (t - t0)], xi = 0..35.
// Input: B^T d B of the 6x6 input patches of tiles [t0, t1) (zero outside the image) of one
// channel block `in` (h x w x 16).
struct WinogradInputArgs {
  const float* in;
  int64_t h, w, pad_top, pad_left, tiles_w;
  float* v;
  int64_t xi_stride;
};
void winograd_input_blocked_avx512(const WinogradInputArgs& args, int64_t t0, int64_t t1);

// Output: A^T m A of tiles [t0, t1) of one output channel block, + bias (+ residual), the
// activation, lanes outside lane_mask zeroed; pixels past out_h x out_w are dropped.
struct WinogradOutputArgs {
  const float* m;
  int64_t xi_stride, out_h, out_w, tiles_w;
  const float* bias;      // 16 values
  const float* residual;  // this channel block, out_h x out_w x 16, or null
  float* out;             // this channel block, out_h x out_w x 16
  uint16_t lane_mask;
  TileEpilogue epi;
};
void winograd_output_blocked_avx512(const WinogradOutputArgs& args, int64_t t0, int64_t t1);

}  // namespace walle::cpu::x86
