// Reduce over the middle axis of [outer, R, inner]: generic for every dtype, and float32
// Sum/Mean/Max/Min/SumSquare through the per-ISA loops.
#include <cmath>
#include <limits>

#include "cpu/dispatch.h"
#include "cpu/elementwise_f32.h"
#include "cpu/kernels.h"

namespace walle::cpu {

namespace {

template <typename T>
std::unique_ptr<Kernel> reduce_generic(const AtomicOp& op) {
  using C = typename Compute<T>::type;
  // Accumulate floats in double and integers in their own type, as numpy does for sums.
  using Acc = std::conditional_t<std::is_floating_point_v<C>, double, C>;
  int64_t outer = op.outer, R = op.reduce_size, inner = op.inner;
  ReduceOp rop = op.reduce;
  bool last = op.select_last_index;
  return std::make_unique<FunctionKernel>("reduce-reference", [=](const KernelIO& io, ThreadPool& pool) {
    const T* x = static_cast<const T*>(io.inputs[0]);
    parallel_rows(pool, outer * inner, R, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / inner, i = t % inner;
        const T* src = x + o * R * inner + i;
        auto at = [&](int64_t r) { return static_cast<Acc>(Compute<T>::load(src[r * inner])); };
        if (rop == ReduceOp::ArgMax || rop == ReduceOp::ArgMin) {
          int64_t best = 0;
          for (int64_t r = 1; r < R; ++r) {
            Acc v = at(r), cur = at(best);
            bool better = rop == ReduceOp::ArgMax ? (last ? v >= cur : v > cur) : (last ? v <= cur : v < cur);
            if (better) best = r;
          }
          static_cast<int64_t*>(io.output)[t] = best;
          continue;
        }
        Acc acc;
        switch (rop) {
          case ReduceOp::Max:
            acc = R ? at(0) : static_cast<Acc>(std::numeric_limits<C>::lowest());
            for (int64_t r = 1; r < R; ++r) acc = at(r) > acc || at(r) != at(r) ? at(r) : acc;
            break;
          case ReduceOp::Min:
            acc = R ? at(0) : static_cast<Acc>(std::numeric_limits<C>::max());
            for (int64_t r = 1; r < R; ++r) acc = at(r) < acc || at(r) != at(r) ? at(r) : acc;
            break;
          case ReduceOp::Prod:
            acc = 1;
            for (int64_t r = 0; r < R; ++r) acc *= at(r);
            break;
          case ReduceOp::LogSumExp: {
            Acc m = R ? at(0) : Acc(0);
            for (int64_t r = 1; r < R; ++r) m = at(r) > m ? at(r) : m;
            double s = 0;
            for (int64_t r = 0; r < R; ++r) s += std::exp(static_cast<double>(at(r) - m));
            acc = static_cast<Acc>(static_cast<double>(m) + std::log(s));
            if (R == 0) acc = static_cast<Acc>(-INFINITY);
            break;
          }
          default: {
            acc = 0;
            for (int64_t r = 0; r < R; ++r) {
              Acc v = at(r);
              if (rop == ReduceOp::SumSquare || rop == ReduceOp::L2)
                acc += v * v;
              else if (rop == ReduceOp::L1)
                acc += v < 0 ? -v : v;
              else
                acc += v;
            }
            if (rop == ReduceOp::Mean) acc = R ? static_cast<Acc>(acc / static_cast<Acc>(R)) : acc;
            if (rop == ReduceOp::L2) acc = static_cast<Acc>(std::sqrt(static_cast<double>(acc)));
            if (rop == ReduceOp::LogSum) acc = static_cast<Acc>(std::log(static_cast<double>(acc)));
          }
        }
        static_cast<T*>(io.output)[t] = Compute<T>::store(static_cast<C>(acc));
      }
    });
  });
}

std::unique_ptr<Kernel> make_reduce_generic(const AtomicOp& op, const AtomicGraph& g) {
  return visit_dtype(g.tensors[op.inputs[0]].dtype, [&](auto tag) { return reduce_generic<decltype(tag)>(op); });
}

std::unique_ptr<Kernel> make_reduce_f32(const AtomicOp& op, Isa isa) {
  const ElementwiseF32& table = elementwise_f32(isa);
  int64_t outer = op.outer, R = op.reduce_size, inner = op.inner;
  ReduceOp rop = op.reduce;
  return std::make_unique<FunctionKernel>(std::string("f32-reduce-") + isa_name(isa),
                                          [=, &table](const KernelIO& io, ThreadPool& pool) {
                                            const float* x = static_cast<const float*>(io.inputs[0]);
                                            float* y = static_cast<float*>(io.output);
                                            parallel_rows(pool, outer, R * inner, [&](int64_t b, int64_t e) {
                                              table.reduce(rop, x + b * R * inner, e - b, R, inner, y + b * inner);
                                            });
                                          });
}

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Reduce, {"reduce-reference", Isa::Reference, nullptr, make_reduce_generic});
  for (Isa isa : simd_isas())
    r.add(AtomicKind::Reduce, {"f32-reduce", isa,
                               [](const AtomicOp& op, const AtomicGraph& g) {
                                 return g.tensors[op.inputs[0]].dtype == DType::F32 && op.reduce_size > 0 &&
                                        elementwise_f32_has_reduce(op.reduce);
                               },
                               [isa](const AtomicOp& op, const AtomicGraph&) { return make_reduce_f32(op, isa); }});
}

}  // namespace walle::cpu
