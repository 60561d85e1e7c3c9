// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016): each 2x2 output tile is A^T [ (G g G^T) . (B^T d B) ] A over a 4x4 input
// tile, so the 16 transformed positions xi each become one GEMM
//   M_xi (OC x tiles) = U_xi (OC x IC) * V_xi (IC x tiles),
// 2.25x fewer multiplies than im2col+GEMM and a 4x (not 9x) expansion of the input.
// U is transformed and packed once at plan time; V is written straight into the GEMM's packed
// panel layout; bias, residual and activation are applied in the output transform.
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

#include "cpu/conv_algorithm.h"
#include "cpu/conv_f32.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"

namespace walle::cpu {

namespace {

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

class ConvWinogradF23 : public Kernel {
 public:
  ConvWinogradF23(const AtomicOp& op, Isa isa) : op_(op), isa_(isa), t_(conv_f32(isa)) {
    tiles_h_ = (op.out_h + 1) / 2;
    tiles_w_ = (op.out_w + 1) / 2;
    tiles_ = tiles_h_ * tiles_w_;
    nr_ = gemm_b_panel_width(isa);
  }

  // U_xi[oc, ic] = (G g G^T)[xi] with G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    WALLE_CHECK(g.is_constant(op.inputs[1]), Unsupported, op.origin + ": Winograd needs constant weights");
    const float* w = g.tensors[g.root(op.inputs[1])].constant.data_as<float>();
    const int64_t OC = op.out_c, IC = op.c;
    std::vector<float> u(16 * OC * IC);
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t ic = 0; ic < IC; ++ic) {
        const float* k = w + (oc * IC + ic) * 9;
        float gk[4][3];  // G g
        for (int j = 0; j < 3; ++j) {
          gk[0][j] = k[j];
          gk[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
          gk[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
          gk[3][j] = k[6 + j];
        }
        for (int i = 0; i < 4; ++i) {
          const float row[4] = {gk[i][0], 0.5f * (gk[i][0] + gk[i][1] + gk[i][2]), 0.5f * (gk[i][0] - gk[i][1] + gk[i][2]),
                                gk[i][2]};
          for (int j = 0; j < 4; ++j) u[((i * 4 + j) * OC + oc) * IC + ic] = row[j];
        }
      }
    for (int xi = 0; xi < 16; ++xi) packed_u_.push_back(pack_a(OC, IC, MatrixView{u.data() + xi * OC * IC, IC, 1}, isa_));
  }

  size_t scratch_bytes() const override { return static_cast<size_t>(v_floats() + 16 * op_.out_c * tiles_) * sizeof(float); }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const float* x = static_cast<const float*>(io.inputs[0]);
    const float* bias = io.inputs.size() > 2 ? static_cast<const float*>(io.inputs[2]) : nullptr;
    const float* res = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    float* y = static_cast<float*>(io.output);
    const int64_t OC = op_.out_c, IC = op_.c, panel = IC * nr_, v_xi = round_up(tiles_, nr_) * IC;
    float* v = static_cast<float*>(io.scratch);
    float* m = v + v_floats();
    for (int64_t n = 0; n < op_.n; ++n) {
      const float* xn = x + n * IC * op_.h * op_.w;
      // Columns past the last tile in the last panel must be zero (the kernel reads them).
      if (tiles_ % nr_)
        for (int xi = 0; xi < 16; ++xi)
          for (int64_t ic = 0; ic < IC; ++ic)
            std::memset(v + xi * v_xi + (tiles_ / nr_) * panel + ic * nr_ + tiles_ % nr_, 0,
                        (nr_ - tiles_ % nr_) * sizeof(float));
      parallel_rows(pool, IC, 64 * tiles_, [&](int64_t b, int64_t e) {
        for (int64_t ic = b; ic < e; ++ic)
          t_.winograd_f23_input(xn + ic * op_.h * op_.w, op_.h, op_.w, op_.pad_top, op_.pad_left, tiles_h_, tiles_w_,
                                v + ic * nr_, v_xi, panel, nr_);
      });
      GemmEpilogue none;
      for (int xi = 0; xi < 16; ++xi) {
        std::unique_ptr<PackedMatrix> vb = packed_b_view(IC, tiles_, v + xi * v_xi, isa_);
        sgemm(OC, tiles_, IC, GemmOperand{MatrixView{}, packed_u_[xi].get()}, GemmOperand{MatrixView{}, vb.get()},
              m + xi * OC * tiles_, tiles_, none, pool, isa_);
      }
      const int64_t plane = op_.out_h * op_.out_w;
      float* yn = y + n * OC * plane;
      const float* rn = res ? res + n * OC * plane : nullptr;
      parallel_rows(pool, OC, 32 * tiles_, [&](int64_t b, int64_t e) {
        for (int64_t oc = b; oc < e; ++oc)
          t_.winograd_f23_output(op_, m + oc * tiles_, OC * tiles_, tiles_w_, bias ? bias[oc] : 0.f,
                                 rn ? rn + oc * plane : nullptr, yn + oc * plane);
      });
    }
  }

  std::string name() const override { return std::string("f32-conv-winograd-f23-") + isa_name(isa_); }

 private:
  int64_t v_floats() const { return 16 * round_up(tiles_, nr_) * op_.c; }

  AtomicOp op_;
  Isa isa_;
  const ConvF32& t_;
  int64_t tiles_h_, tiles_w_, tiles_, nr_;
  std::vector<std::unique_ptr<PackedMatrix>> packed_u_;
};

// Rough rates of this code on one core, for comparing algorithms (not absolute times).
constexpr double kGemmFlopsPerUs = 150e3;  // the packed GEMM on full tiles
constexpr double kCopyFloatsPerUs = 4e3;   // strided gathers, transforms
constexpr double kWeightBytesPerUs = 8e3;  // packed weights streamed from L3/DRAM once per run

// A short K block costs a C tile load/store per kc step: efficiency ~ K / (K + 32).
double gemm_us(int64_t M, int64_t N, int64_t K, Isa isa) {
  const int64_t mr = isa == Isa::Avx512 ? 14 : 6, nr = gemm_b_panel_width(isa);
  const double flops = 2.0 * round_up(M, mr) * round_up(N, nr) * K;
  return flops / kGemmFlopsPerUs * (K + 32.0) / K;
}

}  // namespace

bool winograd_f23_applies(const AtomicOp& op) {
  return op.kernel_h == 3 && op.kernel_w == 3 && op.stride_h == 1 && op.stride_w == 1 && op.dilation_h == 1 &&
         op.dilation_w == 1 && op.group == 1 && op.out_h >= 2 && op.out_w >= 2;
}

ConvEstimate estimate_conv(const AtomicOp& op, Isa isa) {
  ConvEstimate e;
  const int64_t hw = op.out_h * op.out_w, k = op.c / op.group * op.kernel_h * op.kernel_w;
  // Deep layers (512 channels at 7x7) are bound by streaming the weights, which Winograd makes
  // 16/9 larger; wide shallow layers by arithmetic, which it cuts by 2.25x.
  e.im2col_us = op.n * op.group * (gemm_us(op.out_c / op.group, hw, k, isa) + static_cast<double>(k) * hw / kCopyFloatsPerUs) +
                4.0 * op.out_c * k / kWeightBytesPerUs;
  if (winograd_f23_applies(op)) {
    const int64_t tiles = ((op.out_h + 1) / 2) * ((op.out_w + 1) / 2);
    const double transforms = 16.0 * tiles * (op.c + op.out_c) * 1.5 / kCopyFloatsPerUs;
    e.winograd_us = op.n * (16 * gemm_us(op.out_c, tiles, op.c, isa) + transforms) + 64.0 * op.out_c * op.c / kWeightBytesPerUs;
  }
  return e;
}

ConvAlgorithm choose_conv_algorithm(const AtomicOp& op, Isa isa) {
  const bool winograd_ok = winograd_f23_applies(op) && isa != Isa::Reference;
  if (const char* forced = std::getenv("WALLE_CONV_ALGO")) {
    if (std::string(forced) == "winograd" && winograd_ok) return ConvAlgorithm::WinogradF23;
    if (std::string(forced) == "im2col") return ConvAlgorithm::Im2colGemm;
  }
  if (!winograd_ok) return ConvAlgorithm::Im2colGemm;
  const ConvEstimate e = estimate_conv(op, isa);
  return e.winograd_us >= 0 && e.winograd_us < e.im2col_us ? ConvAlgorithm::WinogradF23 : ConvAlgorithm::Im2colGemm;
}

std::unique_ptr<Kernel> make_conv_winograd_f23(const AtomicOp& op, Isa isa) {
  return std::make_unique<ConvWinogradF23>(op, isa);
}

}  // namespace walle::cpu
