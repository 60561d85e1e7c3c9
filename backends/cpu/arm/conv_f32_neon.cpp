// Float32 depthwise-convolution, pooling and Winograd-transform loops for the NEON level: the
// shared row loops of cpu/conv_f32_impl.h, which GCC vectorizes with NEON (the aarch64
// baseline), as the x86 files compile them with their -m flags. Convolutions through a GEMM
// (im2col, Winograd's products) run on the NEON microkernel in gemm_neon.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/conv_f32.h"
#include "cpu/scalar_ops.h"
#include "cpu/winograd_transforms.h"

namespace {
#include "cpu/conv_f32_impl.h"
}  // namespace

namespace walle::cpu {
const ConvF32& conv_f32_neon() { return kConvTable; }
}  // namespace walle::cpu
