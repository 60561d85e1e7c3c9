// Goto/BLIS-style SGEMM: blocking, packing, threading and ISA dispatch. The register-
// blocked microkernels live in x86/gemm_avx2.cpp and x86/gemm_avx512.cpp (compiled with
// their own -m flags) and arm/gemm_neon.cpp; this file stays portable and holds the
// reference kernel.
//
// Layouts (shared by pre-packed operands and per-call packing):
//   A is cut into panels of MR rows; panel p holds A[p*MR + i, k] at [k*MR + i] for all K,
//   so a K block [k0, k0+kc) of a panel is the contiguous slice starting at k0*MR.
//   B is cut into panels of NR columns; panel q holds B[k, q*NR + j] at [k*NR + j].
//   Rows/columns past M/N in the last panel are zero. Because a panel spans all of K, a
//   pre-packed operand does not depend on the cache-blocking sizes chosen at run time.
//
// Loop nest per chunk, a rectangle of C owned by one thread (see plan_grid):
//   for jc in N step NC:          B block (kc x nc) is packed once and stays in L2
//     for pc in K step KC:
//       for ir in M step MR:      A micro-panel (MR x kc) is packed into / stays in L1
//         for jr in nc step NR:   microkernel streams B micro-panels from L2
//   The kernel accumulates into C for pc > 0 and applies the epilogue in its store step on
//   the last K block, so C is never swept a second time.
#include "cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "cpu/gemm_ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#define WALLE_GEMM_X86 1
#include "cpu/x86/gemm_kernels.h"
#elif defined(__aarch64__)
#define WALLE_GEMM_ARM 1
#include "cpu/arm/gemm_kernels.h"
#endif

namespace walle::cpu {

float apply_activation(float x, const GemmEpilogue& e) {
  switch (e.activation) {
    case Activation::None: return x;
    case Activation::Relu: return x < 0.f ? 0.f : x;  // NaN stays NaN
    case Activation::Clip: return std::min(std::max(x, e.clip_min), e.clip_max);
    case Activation::Sigmoid: return 1.f / (1.f + std::exp(-x));
    case Activation::Gelu: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case Activation::Silu: return x / (1.f + std::exp(-x));
  }
  return x;
}

void sgemm_reference(int64_t M, int64_t N, int64_t K, MatrixView A, MatrixView B, float* C, int64_t ldc,
                     const GemmEpilogue& e) {
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t c = 0; c < N; ++c) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(A.data[r * A.row_stride + k * A.col_stride]) *
               B.data[k * B.row_stride + c * B.col_stride];
      float v = static_cast<float>(acc);
      if (e.bias_kind == GemmEpilogue::Bias::PerRow) v += e.bias[r];
      if (e.bias_kind == GemmEpilogue::Bias::PerCol) v += e.bias[c];
      if (e.residual) v += e.residual[r * e.residual_ld + c];
      C[r * ldc + c] = apply_activation(v, e);
    }
  }
}

namespace {

// ---- Portable microkernel (Isa::Reference): 4x16, plain loops the compiler vectorises
// for the baseline target. Same contract as the x86 kernels (see gemm_kernels.h).
constexpr int kRefMR = 4, kRefNR = 16;

void f32_gemm_4x16_scalar(size_t mr, size_t nr, size_t kc, const float* a, const float* b, size_t bs, float* c,
                          size_t ldc, bool accumulate, const TileEpilogue* epi) {
  float acc[kRefMR][kRefNR] = {};
  for (size_t k = 0; k < kc; ++k, a += kRefMR, b += bs)
    for (int i = 0; i < kRefMR; ++i)
      for (int j = 0; j < kRefNR; ++j) acc[i][j] += a[i] * b[j];
  GemmEpilogue e;
  if (epi) {
    e.activation = static_cast<Activation>(epi->activation);
    e.clip_min = epi->clip_min;
    e.clip_max = epi->clip_max;
  }
  for (size_t i = 0; i < mr; ++i) {
    float* cr = c + i * ldc;
    for (size_t j = 0; j < nr; ++j) {
      float v = acc[i][j] + (accumulate ? cr[j] : 0.f);
      if (epi) {
        if (epi->row_bias) v += epi->row_bias[i];
        if (epi->col_bias) v += epi->col_bias[j];
        if (epi->residual) v += epi->residual[i * epi->residual_ld + j];
        v = apply_activation(v, e);
      }
      cr[j] = v;
    }
  }
}

// ---- Per-ISA kernel choice and cache blocking.
struct KernelSpec {
  int mr, nr;
  GemmUkernelFn fn;
  int64_t kc;  // K block: an A micro-panel (mr x kc) fits in L1 next to the B stream
  int64_t nc;  // N block: the packed B block (kc x nc) fits in L2 (2 MiB/core here)
};

KernelSpec kernel_for(Isa isa) {
  WALLE_CHECK(isa_includes(detected_isa(), isa), Backend,
              std::string("sgemm: isa '") + isa_name(isa) + "' is not supported by this processor");
  switch (isa) {
#ifdef WALLE_GEMM_X86
    // 14 x 384 x 4 B = 21 KiB of A in L1; 384 x 1024 x 4 B = 1.5 MiB of B in L2. KC=384
    // beat 256 (more C traffic per flop) and 512 (B block crowds L2) in our measurements.
    case Isa::Avx512: return {x86::kAvx512MR, x86::kAvx512NR, x86::f32_gemm_14x32_avx512, 384, 1024};
    // 6 x 256 x 4 B = 6 KiB of A; 256 x 1024 x 4 B = 1 MiB of B.
    case Isa::Avx2: return {x86::kAvx2MR, x86::kAvx2NR, x86::f32_gemm_6x16_avx2, 256, 1024};
#endif
#ifdef WALLE_GEMM_ARM
    // 8 x 256 x 4 B = 8 KiB of A in a 32-64 KiB L1; 256 x 384 x 4 B = 384 KiB of B, half of
    // the 512 KiB-1 MiB L2 that Cortex-A7x/Neoverse cores have per core.
    case Isa::Neon: return {arm::kNeonMR, arm::kNeonNR, arm::f32_gemm_8x12_neon, 256, 384};
#endif
    default: return {kRefMR, kRefNR, f32_gemm_4x16_scalar, 256, 512};
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ---- 64-byte aligned float storage (packed panels, per-thread packing buffers).
struct AlignedFree {
  bool owned = true;  // false for a view of caller-owned memory (packed_b_view)
  void operator()(float* p) const {
    if (owned) std::free(p);
  }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

AlignedFloats alloc_floats(size_t n) {
  size_t bytes = round_up(static_cast<int64_t>(std::max<size_t>(n, 1) * sizeof(float)), 64);
  float* p = static_cast<float*>(aligned_alloc_large(bytes));
  WALLE_CHECK(p != nullptr, Invalid, "sgemm: out of memory packing a matrix");
  return AlignedFloats(p);
}

// A per-thread scratch buffer that only grows; thread_local, so pool workers and threads
// of different sessions never share one.
float* scratch(int slot, size_t n) {
  thread_local AlignedFloats bufs[2];
  thread_local size_t caps[2] = {0, 0};
  if (caps[slot] < n) {
    bufs[slot] = alloc_floats(n);
    caps[slot] = n;
  }
  return bufs[slot].get();
}

// ---- Packing.
// A rows [r0, r0+mr) x K slice [k0, k0+kc) -> dst[k*MR + i]; rows mr..MR-1 left alone unless
// pad (pre-packed panels are zero padded; per-call panels are read only up to mr).
// Full panel of row-major A with MR known at compile time: the row pointers live in
// registers and every k writes one contiguous MR-float run; measured ~2x faster than
// scattering row by row, which matters when A is activations packed on every call.
template <int MR>
void pack_a_rowmajor_full(const float* A, int64_t lda, int64_t kc, float* dst) {
  const float* rows[MR];
  for (int i = 0; i < MR; ++i) rows[i] = A + i * lda;
  for (int64_t k = 0; k < kc; ++k, dst += MR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) dst[i] = rows[i][k];
  }
}

void pack_a_panel(const MatrixView& A, int64_t r0, int64_t mr, int64_t k0, int64_t kc, int MR, float* dst, bool pad) {
  if (A.col_stride == 1 && mr == MR) {
    const float* src = A.data + r0 * A.row_stride + k0;
    switch (MR) {
#ifdef WALLE_GEMM_X86
      case 14: return x86::pack_a14_avx512(src, A.row_stride, kc, dst);  // MR 14: the AVX-512 kernel's
#else
      case 14: return pack_a_rowmajor_full<14>(src, A.row_stride, kc, dst);
#endif
      case 8: return pack_a_rowmajor_full<8>(src, A.row_stride, kc, dst);
      case 6: return pack_a_rowmajor_full<6>(src, A.row_stride, kc, dst);
      case 4: return pack_a_rowmajor_full<4>(src, A.row_stride, kc, dst);
      default: break;
    }
  }
  if (A.col_stride == 1) {  // row-major A, partial panel: read rows contiguously, scatter
    for (int64_t i = 0; i < mr; ++i) {
      const float* src = A.data + (r0 + i) * A.row_stride + k0;
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
    }
  } else {  // e.g. a transposed view: rows of the panel are contiguous along k*col_stride
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = A.data + r0 * A.row_stride + (k0 + k) * A.col_stride;
      for (int64_t i = 0; i < mr; ++i) dst[k * MR + i] = src[i * A.row_stride];
    }
  }
  if (pad && mr < MR)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = mr; i < MR; ++i) dst[k * MR + i] = 0.f;
}

// B slice [k0, k0+kc) x columns [c0, c0+nr) -> dst[k*NR + j], columns nr..NR-1 zeroed (the
// kernel reads all NR columns).
void pack_b_panel(const MatrixView& B, int64_t k0, int64_t kc, int64_t c0, int64_t nr, int NR, float* dst) {
  if (B.col_stride == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B.data + (k0 + k) * B.row_stride + c0;
      float* d = dst + k * NR;
      std::memcpy(d, src, nr * sizeof(float));
      for (int64_t j = nr; j < NR; ++j) d[j] = 0.f;
    }
  } else {
    for (int64_t j = 0; j < nr; ++j) {
      const float* src = B.data + k0 * B.row_stride + (c0 + j) * B.col_stride;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k * B.row_stride];
    }
    if (nr < NR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = 0.f;
  }
}

// Row-major B rows -> panels; NR fixed at compile time (0: runtime `nr`) so each piece is a
// fixed-size copy the compiler unrolls (measured ~3x faster than a runtime-length loop).
template <int kNR>
void pack_b_rows(const MatrixView& B, int64_t k0, int64_t kc, int64_t c0, int64_t nc, float* dst, int nr = kNR) {
  const int NR = kNR ? kNR : nr;
  const int64_t full = nc / NR, rem = nc % NR;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = B.data + (k0 + k) * B.row_stride + c0;
    float* d = dst + k * NR;
    for (int64_t q = 0; q < full; ++q, src += NR, d += kc * NR) {
      if constexpr (kNR > 0)
        std::memcpy(d, src, kNR * sizeof(float));
      else
        for (int j = 0; j < NR; ++j) d[j] = src[j];
    }
    if (rem) {
      for (int64_t j = 0; j < rem; ++j) d[j] = src[j];
      for (int64_t j = rem; j < NR; ++j) d[j] = 0.f;
    }
  }
}

// B slice [k0, k0+kc) x columns [c0, c0+nc) -> consecutive panels of kc*NR floats.
void pack_b_block(const MatrixView& B, int64_t k0, int64_t kc, int64_t c0, int64_t nc, int NR, float* dst) {
  if (B.col_stride != 1) {
    for (int64_t j = 0; j < nc; j += NR)
      pack_b_panel(B, k0, kc, c0 + j, std::min<int64_t>(NR, nc - j), NR, dst + (j / NR) * kc * NR);
    return;
  }
  // Row-major B: walk each row of the block once, left to right (one contiguous read
  // stream instead of nc/NR strided ones), dealing NR-wide pieces out to the panels.
  switch (NR) {
    case 32: return pack_b_rows<32>(B, k0, kc, c0, nc, dst);
    case 16: return pack_b_rows<16>(B, k0, kc, c0, nc, dst);
    case 12: return pack_b_rows<12>(B, k0, kc, c0, nc, dst);
    default: return pack_b_rows<0>(B, k0, kc, c0, nc, dst, NR);
  }
}

// An operand packed into full-K panels (layout at the top of this file). Immutable after
// construction, so one instance may be shared read-only by any number of threads.
class PackedPanels final : public PackedMatrix {
 public:
  PackedPanels(bool is_a, int64_t rows, int64_t cols, Isa isa, int tile, int64_t depth, int64_t panels)
      : is_a_(is_a),
        rows_(rows),
        cols_(cols),
        isa_(isa),
        tile_(tile),
        depth_(depth),
        data_(alloc_floats(static_cast<size_t>(panels * depth * tile))) {}
  PackedPanels(bool is_a, int64_t rows, int64_t cols, Isa isa, int tile, int64_t depth, float* external)
      : is_a_(is_a),
        rows_(rows),
        cols_(cols),
        isa_(isa),
        tile_(tile),
        depth_(depth),
        data_(external, AlignedFree{false}) {}
  int64_t rows() const override { return rows_; }
  int64_t cols() const override { return cols_; }
  const float* panel(int64_t p) const { return data_.get() + p * depth_ * tile_; }
  float* panel(int64_t p) { return data_.get() + p * depth_ * tile_; }

  const bool is_a_;
  const int64_t rows_, cols_;
  const Isa isa_;
  const int tile_;       // MR for A, NR for B
  const int64_t depth_;  // K

 private:
  AlignedFloats data_;
};

const PackedPanels* checked_packed(const GemmOperand& op, bool is_a, int64_t rows, int64_t cols, Isa isa) {
  if (!op.packed) {
    WALLE_CHECK(op.view.data != nullptr || rows == 0 || cols == 0, Invalid, "sgemm: operand has no data");
    return nullptr;
  }
  const auto* p = dynamic_cast<const PackedPanels*>(op.packed);
  const char* name = is_a ? "A" : "B";
  WALLE_CHECK(p && p->is_a_ == is_a, Invalid,
              std::string("sgemm: packed ") + name + " was not made by pack_" + (is_a ? "a" : "b"));
  WALLE_CHECK(p->isa_ == isa, Invalid,
              std::string("sgemm: packed ") + name + " was packed for isa '" + isa_name(p->isa_) + "', not '" +
                  isa_name(isa) + "'");
  WALLE_CHECK(p->rows_ == rows && p->cols_ == cols, Invalid,
              std::string("sgemm: packed ") + name + " is " + std::to_string(p->rows_) + "x" +
                  std::to_string(p->cols_) + ", expected " + std::to_string(rows) + "x" + std::to_string(cols));
  return p;
}

// ---- The per-call context and the per-thread block loop.
struct Ctx {
  int64_t M, N, K, ldc;
  MatrixView A, B;
  const PackedPanels *Ap, *Bp;
  bool b_direct;  // B read in place (row-major, M within three panels: too little reuse to pay packing for)
  float* C;
  const GemmEpilogue* e;
  KernelSpec ks;
};

// Computes C[m0:m1, n0:n1]; m0 and n0 are multiples of MR and NR.
void run_rect(const Ctx& x, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int MR = x.ks.mr, NR = x.ks.nr;
  // Equal-sized K and N blocks (rather than KC, KC, ..., remainder) so no block is tiny.
  const int64_t kblocks = ceil_div(x.K, x.ks.kc);
  const int64_t kc_max = round_up(ceil_div(x.K, kblocks), 8);
  const int64_t nblocks = ceil_div(n1 - n0, x.ks.nc);
  const int64_t nc_max = round_up(ceil_div(n1 - n0, nblocks), NR);
  // Pre-packed B larger than L2 (it comes from memory on every call) while all of A's row
  // panels of a K block fit in L2: stream B through them (below). Smaller weights stay in L2
  // between calls, and there the usual order (A panel in L1) measured slightly faster.
  const int64_t a_block = ceil_div(m1 - m0, MR) * MR * kc_max;
  const bool stream_b = x.Bp && !x.Ap && a_block * 4 <= (512 << 10) && x.K * (n1 - n0) * 4 > (2 << 20);
  float* abuf = x.Ap ? nullptr : scratch(0, static_cast<size_t>(stream_b ? a_block : MR * kc_max));
  float* bbuf = x.Bp ? nullptr : scratch(1, static_cast<size_t>(kc_max * (x.b_direct ? NR : nc_max)));
  const GemmEpilogue& e = *x.e;
  const bool row_bias = e.bias_kind == GemmEpilogue::Bias::PerRow && e.bias;
  const bool col_bias = e.bias_kind == GemmEpilogue::Bias::PerCol && e.bias;

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n1 - jc);
    for (int64_t pc = 0; pc < x.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, x.K - pc);
      const bool first = pc == 0, last = pc + kc == x.K;
      // Pack this B block unless it is pre-packed or read in place (then only a partial
      // last panel is packed, as the kernel reads NR columns).
      if (x.b_direct) {
        if (nc % NR) pack_b_panel(x.B, pc, kc, jc + nc - nc % NR, nc % NR, NR, bbuf);
      } else if (!x.Bp) {
        pack_b_block(x.B, pc, kc, jc, nc, NR, bbuf);
      }
      // One microkernel call: rows [ir, ir+MR) of A (packed at `a`) times columns jc+jr.
      auto tile = [&](int64_t ir, const float* a, int64_t jr) {
        const int64_t mr = std::min<int64_t>(MR, m1 - ir), nr = std::min<int64_t>(NR, nc - jr), col = jc + jr;
        const float* b;
        size_t bs = NR;
        if (x.Bp) {
          b = x.Bp->panel(col / NR) + pc * NR;
        } else if (x.b_direct) {
          if (nr == NR) {
            b = x.B.data + pc * x.B.row_stride + col;
            bs = static_cast<size_t>(x.B.row_stride);
          } else {
            b = bbuf;
          }
        } else {
          b = bbuf + (jr / NR) * kc * NR;
        }
        TileEpilogue te{};
        if (last) {
          te.row_bias = row_bias ? e.bias + ir : nullptr;
          te.col_bias = col_bias ? e.bias + col : nullptr;
          te.residual = e.residual ? e.residual + ir * e.residual_ld + col : nullptr;
          te.residual_ld = e.residual_ld;
          te.activation = static_cast<int>(e.activation);
          te.clip_min = e.clip_min;
          te.clip_max = e.clip_max;
        }
        x.ks.fn(static_cast<size_t>(mr), static_cast<size_t>(nr), static_cast<size_t>(kc), a, b, bs,
                x.C + ir * x.ldc + col, static_cast<size_t>(x.ldc), !first, last ? &te : nullptr);
      };
      if (stream_b) {
        // Pre-packed B (weights) with few rows of A: pack every A panel of the block first, then
        // use each B panel for all of them while it is in L1 - the weights stream from memory
        // exactly once per K block, interleaved with the arithmetic, instead of in a burst
        // during the first row panel with nothing to overlap it (batch-1 deep layers).
        for (int64_t ir = m0; ir < m1; ir += MR)
          pack_a_panel(x.A, ir, std::min<int64_t>(MR, m1 - ir), pc, kc, MR, abuf + (ir - m0) / MR * MR * kc, false);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = m0; ir < m1; ir += MR) tile(ir, abuf + (ir - m0) / MR * MR * kc, jr);
        continue;
      }
      for (int64_t ir = m0; ir < m1; ir += MR) {
        const float* a;
        if (x.Ap) {
          a = x.Ap->panel(ir / MR) + pc * MR;
        } else {
          pack_a_panel(x.A, ir, std::min<int64_t>(MR, m1 - ir), pc, kc, MR, abuf, false);
          a = abuf;
        }
        for (int64_t jr = 0; jr < nc; jr += NR) tile(ir, a, jr);
      }
    }
  }
}

// ---- Threading: the C tile grid (mp x np panels) is cut into cm x cn chunks, and the
// pool's threads take chunks from a shared atomic counter until none are left. Chunks are
// rectangles with their own packing, so threads never share a buffer or a C tile and do
// not synchronise beyond the one parallel_for.
//
// The grid comes from a small cost model (FMAs plus packing per chunk). Splitting M makes
// every chunk pack the B it needs (bad when B is unpacked and M is small, e.g. conv-as-GEMM
// 64 x 3136); splitting N makes every chunk pack its rows of A (cheap when A is pre-packed
// weights). More chunks than threads cost duplicated packing but absorb a late worker:
// on a machine shared with other jobs a pool thread may start tens of microseconds late,
// and with one fixed half per thread the caller would then idle waiting for it.
struct Grid {
  int64_t cm, cn;
};

void chunk(int64_t n, int64_t parts, int64_t i, int64_t* b, int64_t* e) {
  *b = n * i / parts;
  *e = n * (i + 1) / parts;
}

Grid plan_grid(const Ctx& x, int threads) {
  const int MR = x.ks.mr, NR = x.ks.nr;
  const int64_t mp = ceil_div(x.M, MR), np = ceil_div(x.N, NR);
  // One packed element costs roughly as much time as this many FMA flops: packing moves
  // about one float per cycle (the A transpose is scalar), the AVX-512 kernel does 64
  // flops per cycle. Measured on 128x256x256 (BERT): splitting N made both threads pack
  // all of A, ~20% of their time, so 2 threads were no faster than 1; splitting M is.
  constexpr double kPackCost = 64.0;
  Grid best{1, std::min<int64_t>(threads, np)};
  double best_cost = -1;
  for (int tm = 1; tm <= threads; ++tm) {
    if (threads % tm) continue;
    const int tn = threads / tm;
    for (int g : {1, 2, 4}) {  // chunks per thread, along the longer split
      const int64_t cm = tm >= tn ? tm * g : tm, cn = tm >= tn ? tn : tn * g;
      if (cm > mp || cn > np) continue;
      double total = 0, largest = 0;
      for (int64_t i = 0; i < cm; ++i) {
        for (int64_t j = 0; j < cn; ++j) {
          int64_t pm0, pm1, pn0, pn1;
          chunk(mp, cm, i, &pm0, &pm1);
          chunk(np, cn, j, &pn0, &pn1);
          const double rows = std::min(pm1 * MR, x.M) - pm0 * MR;
          const double cols = std::min(pn1 * NR, x.N) - pn0 * NR;
          // A short last panel (mr < MR) costs nearly as much per k step as a full one.
          const double row_work =
              static_cast<double>(pm1 - pm0 - 1) * MR + std::max<double>(rows - (pm1 - pm0 - 1) * MR, MR / 2.0);
          double cost = 2.0 * row_work * (pn1 - pn0) * NR * x.K;
          if (!x.Ap) cost += kPackCost * rows * x.K * ceil_div(static_cast<int64_t>(cols), x.ks.nc);
          if (!x.Bp && !x.b_direct) cost += kPackCost * cols * x.K;
          total += cost;
          largest = std::max(largest, cost);
        }
      }
      // Greedy list scheduling finishes within total/threads + the largest chunk; count
      // half of that tail as the expected imbalance.
      const double est = total / threads + 0.5 * largest;
      if (best_cost < 0 || est < best_cost) {
        best_cost = est;
        best = {cm, cn};
      }
    }
  }
  return best;
}

}  // namespace

std::unique_ptr<PackedMatrix> pack_a(int64_t M, int64_t K, MatrixView A, Isa isa) {
  WALLE_CHECK(M >= 0 && K >= 0, Invalid, "pack_a: negative size");
  const KernelSpec ks = kernel_for(isa);
  const int64_t panels = ceil_div(M, ks.mr);
  auto p = std::make_unique<PackedPanels>(true, M, K, isa, ks.mr, K, panels);
  for (int64_t q = 0; q < panels; ++q)
    pack_a_panel(A, q * ks.mr, std::min<int64_t>(ks.mr, M - q * ks.mr), 0, K, ks.mr, p->panel(q), true);
  return p;
}

std::unique_ptr<PackedMatrix> pack_b(int64_t K, int64_t N, MatrixView B, Isa isa) {
  WALLE_CHECK(K >= 0 && N >= 0, Invalid, "pack_b: negative size");
  const KernelSpec ks = kernel_for(isa);
  const int64_t panels = ceil_div(N, ks.nr);
  auto p = std::make_unique<PackedPanels>(false, K, N, isa, ks.nr, K, panels);
  for (int64_t q = 0; q < panels; ++q)
    pack_b_panel(B, 0, K, q * ks.nr, std::min<int64_t>(ks.nr, N - q * ks.nr), ks.nr, p->panel(q));
  return p;
}

int64_t gemm_b_panel_width(Isa isa) { return kernel_for(isa).nr; }
int64_t gemm_a_panel_height(Isa isa) { return kernel_for(isa).mr; }

std::unique_ptr<PackedMatrix> packed_b_view(int64_t K, int64_t N, float* data, Isa isa) {
  WALLE_CHECK(K >= 0 && N >= 0 && data, Invalid, "packed_b_view: bad arguments");
  return std::make_unique<PackedPanels>(false, K, N, isa, kernel_for(isa).nr, K, data);
}

void sgemm_packed_serial(int64_t M, int64_t N, int64_t K, const PackedMatrix& A, const float* b_panels, float* C,
                         int64_t ldc, const GemmEpilogue& e, Isa isa) {
  WALLE_CHECK(ldc >= N && b_panels, Invalid, "sgemm_packed_serial: bad arguments");
  WALLE_CHECK(K > 0, Invalid, "sgemm_packed_serial: K must be positive");
  if (M == 0 || N == 0) return;
  Ctx x{};
  x.ks = kernel_for(isa);
  x.M = M, x.N = N, x.K = K, x.ldc = ldc, x.C = C, x.e = &e;
  x.Ap = checked_packed(GemmOperand{MatrixView{}, &A}, true, M, K, isa);
  const PackedPanels b(false, K, N, isa, x.ks.nr, K, const_cast<float*>(b_panels));  // read only
  x.Bp = &b;
  run_rect(x, 0, M, 0, N);
}

void sgemm(int64_t M, int64_t N, int64_t K, const GemmOperand& A, const GemmOperand& B, float* C, int64_t ldc,
           const GemmEpilogue& e, ThreadPool& pool, Isa isa) {
  WALLE_CHECK(M >= 0 && N >= 0 && K >= 0, Invalid, "sgemm: negative size");
  WALLE_CHECK(ldc >= N, Invalid, "sgemm: ldc smaller than N");
  WALLE_CHECK(e.bias_kind == GemmEpilogue::Bias::None || e.bias, Invalid, "sgemm: bias kind set without bias data");
  if (M == 0 || N == 0) return;
  Ctx x{};
  x.ks = kernel_for(isa);
  x.M = M, x.N = N, x.K = K, x.ldc = ldc, x.C = C, x.e = &e;
  x.A = A.view, x.B = B.view;
  x.Ap = checked_packed(A, true, M, K, isa);
  x.Bp = checked_packed(B, false, K, N, isa);
  if (K == 0) {  // C = epilogue(0)
    const GemmEpilogue& ep = e;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < N; ++c) {
        float v = 0.f;
        if (ep.bias_kind == GemmEpilogue::Bias::PerRow) v += ep.bias[r];
        if (ep.bias_kind == GemmEpilogue::Bias::PerCol) v += ep.bias[c];
        if (ep.residual) v += ep.residual[r * ep.residual_ld + c];
        C[r * ldc + c] = apply_activation(v, ep);
      }
    return;
  }
  // With up to three row panels each B element is used at most three times, and packing it
  // costs about as much as those uses: read it in place. Measured on 1x1 convs with few output
  // channels (MobileNetV2/SqueezeNet: 16..32 rows, K 32..192): 1.1-1.8x faster than packing.
  // (In place was no faster at M = 64 and 30% slower at M = 128.)
  x.b_direct = !x.Bp && B.view.col_stride == 1 && M <= 3 * x.ks.mr;

  const int threads = pool.size();
  // Waking the pool costs ~2-3 us. A compute-bound GEMM does ~0.5 MFLOP in that time, so
  // small ones run inline; a few-row GEMM is bound by streaming B (~15 GFLOP/s), so for it
  // splitting pays off from ~64 KFLOP.
  const double min_parallel_flops = M <= 4 ? 65536.0 : 524288.0;
  if (threads == 1 || 2.0 * M * N * K < min_parallel_flops) {
    run_rect(x, 0, M, 0, N);
    return;
  }
  const Grid g = plan_grid(x, threads);
  const int64_t mp = ceil_div(M, x.ks.mr), np = ceil_div(N, x.ks.nr), chunks = g.cm * g.cn;
  std::atomic<int64_t> next{0};
  pool.parallel_for(threads, [&](int64_t, int64_t) {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      int64_t pm0, pm1, pn0, pn1;
      chunk(mp, g.cm, c / g.cn, &pm0, &pm1);
      chunk(np, g.cn, c % g.cn, &pn0, &pn1);
      if (pm0 < pm1 && pn0 < pn1)
        run_rect(x, pm0 * x.ks.mr, std::min(pm1 * x.ks.mr, M), pn0 * x.ks.nr, std::min(pn1 * x.ks.nr, N));
    }
  });
}

}  // namespace walle::cpu
