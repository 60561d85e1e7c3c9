// Float32 depthwise-convolution, pooling and Winograd-transform loops for the NEON level: the
// shared row loops of cpu/conv_f32_impl.h, which GCC vectorizes with NEON (the aarch64
// baseline), as the x86 files compile them with their -m flags. Convolutions through a GEMM
// (im2col, 1x1, Winograd's products) run on the NEON microkernel in gemm_neon.cpp.
//
// Hand-written intrinsics for the 3x3 depthwise planes (stride 1 by unaligned loads, stride 2
// by LD2) were tried and dropped: under qemu they retired more instructions per MobileNetV2
// inference (224x224, one thread) than these loops compiled by GCC 12 -O3: 231.6 M (stride 1
// at >= 32 columns) and 251.9 M (stride 1 and 2) against 229.6 M
// (bench/arm/count_instructions.sh).
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
