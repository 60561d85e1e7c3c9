// The OpenCL backend: one context, in-order queue and compiled program per process (building
// the program is the slow part, seconds on PoCL), buffers behind gpu::AddressMap addresses, and
// kernels that replay the launches of backends/gpu/launch_plan.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "gpu/address_map.h"
#include "gpu/device_once.h"
#include "gpu/launch_backend.h"
#include "gpu/launch_plan.h"
#include "opencl/opencl_api.h"
#include "opencl_source.h"  // generated: prelude.cl + gpu/all_kernels.inc + kernels.inc as kOpenClSource

namespace walle {

namespace {

using opencl::Api;

void check(cl_int code, const char* call) {
  if (code != CL_SUCCESS) throw Error(ErrorKind::Backend, "OpenCL: " + opencl::error_text(call, code));
}

// Process-wide device state. Built on first use; a failure is remembered as the reason.
struct Device {
  const Api* cl = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  cl_program program = nullptr;
  cl_mem dummy = nullptr;  // bound to unused kernel slots
  std::string name;
  gpu::Capabilities caps;
  gpu::AddressMap addresses;
  std::mutex queue_mutex;  // serialises enqueue+arg setting across sessions sharing the queue

  void open() {
    std::string why;
    cl = opencl::api(&why);
    if (!cl) throw Error(ErrorKind::Backend, "OpenCL is unavailable: " + why);
    cl_uint n_platforms = 0;
    cl_int rc = cl->clGetPlatformIDs(0, nullptr, &n_platforms);
    if (rc != CL_SUCCESS || n_platforms == 0)
      throw Error(ErrorKind::Backend,
                  "OpenCL is unavailable: no OpenCL platform (install a driver such as pocl-opencl-icd)");
    std::vector<cl_platform_id> platforms(n_platforms);
    check(cl->clGetPlatformIDs(n_platforms, platforms.data(), nullptr), "clGetPlatformIDs");
    cl_device_id device = nullptr;
    for (cl_platform_id p : platforms) {  // the first platform with any device: GPU, CPU or accelerator
      cl_uint n = 0;
      if (cl->clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &device, &n) == CL_SUCCESS && n > 0) break;
      device = nullptr;
    }
    if (!device) throw Error(ErrorKind::Backend, "OpenCL is unavailable: no OpenCL device on any platform");
    char buf[256] = {0};
    cl->clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof(buf) - 1, buf, nullptr);
    name = buf;
    size_t max_wg = 256;
    cl->clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(max_wg), &max_wg, nullptr);
    caps.max_work_group = static_cast<int>(std::min<size_t>(max_wg, 1024));
    caps.small_types = true;
    cl_device_fp_config fp64 = 0;  // nonzero exactly when the device has cl_khr_fp64 (prelude.cl)
    caps.float64 =
        cl->clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof(fp64), &fp64, nullptr) == CL_SUCCESS &&
        fp64 != 0;
    context = cl->clCreateContext(nullptr, 1, &device, nullptr, nullptr, &rc);
    check(rc, "clCreateContext");
    queue = cl->clCreateCommandQueue(context, device, 0, &rc);
    check(rc, "clCreateCommandQueue");
    const char* src = kOpenClSource;
    program = cl->clCreateProgramWithSource(context, 1, &src, nullptr, &rc);
    check(rc, "clCreateProgramWithSource");
    rc = cl->clBuildProgram(program, 1, &device, "-cl-std=CL1.2", nullptr, nullptr);
    if (rc != CL_SUCCESS) {
      std::string log(1 << 16, '\0');
      cl->clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, log.size() - 1, log.data(), nullptr);
      throw Error(ErrorKind::Backend, "OpenCL: the kernels failed to build on " + name + ": " + log.c_str());
    }
    dummy = cl->clCreateBuffer(context, CL_MEM_READ_WRITE, 64, nullptr, &rc);
    check(rc, "clCreateBuffer");
  }

  // Blocking copies between host memory and a device address (after all queued work).
  void write(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    auto [mem, offset] = addresses.resolve(dst);
    std::lock_guard<std::mutex> lock(queue_mutex);
    check(cl->clEnqueueWriteBuffer(queue, static_cast<cl_mem>(mem), CL_TRUE, offset, bytes, src, 0, nullptr, nullptr),
          "clEnqueueWriteBuffer");
  }
  void read(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    auto [mem, offset] = addresses.resolve(src);
    std::lock_guard<std::mutex> lock(queue_mutex);
    check(cl->clEnqueueReadBuffer(queue, static_cast<cl_mem>(mem), CL_TRUE, offset, bytes, dst, 0, nullptr, nullptr),
          "clEnqueueReadBuffer");
  }
};

// The device, or the reason there is none (computed once per process).
Device& device() { return gpu::open_device_once<Device>(); }

class OpenClKernel : public Kernel {
 public:
  OpenClKernel(Device& dev, std::vector<gpu::Launch> launches, std::string name, std::unique_ptr<gpu::HostRerun> rerun)
      : dev_(dev), launches_(std::move(launches)), name_(std::move(name)), rerun_(std::move(rerun)) {
    cl_int rc;
    if (rerun_) {
      status_ = dev_.cl->clCreateBuffer(dev_.context, CL_MEM_READ_WRITE, 64, nullptr, &rc);
      check(rc, "clCreateBuffer");
    }
    for (const gpu::Launch& l : launches_) {
      kernels_.push_back(dev_.cl->clCreateKernel(dev_.program, l.entry.c_str(), &rc));
      check(rc, "clCreateKernel");
      size_t bytes = std::max<size_t>(4, l.params.size() * 4);
      cl_mem p = dev_.cl->clCreateBuffer(dev_.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes,
                                         l.params.empty() ? nullptr : const_cast<int32_t*>(l.params.data()), &rc);
      if (l.params.empty()) p = dev_.cl->clCreateBuffer(dev_.context, CL_MEM_READ_ONLY, bytes, nullptr, &rc);
      check(rc, "clCreateBuffer");
      params_.push_back(p);
    }
  }
  ~OpenClKernel() override {
    for (cl_kernel k : kernels_) dev_.cl->clReleaseKernel(k);
    for (cl_mem m : params_) dev_.cl->clReleaseMemObject(m);
    if (status_) dev_.cl->clReleaseMemObject(status_);
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    if (enqueue(io) == 0) return;
    // The device met a case it must not decide (launch_plan.h, kStatus): the CPU decides.
    Device* dev = &dev_;
    rerun_->run(
        io, pool, [dev](void* d, const void* s, size_t n) { dev->read(d, s, n); },
        [dev](void* d, const void* s, size_t n) { dev->write(d, s, n); });
  }
  std::string name() const override { return name_; }

 private:
  // Enqueues the launches; returns the status word of a checked plan (0 for unchecked ones).
  cl_int enqueue(const KernelIO& io) {
    static const cl_int kZero[2] = {0, 0};  // the status word and WL_LOOP_PROBE's
    std::lock_guard<std::mutex> lock(dev_.queue_mutex);
    if (status_)
      check(dev_.cl->clEnqueueWriteBuffer(dev_.queue, status_, CL_FALSE, 0, sizeof(kZero), kZero, 0, nullptr, nullptr),
            "clEnqueueWriteBuffer");
    for (size_t i = 0; i < launches_.size(); ++i) {
      const gpu::Launch& l = launches_[i];
      cl_kernel k = kernels_[i];
      for (int s = 0; s < gpu::kSlots; ++s) {
        cl_mem mem = l.slots[s] == gpu::kStatus ? status_ : dev_.dummy;
        cl_int offset = 0;
        const void* address =
            l.slots[s] == gpu::kOutput ? io.output : (l.slots[s] >= 0 ? io.inputs[l.slots[s]] : nullptr);
        if (address) {
          auto [handle, off] = dev_.addresses.resolve(address);
          mem = static_cast<cl_mem>(handle);
          offset = static_cast<cl_int>(off);
        }
        check(dev_.cl->clSetKernelArg(k, s, sizeof(cl_mem), &mem), "clSetKernelArg");
        check(dev_.cl->clSetKernelArg(k, gpu::kSlots + s, sizeof(cl_int), &offset), "clSetKernelArg");
      }
      check(dev_.cl->clSetKernelArg(k, 2 * gpu::kSlots, sizeof(cl_mem), &params_[i]), "clSetKernelArg");
      size_t global[3], local[3];
      for (int d = 0; d < 3; ++d) {
        local[d] = static_cast<size_t>(l.local[d]);
        global[d] = (static_cast<size_t>(l.global[d]) + local[d] - 1) / local[d] * local[d];
      }
      // A work-group bigger than the device allows would fail the launch: shrink it instead.
      while (local[0] * local[1] * local[2] > static_cast<size_t>(dev_.caps.max_work_group)) {
        int d = local[0] >= local[1] ? 0 : 1;
        local[d] /= 2;
        global[d] = (static_cast<size_t>(l.global[d]) + local[d] - 1) / local[d] * local[d];
      }
      if (global[0] * global[1] * global[2] == 0) continue;
      check(dev_.cl->clEnqueueNDRangeKernel(dev_.queue, k, 3, nullptr, global, local, 0, nullptr, nullptr),
            "clEnqueueNDRangeKernel");
    }
    cl_int status = 0;
    if (status_)
      check(dev_.cl->clEnqueueReadBuffer(dev_.queue, status_, CL_TRUE, 0, sizeof(status), &status, 0, nullptr, nullptr),
            "clEnqueueReadBuffer");
    return status;
  }

  Device& dev_;
  std::vector<gpu::Launch> launches_;
  std::vector<cl_kernel> kernels_;
  std::vector<cl_mem> params_;
  std::string name_;
  std::unique_ptr<gpu::HostRerun> rerun_;
  cl_mem status_ = nullptr;  // the status word of a checked plan
};

class OpenClBackend : public gpu::LaunchBackend {
 public:
  explicit OpenClBackend(Device& dev) : LaunchBackend("opencl", "cl", dev.name, dev.caps), dev_(dev) {}

 protected:
  std::unique_ptr<Kernel> make_kernel(std::vector<gpu::Launch> launches, std::string label,
                                      std::unique_ptr<gpu::HostRerun> rerun) const override {
    return std::make_unique<OpenClKernel>(dev_, std::move(launches), std::move(label), std::move(rerun));
  }

 public:
  std::shared_ptr<void> allocate(size_t bytes) const override {
    cl_int rc;
    size_t size = std::max<size_t>(bytes, 64);
    cl_mem mem = dev_.cl->clCreateBuffer(dev_.context, CL_MEM_READ_WRITE, size, nullptr, &rc);
    check(rc, "clCreateBuffer");
    char* base = dev_.addresses.add(mem, size);
    Device* dev = &dev_;
    return std::shared_ptr<void>(base, [dev, mem](void* p) {
      dev->addresses.remove(p);
      dev->cl->clReleaseMemObject(mem);
    });
  }
  void copy_in(void* dst, const void* src, size_t bytes) const override { dev_.write(dst, src, bytes); }
  void copy_out(void* dst, const void* src, size_t bytes) const override { dev_.read(dst, src, bytes); }
  void sync() const override {
    std::lock_guard<std::mutex> lock(dev_.queue_mutex);
    check(dev_.cl->clFinish(dev_.queue), "clFinish");
  }

 private:
  Device& dev_;
};

}  // namespace

void register_opencl_backend(std::vector<BackendFactory>& out) {
  out.push_back(
      {"opencl", 10, [] { return gpu::device_status("opencl", device); },
       [](const std::string&) -> std::shared_ptr<Backend> { return std::make_shared<OpenClBackend>(device()); }});
}

}  // namespace walle
