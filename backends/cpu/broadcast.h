// Iteration plan for numpy broadcasting over N inputs: the output is walked as rows of its
// (collapsed) last dimension; each input advances by stride 0 (broadcast) or 1 within a row.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace walle::cpu {

struct BroadcastPlan {
  int64_t rows = 1;                                 // number of output rows
  int64_t row_size = 1;                             // elements per row
  std::vector<int64_t> outer_dims;                  // collapsed dims before the row
  std::vector<std::vector<int64_t>> outer_strides;  // per input, per outer dim (elements)
  std::vector<int64_t> row_strides;                 // per input: 0 or 1 (or a general stride)

  // Element offset of row `row` in input `i`.
  int64_t offset(int i, int64_t row) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(outer_dims.size()) - 1; d >= 0; --d) {
      int64_t idx = row % outer_dims[d];
      row /= outer_dims[d];
      off += idx * outer_strides[i][d];
    }
    return off;
  }
};

BroadcastPlan plan_broadcast(const Shape& out, const std::vector<Shape>& inputs);

}  // namespace walle::cpu
