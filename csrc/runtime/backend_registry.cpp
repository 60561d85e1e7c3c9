// Which backends this build has, which this machine can run, and how to make one by name.
#include "core/error.h"
#include "runtime/backend.h"
#include "runtime/device_backends.h"

namespace walle {

namespace {

struct DeviceEntry {
  const char* name;
  bool built;
  BackendStatus (*status)();
  std::shared_ptr<Backend> (*make)();
  const char* sdk;  // what the build lacked, for the message when it is not built
};

const std::vector<DeviceEntry>& device_entries() {
  static const std::vector<DeviceEntry> entries = {
#ifdef WALLE_HAVE_OPENCL
      {"opencl", true, opencl_status, make_opencl_backend, ""},
#else
      {"opencl", false, nullptr, nullptr, "OpenCL headers (opencl-headers)"},
#endif
#ifdef WALLE_HAVE_VULKAN
      {"vulkan", true, vulkan_status, make_vulkan_backend, ""},
#else
      {"vulkan", false, nullptr, nullptr, "Vulkan headers and glslc (libvulkan-dev, glslc)"},
#endif
#ifdef WALLE_HAVE_CUDA
      {"cuda", true, cuda_status, make_cuda_backend, ""},
#else
      {"cuda", false, nullptr, nullptr, "nvcc (the CUDA toolkit)"},
#endif
  };
  return entries;
}

}  // namespace

std::vector<BackendStatus> backend_status() {
  std::vector<BackendStatus> out;
  for (const char* cpu : {"cpu", "cpu-reference"}) out.push_back({cpu, true, true, "host", ""});
  for (const DeviceEntry& e : device_entries()) {
    if (e.built) {
      out.push_back(e.status());
    } else {
      BackendStatus s;
      s.name = e.name;
      s.reason = std::string("not in this build: CMake did not find ") + e.sdk + " when it was compiled";
      out.push_back(s);
    }
  }
  return out;
}

std::shared_ptr<Backend> make_backend(const std::string& name, const std::string& isa) {
  if (std::shared_ptr<Backend> cpu = make_cpu_backend(name, isa)) return cpu;
  for (const DeviceEntry& e : device_entries()) {
    if (name != e.name) continue;
    if (!e.built)
      throw Error(ErrorKind::Backend,
                  "backend '" + name + "' is not in this build: CMake did not find " + e.sdk + " when it was compiled");
    return e.make();
  }
  std::string known;
  for (const std::string& n : backend_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::Backend, "unknown backend '" + name + "' (this build has: " + known + ", auto)");
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names = {"cpu", "cpu-reference"};
  for (const DeviceEntry& e : device_entries())
    if (e.built) names.push_back(e.name);
  return names;
}

}  // namespace walle
