// Single-precision GEMM for the CPU backend: C[M,N] = epilogue(A[M,K] * B[K,N]).
//
// Operands are strided views, so transposed inputs need no copy. Either operand may be
// packed ahead of time (constant weights are packed once, when a kernel is planned).
// The implementation picks its microkernel by Isa: reference (portable C++), AVX2+FMA or
// AVX-512; every Isa gives the same results up to float rounding.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace walle::cpu {

// A read-only strided matrix view: element (r, c) is data[r * row_stride + c * col_stride].
struct MatrixView {
  const float* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
};

enum class Activation { None, Relu, Clip, Sigmoid, Gelu /* erf form */, Silu };

struct GemmEpilogue {
  // Bias added before the activation: bias[r] (per row, as conv's per-output-channel bias
  // when A holds the weights) or bias[c] (per column, as MatMul+Add with B holding weights).
  enum class Bias { None, PerRow, PerCol } bias_kind = Bias::None;
  const float* bias = nullptr;
  Activation activation = Activation::None;
  float clip_min = 0.f, clip_max = 0.f;  // for Activation::Clip (ReLU6 is Clip 0..6)
  // Optional residual added after bias and before activation: C += residual[r*ldr + c].
  const float* residual = nullptr;
  int64_t residual_ld = 0;
};

// An operand stored in the microkernel's panel layout. Build with pack_a/pack_b.
class PackedMatrix {
 public:
  virtual ~PackedMatrix() = default;
  virtual int64_t rows() const = 0;
  virtual int64_t cols() const = 0;
};

// Pack A (M x K) or B (K x N) for repeated use with the given isa.
std::unique_ptr<PackedMatrix> pack_a(int64_t M, int64_t K, MatrixView A, Isa isa);
std::unique_ptr<PackedMatrix> pack_b(int64_t K, int64_t N, MatrixView B, Isa isa);

// Columns per panel of pack_b's layout for `isa` (NR of its microkernel).
int64_t gemm_b_panel_width(Isa isa);
// Rows per panel of pack_a's layout for `isa` (MR of its microkernel).
int64_t gemm_a_panel_height(Isa isa);
// A packed B (K x N) over caller-owned memory in pack_b's layout: panel q = column block
// [q*NR, q*NR + NR) stored at data + q*K*NR, element (k, q*NR + j) at [k*NR + j], columns
// past N zero; ceil(N / NR) * K * NR floats, 64-byte aligned. A producer such as conv's
// im2col writes the panels directly, so sgemm does not pack B again. `data` must outlive it.
std::unique_ptr<PackedMatrix> packed_b_view(int64_t K, int64_t N, float* data, Isa isa);

// One operand is given either as a view or as a packed matrix (packed takes precedence).
struct GemmOperand {
  MatrixView view;
  const PackedMatrix* packed = nullptr;
};

// C has row stride ldc and unit column stride. Work is split over pool's threads.
void sgemm(int64_t M, int64_t N, int64_t K, const GemmOperand& A, const GemmOperand& B, float* C, int64_t ldc,
           const GemmEpilogue& epilogue, ThreadPool& pool, Isa isa);

// C (M x N, row stride ldc) = epilogue(A * B) on the calling thread only: A made by pack_a, B
// in pack_b's layout over caller memory (as packed_b_view describes). For kernels that split
// their work over threads themselves (Winograd's tile blocks, blocked im2col) and so must not
// fork again.
void sgemm_packed_serial(int64_t M, int64_t N, int64_t K, const PackedMatrix& A, const float* b_panels, float* C,
                         int64_t ldc, const GemmEpilogue& epilogue, Isa isa);

// The plain triple-loop reference every optimized path is tested against.
void sgemm_reference(int64_t M, int64_t N, int64_t K, MatrixView A, MatrixView B, float* C, int64_t ldc,
                     const GemmEpilogue& epilogue);

// Applies the epilogue's activation to one value (shared by every microkernel's tail code).
float apply_activation(float x, const GemmEpilogue& e);

}  // namespace walle::cpu
