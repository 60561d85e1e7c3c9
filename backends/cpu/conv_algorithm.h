// Which algorithm runs a float32 Conv on the CPU, chosen per op from a cost estimate (ready for
// the search to override or measure instead). WALLE_CONV_ALGO=im2col|winograd forces a choice
// wherever that algorithm applies (tests, tuning).
#pragma once
#include <memory>

#include "core/cpu_features.h"
#include "runtime/backend.h"

namespace walle::cpu {

enum class ConvAlgorithm { Im2colGemm, WinogradF23 };

struct ConvEstimate {
  double im2col_us = 0, winograd_us = -1;  // -1: does not apply
};

bool winograd_f23_applies(const AtomicOp& op);
ConvEstimate estimate_conv(const AtomicOp& op, Isa isa);
ConvAlgorithm choose_conv_algorithm(const AtomicOp& op, Isa isa);

// Winograd F(2x2, 3x3) for 3x3 stride-1 undilated ungrouped convolutions.
std::unique_ptr<Kernel> make_conv_winograd_f23(const AtomicOp& op, Isa isa);

}  // namespace walle::cpu
