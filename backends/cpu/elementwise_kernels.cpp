// Unary, Binary, Select and Cast: a generic kernel for every dtype (the reference), and the
// float32 fast path through the per-ISA loop tables.
#include "cpu/broadcast.h"
#include "cpu/dispatch.h"
#include "cpu/elementwise_f32.h"
#include "cpu/kernels.h"
#include "cpu/scalar_ops.h"
#include "core/small_types.h"

namespace walle::cpu {

namespace {

const AtomicTensor& in_t(const AtomicOp& op, const AtomicGraph& g, int i) { return g.tensors[op.inputs[i]]; }
const AtomicTensor& out_t(const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.output]; }

std::unique_ptr<Kernel> make_unary_generic(const AtomicOp& op, const AtomicGraph& g) {
  DType t = out_t(op, g).dtype;
  int64_t n = numel(out_t(op, g).shape);
  UnaryOp u = op.unary;
  float alpha = op.alpha, beta = op.beta;
  return visit_dtype(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    using C = typename Compute<T>::type;
    return std::make_unique<FunctionKernel>("unary-reference", [=](const KernelIO& io, ThreadPool& pool) {
      const T* x = static_cast<const T*>(io.inputs[0]);
      T* y = static_cast<T*>(io.output);
      parallel_rows(pool, n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          y[i] = Compute<T>::store(unary_scalar<C>(u, Compute<T>::load(x[i]), alpha, beta));
      });
    });
  });
}

std::unique_ptr<Kernel> make_unary_f32(const AtomicOp& op, const AtomicGraph& g, Isa isa) {
  int64_t n = numel(out_t(op, g).shape);
  const ElementwiseF32& table = elementwise_f32(isa);
  UnaryOp u = op.unary;
  float alpha = op.alpha, beta = op.beta;
  return std::make_unique<FunctionKernel>(
      std::string("f32-unary-") + isa_name(isa), [=, &table](const KernelIO& io, ThreadPool& pool) {
        const float* x = static_cast<const float*>(io.inputs[0]);
        float* y = static_cast<float*>(io.output);
        parallel_rows(pool, n, 1, [&](int64_t b, int64_t e) { table.unary(u, x + b, y + b, e - b, alpha, beta); });
      });
}

std::unique_ptr<Kernel> make_binary_generic(const AtomicOp& op, const AtomicGraph& g) {
  BroadcastPlan plan = plan_broadcast(out_t(op, g).shape, {in_t(op, g, 0).shape, in_t(op, g, 1).shape});
  BinaryOp b = op.binary;
  bool compare = binary_is_comparison(b);
  return visit_dtype(in_t(op, g, 0).dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    using C = typename Compute<T>::type;
    return std::make_unique<FunctionKernel>("binary-reference", [=](const KernelIO& io, ThreadPool& pool) {
      const T* a = static_cast<const T*>(io.inputs[0]);
      const T* c = static_cast<const T*>(io.inputs[1]);
      parallel_rows(pool, plan.rows, plan.row_size, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* pa = a + plan.offset(0, r);
          const T* pb = c + plan.offset(1, r);
          int64_t sa = plan.row_strides[0], sb = plan.row_strides[1], base = r * plan.row_size;
          for (int64_t i = 0; i < plan.row_size; ++i) {
            C va = Compute<T>::load(pa[i * sa]), vb = Compute<T>::load(pb[i * sb]);
            if (compare)
              static_cast<bool*>(io.output)[base + i] = compare_scalar<C>(b, va, vb);
            else
              static_cast<T*>(io.output)[base + i] = Compute<T>::store(binary_scalar<C>(b, va, vb));
          }
        }
      });
    });
  });
}

std::unique_ptr<Kernel> make_binary_f32(const AtomicOp& op, const AtomicGraph& g, Isa isa) {
  BroadcastPlan plan = plan_broadcast(out_t(op, g).shape, {in_t(op, g, 0).shape, in_t(op, g, 1).shape});
  const ElementwiseF32& table = elementwise_f32(isa);
  BinaryOp b = op.binary;
  return std::make_unique<FunctionKernel>(
      std::string("f32-binary-") + isa_name(isa), [=, &table](const KernelIO& io, ThreadPool& pool) {
        const float* a = static_cast<const float*>(io.inputs[0]);
        const float* c = static_cast<const float*>(io.inputs[1]);
        float* y = static_cast<float*>(io.output);
        if (plan.rows == 1) {  // one long row: split the row itself across threads
          parallel_rows(pool, plan.row_size, 1, [&](int64_t i0, int64_t i1) {
            table.binary(b, a + i0 * plan.row_strides[0], plan.row_strides[0], c + i0 * plan.row_strides[1],
                         plan.row_strides[1], y + i0, i1 - i0);
          });
          return;
        }
        parallel_rows(pool, plan.rows, plan.row_size, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            table.binary(b, a + plan.offset(0, r), plan.row_strides[0], c + plan.offset(1, r), plan.row_strides[1],
                         y + r * plan.row_size, plan.row_size);
        });
      });
}

// Select on 4-byte elements (float32, int32): a branch-free word copy per element, with the
// stride patterns split out so the loops vectorize (attention masks: cond broadcast, y scalar).
std::unique_ptr<Kernel> make_select_32bit(const AtomicOp& op, const AtomicGraph& g) {
  BroadcastPlan plan =
      plan_broadcast(out_t(op, g).shape, {in_t(op, g, 0).shape, in_t(op, g, 1).shape, in_t(op, g, 2).shape});
  return std::make_unique<FunctionKernel>("select-32bit", [plan](const KernelIO& io, ThreadPool& pool) {
    const bool* cond = static_cast<const bool*>(io.inputs[0]);
    const uint32_t* x = static_cast<const uint32_t*>(io.inputs[1]);
    const uint32_t* y = static_cast<const uint32_t*>(io.inputs[2]);
    uint32_t* out = static_cast<uint32_t*>(io.output);
    const int64_t n = plan.row_size, sc = plan.row_strides[0], sx = plan.row_strides[1], sy = plan.row_strides[2];
    parallel_rows(pool, plan.rows, n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const bool* __restrict pc = cond + plan.offset(0, r);
        const uint32_t* __restrict px = x + plan.offset(1, r);
        const uint32_t* __restrict py = y + plan.offset(2, r);
        uint32_t* __restrict po = out + r * n;
        if (sc == 1 && sx == 1 && sy == 0) {
          const uint32_t yv = py[0];
          for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : yv;
        } else if (sc == 1 && sx == 1 && sy == 1) {
          for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
        } else {
          for (int64_t i = 0; i < n; ++i) po[i] = pc[i * sc] ? px[i * sx] : py[i * sy];
        }
      }
    });
  });
}

std::unique_ptr<Kernel> make_select(const AtomicOp& op, const AtomicGraph& g) {
  BroadcastPlan plan =
      plan_broadcast(out_t(op, g).shape, {in_t(op, g, 0).shape, in_t(op, g, 1).shape, in_t(op, g, 2).shape});
  size_t elem = dtype_size(out_t(op, g).dtype);
  return std::make_unique<FunctionKernel>("select-reference", [=](const KernelIO& io, ThreadPool& pool) {
    const bool* cond = static_cast<const bool*>(io.inputs[0]);
    const char* x = static_cast<const char*>(io.inputs[1]);
    const char* y = static_cast<const char*>(io.inputs[2]);
    char* out = static_cast<char*>(io.output);
    parallel_rows(pool, plan.rows, plan.row_size, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const bool* pc = cond + plan.offset(0, r);
        const char* px = x + plan.offset(1, r) * elem;
        const char* py = y + plan.offset(2, r) * elem;
        char* po = out + r * plan.row_size * elem;
        for (int64_t i = 0; i < plan.row_size; ++i) {
          const char* src =
              pc[i * plan.row_strides[0]] ? px + i * plan.row_strides[1] * elem : py + i * plan.row_strides[2] * elem;
          std::memcpy(po + i * elem, src, elem);
        }
      }
    });
  });
}

// Float to integer conversion saturates like ONNX Runtime's (NaN -> 0) instead of being UB.
template <typename To, typename From>
To convert_value(From v) {
  using CF = typename Compute<From>::type;
  using CT = typename Compute<To>::type;
  CF x = Compute<From>::load(v);
  if constexpr (std::is_same_v<CT, bool>)
    return Compute<To>::store(x != CF(0));
  else if constexpr (std::is_integral_v<CT> && std::is_floating_point_v<CF>) {
    if (std::isnan(x)) return Compute<To>::store(CT(0));
    if (x <= static_cast<CF>(std::numeric_limits<CT>::lowest())) return std::numeric_limits<CT>::lowest();
    if (x >= static_cast<CF>(std::numeric_limits<CT>::max())) return std::numeric_limits<CT>::max();
    return static_cast<CT>(x);
  } else
    return Compute<To>::store(static_cast<CT>(x));
}

// Casts from or to the sub-16-bit types go through double (core/small_types.h).
std::unique_ptr<Kernel> make_small_cast(const AtomicOp& op, const AtomicGraph& g) {
  int64_t n = numel(out_t(op, g).shape);
  DType from = in_t(op, g, 0).dtype, to = op.cast_to;
  bool saturate = op.saturate;
  int round = op.cast_round;
  auto load = [from](const void* p, int64_t i) -> double {
    if (dtype_is_small(from)) return small_to_double(from, static_cast<const uint8_t*>(p)[i]);
    return visit_dtype(from, [&](auto tag) -> double {
      using T = decltype(tag);
      return static_cast<double>(Compute<T>::load(static_cast<const T*>(p)[i]));
    });
  };
  auto store = [to, saturate, round](void* p, int64_t i, double v) {
    if (dtype_is_small(to)) {
      static_cast<uint8_t*>(p)[i] = double_to_small(to, v, saturate, round);
      return;
    }
    visit_dtype(to, [&](auto tag) {
      using T = decltype(tag);
      static_cast<T*>(p)[i] = convert_value<T, double>(v);
    });
  };
  return std::make_unique<FunctionKernel>("cast-small-reference", [=](const KernelIO& io, ThreadPool&) {
    for (int64_t i = 0; i < n; ++i) store(io.output, i, load(io.inputs[0], i));
  });
}

std::unique_ptr<Kernel> make_cast(const AtomicOp& op, const AtomicGraph& g) {
  int64_t n = numel(out_t(op, g).shape);
  if (dtype_is_small(in_t(op, g, 0).dtype) || dtype_is_small(op.cast_to)) return make_small_cast(op, g);
  return visit_dtype(in_t(op, g, 0).dtype, [&](auto from_tag) -> std::unique_ptr<Kernel> {
    using From = decltype(from_tag);
    return visit_dtype(op.cast_to, [&](auto to_tag) -> std::unique_ptr<Kernel> {
      using To = decltype(to_tag);
      return std::make_unique<FunctionKernel>("cast-reference", [=](const KernelIO& io, ThreadPool& pool) {
        const From* x = static_cast<const From*>(io.inputs[0]);
        To* y = static_cast<To*>(io.output);
        parallel_rows(pool, n, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = convert_value<To, From>(x[i]);
        });
      });
    });
  });
}

bool is_f32(const AtomicOp& op, const AtomicGraph& g) {
  for (int id : op.inputs)
    if (g.tensors[id].dtype != DType::F32) return false;
  return g.tensors[op.output].dtype == DType::F32;
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Unary, {"unary-reference", Isa::Reference, nullptr, make_unary_generic});
  // Equal on strings has its own kernel (text_kernels.cpp); this one computes on numbers.
  r.add(AtomicKind::Binary,
        {"binary-reference", Isa::Reference,
         [](const AtomicOp& op, const AtomicGraph& g) { return in_t(op, g, 0).dtype != DType::String; },
         make_binary_generic});
  r.add(AtomicKind::Select, {"select-reference", Isa::Reference, nullptr, make_select});
  r.add(AtomicKind::Cast, {"cast-reference", Isa::Reference, nullptr, make_cast});
  for (Isa isa : simd_isas()) {
    r.add(AtomicKind::Select, {"select-32bit", isa,
                               [](const AtomicOp& op, const AtomicGraph& g) {
                                 return dtype_size(out_t(op, g).dtype) == 4 && in_t(op, g, 0).dtype == DType::Bool;
                               },
                               make_select_32bit});
    r.add(AtomicKind::Unary, {"f32-unary", isa, is_f32,
                              [isa](const AtomicOp& op, const AtomicGraph& g) { return make_unary_f32(op, g, isa); }});
    r.add(AtomicKind::Binary,
          {"f32-binary", isa,
           [](const AtomicOp& op, const AtomicGraph& g) {
             return is_f32(op, g) && elementwise_f32_has_binary(op.binary);
           },
           [isa](const AtomicOp& op, const AtomicGraph& g) { return make_binary_f32(op, g, isa); }});
  }
}

}  // namespace walle::cpu
