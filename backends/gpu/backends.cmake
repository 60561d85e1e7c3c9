# Optional device backends. Each is ON by default when its SDK is found at configure time and
# silently OFF otherwise (the build never fails for a missing SDK); drivers are loaded at run
# time, so a build with a backend still runs on a machine without that driver.
#   WALLE_OPENCL: OpenCL headers (opencl-headers); the ICD loader is dlopen'ed.
#   WALLE_VULKAN: Vulkan headers (libvulkan-dev) + glslc (SPIR-V compiled at build time); the
#                 loader is dlopen'ed.
#   WALLE_CUDA:   nvcc (CMAKE_CUDA_COMPILER); links the static CUDA runtime.
set(GPU_DIR ${CMAKE_CURRENT_SOURCE_DIR}/backends/gpu)
set(GPU_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated/gpu)
set(WALLE_GPU_SOURCES ${GPU_DIR}/launch_plan.cpp ${GPU_DIR}/launch_backend.cpp ${GPU_DIR}/address_map.cpp)
set(WALLE_GPU_DEFINITIONS "")
set(WALLE_GPU_LIBS ${CMAKE_DL_LIBS})

find_path(OPENCL_HEADERS_DIR CL/cl.h)
if(OPENCL_HEADERS_DIR)
  option(WALLE_OPENCL "Build the OpenCL backend" ON)
else()
  option(WALLE_OPENCL "Build the OpenCL backend" OFF)
endif()
if(WALLE_OPENCL AND OPENCL_HEADERS_DIR)
  set(CL_DIR ${CMAKE_CURRENT_SOURCE_DIR}/backends/opencl)
  add_custom_command(
    OUTPUT ${GPU_GEN_DIR}/opencl_source.h
    COMMAND ${CMAKE_COMMAND} -DOUT=${GPU_GEN_DIR}/opencl_source.h -DNAME=kOpenClSource
            "-DINPUTS=${CL_DIR}/prelude.cl\;${GPU_DIR}/all_kernels.inc\;${GPU_DIR}/kernels.inc" -P ${GPU_DIR}/embed_source.cmake
    DEPENDS ${CL_DIR}/prelude.cl ${GPU_DIR}/all_kernels.inc ${GPU_DIR}/kernels.inc ${GPU_DIR}/embed_source.cmake
    COMMENT "embedding the OpenCL kernels")
  list(APPEND WALLE_GPU_SOURCES ${CL_DIR}/opencl_api.cpp ${CL_DIR}/opencl_backend.cpp ${GPU_GEN_DIR}/opencl_source.h)
  list(APPEND WALLE_GPU_DEFINITIONS WALLE_HAVE_OPENCL=1)
  message(STATUS "Walle: OpenCL backend ON (headers in ${OPENCL_HEADERS_DIR})")
else()
  message(STATUS "Walle: OpenCL backend OFF (no CL/cl.h: apt-get install opencl-headers)")
endif()

include(${GPU_DIR}/vulkan.cmake OPTIONAL)
include(${GPU_DIR}/cuda.cmake OPTIONAL)
