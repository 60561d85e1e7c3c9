// The CUDA backend: the kernels of backends/gpu/kernels.inc compiled by nvcc (our own GEMM and
// direct convolutions, no cuBLAS/cuDNN, so the build needs only the toolkit's compiler and
// static runtime), one stream per backend instance, and a size-class memory pool so re-planning
// does not cudaMalloc/cudaFree on every shape change. Device pointers are real pointers: no
// address map is needed, and the slot byte offsets are always 0.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "gpu/launch_backend.h"
#include "gpu/launch_plan.h"

#include "cuda/prelude.cuh"
#include "op_codes.inc"
#include "gpu/all_kernels.inc"
#include "gpu/kernels.inc"

namespace walle {

namespace {

void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess)
    throw Error(ErrorKind::Backend, std::string("CUDA: ") + call + " failed: " + cudaGetErrorString(e));
}

using KernelFn = void (*)(uchar*, uchar*, uchar*, uchar*, uchar*, uchar*, int, int, int, int, int, int, const int*);

KernelFn kernel_by_name(const std::string& entry) {
  static const std::map<std::string, KernelFn> table = {{"raster_1", wl_raster_1},
                                                        {"raster_2", wl_raster_2},
                                                        {"raster_4", wl_raster_4},
                                                        {"raster_8", wl_raster_8},
                                                        {"fill_1", wl_fill_1},
                                                        {"fill_2", wl_fill_2},
                                                        {"fill_4", wl_fill_4},
                                                        {"fill_8", wl_fill_8},
                                                        {"unary_f32", wl_unary_f32},
                                                        {"binary_f32", wl_binary_f32},
                                                        {"compare_f32", wl_compare_f32},
                                                        {"select_4", wl_select_4},
                                                        {"reduce_f32", wl_reduce_f32},
                                                        {"argreduce_f32", wl_argreduce_f32},
                                                        {"matmul_f32", wl_matmul_f32},
                                                        {"matmul_f32_t4", wl_matmul_f32_t4},
                                                        {"conv_f32", wl_conv_f32},
                                                        {"conv_f32_oc4", wl_conv_f32_oc4},
                                                        {"pool_f32", wl_pool_f32},
                                                        {"gather_4", wl_gather_4},
                                                        {"gather_8", wl_gather_8},
                                                        {"gather_checked_4", wl_gather_checked_4},
                                                        {"gather_checked_8", wl_gather_checked_8},
                                                        {"cast", wl_cast},
                                                        {"scatter_serial_1", wl_scatter_serial_1},
                                                        {"scatter_serial_2", wl_scatter_serial_2},
                                                        {"scatter_serial_4", wl_scatter_serial_4},
                                                        {"scatter_serial_8", wl_scatter_serial_8},
                                                        {"scatter_serial_f32", wl_scatter_serial_f32},
                                                        {"scatter_serial_i32", wl_scatter_serial_i32},
                                                        {"scatter_rows_1", wl_scatter_rows_1},
                                                        {"scatter_rows_2", wl_scatter_rows_2},
                                                        {"scatter_rows_4", wl_scatter_rows_4},
                                                        {"scatter_rows_8", wl_scatter_rows_8},
                                                        {"scatter_groups_f32", wl_scatter_groups_f32},
                                                        {"scatter_groups_i32", wl_scatter_groups_i32},
                                                        {"topk_select_f32", wl_topk_select_f32},
                                                        {"topk_select_i32", wl_topk_select_i32},
                                                        {"topk_rank_f32", wl_topk_rank_f32},
                                                        {"topk_rank_i32", wl_topk_rank_i32},
                                                        {"softmax_f32_row", wl_softmax_f32_row},
                                                        {"softmax_f32_wg", wl_softmax_f32_wg},
                                                        {"layernorm_f32_row", wl_layernorm_f32_row},
                                                        {"layernorm_f32_wg", wl_layernorm_f32_wg},
                                                        {"random_bernoulli", wl_random_bernoulli}};
  auto it = table.find(entry);
  if (it == table.end()) throw Error(ErrorKind::Backend, "CUDA: no kernel " + entry);
  return it->second;
}

// Freed blocks are kept by power-of-two size class and handed out again.
class MemoryPool {
 public:
  void* get(size_t bytes) {
    size_t size = size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& list = free_[size];
      if (!list.empty()) {
        void* p = list.back();
        list.pop_back();
        return p;
      }
    }
    void* p = nullptr;
    check(cudaMalloc(&p, size), "cudaMalloc");
    return p;
  }
  void put(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[size_class(bytes)].push_back(p);
  }

 private:
  static size_t size_class(size_t bytes) {
    size_t size = 256;
    while (size < bytes) size *= 2;
    return size;
  }
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
};

struct Device {
  std::string name;
  gpu::Capabilities caps;
  MemoryPool pool;
};

Device& device() {
  static Device* dev = nullptr;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);  // fails cleanly without a driver or a GPU
    if (e != cudaSuccess || n == 0) {
      failure = std::string("CUDA is unavailable: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device");
      return;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      failure = "CUDA is unavailable: cannot query device 0";
      return;
    }
    auto* d = new Device();  // never freed: the runtime tears itself down at exit
    d->name = prop.name;
    d->caps.small_types = true;
    d->caps.float64 = true;  // every CUDA GPU has double arithmetic
    d->caps.max_work_group = prop.maxThreadsPerBlock;
    dev = d;
  });
  if (!dev) throw Error(ErrorKind::Backend, failure);
  return *dev;
}

class CudaKernel : public Kernel {
 public:
  CudaKernel(Device& dev, cudaStream_t stream, std::vector<gpu::Launch> launches, std::string name,
             std::unique_ptr<gpu::HostRerun> rerun)
      : dev_(dev), stream_(stream), launches_(std::move(launches)), name_(std::move(name)), rerun_(std::move(rerun)) {
    if (rerun_) status_ = dev_.pool.get(64);
    for (const gpu::Launch& l : launches_) {
      size_t bytes = std::max<size_t>(4, l.params.size() * 4);
      void* p = dev_.pool.get(bytes);
      if (!l.params.empty())
        check(cudaMemcpy(p, l.params.data(), l.params.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy");
      params_.push_back({p, bytes});
      fns_.push_back(kernel_by_name(l.entry));
    }
  }
  ~CudaKernel() override {
    for (auto& [p, bytes] : params_) dev_.pool.put(p, bytes);
    if (status_) {
      cudaStreamSynchronize(stream_);  // no queued launch may still write it
      dev_.pool.put(status_, 64);
    }
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    if (status_) check(cudaMemsetAsync(status_, 0, 2 * sizeof(int), stream_), "cudaMemsetAsync");  // word + probe's
    launch(io);
    if (!status_) return;
    int status = 0;
    check(cudaMemcpyAsync(&status, status_, sizeof(status), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    if (status == 0) return;
    // The device met a case it must not decide (launch_plan.h, kStatus): the CPU decides.
    cudaStream_t stream = stream_;
    auto copy = [stream](void* d, const void* s, size_t n, cudaMemcpyKind kind) {
      if (!n) return;
      check(cudaMemcpyAsync(d, s, n, kind, stream), "cudaMemcpyAsync");
      check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    };
    rerun_->run(
        io, pool, [&](void* d, const void* s, size_t n) { copy(d, s, n, cudaMemcpyDeviceToHost); },
        [&](void* d, const void* s, size_t n) { copy(d, s, n, cudaMemcpyHostToDevice); });
  }
  std::string name() const override { return name_; }

 private:
  void launch(const KernelIO& io) {
    for (size_t i = 0; i < launches_.size(); ++i) {
      const gpu::Launch& l = launches_[i];
      uchar* slots[gpu::kSlots];
      int offsets[gpu::kSlots] = {0};
      for (int s = 0; s < gpu::kSlots; ++s) {
        const void* a = l.slots[s] == gpu::kOutput ? io.output : (l.slots[s] >= 0 ? io.inputs[l.slots[s]] : nullptr);
        if (l.slots[s] == gpu::kStatus) a = status_;
        slots[s] = static_cast<uchar*>(const_cast<void*>(a));
      }
      const int* prm = static_cast<const int*>(params_[i].first);
      void* args[2 * gpu::kSlots + 1];
      for (int s = 0; s < gpu::kSlots; ++s) {
        args[s] = &slots[s];
        args[gpu::kSlots + s] = &offsets[s];
      }
      args[2 * gpu::kSlots] = &prm;
      dim3 block(l.local[0], l.local[1], l.local[2]);
      dim3 grid(static_cast<unsigned>((l.global[0] + l.local[0] - 1) / l.local[0]),
                static_cast<unsigned>((l.global[1] + l.local[1] - 1) / l.local[1]),
                static_cast<unsigned>((l.global[2] + l.local[2] - 1) / l.local[2]));
      if (!grid.x || !grid.y || !grid.z) continue;
      check(cudaLaunchKernel(reinterpret_cast<const void*>(fns_[i]), grid, block, args, 0, stream_),
            "cudaLaunchKernel");
    }
  }

  Device& dev_;
  cudaStream_t stream_;
  std::vector<gpu::Launch> launches_;
  std::vector<std::pair<void*, size_t>> params_;
  std::vector<KernelFn> fns_;
  std::string name_;
  std::unique_ptr<gpu::HostRerun> rerun_;
  void* status_ = nullptr;  // the status word of a checked plan
};

class CudaBackend : public gpu::LaunchBackend {
 public:
  explicit CudaBackend(Device& dev) : LaunchBackend("cuda", "cuda", dev.name, dev.caps), dev_(dev) {
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
  }
  ~CudaBackend() override { cudaStreamDestroy(stream_); }

 protected:
  std::unique_ptr<Kernel> make_kernel(std::vector<gpu::Launch> launches, std::string label,
                                      std::unique_ptr<gpu::HostRerun> rerun) const override {
    return std::make_unique<CudaKernel>(dev_, stream_, std::move(launches), std::move(label), std::move(rerun));
  }

 public:
  std::shared_ptr<void> allocate(size_t bytes) const override {
    size_t size = std::max<size_t>(bytes, 64);
    void* p = dev_.pool.get(size);
    Device* dev = &dev_;
    cudaStream_t stream = stream_;
    return std::shared_ptr<void>(p, [dev, stream, size](void* q) {
      cudaStreamSynchronize(stream);  // no queued kernel may still use it
      dev->pool.put(q, size);
    });
  }
  void copy_in(void* dst, const void* src, size_t bytes) const override {
    if (!bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");  // the caller may reuse src at once
  }
  void copy_out(void* dst, const void* src, size_t bytes) const override {
    if (!bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void sync() const override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  Device& dev_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

void register_cuda_backend(std::vector<BackendFactory>& out) {
  out.push_back(
      {"cuda", 30, [] { return gpu::device_status("cuda", device); },
       [](const std::string&) -> std::shared_ptr<Backend> { return std::make_shared<CudaBackend>(device()); }});
}

}  // namespace walle
