// Float32 inner loops of the elementwise and reduce kernels, one table per instruction set.
// The same source (elementwise_f32_impl.h) is compiled once per ISA with that ISA's flags,
// and the kernels pick a table at plan time from the session's Isa.
#pragma once
#include <cstdint>

#include "core/cpu_features.h"
#include "ops/atomic.h"

namespace walle::cpu {

struct ElementwiseF32 {
  // y[i] = op(x[i]) for i < n.
  void (*unary)(UnaryOp op, const float* x, float* y, int64_t n, float alpha, float beta);
  // y[i] = op(a[i*sa], b[i*sb]); comparison ops are not in this table (they produce bool).
  void (*binary)(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n);
  // y[o*inner + i] = reduce_r x[(o*R + r)*inner + i] for o < outer. Sum/Mean/Max/Min/SumSquare only.
  void (*reduce)(ReduceOp op, const float* x, int64_t outer, int64_t R, int64_t inner, float* y);
  // Row-wise softmax of rows x 'R' contiguous values (the Fused Softmax pattern).
  void (*softmax)(const float* x, int64_t rows, int64_t R, float* y);
  // Rows [row0, row0 + rows) of the Fused MaskedSoftmax pattern: softmax of
  // v = cond ? x * scale : fill along R, row r reading cond row r / rows_per_cond (cond
  // null: v = x * scale). x, cond and y point at row 0.
  void (*masked_softmax)(const float* x, const uint8_t* cond, int64_t row0, int64_t rows, int64_t R,
                         int64_t rows_per_cond, float scale, float fill, float* y);
  // Row-wise layer normalization; scale and bias ([R]) may be null (the Fused LayerNorm pattern).
  void (*layernorm)(const float* x, int64_t rows, int64_t R, const float* scale, const float* bias, float eps,
                    float* y);
};

const ElementwiseF32& elementwise_f32(Isa isa);
bool elementwise_f32_has_binary(BinaryOp op);
bool elementwise_f32_has_reduce(ReduceOp op);

// Per-ISA tables (defined in reference/, x86/ and arm/).
const ElementwiseF32& elementwise_f32_reference();
const ElementwiseF32& elementwise_f32_avx2();
const ElementwiseF32& elementwise_f32_avx512();
const ElementwiseF32& elementwise_f32_neon();

}  // namespace walle::cpu
