// Reference kernels of the atomic ops with no decomposition: Scatter (region writes at index
// tuples, optionally reducing), TopK (sorted indices of the k extreme values per column) and
// Random (numpy-compatible MT19937 draws).
#include <algorithm>
#include <cmath>
#include <random>
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
        throw Error(ErrorKind::Input, op.origin + ": index " + std::to_string(idx[t * q + j]) +
                                          " is out of range for a dimension of " + std::to_string(dim));
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
  return std::make_unique<FunctionKernel>(op.accumulate ? "scatter-reduce" : "scatter", [=](const KernelIO& io,
                                                                                            ThreadPool&) {
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
          dst =
              Compute<T>::store(binary_scalar<C>(op.binary, Compute<T>::load(dst), Compute<T>::load(u[k * inner + i])));
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

// MT19937 with numpy's legacy seeding and 53-bit doubles (RandomState.random_sample).
class Mt19937 {
 public:
  explicit Mt19937(uint32_t seed) {
    mt_[0] = seed;
    for (int i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  uint32_t next() {
    if (pos_ >= 624) twist();
    uint32_t y = mt_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
  double next_double() {
    uint32_t a = next() >> 5, b = next() >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

 private:
  void twist() {
    for (int k = 0; k < 624; ++k) {
      uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % 624] & 0x7fffffffu);
      mt_[k] = mt_[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    pos_ = 0;
  }
  uint32_t mt_[624];
  int pos_ = 624;
};

// numpy's legacy binomial(1, p) by inversion (p > 0.5 inverts 1 - p); one draw per element,
// p = 0 included (checked against RandomState.binomial).
int64_t bernoulli_draw(Mt19937& rng, double p) {
  bool flip = p > 0.5;
  if (flip) p = 1.0 - p;
  double q = 1.0 - p, qn = std::exp(std::log(q)), bound = std::min(1.0, p + 10.0 * std::sqrt(p * q + 1));
  int64_t x = 0;
  double px = qn, u = rng.next_double();
  while (u > px) {
    ++x;
    if (x > bound) {
      x = 0;
      px = qn;
      u = rng.next_double();
    } else {
      u -= px;
      px = ((1 - x + 1) * p * px) / (x * q);
    }
  }
  return flip ? 1 - x : x;
}

std::unique_ptr<Kernel> make_random(const AtomicOp& op, const AtomicGraph& g) {
  DType t = g.tensors[op.output].dtype;
  DType in = op.bernoulli ? g.tensors[op.inputs[0]].dtype : DType::F64;
  int64_t n = numel(g.tensors[op.output].shape);
  return std::make_unique<FunctionKernel>(
      op.bernoulli ? "random-bernoulli" : "random-uniform", [=](const KernelIO& io, ThreadPool&) {
        Mt19937 rng(op.seed >= 0 ? static_cast<uint32_t>(op.seed) : std::random_device{}());
        if (!op.bernoulli) {
          double* out = static_cast<double*>(io.output);
          for (int64_t i = 0; i < n; ++i) out[i] = rng.next_double();
          return;
        }
        std::vector<double> p(n);
        visit_dtype(in, [&](auto zero) {
          using T = decltype(zero);
          const T* x = static_cast<const T*>(io.inputs[0]);
          for (int64_t i = 0; i < n; ++i) p[i] = static_cast<double>(Compute<T>::load(x[i]));
        });
        visit_dtype(t, [&](auto zero) {
          using T = decltype(zero);
          using C = typename Compute<T>::type;
          T* out = static_cast<T*>(io.output);
          for (int64_t i = 0; i < n; ++i) out[i] = Compute<T>::store(static_cast<C>(bernoulli_draw(rng, p[i])));
        });
      });
}

bool int64_indices(const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.inputs[1]].dtype == DType::I64; }

}  // namespace

void register_index_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Scatter, {"scatter", Isa::Reference, int64_indices, make_scatter});
  r.add(AtomicKind::TopK, {"topk", Isa::Reference, nullptr, make_topk});
  r.add(AtomicKind::Random, {"random", Isa::Reference, nullptr, make_random});
}

}  // namespace walle::cpu
