// Kernels for the Fused patterns (ops/atomic.h FusedOp) the CPU backend claims: softmax (also
// of masked, scaled attention scores) and layer normalization along the last axis, one pass
// per row instead of one atomic op (and one sweep over memory) per step of the decomposition.
// Registered for AVX2/AVX-512 only, so the cpu-reference backend keeps the atomic ops, the
// ground truth these are tested against.
#include "cpu/elementwise_f32.h"
#include "cpu/kernels.h"

namespace walle::cpu {

namespace {

bool accepts(const AtomicOp& op, const AtomicGraph& g) {
  if (g.tensors[op.output].dtype != DType::F32) return false;
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    const bool mask = op.fused == FusedOp::MaskedSoftmax && k == 1;  // the bool condition
    if (op.inputs[k] >= 0 && g.tensors[op.inputs[k]].dtype != (mask ? DType::Bool : DType::F32)) return false;
  }
  return true;
}

std::unique_ptr<Kernel> make_fused(const AtomicOp& op, Isa isa) {
  const ElementwiseF32& t = elementwise_f32(isa);
  const int64_t rows = op.outer, R = op.reduce_size;
  const std::string suffix = std::string("-") + isa_name(isa);
  if (op.fused == FusedOp::Softmax)
    return std::make_unique<FunctionKernel>(
        "f32-softmax" + suffix, [&t, rows, R](const KernelIO& io, ThreadPool& pool) {
          const float* x = static_cast<const float*>(io.inputs[0]);
          float* y = static_cast<float*>(io.output);
          parallel_rows(pool, rows, 8 * R, [&](int64_t b, int64_t e) { t.softmax(x + b * R, e - b, R, y + b * R); });
        });
  if (op.fused == FusedOp::MaskedSoftmax) {
    const int64_t rows_per_cond = op.inner;
    const float scale = op.alpha, fill = op.beta;
    auto run = [&t, rows, R, rows_per_cond, scale, fill](const KernelIO& io, ThreadPool& pool) {
      const float* x = static_cast<const float*>(io.inputs[0]);
      const uint8_t* cond = io.inputs.size() > 1 ? static_cast<const uint8_t*>(io.inputs[1]) : nullptr;
      float* y = static_cast<float*>(io.output);
      parallel_rows(pool, rows, 8 * R, [&](int64_t b, int64_t e) {
        t.masked_softmax(x, cond, b, e - b, R, rows_per_cond, scale, fill, y);
      });
    };
    return std::make_unique<FunctionKernel>("f32-masked-softmax" + suffix, run);
  }
  const float eps = op.alpha;
  return std::make_unique<FunctionKernel>(
      "f32-layernorm" + suffix, [&t, rows, R, eps](const KernelIO& io, ThreadPool& pool) {
        const float* x = static_cast<const float*>(io.inputs[0]);
        const float* scale = static_cast<const float*>(io.inputs[1]);
        const float* bias = static_cast<const float*>(io.inputs[2]);
        float* y = static_cast<float*>(io.output);
        parallel_rows(pool, rows, 4 * R,
                      [&](int64_t b, int64_t e) { t.layernorm(x + b * R, e - b, R, scale, bias, eps, y + b * R); });
      });
}

}  // namespace

void register_fused_kernels(KernelRegistry& r) {
  for (Isa isa : simd_isas())
    r.add(AtomicKind::Fused,
          {"f32-fused", isa, accepts, [isa](const AtomicOp& op, const AtomicGraph&) { return make_fused(op, isa); }});
}

}  // namespace walle::cpu
