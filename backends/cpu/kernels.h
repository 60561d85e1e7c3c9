// Registration of the CPU backend's kernels, one function per kernel family.
#pragma once
#include <vector>

#include "backend/backend.h"

namespace walle::cpu {

// The SIMD levels this build has optimized kernels for. Each family registers its kernels once
// per level; the registry picks the best level the session's Isa includes (isa_includes).
inline const std::vector<Isa>& simd_isas() {
#if defined(WALLE_HAVE_X86_KERNELS)
  static const std::vector<Isa> isas = {Isa::Avx2, Isa::Avx512};
#elif defined(WALLE_HAVE_ARM_KERNELS)
  static const std::vector<Isa> isas = {Isa::Neon};
#else
  static const std::vector<Isa> isas = {};
#endif
  return isas;
}

void register_elementwise_kernels(KernelRegistry& registry);  // Unary, Binary, Select, Cast
void register_data_kernels(KernelRegistry& registry);         // Raster, Gather
void register_reduce_kernels(KernelRegistry& registry);
void register_matmul_kernels(KernelRegistry& registry);
void register_conv_kernels(KernelRegistry& registry);     // Conv, Pool
void register_blocked_kernels(KernelRegistry& registry);  // Conv, Pool on the channel-blocked layout
void register_fused_kernels(KernelRegistry& registry);    // Fused (softmax, layernorm)
void register_index_kernels(KernelRegistry& registry);    // Scatter, TopK, Random
void register_text_kernels(KernelRegistry& registry);     // Text, and Equal on strings

// Shorthand for kernels whose run() is one lambda fixed at plan time.
class FunctionKernel : public Kernel {
 public:
  using Fn = std::function<void(const KernelIO&, ThreadPool&)>;
  FunctionKernel(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  void run(const KernelIO& io, ThreadPool& pool) override { fn_(io, pool); }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  Fn fn_;
};

// Elements per parallel task below which splitting over threads costs more than it saves.
constexpr int64_t kMinParallelWork = 16384;

// Runs fn(begin, end) over [0, n) on the pool if the total work is large enough.
inline void parallel_rows(ThreadPool& pool, int64_t n, int64_t work_per_row,
                          const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 1 && n * work_per_row >= kMinParallelWork)
    pool.parallel_for(n, fn);
  else
    fn(0, n);
}

// A per-thread 64-byte aligned float buffer that only grows, for kernels that split their own
// work into blocks (each pool worker gets its own). Valid until the thread's next call.
float* thread_buffer(size_t floats);

}  // namespace walle::cpu
