// Float32 elementwise/reduce loops compiled for reference (flags set per file in CMake).
#include "cpu/elementwise_f32.h"
#include "cpu/scalar_ops.h"

#include <vector>

namespace {
#include "cpu/elementwise_f32_impl.h"
}  // namespace

namespace walle::cpu {
const ElementwiseF32& elementwise_f32_reference() { return kTable; }
}  // namespace walle::cpu
