// Which algorithm runs a float32 Conv on the CPU, chosen per op from a cost estimate (ready for
// the search to override or measure instead). WALLE_CONV_ALGO=im2col|winograd|winograd-f23|
// winograd-f43 forces a choice wherever that algorithm applies (tests, tuning); "winograd"
// leaves the tile size to the estimate.
#pragma once
#include <memory>

#include "core/cpu_features.h"
#include "runtime/backend.h"

namespace walle::cpu {

enum class ConvAlgorithm { Im2colGemm, WinogradF23, WinogradF43 };

struct ConvEstimate {
  double im2col_us = 0, winograd_f23_us = 1e300, winograd_f43_us = 1e300;  // 1e300: does not apply
};

bool winograd_applies(const AtomicOp& op);
ConvEstimate estimate_conv(const AtomicOp& op, Isa isa);
ConvAlgorithm choose_conv_algorithm(const AtomicOp& op, Isa isa);

// Winograd F(2x2, 3x3) or F(4x4, 3x3) (by `algorithm`) for 3x3 stride-1 undilated ungrouped
// convolutions with constant weights.
std::unique_ptr<Kernel> make_conv_winograd(const AtomicOp& op, Isa isa, ConvAlgorithm algorithm);

}  // namespace walle::cpu
