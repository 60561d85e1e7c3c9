// Winograd F(m x m, 3 x 3) convolution, m = 2 or 4 (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): each m x m output tile is A^T [ (G g G^T) . (B^T d B) ] A
// over an alpha x alpha input tile (alpha = m + 2), so the alpha^2 transformed positions xi each
// become one GEMM
//   M_xi (OC x tiles) = U_xi (OC x IC) * V_xi (IC x tiles),
// F(2x2): 2.25x fewer multiplies than im2col+GEMM, F(4x4): 4x (the transforms cost more).
// U is transformed and packed once at plan time. The tiles are cut into blocks small enough
// that a block's V (written straight into the GEMM's packed panel layout) and M stay in L2:
// input transform -> alpha^2 GEMMs -> output transform (bias, residual, activation) run per
// block, so the intermediates never travel to memory, and threads take whole blocks (one
// fork/join per convolution). With fewer blocks than threads can share, each block's three
// steps are split over the threads instead (channels, xi, output channels).
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

#include "cpu/conv_algorithm.h"
#include "cpu/conv_f32.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/winograd_transforms.h"

namespace walle::cpu {

namespace {

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Bytes of V and M per block we aim to keep in L2 (2 MiB per core here), leaving room for
// the U panels streaming through.
constexpr int64_t kBlockBytes = 1 << 20;

// Tiles per block for F(m x m): L2-sized blocks, unless U itself is larger than that budget:
// every block streams all of U, so then one block per image (U read once) is cheaper.
int64_t winograd_block(const AtomicOp& op, Isa isa, int m) {
  const int64_t A2 = (m + 2) * (m + 2), nr = gemm_b_panel_width(isa);
  const int64_t tiles = ((op.out_h + m - 1) / m) * ((op.out_w + m - 1) / m), all = round_up(tiles, nr);
  if (4 * A2 * op.out_c * op.c > kBlockBytes) return all;
  return std::min(all, std::max<int64_t>(nr, kBlockBytes / (4 * A2 * (op.c + op.out_c)) / nr * nr));
}

class ConvWinograd : public Kernel {
 public:
  ConvWinograd(const AtomicOp& op, Isa isa, int m) : op_(op), isa_(isa), t_(conv_f32(isa)), m_(m), alpha_(m + 2) {
    tiles_h_ = (op.out_h + m - 1) / m;
    tiles_w_ = (op.out_w + m - 1) / m;
    tiles_ = tiles_h_ * tiles_w_;
    nr_ = gemm_b_panel_width(isa);
    block_ = winograd_block(op, isa, m);
  }

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    WALLE_CHECK(g.is_constant(op.inputs[1]), Unsupported, op.origin + ": Winograd needs constant weights");
    const float* w = g.tensors[g.root(op.inputs[1])].constant.data_as<float>();
    const int64_t OC = op.out_c, IC = op.c, A = alpha_;
    std::vector<float> u(A * A * OC * IC), one(A * A);
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t ic = 0; ic < IC; ++ic) {
        winograd_kernel_transform(m_, w + (oc * IC + ic) * 9, one.data());
        for (int64_t xi = 0; xi < A * A; ++xi) u[(xi * OC + oc) * IC + ic] = one[xi];
      }
    for (int xi = 0; xi < A * A; ++xi)
      packed_u_.push_back(pack_a(OC, IC, MatrixView{u.data() + xi * OC * IC, IC, 1}, isa_));
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const int64_t blocks = (tiles_ + block_ - 1) / block_, tasks = op_.n * blocks;
    // Whole blocks per thread when there are enough of them to balance; else split each.
    if (pool.size() == 1 || tasks >= 3 * pool.size()) {
      pool.parallel_for(tasks, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) run_block(io, t / blocks, t % blocks, nullptr);
      });
    } else {
      for (int64_t t = 0; t < tasks; ++t) run_block(io, t / blocks, t % blocks, &pool);
    }
  }

  std::string name() const override {
    return std::string("f32-conv-winograd-f") + std::to_string(m_) + "3-" + isa_name(isa_);
  }

 private:
  // One block of tiles of image n; `pool` null: on this thread alone.
  void run_block(const KernelIO& io, int64_t n, int64_t block, ThreadPool* pool) const {
    const float* x = static_cast<const float*>(io.inputs[0]);
    const float* bias = io.inputs.size() > 2 ? static_cast<const float*>(io.inputs[2]) : nullptr;
    const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    float* y = static_cast<float*>(io.output);
    const int64_t OC = op_.out_c, IC = op_.c, A2 = alpha_ * alpha_;
    const int64_t t0 = block * block_, t1 = std::min(tiles_, t0 + block_), nt = t1 - t0;
    const int64_t panel = IC * nr_, v_xi = round_up(nt, nr_) * IC, m_xi = OC * nt;
    float* v = thread_buffer(static_cast<size_t>(A2 * (v_xi + m_xi)));
    float* m = v + A2 * v_xi;
    auto each = [pool](int64_t count, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
      if (pool)
        parallel_rows(*pool, count, work, fn);
      else
        fn(0, count);
    };
    // Columns past the last tile of the last panel must be zero (the microkernel reads them).
    if (nt % nr_)
      for (int64_t xi = 0; xi < A2; ++xi)
        for (int64_t ic = 0; ic < IC; ++ic)
          std::memset(v + xi * v_xi + (nt / nr_) * panel + ic * nr_ + nt % nr_, 0, (nr_ - nt % nr_) * sizeof(float));
    const float* xn = x + n * IC * op_.h * op_.w;
    each(IC, 8 * A2 * nt, [&](int64_t b, int64_t e) {
      for (int64_t ic = b; ic < e; ++ic)
        t_.winograd_input[m_ == 4](xn + ic * op_.h * op_.w, op_.h, op_.w, op_.pad_top, op_.pad_left, tiles_w_, t0, t1,
                                   v + ic * nr_, v_xi, panel, nr_);
    });
    const GemmEpilogue none;
    each(A2, 2 * OC * IC * nt, [&](int64_t b, int64_t e) {
      for (int64_t xi = b; xi < e; ++xi)
        sgemm_packed_serial(OC, nt, IC, *packed_u_[xi], v + xi * v_xi, m + xi * m_xi, nt, none, isa_);
    });
    const int64_t plane = op_.out_h * op_.out_w;
    float* yn = y + n * OC * plane;
    const float* rn = res ? res + n * OC * plane : nullptr;
    each(OC, 8 * A2 * nt, [&](int64_t b, int64_t e) {
      for (int64_t oc = b; oc < e; ++oc)
        t_.winograd_output[m_ == 4](op_, m + oc * nt, m_xi, tiles_w_, t0, t1, bias ? bias[oc] : 0.f,
                                    rn ? rn + oc * plane : nullptr, yn + oc * plane);
    });
  }

  AtomicOp op_;
  Isa isa_;
  const ConvF32& t_;
  int m_, alpha_;
  int64_t tiles_h_, tiles_w_, tiles_, nr_, block_;
  std::vector<std::unique_ptr<PackedMatrix>> packed_u_;
};

// Rough rates of this code on one core, for comparing algorithms (not absolute times).
constexpr double kGemmFlopsPerUs = 150e3;      // the packed GEMM on full tiles
constexpr double kCopyFloatsPerUs = 4e3;       // strided gathers (im2col)
constexpr double kTransformFloatsPerUs = 4e3;  // Winograd transforms, per value of V or M
constexpr double kWeightBytesPerUs = 8e3;      // packed weights streamed from L3/DRAM
constexpr double kL2Bytes = 1.5e6;             // weights up to this size stay cached between blocks

// A short K block costs a C tile load/store per kc step: efficiency ~ K / (K + 32).
double gemm_us(int64_t M, int64_t N, int64_t K, Isa isa) {
  const int64_t mr = gemm_a_panel_height(isa), nr = gemm_b_panel_width(isa);
  const double flops = 2.0 * round_up(M, mr) * round_up(N, nr) * K;
  return flops / kGemmFlopsPerUs * (K + 32.0) / K;
}

double winograd_us(const AtomicOp& op, Isa isa, int m) {
  const int64_t A2 = (m + 2) * (m + 2), tiles = ((op.out_h + m - 1) / m) * ((op.out_w + m - 1) / m);
  const int64_t block = winograd_block(op, isa, m);
  const int64_t blocks = (tiles + block - 1) / block;
  const double weight_bytes = 4.0 * A2 * op.out_c * op.c;
  const double gemm = blocks * A2 * gemm_us(op.out_c, std::min(block, tiles), op.c, isa);
  const double transforms = static_cast<double>(A2) * tiles * (op.c + op.out_c) / kTransformFloatsPerUs;
  return op.n * (gemm + transforms) + weight_bytes * (weight_bytes > kL2Bytes ? blocks * op.n : 1) / kWeightBytesPerUs;
}

}  // namespace

bool winograd_applies(const AtomicOp& op) {
  return op.kernel_h == 3 && op.kernel_w == 3 && op.stride_h == 1 && op.stride_w == 1 && op.dilation_h == 1 &&
         op.dilation_w == 1 && op.group == 1 && op.out_h >= 2 && op.out_w >= 2 && op.c > 0 && op.out_c > 0;
}

ConvEstimate estimate_conv(const AtomicOp& op, Isa isa) {
  ConvEstimate e;
  const int64_t hw = op.out_h * op.out_w, k = op.c / op.group * op.kernel_h * op.kernel_w;
  // Deep layers (512 channels at 7x7) are bound by streaming the weights, which Winograd makes
  // alpha^2/9 larger; wide shallow layers by arithmetic, which it cuts by 2.25x or 4x.
  e.im2col_us =
      op.n * op.group * (gemm_us(op.out_c / op.group, hw, k, isa) + static_cast<double>(k) * hw / kCopyFloatsPerUs) +
      4.0 * op.out_c * k / kWeightBytesPerUs;
  if (winograd_applies(op)) {
    e.winograd_f23_us = winograd_us(op, isa, 2);
    e.winograd_f43_us = winograd_us(op, isa, 4);
  }
  return e;
}

std::unique_ptr<Kernel> make_conv_winograd(const AtomicOp& op, Isa isa, int tile) {
  return std::make_unique<ConvWinograd>(op, isa, tile);
}

}  // namespace walle::cpu
