// Float32 Conv and Pool kernels on the channel-blocked layout (ops/atomic.h, kChannelBlock):
// a tensor [N, C, H, W] stored as [N, ceil(C/16), H, W, 16], lanes past C zero. The layout
// pass (runtime/block_channels.cpp) gives these ops blocked inputs/outputs inside conv chains.
//  - direct convolution (group 1): weights packed once into panels of 32 output channels; each
//    tile of up to 14 output pixels reads the input in place (x86/conv_blocked_avx512.cpp).
//    Padding is made real by copying the input into a zero-bordered scratch image first, so
//    every tile sees all its taps. A 1x1/stride-1 convolution treats the plane as one row.
//    The input may also be plain NCHW (a first layer with a few channels, ResNet's stem).
//  - Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions, chosen over direct by a cost
//    estimate (blocked_winograd_wins); its 36 products run on the direct kernel's tile loop.
//  - depthwise convolution and max/average pooling: one output row of one channel block per
//    task, 16 channels per vector.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/tensor.h"
#include "cpu/conv_algorithm.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/winograd_transforms.h"
#if defined(WALLE_HAVE_X86_KERNELS)
#include "cpu/x86/conv_blocked_kernels.h"
#endif

namespace walle::cpu {

cpu::Activation to_gemm_activation(walle::Activation a);

#if defined(WALLE_HAVE_X86_KERNELS)
namespace {

constexpr int64_t kB = kChannelBlock;
constexpr int kMaxTile = 14;    // pixels per direct-conv tile (28 accumulators)
constexpr int64_t kPanel = 32;  // output channels per weight panel

using PackedWeights = std::vector<float, LargeAllocator<float>>;

int64_t blocks(int64_t c) { return (c + kB - 1) / kB; }

uint16_t lane_mask(int64_t channels, int64_t block) {
  const int64_t n = channels - block * kB;
  return n >= kB ? 0xffff : n <= 0 ? 0 : static_cast<uint16_t>((1u << n) - 1);
}

x86::TileEpilogue tile_epilogue(const AtomicOp& op) {
  x86::TileEpilogue e{};
  e.activation = static_cast<int>(to_gemm_activation(op.activation));
  e.clip_min = op.alpha;
  e.clip_max = op.beta;
  return e;
}

const float* constant_data(const AtomicGraph& g, int id) {
  return id >= 0 ? static_cast<const float*>(g.tensors[g.root(id)].constant.data()) : nullptr;
}

bool constant_or_absent(const AtomicOp& op, const AtomicGraph& g, size_t k) {
  return k >= op.inputs.size() || op.inputs[k] < 0 || g.is_constant(op.inputs[k]);
}

// The input as the tiles read it: zero-bordered when the convolution pads (or its windows
// run past the input), so that no tap needs a bounds check; for a strided 1x1 convolution,
// only the pixels it reads (the tiles then run over a dense plane, as in the stride-1 case).
struct PaddedInput {
  int64_t h, w;    // extent of the image the tiles read
  bool copy;       // false: the input is read in place
  bool subsample;  // copy every stride-th pixel (1x1, unpadded)
};

PaddedInput padded_extent(const AtomicOp& op) {
  PaddedInput p;
  p.h = (op.out_h - 1) * op.stride_h + (op.kernel_h - 1) * op.dilation_h + 1;
  p.w = (op.out_w - 1) * op.stride_w + (op.kernel_w - 1) * op.dilation_w + 1;
  p.copy = op.pad_top > 0 || op.pad_left > 0 || p.h - op.pad_top > op.h || p.w - op.pad_left > op.w;
  p.subsample = !p.copy && op.kernel_h == 1 && op.kernel_w == 1 && (op.stride_h > 1 || op.stride_w > 1);
  if (p.subsample)
    p.copy = true, p.h = op.out_h, p.w = op.out_w;
  else if (!p.copy)
    p.h = op.h, p.w = op.w;
  return p;
}

class ConvBlockedF32 : public Kernel {
 public:
  explicit ConvBlockedF32(const AtomicOp& op) : op_(op), pad_(padded_extent(op)) {
    unit_ = op.blocked_input ? kB : 1;
    groups_ = op.blocked_input ? blocks(op.c) : 1;
    group_channels_ = op.blocked_input ? kB : op.c;
    flat_ = op.kernel_h == 1 && op.kernel_w == 1 &&
            (pad_.subsample || (op.stride_h == 1 && op.stride_w == 1 && !pad_.copy));
    for (int64_t ky = 0; ky < op.kernel_h; ++ky)
      for (int64_t kx = 0; kx < op.kernel_w; ++kx)
        taps_.push_back((ky * op.dilation_h * pad_.w + kx * op.dilation_w) * unit_);
    // Output rows as the tiles see them, each cut into near-equal tiles of <= 14 pixels; rows
    // of at most 7 pixels (7x7 maps) pair up into one tile, so it still has 14 pixels.
    const int64_t rows = flat_ ? 1 : op.out_h, row_len = flat_ ? op.out_h * op.out_w : op.out_w;
    const int64_t tiles = (row_len + kMaxTile - 1) / kMaxTile;
    const bool two_rows = !flat_ && op.blocked_input && 2 * row_len <= kMaxTile;
    for (int64_t r = 0; r < rows; ++r) {
      if (two_rows && r + 1 < rows) {
        tiles_.push_back({r, 0, static_cast<int>(2 * row_len), true});
        ++r;
        continue;
      }
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t b = row_len * t / tiles, e = row_len * (t + 1) / tiles;
        tiles_.push_back({r, b, static_cast<int>(e - b), false});
      }
    }
  }

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    const float* w = constant_data(g, op.inputs[1]);
    const float* bias = op.inputs.size() > 2 ? constant_data(g, op.inputs[2]) : nullptr;
    const int64_t panels = (op.out_c + kPanel - 1) / kPanel, T = op.kernel_h * op.kernel_w;
    panel_floats_ = groups_ * T * group_channels_ * kPanel;
    // Work order: when all the packed weights fit in L2 next to the tiles, every panel of a
    // tile runs back to back so the input is streamed once (it stays in L1 between panels);
    // otherwise one panel at a time over all tiles keeps that panel's weights hot instead.
    tile_major_ = panels * panel_floats_ * sizeof(float) <= (512u << 10);
    weights_.assign(panels * panel_floats_, 0.f);
    bias_.assign(panels * kPanel, 0.f);
    for (int64_t oc = 0; oc < op.out_c; ++oc) {
      if (bias) bias_[oc] = bias[oc];
      float* panel = weights_.data() + (oc / kPanel) * panel_floats_ + oc % kPanel;
      for (int64_t g = 0; g < groups_; ++g)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t c = 0; c < group_channels_; ++c) {
            const int64_t ic = g * group_channels_ + c;
            if (ic < op.c) panel[((g * T + t) * group_channels_ + c) * kPanel] = w[(oc * op.c + ic) * T + t];
          }
    }
  }

  size_t scratch_bytes() const override {
    return pad_.copy ? static_cast<size_t>(groups_ * group_channels_ * pad_.h * pad_.w) * sizeof(float) + 64 : 0;
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const AtomicOp& op = op_;
    const float* x = static_cast<const float*>(io.inputs[0]);
    const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    float* y = static_cast<float*>(io.output);
    const int64_t in_image = (op.blocked_input ? blocks(op.c) * kB : op.c) * op.h * op.w;
    const int64_t ocb = blocks(op.out_c), plane = op.out_h * op.out_w, out_image = ocb * plane * kB;
    const int64_t panels = (op.out_c + kPanel - 1) / kPanel, items = panels * static_cast<int64_t>(tiles_.size());
    const x86::TileEpilogue epi = tile_epilogue(op);
    for (int64_t n = 0; n < op.n; ++n) {
      const float* src = x + n * in_image;
      if (pad_.copy) src = pad_input(src, static_cast<float*>(io.scratch), pool);
      const float* r = res ? res + n * out_image : nullptr;
      float* out = y + n * out_image;
      const int64_t work = groups_ * group_channels_ * static_cast<int64_t>(taps_.size()) * kPanel * kMaxTile;
      parallel_rows(pool, items, work, [&](int64_t b, int64_t e) {
        x86::BlockedConvArgs a{};
        a.groups = groups_;
        a.group_stride = pad_.h * pad_.w * kB;
        a.group_channels = group_channels_;
        a.last_group_channels = op.c - (groups_ - 1) * group_channels_;  // K = 24: 8 of 16 real
        a.channel_stride = op.blocked_input ? 1 : pad_.h * pad_.w;
        a.tap_offsets = taps_.data();
        a.taps = static_cast<int>(taps_.size());
        a.pixel_stride = (flat_ ? 1 : op.stride_w) * unit_;
        a.out_block_stride = plane * kB;
        a.row_stride = op.stride_h * pad_.w * unit_;
        a.epi = epi;
        const int64_t n_tiles = static_cast<int64_t>(tiles_.size());
        for (int64_t item = b; item < e; ++item) {
          const int64_t q = tile_major_ ? item % panels : item / n_tiles;
          const Tile& t = tiles_[tile_major_ ? item / panels : item % n_tiles];
          const int64_t pixel = flat_ ? t.begin : t.row * op.out_w + t.begin;
          a.in = flat_ ? src + t.begin * unit_ : src + (t.row * op.stride_h * pad_.w + t.begin * op.stride_w) * unit_;
          a.weights = weights_.data() + q * panel_floats_;
          a.bias = bias_.data() + q * kPanel;
          a.out = out + (2 * q * plane + pixel) * kB;
          a.residual = r ? r + (2 * q * plane + pixel) * kB : nullptr;
          a.blocks = static_cast<int>(std::min<int64_t>(2, ocb - 2 * q));
          a.lane_mask[0] = lane_mask(op.out_c, 2 * q);
          a.lane_mask[1] = lane_mask(op.out_c, 2 * q + 1);
          a.row_len = t.two_rows ? static_cast<int>(op.out_w) : 0;
          x86::conv_blocked_tile_avx512(a, t.pixels);
        }
      });
    }
  }

  std::string name() const override {
    return op_.blocked_input ? "f32-conv-blocked-avx512" : "f32-conv-blocked-from-nchw-avx512";
  }

 private:
  struct Tile {
    int64_t row, begin;
    int pixels;
    bool two_rows;  // rows `row` and `row + 1`, whole
  };

  // Copies one image into the zero-bordered scratch image; returns it. Split by rows (all
  // planes of a row together), as the tiles are: each thread pads the rows its tiles read
  // most, and a 3-plane image (RGB) still splits evenly.
  const float* pad_input(const float* src, float* dst, ThreadPool& pool) const {
    const AtomicOp& op = op_;
    const int64_t planes = op.blocked_input ? blocks(op.c) : op.c, u = unit_;
    const int64_t rows = pad_.subsample ? op.out_h : pad_.h;
    parallel_rows(pool, rows * planes, pad_.w * u, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t py = item / planes, p = item % planes;
        const float* s = src + p * op.h * op.w * u;
        float* d = dst + (p * pad_.h + py) * pad_.w * u;
        if (pad_.subsample) {  // row py of the output grid: every stride-th pixel
          for (int64_t ox = 0; ox < op.out_w; ++ox, d += u)
            std::memcpy(d, s + (py * op.stride_h * op.w + ox * op.stride_w) * u, u * sizeof(float));
          continue;
        }
        const int64_t iy = py - op.pad_top;
        if (iy < 0 || iy >= op.h) {
          std::memset(d, 0, pad_.w * u * sizeof(float));
          continue;
        }
        const int64_t x0 = std::min(op.pad_left, pad_.w), x1 = std::min(pad_.w, op.pad_left + op.w);
        std::memset(d, 0, x0 * u * sizeof(float));
        std::memcpy(d + x0 * u, s + iy * op.w * u, (x1 - x0) * u * sizeof(float));
        std::memset(d + x1 * u, 0, (pad_.w - x1) * u * sizeof(float));
      }
    });
    return dst;
  }

  AtomicOp op_;
  PaddedInput pad_;
  int64_t unit_, groups_, group_channels_, panel_floats_ = 0;
  bool flat_, tile_major_ = false;
  std::vector<int64_t> taps_;
  std::vector<Tile> tiles_;
  PackedWeights weights_;
  std::vector<float> bias_;
};

// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions on the blocked layout (the algorithm of
// conv_winograd.cpp, 4x fewer multiplies than direct). Per block of tiles: the input transform
// writes V[xi][input block][tile][16]; the 36 products M_xi = V_xi U_xi are each a 1x1 blocked
// convolution over the block's tiles, so they run on the direct kernel's tile loop with U_xi
// packed as its weights; the output transform reads M[xi][output block][tile][16] and applies
// bias, residual and activation. A block's V and M stay in L2; threads take whole blocks, or
// share one block's steps when U is too large to stream once per thread.
class ConvWinogradBlockedF32 : public Kernel {
 public:
  explicit ConvWinogradBlockedF32(const AtomicOp& op) : op_(op) {
    tiles_w_ = (op.out_w + 3) / 4;
    tiles_ = (op.out_h + 3) / 4 * tiles_w_;
    icb_ = blocks(op.c);
    ocb_ = blocks(op.out_c);
    panels_ = (op.out_c + kPanel - 1) / kPanel;
    panel_floats_ = icb_ * kB * kPanel;
  }

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    const float* w = constant_data(g, op.inputs[1]);
    const float* bias = op.inputs.size() > 2 ? constant_data(g, op.inputs[2]) : nullptr;
    u_.assign(kPositions * panels_ * panel_floats_, 0.f);
    bias_.assign(ocb_ * kB, 0.f);
    float u[kPositions];
    for (int64_t oc = 0; oc < op.out_c; ++oc) {
      if (bias) bias_[oc] = bias[oc];
      for (int64_t ic = 0; ic < op.c; ++ic) {
        winograd_kernel_transform(4, w + (oc * op.c + ic) * 9, u);
        for (int xi = 0; xi < kPositions; ++xi)
          u_[(xi * panels_ + oc / kPanel) * panel_floats_ + ic * kPanel + oc % kPanel] = u[xi];
      }
    }
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const int64_t threads = pool.size();
    // Every block streams all of U. When U is larger than a block's budget, each image is one
    // block whose three steps are split over the threads, so U is still read once.
    if (static_cast<int64_t>(u_.size() * sizeof(float)) > kBlockBytes) {
      for (int64_t n = 0; n < op_.n; ++n) run_block(io, n, 0, tiles_, threads > 1 ? &pool : nullptr);
      return;
    }
    // Otherwise blocks whose V and M fit in about half of L2, at least one per thread.
    const int64_t cap =
        std::max<int64_t>(kMaxTile, kBlockBytes / (kPositions * kB * (icb_ + ocb_) * int64_t(sizeof(float))));
    int64_t per_image = std::max<int64_t>((tiles_ + cap - 1) / cap, std::min(threads, tiles_));
    if (op_.n * per_image < threads) per_image = std::min(tiles_, (threads + op_.n - 1) / op_.n);
    const int64_t block = (tiles_ + per_image - 1) / per_image;
    per_image = (tiles_ + block - 1) / block;
    pool.parallel_for(op_.n * per_image, [&](int64_t b, int64_t e) {
      for (int64_t task = b; task < e; ++task) {
        const int64_t t0 = task % per_image * block;
        run_block(io, task / per_image, t0, std::min(tiles_, t0 + block), nullptr);
      }
    });
  }

  std::string name() const override { return "f32-conv-winograd-blocked-avx512"; }

 private:
  static constexpr int kPositions = 36;  // 6 x 6 transformed values per tile
  static constexpr int64_t kBlockBytes = 1 << 20;

  // Tiles [t0, t1) of image n; with `pool`, each step split over its threads (input blocks,
  // then (xi, panel) products, then output blocks), else all on this thread.
  void run_block(const KernelIO& io, int64_t n, int64_t t0, int64_t t1, ThreadPool* pool) const {
    const AtomicOp& op = op_;
    const int64_t nt = t1 - t0, v_xi = icb_ * nt * kB, m_xi = ocb_ * nt * kB, plane = op.out_h * op.out_w;
    float* v = thread_buffer(static_cast<size_t>(kPositions * (v_xi + m_xi)));
    float* m = v + kPositions * v_xi;
    auto each = [pool](int64_t count, const std::function<void(int64_t, int64_t)>& fn) {
      if (pool)
        pool->parallel_for(count, fn);
      else
        fn(0, count);
    };
    const float* x = static_cast<const float*>(io.inputs[0]) + n * icb_ * op.h * op.w * kB;
    each(icb_, [&](int64_t b, int64_t e) {
      for (int64_t cb = b; cb < e; ++cb) {
        x86::WinogradInputArgs a{x + cb * op.h * op.w * kB, op.h, op.w, op.pad_top, op.pad_left, tiles_w_,
                                 v + cb * nt * kB,          v_xi};
        x86::winograd_input_blocked_avx512(a, t0, t1);
      }
    });
    each(kPositions * panels_, [&](int64_t b, int64_t e) {
      static const float zero_bias[kPanel] = {};
      const int64_t tap = 0;
      x86::BlockedConvArgs a{};
      a.groups = icb_;
      a.group_stride = nt * kB;
      a.group_channels = kB;
      a.last_group_channels = op.c - (icb_ - 1) * kB;  // the zero lanes of a partial block are skipped
      a.channel_stride = 1;
      a.tap_offsets = &tap;
      a.taps = 1;
      a.pixel_stride = kB;
      a.bias = zero_bias;
      a.out_block_stride = nt * kB;
      a.lane_mask[0] = a.lane_mask[1] = 0xffff;
      for (int64_t item = b; item < e; ++item) {  // item = xi * panels_ + q
        const int64_t xi = item / panels_, q = item % panels_;
        a.weights = u_.data() + item * panel_floats_;
        a.blocks = static_cast<int>(std::min<int64_t>(2, ocb_ - 2 * q));
        for (int64_t i = 0; i < nt; i += kMaxTile) {
          a.in = v + xi * v_xi + i * kB;
          a.out = m + xi * m_xi + (2 * q * nt + i) * kB;
          x86::conv_blocked_tile_avx512(a, static_cast<int>(std::min<int64_t>(kMaxTile, nt - i)));
        }
      }
    });
    const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) + n * ocb_ * plane * kB : nullptr;
    float* y = static_cast<float*>(io.output) + n * ocb_ * plane * kB;
    each(ocb_, [&](int64_t b, int64_t e) {
      for (int64_t cb = b; cb < e; ++cb) {
        x86::WinogradOutputArgs o{m + cb * nt * kB,
                                  m_xi,
                                  op.out_h,
                                  op.out_w,
                                  tiles_w_,
                                  bias_.data() + cb * kB,
                                  res ? res + cb * plane * kB : nullptr,
                                  y + cb * plane * kB,
                                  lane_mask(op.out_c, cb),
                                  tile_epilogue(op)};
        x86::winograd_output_blocked_avx512(o, t0, t1);
      }
    });
  }

  AtomicOp op_;
  int64_t tiles_w_, tiles_, icb_, ocb_, panels_, panel_floats_;
  PackedWeights u_;
  std::vector<float> bias_;
};

// Depthwise convolution (weights != null) or pooling, one output row of one block per item.
class WindowBlockedF32 : public Kernel {
 public:
  explicit WindowBlockedF32(const AtomicOp& op) : op_(op) {}

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    if (op.kind != AtomicKind::Conv) return;
    const float* w = constant_data(g, op.inputs[1]);
    const float* bias = op.inputs.size() > 2 ? constant_data(g, op.inputs[2]) : nullptr;
    const int64_t T = op.kernel_h * op.kernel_w;
    weights_.assign(blocks(op.c) * T * kB, 0.f);
    bias_.assign(blocks(op.c) * kB, 0.f);
    for (int64_t c = 0; c < op.c; ++c) {
      if (bias) bias_[c] = bias[c];
      for (int64_t t = 0; t < T; ++t) weights_[((c / kB) * T + t) * kB + c % kB] = w[c * T + t];
    }
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const AtomicOp& op = op_;
    const bool conv = op.kind == AtomicKind::Conv;
    const float* x = static_cast<const float*>(io.inputs[0]);
    const float* res = conv && io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    float* y = static_cast<float*>(io.output);
    const int64_t cb = blocks(op.c), T = op.kernel_h * op.kernel_w;
    const int64_t in_block = op.h * op.w * kB, out_block = op.out_h * op.out_w * kB;
    const x86::TileEpilogue epi = tile_epilogue(op);
    // Split as the convolutions around it are, so that a thread reads what the previous op
    // wrote on its own core and writes what the next op reads there. On larger maps they
    // split by pixels: one band of output rows per thread, each band all channel blocks (a
    // block's rows in order within it, so the input rows its windows share stay in cache).
    // On small maps (7x7) their weights dominate and they split by output channels: so do we.
    // (MobileNetV2, 2 threads: 2.69 -> 2.62 ms against splitting by channels everywhere.)
    const bool small_map = op.out_h * op.out_w <= 64;
    const int64_t bands = small_map ? 1 : std::min<int64_t>(pool.size(), op.out_h),
                  band_rows = (op.out_h + bands - 1) / bands;
    parallel_rows(pool, op.n * bands * cb * band_rows, op.out_w * T * kB, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t c = item / band_rows % cb, band = item / (band_rows * cb) % bands;
        const int64_t oh = band * band_rows + item % band_rows, block = item / (band_rows * cb * bands) * cb + c;
        if (oh >= op.out_h) continue;
        x86::BlockedWindowArgs a{};
        a.in = x + block * in_block;
        a.h = op.h, a.w = op.w, a.out_w = op.out_w;
        a.kernel_h = op.kernel_h, a.kernel_w = op.kernel_w, a.stride_h = op.stride_h, a.stride_w = op.stride_w;
        a.dilation_h = op.dilation_h, a.dilation_w = op.dilation_w, a.pad_top = op.pad_top, a.pad_left = op.pad_left;
        a.weights = conv ? weights_.data() + c * T * kB : nullptr;
        a.bias = conv ? bias_.data() + c * kB : nullptr;
        a.residual = res ? res + block * out_block : nullptr;
        a.max_pool = !conv && op.max_pool;
        a.count_include_pad = op.count_include_pad;
        a.out = y + block * out_block;
        a.lane_mask = lane_mask(op.c, c);
        a.epi = epi;
        x86::window_row_avx512(a, oh);
      }
    });
  }

  std::string name() const override {
    return op_.kind == AtomicKind::Conv ? "f32-conv-depthwise-blocked-avx512"
           : op_.max_pool               ? "f32-maxpool-blocked-avx512"
                                        : "f32-avgpool-blocked-avx512";
  }

 private:
  AtomicOp op_;
  PackedWeights weights_;
  std::vector<float> bias_;
};

// Rough one-core rates of the blocked kernels, measured on the ResNet shapes in a model run
// (cold caches): for choosing an algorithm, not for predicting times.
constexpr double kDirectFlopsPerUs = 190e3;
constexpr double kWinogradGemmFlopsPerUs = 150e3;
constexpr double kTransformValuesPerUs = 12e3;  // values of V and M through the transforms
constexpr double kWeightBytesPerUs = 20e3;      // weights streamed from L3/DRAM

// The algorithms of a blocked convolution, best estimate first: the depthwise window kernel for
// a grouped one; else direct, and for a 3x3 stride-1 one reading a blocked input Winograd
// F(4x4, 3x3), which does 4x fewer multiplies but streams 4x more weight bytes (36 values per
// 3x3 kernel), so it loses on deep layers over small maps (512 channels at 7x7).
std::vector<Variant> blocked_conv_variants(const AtomicOp& op) {
  if (op.group > 1) return {{"blocked-depthwise", -1}};
  const double ic = blocks(op.c) * kB, oc = blocks(op.out_c) * kB,
               weight_bytes = 4.0 * ic * oc * op.kernel_h * op.kernel_w;
  const double direct = op.n * 2.0 * ic * oc * op.kernel_h * op.kernel_w * op.out_h * op.out_w / kDirectFlopsPerUs +
                        weight_bytes / kWeightBytesPerUs;
  std::vector<Variant> v{{"blocked-direct", direct}};
  if (op.blocked_input && winograd_applies(op)) {
    const int64_t tiles = (op.out_h + 3) / 4 * ((op.out_w + 3) / 4);
    const double winograd = op.n * (2.0 * 36 * tiles * ic * oc / kWinogradGemmFlopsPerUs +
                                    36.0 * tiles * (ic + oc) / kTransformValuesPerUs) +
                            4 * weight_bytes / kWeightBytesPerUs;
    v.insert(winograd < direct ? v.begin() : v.end(), Variant{"blocked-winograd", winograd});
  }
  return v;
}

bool f32_out(const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.output].dtype == DType::F32; }

}  // namespace

void register_blocked_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Conv,
        {"f32-conv-blocked", Isa::Avx512,
         [](const AtomicOp& op, const AtomicGraph& g) {
           const bool depthwise = op.group == op.c && op.out_c == op.c && op.group > 1;
           return op.blocked_output && f32_out(op, g) && g.is_constant(op.inputs[1]) && constant_or_absent(op, g, 2) &&
                  (depthwise ? op.blocked_input : op.group == 1 && (op.stride_w == 1 || op.stride_w == 2));
         },
         nullptr, [](const AtomicOp& op, const AtomicGraph&) { return blocked_conv_variants(op); },
         [](const AtomicOp& op, const AtomicGraph&, const std::string& variant) -> std::unique_ptr<Kernel> {
           if (variant == "blocked-depthwise") return std::make_unique<WindowBlockedF32>(op);
           if (variant == "blocked-winograd") return std::make_unique<ConvWinogradBlockedF32>(op);
           return std::make_unique<ConvBlockedF32>(op);
         }});
  r.add(
      AtomicKind::Pool,
      {"f32-pool-blocked", Isa::Avx512,
       [](const AtomicOp& op, const AtomicGraph& g) { return op.blocked_input && op.blocked_output && f32_out(op, g); },
       [](const AtomicOp& op, const AtomicGraph&) { return std::make_unique<WindowBlockedF32>(op); }});
}
#else
void register_blocked_kernels(KernelRegistry&) {}
#endif

}  // namespace walle::cpu
