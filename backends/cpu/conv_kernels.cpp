// 2-d convolution (NCHW) and pooling.
//  - reference: direct loops, any float type; the ground truth for the tests.
//  - f32 im2col+GEMM: weights packed once at plan time as the GEMM's A operand; a 1x1/stride-1
//    convolution skips im2col and feeds the input to the GEMM directly.
//  - f32 depthwise: direct loops over rows (vectorized by the compiler), one channel per task.
// Bias, residual and activation are fused into the store.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu/conv_algorithm.h"
#include "cpu/conv_f32.h"
#include "cpu/dispatch.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/scalar_ops.h"

namespace walle::cpu {

cpu::Activation to_gemm_activation(walle::Activation a);

namespace {

template <typename T>
T activate(T v, const AtomicOp& op) {
  switch (op.activation) {
    case walle::Activation::None: return v;
    case walle::Activation::Relu: return v < T(0) ? T(0) : v;  // NaN stays NaN
    case walle::Activation::Clip: return unary_scalar<T>(UnaryOp::Clip, v, op.alpha, op.beta);
    case walle::Activation::Sigmoid: return unary_scalar<T>(UnaryOp::Sigmoid, v, 0, 0);
    case walle::Activation::Gelu: return unary_scalar<T>(UnaryOp::Gelu, v, 0, 0);
    case walle::Activation::Silu: return unary_scalar<T>(UnaryOp::Silu, v, 0, 0);
  }
  return v;
}

template <typename T>
std::unique_ptr<Kernel> conv_reference(const AtomicOp& op) {
  using C = typename Compute<T>::type;
  return std::make_unique<FunctionKernel>("conv-reference", [op](const KernelIO& io, ThreadPool& pool) {
    const T* x = static_cast<const T*>(io.inputs[0]);
    const T* w = static_cast<const T*>(io.inputs[1]);
    const T* bias = io.inputs.size() > 2 ? static_cast<const T*>(io.inputs[2]) : nullptr;
    const T* res = io.inputs.size() > 3 ? static_cast<const T*>(io.inputs[3]) : nullptr;
    T* y = static_cast<T*>(io.output);
    int64_t cin_g = op.c / op.group, cout_g = op.out_c / op.group;
    parallel_rows(pool, op.n * op.out_c, op.out_h * op.out_w * cin_g * op.kernel_h * op.kernel_w,
                  [&](int64_t b, int64_t e) {
                    for (int64_t t = b; t < e; ++t) {
                      int64_t n = t / op.out_c, oc = t % op.out_c, g = oc / cout_g;
                      for (int64_t oh = 0; oh < op.out_h; ++oh)
                        for (int64_t ow = 0; ow < op.out_w; ++ow) {
                          C acc = bias ? Compute<T>::load(bias[oc]) : C(0);
                          for (int64_t ic = 0; ic < cin_g; ++ic)
                            for (int64_t kh = 0; kh < op.kernel_h; ++kh) {
                              int64_t ih = oh * op.stride_h - op.pad_top + kh * op.dilation_h;
                              if (ih < 0 || ih >= op.h) continue;
                              for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
                                int64_t iw = ow * op.stride_w - op.pad_left + kw * op.dilation_w;
                                if (iw < 0 || iw >= op.w) continue;
                                acc += Compute<T>::load(x[((n * op.c + g * cin_g + ic) * op.h + ih) * op.w + iw]) *
                                       Compute<T>::load(w[((oc * cin_g + ic) * op.kernel_h + kh) * op.kernel_w + kw]);
                              }
                            }
                          int64_t o = ((n * op.out_c + oc) * op.out_h + oh) * op.out_w + ow;
                          if (res) acc += Compute<T>::load(res[o]);
                          y[o] = Compute<T>::store(activate<C>(acc, op));
                        }
                    }
                  });
  });
}

#if defined(__x86_64__)
// d[i] = s[2 * i] for i < n, 16 at a time (two loads, one permute); reads no element past
// s[2 * (n - 1)] (masked loads), so it is safe at the end of a buffer.
__attribute__((target("avx512f"))) void gather_stride2_avx512(const float* s, int64_t n, float* d) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 a = _mm512_loadu_ps(s + 2 * i), b = _mm512_maskz_loadu_ps(0x7FFF, s + 2 * i + 16);
    _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(a, even, b));
  }
  if (i < n) {
    const int64_t need = 2 * (n - i) - 1;  // source elements s[2i .. 2n-2]
    const __mmask16 ma = need >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << need) - 1);
    const __mmask16 mb = need > 16 ? __mmask16((1u << (need - 16)) - 1) : __mmask16(0);
    __m512 a = _mm512_maskz_loadu_ps(ma, s + 2 * i), b = _mm512_maskz_loadu_ps(mb, s + 2 * i + 16);
    _mm512_mask_storeu_ps(d + i, __mmask16((1u << (n - i)) - 1), _mm512_permutex2var_ps(a, even, b));
  }
}
#endif

// d[o - begin] = s[o * stride] for output columns o in [begin, end) that lie in the valid
// range [ow0, ow1), 0 elsewhere: zero prefix, a gather loop without branches, zero suffix.
inline void copy_taps(const float* s, int64_t stride, int64_t begin, int64_t end, int64_t ow0, int64_t ow1, float* d,
                      bool avx512 = false) {
  const int64_t lo = std::min(std::max(begin, ow0), end), hi = std::max(std::min(end, ow1), lo);
  for (int64_t o = begin; o < lo; ++o) d[o - begin] = 0.f;
  if (stride == 1) std::memcpy(d + (lo - begin), s + lo, (hi - lo) * sizeof(float));
#if defined(__x86_64__)
  else if (stride == 2 && avx512)
    gather_stride2_avx512(s + 2 * lo, hi - lo, d + (lo - begin));
#endif
  else if (stride == 2)
    for (int64_t o = lo; o < hi; ++o) d[o - begin] = s[2 * o];
  else
    for (int64_t o = lo; o < hi; ++o) d[o - begin] = s[o * stride];
  for (int64_t o = hi; o < end; ++o) d[o - begin] = 0.f;
}

bool is_1x1_direct(const AtomicOp& op) {
  return op.kernel_h == 1 && op.kernel_w == 1 && op.stride_h == 1 && op.stride_w == 1 && op.pad_top == 0 &&
         op.pad_left == 0 && op.out_h == op.h && op.out_w == op.w;
}

// Small images (7x7 = 49 pixels) fill the 32-wide B panels badly: there Y^T = cols^T W^T
// (pixels as rows, output channels as columns) wastes less of each microkernel tile. With
// im2col that holds up to 400 pixels (3x3 at 7x7); a 1x1 conv would pack the image transposed
// on every call (a strided gather), which pays at 7x7 but not at 14x14.
bool im2col_prefers_transposed(const AtomicOp& op, Isa isa) {
  const int64_t hw = op.out_h * op.out_w, cout_g = op.out_c / op.group;
  const int64_t mr = gemm_a_panel_height(isa), nr = gemm_b_panel_width(isa);
  auto eff = [](int64_t rows, int64_t r_tile, int64_t cols, int64_t c_tile) {
    return static_cast<double>(rows) / ((rows + r_tile - 1) / r_tile * r_tile) * cols /
           ((cols + c_tile - 1) / c_tile * c_tile);
  };
  return hw <= (is_1x1_direct(op) ? 64 : 400) && cout_g >= nr &&
         eff(hw, mr, cout_g, nr) > 1.08 * eff(cout_g, mr, hw, nr);
}

// im2col (or a plain GEMM for an unpadded 1x1) with Y = W cols, or with `transposed`
// Y^T = cols^T W^T (weights must then be constant: they are packed as the B operand).
class ConvGemmF32 : public Kernel {
 public:
  ConvGemmF32(const AtomicOp& op, Isa isa, bool transposed) : op_(op), isa_(isa), transposed_(transposed) {
    cin_g_ = op.c / op.group;
    cout_g_ = op.out_c / op.group;
    k_ = cin_g_ * op.kernel_h * op.kernel_w;
    hw_ = op.out_h * op.out_w;
    for (int64_t row = 0; row < k_; ++row) {
      const int64_t kw = row % op.kernel_w, kh = (row / op.kernel_w) % op.kernel_h,
                    ic = row / (op.kernel_w * op.kernel_h);
      Tap t{ic * op.h * op.w, kh * op.dilation_h - op.pad_top, kw * op.dilation_w - op.pad_left, 0, 0};
      valid_columns(t.dx, &t.ow0, &t.ow1);
      taps_.push_back(t);
    }
    direct_ = is_1x1_direct(op);
  }

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    if (!g.is_constant(op.inputs[1])) transposed_ = false;
    if (transposed_) {  // W^T (K x OC) as the packed B operand
      const float* w = g.tensors[g.root(op.inputs[1])].constant.data_as<float>();
      for (int64_t grp = 0; grp < op.group; ++grp)
        packed_w_.push_back(pack_b(k_, cout_g_, MatrixView{w + grp * cout_g_ * k_, 1, k_}, isa_));
      return;
    }
    if (g.is_constant(op.inputs[1])) {
      const float* w = g.tensors[g.root(op.inputs[1])].constant.data_as<float>();
      for (int64_t grp = 0; grp < op.group; ++grp)
        packed_w_.push_back(pack_a(cout_g_, k_, MatrixView{w + grp * cout_g_ * k_, k_, 1}, isa_));
    }
  }

  // im2col writes B straight into the GEMM's packed panel layout (no second packing pass).
  size_t scratch_bytes() const override {
    if (transposed_) return static_cast<size_t>((direct_ ? 0 : k_ * hw_) + hw_ * cout_g_) * sizeof(float);
    return 0;  // the blocked im2col path uses per-thread buffers
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const float* x = static_cast<const float*>(io.inputs[0]);
    const float* w = static_cast<const float*>(io.inputs[1]);
    const float* bias = io.inputs.size() > 2 ? static_cast<const float*>(io.inputs[2]) : nullptr;
    const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    float* y = static_cast<float*>(io.output);
    if (transposed_) return run_transposed(x, bias, res, y, static_cast<float*>(io.scratch), pool);
    if (!direct_ && k_ > 0) return run_blocked(x, w, bias, res, y, pool);
    for (int64_t n = 0; n < op_.n; ++n)
      for (int64_t grp = 0; grp < op_.group; ++grp) {
        const float* xg = x + (n * op_.c + grp * cin_g_) * op_.h * op_.w;
        const int64_t out_off = (n * op_.out_c + grp * cout_g_) * hw_;
        GemmOperand A{MatrixView{w + grp * cout_g_ * k_, k_, 1}, packed_w_.empty() ? nullptr : packed_w_[grp].get()};
        sgemm(cout_g_, hw_, k_, A, GemmOperand{MatrixView{xg, hw_, 1}, nullptr}, y + out_off, hw_,
              epilogue(bias, res, grp, out_off), pool, isa_);
      }
  }

  std::string name() const override {
    return std::string("f32-conv-") + (direct_ ? "1x1-gemm-" : "im2col-gemm-") + (transposed_ ? "t-" : "") +
           isa_name(isa_);
  }

 private:
  // C (pixels x OC) = cols^T (pixels x K) * W^T (K x OC, packed at plan time), then one
  // transposing pass into NCHW that adds bias and residual and applies the activation.
  void run_transposed(const float* x, const float* bias, const float* res, float* y, float* scratch, ThreadPool& pool) {
    float* cols = scratch;
    float* c = scratch + (direct_ ? 0 : k_ * hw_);
    for (int64_t n = 0; n < op_.n; ++n)
      for (int64_t grp = 0; grp < op_.group; ++grp) {
        const float* xg = x + (n * op_.c + grp * cin_g_) * op_.h * op_.w;
        if (!direct_) im2col_plain(xg, cols, pool);
        GemmOperand A{MatrixView{direct_ ? xg : cols, 1, hw_}, nullptr};
        GemmOperand B{MatrixView{}, packed_w_[grp].get()};
        sgemm(hw_, cout_g_, k_, A, B, c, cout_g_, GemmEpilogue{}, pool, isa_);
        const int64_t out_off = (n * op_.out_c + grp * cout_g_) * hw_;
        // Blocks of 16 channels: each pixel's 16 values are one cache line of C, and the 16
        // output rows are written as parallel streams (a channel at a time would read C with a
        // stride of OC floats, one cache miss per element).
        constexpr int64_t kBlock = 16;
        parallel_rows(pool, (cout_g_ + kBlock - 1) / kBlock, kBlock * hw_, [&](int64_t b, int64_t e) {
          for (int64_t blk = b; blk < e; ++blk) {
            const int64_t oc0 = blk * kBlock, oc1 = std::min(cout_g_, oc0 + kBlock);
            for (int64_t p = 0; p < hw_; ++p) {
              const float* cp = c + p * cout_g_;
              for (int64_t oc = oc0; oc < oc1; ++oc) y[out_off + oc * hw_ + p] = cp[oc];
            }
            for (int64_t oc = oc0; oc < oc1; ++oc) {
              float* d = y + out_off + oc * hw_;
              const float bv = bias ? bias[grp * cout_g_ + oc] : 0.f;
              if (res)
                for (int64_t p = 0; p < hw_; ++p) d[p] += bv + res[out_off + oc * hw_ + p];
              else
                for (int64_t p = 0; p < hw_; ++p) d[p] += bv;
              if (op_.activation == walle::Activation::Relu)
                for (int64_t p = 0; p < hw_; ++p) d[p] = d[p] < 0.f ? 0.f : d[p];
              else if (op_.activation != walle::Activation::None)
                for (int64_t p = 0; p < hw_; ++p) d[p] = activate<float>(d[p], op_);
            }
          }
        });
      }
  }

  // Row (ic, kh, kw) of the K x hw column matrix, row-major.
  void im2col_plain(const float* x, float* cols, ThreadPool& pool) {
    const AtomicOp& op = op_;
    parallel_rows(pool, k_, hw_, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        const Tap& t = taps_[row];
        for (int64_t oh = 0; oh < op.out_h; ++oh) {
          const int64_t ih = oh * op.stride_h + t.dy;
          float* d = cols + row * hw_ + oh * op.out_w;
          if (ih < 0 || ih >= op.h)
            std::memset(d, 0, op.out_w * sizeof(float));
          else
            copy_taps(x + t.plane + ih * op.w + t.dx, op.stride_w, 0, op.out_w, t.ow0, t.ow1, d, isa_ == Isa::Avx512);
        }
      }
    });
  }

  GemmEpilogue epilogue(const float* bias, const float* res, int64_t grp, int64_t out_off) const {
    GemmEpilogue e;
    if (bias) {
      e.bias_kind = GemmEpilogue::Bias::PerRow;
      e.bias = bias + grp * cout_g_;
    }
    if (res) {
      e.residual = res + out_off;
      e.residual_ld = hw_;
    }
    e.activation = to_gemm_activation(op_.activation);
    e.clip_min = op_.alpha;
    e.clip_max = op_.beta;
    return e;
  }

  // im2col + GEMM by blocks of output pixels: each block's column panels (K x pixels, ~L2
  // sized) are written and consumed by the same thread while they are in cache, instead of
  // the whole column matrix (7 MiB for ResNet's 7x7 stem) going to memory and back, and the
  // threads take whole blocks (one fork/join per convolution).
  void run_blocked(const float* x, const float* w, const float* bias, const float* res, float* y, ThreadPool& pool) {
    constexpr int64_t kBlockBytes = 512 << 10;
    const int64_t NR = gemm_b_panel_width(isa_), panel_bytes = 4 * k_ * NR;
    int64_t block = std::max<int64_t>(1, kBlockBytes / panel_bytes) * NR;
    // Enough blocks for every thread to get two (small images, many threads).
    const int64_t per_thread = (op_.n * op_.group * hw_ + 2 * pool.size() - 1) / (2 * pool.size());
    block = std::min(block, std::max(NR, (per_thread + NR - 1) / NR * NR));
    std::vector<std::unique_ptr<PackedMatrix>> run_packed;  // weights that are not constants
    if (packed_w_.empty())
      for (int64_t grp = 0; grp < op_.group; ++grp)
        run_packed.push_back(pack_a(cout_g_, k_, MatrixView{w + grp * cout_g_ * k_, k_, 1}, isa_));
    const auto& packed = packed_w_.empty() ? run_packed : packed_w_;
    const int64_t blocks = (hw_ + block - 1) / block, tasks = op_.n * op_.group * blocks;
    pool.parallel_for(tasks, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / (op_.group * blocks), grp = t / blocks % op_.group, p0 = t % blocks * block;
        const int64_t p1 = std::min(hw_, p0 + block);
        float* cols = thread_buffer(static_cast<size_t>((p1 - p0 + NR - 1) / NR * NR * k_));
        im2col_packed(x + (n * op_.c + grp * cin_g_) * op_.h * op_.w, p0, p1, cols);
        const int64_t out_off = (n * op_.out_c + grp * cout_g_) * hw_;
        GemmEpilogue ep = epilogue(bias, res, grp, out_off + p0);
        sgemm_packed_serial(cout_g_, p1 - p0, k_, *packed[grp], cols, y + out_off + p0, hw_, ep, isa_);
      }
    });
  }

  // Where row (ic, kh, kw) of the column matrix reads the input, computed once per kernel.
  struct Tap {
    int64_t plane;     // ic * h * w
    int64_t dy, dx;    // input row/column of output (0, 0): kh * dilation - pad_top, kw * dilation - pad_left
    int64_t ow0, ow1;  // output columns whose tap lands inside the row
  };

  // Output columns [ow0, ow1) whose tap at input column offset `off` lands inside [0, w).
  void valid_columns(int64_t off, int64_t* ow0, int64_t* ow1) const {
    const AtomicOp& op = op_;
    *ow0 = off >= 0 ? 0 : (-off + op.stride_w - 1) / op.stride_w;
    *ow1 = op.w - off <= 0 ? 0 : std::min(op.out_w, (op.w - off + op.stride_w - 1) / op.stride_w);
    if (*ow1 < *ow0) *ow1 = *ow0;
  }

  // Columns [p0, p1) (output pixels) of the K x hw column matrix, written into B panels of NR
  // columns: row (ic, kh, kw) holds the input pixels that tap meets (0 in the padding), element
  // (row, p) at cols[((p - p0) / NR) * K * NR + row * NR + (p - p0) % NR]. Columns past p1 in
  // the last panel are 0. Pixel runs (inside one output row and one panel) outside, rows
  // inside: a run's position is worked out once for all K rows, not once per row (that
  // bookkeeping was a quarter of ResNet's 7x7 stem).
  void im2col_packed(const float* x, int64_t p0, int64_t p1, float* cols) const {
    const AtomicOp& op = op_;
    const std::vector<Tap>& tap = taps_;
    const int64_t NR = gemm_b_panel_width(isa_), K = k_, panel = K * NR, count = p1 - p0;
    const bool avx512 = isa_ == Isa::Avx512;
    for (int64_t p = p0; p < p1;) {
      const int64_t oh = p / op.out_w, ow = p % op.out_w, col = p - p0, j = col % NR;
      const int64_t len = std::min({NR - j, op.out_w - ow, p1 - p});
      float* d = cols + (col / NR) * panel + j;
      for (int64_t row = 0; row < K; ++row, d += NR) {
        const Tap& t = tap[row];
        const int64_t ih = oh * op.stride_h + t.dy;
        if (ih < 0 || ih >= op.h) {
          std::memset(d, 0, len * sizeof(float));
          continue;
        }
        const float* s = x + t.plane + ih * op.w + t.dx;
        if (op.stride_w == 1 && ow >= t.ow0 && ow + len <= t.ow1)
          std::memcpy(d, s + ow, len * sizeof(float));
        else
          copy_taps(s, op.stride_w, ow, ow + len, t.ow0, t.ow1, d, avx512);
      }
      p += len;
    }
    if (count % NR)
      for (int64_t row = 0; row < K; ++row)
        std::memset(cols + (count / NR) * panel + row * NR + count % NR, 0, (NR - count % NR) * sizeof(float));
  }

  AtomicOp op_;
  Isa isa_;
  int64_t cin_g_, cout_g_, k_, hw_;
  std::vector<Tap> taps_;  // one per row of the column matrix
  bool transposed_, direct_ = false;
  std::vector<std::unique_ptr<PackedMatrix>> packed_w_;
};

// Depthwise convolution, one channel plane per task, through the per-ISA row loops.
std::unique_ptr<Kernel> depthwise_f32(const AtomicOp& op, Isa isa) {
  const ConvF32& t = conv_f32(isa);
  return std::make_unique<FunctionKernel>(
      std::string("f32-conv-depthwise-") + isa_name(isa), [op, &t](const KernelIO& io, ThreadPool& pool) {
        const float* x = static_cast<const float*>(io.inputs[0]);
        const float* w = static_cast<const float*>(io.inputs[1]);
        const float* bias = io.inputs.size() > 2 ? static_cast<const float*>(io.inputs[2]) : nullptr;
        const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
        float* y = static_cast<float*>(io.output);
        const int64_t plane = op.out_h * op.out_w;
        parallel_rows(pool, op.n * op.c, plane * op.kernel_h * op.kernel_w, [&](int64_t b, int64_t e) {
          for (int64_t p = b; p < e; ++p) {
            const int64_t ch = p % op.c;
            t.depthwise_plane(op, x + p * op.h * op.w, w + ch * op.kernel_h * op.kernel_w, bias ? bias[ch] : 0.f,
                              res ? res + p * plane : nullptr, y + p * plane);
          }
        });
      });
}

std::unique_ptr<Kernel> pool_f32(const AtomicOp& op, Isa isa) {
  const ConvF32& t = conv_f32(isa);
  return std::make_unique<FunctionKernel>(std::string(op.max_pool ? "f32-maxpool-" : "f32-avgpool-") + isa_name(isa),
                                          [op, &t](const KernelIO& io, ThreadPool& pool) {
                                            const float* x = static_cast<const float*>(io.inputs[0]);
                                            float* y = static_cast<float*>(io.output);
                                            const int64_t plane = op.out_h * op.out_w;
                                            parallel_rows(pool, op.n * op.c, plane * op.kernel_h * op.kernel_w,
                                                          [&](int64_t b, int64_t e) {
                                                            for (int64_t p = b; p < e; ++p)
                                                              t.pool_plane(op, x + p * op.h * op.w, y + p * plane);
                                                          });
                                          });
}

template <typename T>
std::unique_ptr<Kernel> pool_reference(const AtomicOp& op) {
  using C = typename Compute<T>::type;
  return std::make_unique<FunctionKernel>(
      op.max_pool ? "maxpool" : "avgpool", [op](const KernelIO& io, ThreadPool& pool) {
        const T* x = static_cast<const T*>(io.inputs[0]);
        T* y = static_cast<T*>(io.output);
        parallel_rows(pool, op.n * op.c, op.out_h * op.out_w * op.kernel_h * op.kernel_w, [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) {
            const T* src = x + t * op.h * op.w;
            for (int64_t oh = 0; oh < op.out_h; ++oh)
              for (int64_t ow = 0; ow < op.out_w; ++ow) {
                C acc = op.max_pool ? -std::numeric_limits<C>::infinity() : C(0);
                int64_t count = 0;
                for (int64_t kh = 0; kh < op.kernel_h; ++kh) {
                  int64_t ih = oh * op.stride_h - op.pad_top + kh * op.dilation_h;
                  for (int64_t kw = 0; kw < op.kernel_w; ++kw) {
                    int64_t iw = ow * op.stride_w - op.pad_left + kw * op.dilation_w;
                    bool inside = ih >= 0 && ih < op.h && iw >= 0 && iw < op.w;
                    // count_include_pad counts the explicit padding but never the ceil-mode overhang
                    bool in_padded = ih < op.h + op.pad_top && iw < op.w + op.pad_left;
                    if (!inside) {
                      if (op.count_include_pad && in_padded) ++count;
                      continue;
                    }
                    C v = Compute<T>::load(src[ih * op.w + iw]);
                    if (op.max_pool)
                      acc = (v > acc || v != v) ? v : acc;
                    else
                      acc += v;
                    ++count;
                  }
                }
                if (!op.max_pool) acc = count ? acc / static_cast<C>(count) : C(0);
                y[(t * op.out_h + oh) * op.out_w + ow] = Compute<T>::store(acc);
              }
          }
        });
      });
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16; }

template <template <typename> class Make>
std::unique_ptr<Kernel> for_float(const AtomicOp& op, const AtomicGraph& g) {
  switch (g.tensors[op.output].dtype) {
    case DType::F32: return Make<float>::make(op);
    case DType::F64: return Make<double>::make(op);
    case DType::F16: return Make<Half>::make(op);
    default: return Make<BFloat16>::make(op);
  }
}
template <typename T>
struct MakeConv {
  static std::unique_ptr<Kernel> make(const AtomicOp& op) { return conv_reference<T>(op); }
};
template <typename T>
struct MakePool {
  static std::unique_ptr<Kernel> make(const AtomicOp& op) { return pool_reference<T>(op); }
};

}  // namespace

// The algorithms of a float32 NCHW convolution, best guess first: the depthwise kernel where it
// applies (no estimate: it always beats a grouped GEMM), then im2col in both orientations and
// Winograd F(2x2) / F(4x4) for 3x3 stride-1 convolutions, by estimate (estimate_conv). Both
// im2col orientations have the same estimate; the panel-fit rule orders them.
std::vector<Variant> conv_variants(const AtomicOp& op, const AtomicGraph& g, Isa isa) {
  std::vector<Variant> v;
  if (op.group == op.c && op.out_c == op.c) v.push_back({"depthwise", -1});
  const size_t ranked = v.size();
  const ConvEstimate e = estimate_conv(op, isa);
  const bool constant_weights = g.is_constant(op.inputs[1]);
  if (constant_weights && im2col_prefers_transposed(op, isa)) v.push_back({"im2col-t", e.im2col_us});
  v.push_back({"im2col", e.im2col_us});
  if (constant_weights && !im2col_prefers_transposed(op, isa)) v.push_back({"im2col-t", e.im2col_us});
  if (constant_weights && winograd_applies(op)) {
    v.push_back({"winograd-f23", e.winograd_f23_us});
    v.push_back({"winograd-f43", e.winograd_f43_us});
  }
  std::stable_sort(v.begin() + ranked, v.end(),
                   [](const Variant& a, const Variant& b) { return a.estimate_us < b.estimate_us; });
  return v;
}

std::unique_ptr<Kernel> make_conv_variant(const AtomicOp& op, Isa isa, const std::string& variant) {
  if (variant == "depthwise") return depthwise_f32(op, isa);
  if (variant == "winograd-f23") return make_conv_winograd(op, isa, 2);
  if (variant == "winograd-f43") return make_conv_winograd(op, isa, 4);
  return std::make_unique<ConvGemmF32>(op, isa, variant == "im2col-t");
}

void register_conv_kernels(KernelRegistry& r) {
  // Every kernel here reads and writes NCHW; blocked ops have their own (conv_blocked.cpp).
  auto float_out = [](const AtomicOp& op, const AtomicGraph& g) {
    return !op.blocked_input && !op.blocked_output && is_float(g.tensors[op.output].dtype);
  };
  r.add(AtomicKind::Conv, {"conv-reference", Isa::Reference, float_out, for_float<MakeConv>});
  r.add(AtomicKind::Pool, {"pool-reference", Isa::Reference, float_out, for_float<MakePool>});
  auto f32 = [](const AtomicOp& op, const AtomicGraph& g) {
    return !op.blocked_input && !op.blocked_output && g.tensors[op.output].dtype == DType::F32;
  };
  for (Isa isa : simd_isas()) {
    r.add(AtomicKind::Conv, {"f32-conv", isa, f32, nullptr,
                             [isa](const AtomicOp& op, const AtomicGraph& g) { return conv_variants(op, g, isa); },
                             [isa](const AtomicOp& op, const AtomicGraph&, const std::string& v) {
                               return make_conv_variant(op, isa, v);
                             }});
    r.add(AtomicKind::Pool,
          {"f32-pool", isa, f32, [isa](const AtomicOp& op, const AtomicGraph&) { return pool_f32(op, isa); }});
  }
}

}  // namespace walle::cpu
