#include "opencl/opencl_api.h"

#include <dlfcn.h>

namespace walle::opencl {

const Api* api(std::string* why) {
  static std::string failure;
  static const Api* loaded = []() -> const Api* {
    void* lib = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libOpenCL.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      failure =
          "no OpenCL ICD loader (libOpenCL.so.1) on this machine; install ocl-icd-libopencl1 and a driver "
          "such as pocl-opencl-icd";
      return nullptr;
    }
    static Api a;
#define WALLE_CL_LOAD(name)                                       \
  a.name = reinterpret_cast<decltype(a.name)>(dlsym(lib, #name)); \
  if (!a.name) {                                                  \
    failure = std::string("the OpenCL loader lacks ") + #name;    \
    return nullptr;                                               \
  }
    WALLE_CL_FUNCTIONS(WALLE_CL_LOAD)
#undef WALLE_CL_LOAD
    return &a;
  }();
  if (!loaded && why) *why = failure;
  return loaded;
}

std::string error_text(const char* call, cl_int code) {
  const char* name = "unknown error";
  switch (code) {
    case CL_DEVICE_NOT_FOUND: name = "CL_DEVICE_NOT_FOUND"; break;
    case CL_OUT_OF_RESOURCES: name = "CL_OUT_OF_RESOURCES"; break;
    case CL_OUT_OF_HOST_MEMORY: name = "CL_OUT_OF_HOST_MEMORY"; break;
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: name = "CL_MEM_OBJECT_ALLOCATION_FAILURE"; break;
    case CL_BUILD_PROGRAM_FAILURE: name = "CL_BUILD_PROGRAM_FAILURE"; break;
    case CL_INVALID_VALUE: name = "CL_INVALID_VALUE"; break;
    case CL_INVALID_BUFFER_SIZE: name = "CL_INVALID_BUFFER_SIZE"; break;
    case CL_INVALID_WORK_GROUP_SIZE: name = "CL_INVALID_WORK_GROUP_SIZE"; break;
    case CL_INVALID_KERNEL_ARGS: name = "CL_INVALID_KERNEL_ARGS"; break;
    case -1001: name = "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL driver/ICD installed)"; break;
    default: break;
  }
  return std::string(call) + " failed: " + name + " (" + std::to_string(code) + ")";
}

}  // namespace walle::opencl
