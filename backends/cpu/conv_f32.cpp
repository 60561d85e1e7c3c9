// The portable instance of the depthwise/pool loops, and the per-ISA table choice.
#include "cpu/conv_f32.h"
#include "cpu/scalar_ops.h"
#include "cpu/winograd_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace {
#include "cpu/conv_f32_impl.h"
}  // namespace

namespace walle::cpu {

const ConvF32& conv_f32_reference() { return kConvTable; }

const ConvF32& conv_f32(Isa isa) {
#if defined(WALLE_HAVE_X86_KERNELS)
  if (isa == Isa::Avx512) return conv_f32_avx512();
  if (isa == Isa::Avx2) return conv_f32_avx2();
#elif defined(WALLE_HAVE_ARM_KERNELS)
  if (isa == Isa::Neon) return conv_f32_neon();
#endif
  (void)isa;
  return conv_f32_reference();
}

}  // namespace walle::cpu
