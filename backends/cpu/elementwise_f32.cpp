#include "cpu/elementwise_f32.h"

namespace walle::cpu {

const ElementwiseF32& elementwise_f32(Isa isa) {
#if defined(WALLE_HAVE_X86_KERNELS)
  if (isa == Isa::Avx512) return elementwise_f32_avx512();
  if (isa == Isa::Avx2) return elementwise_f32_avx2();
#elif defined(WALLE_HAVE_ARM_KERNELS)
  if (isa == Isa::Neon) return elementwise_f32_neon();
#endif
  (void)isa;
  return elementwise_f32_reference();
}

bool elementwise_f32_has_binary(BinaryOp op) { return !binary_is_comparison(op); }

bool elementwise_f32_has_reduce(ReduceOp op) {
  return op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Max || op == ReduceOp::Min ||
         op == ReduceOp::SumSquare;
}

}  // namespace walle::cpu
