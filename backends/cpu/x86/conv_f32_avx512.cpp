// Float32 depthwise-convolution and pooling loops compiled for avx512 (flags set per file in CMake).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <immintrin.h>
#include <limits>
#include <vector>

#include "cpu/conv_f32.h"
#include "cpu/scalar_ops.h"
#include "cpu/winograd_transforms.h"

namespace {
#include "cpu/conv_f32_impl.h"
}  // namespace

namespace walle::cpu {
const ConvF32& conv_f32_avx512() { return kConvTable; }
}  // namespace walle::cpu
