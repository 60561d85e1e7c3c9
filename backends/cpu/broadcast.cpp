#include "cpu/broadcast.h"

namespace walle::cpu {

BroadcastPlan plan_broadcast(const Shape& out, const std::vector<Shape>& inputs) {
  const size_t rank = out.size(), n_in = inputs.size();
  // Right-aligned strides of every input over the output's dims (0 where broadcast).
  std::vector<std::vector<int64_t>> strides(n_in, std::vector<int64_t>(rank, 0));
  for (size_t i = 0; i < n_in; ++i) {
    const Shape& s = inputs[i];
    int64_t stride = 1;
    for (size_t k = 0; k < s.size(); ++k) {
      size_t d = rank - 1 - k, src = s.size() - 1 - k;
      strides[i][d] = s[src] == 1 ? 0 : stride;
      stride *= s[src];
    }
  }
  // Collapse adjacent dims d-1, d when every input is contiguous across them (or broadcast in both).
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> cs(n_in);
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t i = 0; merge && i < n_in; ++i) merge = cs[i].back() == strides[i][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (size_t i = 0; i < n_in; ++i) cs[i].back() = strides[i][d];
    } else {
      dims.push_back(out[d]);
      for (size_t i = 0; i < n_in; ++i) cs[i].push_back(strides[i][d]);
    }
  }
  BroadcastPlan plan;
  plan.row_strides.assign(n_in, 0);
  plan.outer_strides.assign(n_in, {});
  if (dims.empty()) return plan;  // a scalar output
  plan.row_size = dims.back();
  for (size_t i = 0; i < n_in; ++i) plan.row_strides[i] = cs[i].back();
  for (size_t d = 0; d + 1 < dims.size(); ++d) {
    plan.outer_dims.push_back(dims[d]);
    plan.rows *= dims[d];
    for (size_t i = 0; i < n_in; ++i) plan.outer_strides[i].push_back(cs[i][d]);
  }
  return plan;
}

}  // namespace walle::cpu
