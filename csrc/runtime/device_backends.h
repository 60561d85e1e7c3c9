// Entry points of the optional device backends (backends/opencl, backends/vulkan,
// backends/cuda). Each is compiled only when CMake found its SDK (WALLE_HAVE_<NAME>), and each
// loads its driver at run time: status() never throws, make() throws Error(Backend) with the
// reason the device is unusable.
#pragma once
#include <memory>

#include "runtime/backend.h"

namespace walle {

BackendStatus opencl_status();
std::shared_ptr<Backend> make_opencl_backend();
BackendStatus vulkan_status();
std::shared_ptr<Backend> make_vulkan_backend();
BackendStatus cuda_status();
std::shared_ptr<Backend> make_cuda_backend();

}  // namespace walle
