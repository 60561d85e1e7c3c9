// The OpenCL entry points we use, loaded from the ICD loader (libOpenCL.so.1) with dlopen at
// run time: a build with OpenCL still imports and runs on a machine without any OpenCL, where
// the backend reports itself unavailable with the reason instead of failing to load.
#pragma once
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <string>

namespace walle::opencl {

// clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_CL_FUNCTIONS(X)                                                                        \
  X(clGetPlatformIDs) X(clGetPlatformInfo) X(clGetDeviceIDs) X(clGetDeviceInfo) X(clCreateContext)   \
  X(clReleaseContext) X(clCreateCommandQueue) X(clReleaseCommandQueue) X(clCreateBuffer)              \
  X(clReleaseMemObject) X(clEnqueueWriteBuffer) X(clEnqueueReadBuffer) X(clCreateProgramWithSource)   \
  X(clBuildProgram) X(clGetProgramBuildInfo) X(clReleaseProgram) X(clCreateKernel) X(clReleaseKernel) \
  X(clSetKernelArg) X(clEnqueueNDRangeKernel) X(clFinish)

struct Api {
#define WALLE_CL_MEMBER(name) decltype(&::name) name = nullptr;
  WALLE_CL_FUNCTIONS(WALLE_CL_MEMBER)
#undef WALLE_CL_MEMBER
  // clang-format on
};

// The loaded API, or nullptr with `why` set when no ICD loader can be opened.
const Api* api(std::string* why);

// "clFoo failed: CL_OUT_OF_RESOURCES (-5)" style messages.
std::string error_text(const char* call, cl_int code);

}  // namespace walle::opencl
