// Batched MatMul with a fused epilogue (bias per column, residual, activation).
// Float32 goes through sgemm (weights pre-packed at plan time when B is a constant);
// every other dtype through a plain generic loop.
#include "cpu/dispatch.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/scalar_ops.h"

namespace walle::cpu {

cpu::Activation to_gemm_activation(walle::Activation a) {
  switch (a) {
    case walle::Activation::None: return cpu::Activation::None;
    case walle::Activation::Relu: return cpu::Activation::Relu;
    case walle::Activation::Clip: return cpu::Activation::Clip;
    case walle::Activation::Sigmoid: return cpu::Activation::Sigmoid;
    case walle::Activation::Gelu: return cpu::Activation::Gelu;
    case walle::Activation::Silu: return cpu::Activation::Silu;
  }
  return cpu::Activation::None;
}

namespace {

// Matrix offsets (in elements) of A, B and C for each batch index, broadcasting by stride 0.
struct BatchOffsets {
  std::vector<int64_t> a, b, c;
};

BatchOffsets batch_offsets(const AtomicOp& op) {
  BatchOffsets off;
  for (int64_t t = 0; t < op.batch; ++t) {
    int64_t rem = t, ia = 0, ib = 0;
    for (int64_t d = static_cast<int64_t>(op.batch_shape.size()) - 1; d >= 0; --d) {
      int64_t idx = rem % op.batch_shape[d];
      rem /= op.batch_shape[d];
      ia += idx * op.a_batch_strides[d];
      ib += idx * op.b_batch_strides[d];
    }
    off.a.push_back(ia * op.M * op.K);
    off.b.push_back(ib * op.K * op.N);
    off.c.push_back(t * op.M * op.N);
  }
  return off;
}

MatrixView view_a(const float* base, const AtomicOp& op) {
  return op.trans_a ? MatrixView{base, 1, op.M} : MatrixView{base, op.K, 1};
}
MatrixView view_b(const float* base, const AtomicOp& op) {
  return op.trans_b ? MatrixView{base, 1, op.K} : MatrixView{base, op.N, 1};
}

class MatMulF32Kernel : public Kernel {
 public:
  MatMulF32Kernel(const AtomicOp& op, Isa isa) : op_(op), isa_(isa), offsets_(batch_offsets(op)) {}

  void plan(const AtomicOp& op, const AtomicGraph& g) override {
    if (isa_ == Isa::Reference || !g.is_constant(op.inputs[1])) return;
    // Constant weights: pack every distinct B matrix once.
    const float* b = g.tensors[g.root(op.inputs[1])].constant.data_as<float>();
    for (int64_t t = 0; t < op.batch; ++t) {
      if (t > 0 && offsets_.b[t] == offsets_.b[t - 1]) {
        packed_b_.push_back(packed_b_.back());
        continue;
      }
      packed_b_.push_back(pack_b(op.K, op.N, view_b(b + offsets_.b[t], op), isa_));
    }
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    const float* a = static_cast<const float*>(io.inputs[0]);
    const float* b = static_cast<const float*>(io.inputs[1]);
    float* c = static_cast<float*>(io.output);
    GemmEpilogue e;
    if (io.inputs.size() > 2 && io.inputs[2]) {
      e.bias_kind = GemmEpilogue::Bias::PerCol;
      e.bias = static_cast<const float*>(io.inputs[2]);
    }
    e.activation = to_gemm_activation(op_.activation);
    e.clip_min = op_.alpha;
    e.clip_max = op_.beta;
    const float* residual = io.inputs.size() > 3 ? static_cast<const float*>(io.inputs[3]) : nullptr;
    auto item = [&](int64_t t, GemmEpilogue e, ThreadPool& p) {
      if (residual) {
        e.residual = residual + offsets_.c[t];
        e.residual_ld = op_.N;
      }
      GemmOperand A{view_a(a + offsets_.a[t], op_), nullptr};
      GemmOperand B{view_b(b + offsets_.b[t], op_), packed_b_.empty() ? nullptr : packed_b_[t].get()};
      if (isa_ == Isa::Reference)
        sgemm_reference(op_.M, op_.N, op_.K, A.view, B.view, c + offsets_.c[t], op_.N, e);
      else
        sgemm(op_.M, op_.N, op_.K, A, B, c + offsets_.c[t], op_.N, e, p, isa_);
    };
    // Many small matrices (attention heads: 4 x 128x128x64): one whole matrix per task beats
    // splitting each one across the threads (no per-matrix wake-up, no duplicated packing).
    const double flops = 2.0 * op_.M * op_.N * op_.K;
    if (pool.size() > 1 && op_.batch >= pool.size() && flops < 16e6) {
      pool.parallel_for(op_.batch, [&](int64_t b0, int64_t b1) {
        thread_local ThreadPool serial(1);
        for (int64_t t = b0; t < b1; ++t) item(t, e, serial);
      });
      return;
    }
    for (int64_t t = 0; t < op_.batch; ++t) item(t, e, pool);
  }

  std::string name() const override {
    return std::string("f32-matmul-") + (packed_b_.empty() ? "" : "packed-") + isa_name(isa_);
  }

 private:
  AtomicOp op_;
  Isa isa_;
  BatchOffsets offsets_;
  std::vector<std::shared_ptr<PackedMatrix>> packed_b_;
};

template <typename T>
std::unique_ptr<Kernel> matmul_generic(const AtomicOp& op) {
  using C = typename Compute<T>::type;
  BatchOffsets off = batch_offsets(op);
  return std::make_unique<FunctionKernel>("matmul-reference", [=](const KernelIO& io, ThreadPool& pool) {
    const T* a = static_cast<const T*>(io.inputs[0]);
    const T* b = static_cast<const T*>(io.inputs[1]);
    const T* bias = io.inputs.size() > 2 ? static_cast<const T*>(io.inputs[2]) : nullptr;
    const T* res = io.inputs.size() > 3 ? static_cast<const T*>(io.inputs[3]) : nullptr;
    T* c = static_cast<T*>(io.output);
    int64_t M = op.M, N = op.N, K = op.K;
    parallel_rows(pool, op.batch * M, N * K, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t t = r / M, m = r % M;
        for (int64_t n = 0; n < N; ++n) {
          C acc = 0;
          for (int64_t k = 0; k < K; ++k) {
            C av = Compute<T>::load(op.trans_a ? a[off.a[t] + k * M + m] : a[off.a[t] + m * K + k]);
            C bv = Compute<T>::load(op.trans_b ? b[off.b[t] + n * K + k] : b[off.b[t] + k * N + n]);
            acc += av * bv;
          }
          if (bias) acc += Compute<T>::load(bias[n]);
          if (res) acc += Compute<T>::load(res[off.c[t] + m * N + n]);
          switch (op.activation) {
            case walle::Activation::None: break;
            case walle::Activation::Relu: acc = unary_scalar<C>(UnaryOp::Relu, acc, 0, 0); break;
            case walle::Activation::Clip: acc = unary_scalar<C>(UnaryOp::Clip, acc, op.alpha, op.beta); break;
            case walle::Activation::Sigmoid: acc = unary_scalar<C>(UnaryOp::Sigmoid, acc, 0, 0); break;
            case walle::Activation::Gelu: acc = unary_scalar<C>(UnaryOp::Gelu, acc, 0, 0); break;
            case walle::Activation::Silu: acc = unary_scalar<C>(UnaryOp::Silu, acc, 0, 0); break;
          }
          c[off.c[t] + m * N + n] = Compute<T>::store(acc);
        }
      }
    });
  });
}

}  // namespace

void register_matmul_kernels(KernelRegistry& r) {
  r.add(AtomicKind::MatMul, {"matmul-reference", Isa::Reference, nullptr, [](const AtomicOp& op, const AtomicGraph& g) {
                               if (g.tensors[op.output].dtype == DType::F32)
                                 return std::unique_ptr<Kernel>(new MatMulF32Kernel(op, Isa::Reference));
                               return visit_dtype(g.tensors[op.output].dtype,
                                                  [&](auto tag) { return matmul_generic<decltype(tag)>(op); });
                             }});
  auto is_f32 = [](const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.output].dtype == DType::F32; };
  for (Isa isa : simd_isas())
    r.add(AtomicKind::MatMul, {"f32-matmul", isa, is_f32, [isa](const AtomicOp& op, const AtomicGraph&) {
                                 return std::unique_ptr<Kernel>(new MatMulF32Kernel(op, isa));
                               }});
}

}  // namespace walle::cpu
