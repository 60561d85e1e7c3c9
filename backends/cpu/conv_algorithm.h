// How a float32 NCHW Conv can run on the CPU: the estimates behind the order of the Conv
// kernel's variants (conv_kernels.cpp: conv_variants), which the search chooses among and tune
// mode measures; SessionOptions::force picks one by name.
#pragma once
#include <memory>

#include "core/cpu_features.h"
#include "backend/backend.h"

namespace walle::cpu {

struct ConvEstimate {
  double im2col_us = 0, winograd_f23_us = 1e300, winograd_f43_us = 1e300;  // 1e300: does not apply
};

bool winograd_applies(const AtomicOp& op);
ConvEstimate estimate_conv(const AtomicOp& op, Isa isa);

// Winograd F(2x2, 3x3) or F(4x4, 3x3) (`tile` 2 or 4) for 3x3 stride-1 undilated ungrouped
// convolutions with constant weights.
std::unique_ptr<Kernel> make_conv_winograd(const AtomicOp& op, Isa isa, int tile);

}  // namespace walle::cpu
