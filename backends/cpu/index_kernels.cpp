// Reference kernels of the index-driven atomic ops: Scatter (region writes at index tuples,
// optionally reducing) and TopK (sorted indices of the k extreme values per column).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/scalar_ops.h"

namespace walle::cpu {

namespace {

// Offsets (in elements) of each index tuple's run; bounds checked, negatives wrap.
std::vector<int64_t> tuple_offsets(const AtomicOp& op, const int64_t* idx, int64_t count, int64_t inner) {
  size_t q = op.scatter_dims.size();
  std::vector<int64_t> offsets(count);
  for (int64_t t = 0; t < count; ++t) {
    int64_t off = 0;
    for (size_t j = 0; j < q; ++j) {
      int64_t dim = op.scatter_dims[j], v = idx[t * q + j];
      if (v < 0) v += dim;
      if (v < 0 || v >= dim)
        throw Error(ErrorKind::Input, op.origin + ": index " + std::to_string(idx[t * q + j]) + " is out of range for a dimension of " + std::to_string(dim));
      off = off * dim + v;
    }
    offsets[t] = off * inner;
  }
  return offsets;
}

std::unique_ptr<Kernel> make_scatter(const AtomicOp& op, const AtomicGraph& g) {
  DType t = g.tensors[op.output].dtype;
  int64_t n_out = numel(g.tensors[op.output].shape);
  size_t q = op.scatter_dims.size();
  int64_t count = q ? numel(g.tensors[op.inputs[1]].shape) / static_cast<int64_t>(q) : 0;
  int64_t inner = op.inner;
  return std::make_unique<FunctionKernel>(op.accumulate ? "scatter-reduce" : "scatter", [=](const KernelIO& io, ThreadPool&) {
    size_t elem = dtype_size(t);
    if (io.output != io.inputs[0]) std::memcpy(io.output, io.inputs[0], n_out * elem);
    std::vector<int64_t> offsets = tuple_offsets(op, static_cast<const int64_t*>(io.inputs[1]), count, inner);
    char* out = static_cast<char*>(io.output);
    const char* upd = static_cast<const char*>(io.inputs[2]);
    if (!op.accumulate) {
      for (int64_t k = 0; k < count; ++k) std::memcpy(out + offsets[k] * elem, upd + k * inner * elem, inner * elem);
      return;
    }
    visit_dtype(t, [&](auto zero) {
      using T = decltype(zero);
      using C = typename Compute<T>::type;
      T* o = reinterpret_cast<T*>(out);
      const T* u = reinterpret_cast<const T*>(upd);
      for (int64_t k = 0; k < count; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          T& dst = o[offsets[k] + i];
          dst = Compute<T>::store(binary_scalar<C>(op.binary, Compute<T>::load(dst), Compute<T>::load(u[k * inner + i])));
        }
    });
  });
}

std::unique_ptr<Kernel> make_topk(const AtomicOp& op, const AtomicGraph& g) {
  DType t = g.tensors[op.inputs[0]].dtype;
  return std::make_unique<FunctionKernel>("topk", [=](const KernelIO& io, ThreadPool& pool) {
    int64_t* out = static_cast<int64_t*>(io.output);
    visit_dtype(t, [&](auto zero) {
      using T = decltype(zero);
      using C = typename Compute<T>::type;
      const T* x = static_cast<const T*>(io.inputs[0]);
      int64_t n = op.reduce_size, inner = op.inner, k = op.k;
      parallel_rows(pool, op.outer * inner, n * 8, [&](int64_t b, int64_t e) {
        std::vector<int64_t> order(n);
        std::vector<C> v(n);
        for (int64_t col = b; col < e; ++col) {
          int64_t o = col / inner, i = col % inner;
          for (int64_t j = 0; j < n; ++j) v[j] = Compute<T>::load(x[(o * n + j) * inner + i]);
          std::iota(order.begin(), order.end(), 0);
          // NaN counts as the largest value (numpy's sort order); ties: lower index first
          auto before = [&](int64_t a, int64_t c) {
            bool na = v[a] != v[a], nc = v[c] != v[c];
            if (na || nc) return op.largest ? (na && !nc) : (!na && nc);
            return op.largest ? v[a] > v[c] : v[a] < v[c];
          };
          std::stable_sort(order.begin(), order.end(), before);
          for (int64_t j = 0; j < k; ++j) out[(o * k + j) * inner + i] = order[j];
        }
      });
    });
  });
}

bool int64_indices(const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.inputs[1]].dtype == DType::I64; }

}  // namespace

void register_index_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Scatter, {"scatter", Isa::Reference, int64_indices, make_scatter});
  r.add(AtomicKind::TopK, {"topk", Isa::Reference, nullptr, make_topk});
}

}  // namespace walle::cpu
