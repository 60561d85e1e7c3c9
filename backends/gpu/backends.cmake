# Optional device backends. Each option is AUTO, ON or OFF: AUTO (the default) builds the
# backend when its SDK is found at configure time and says why not otherwise; ON requires it and
# fails the configure step without its SDK (release wheels build this way, so none silently lacks
# a backend); OFF leaves it out. Drivers are loaded at run time, so a build with a backend still
# runs on a machine without that driver.
#   WALLE_OPENCL: OpenCL headers (opencl-headers); the ICD loader is dlopen'ed.
#   WALLE_VULKAN: Vulkan headers (libvulkan-dev) + glslc (SPIR-V compiled at build time); the
#                 loader is dlopen'ed.
#   WALLE_CUDA:   nvcc (CMAKE_CUDA_COMPILER); links the static CUDA runtime.
set(GPU_DIR ${CMAKE_CURRENT_SOURCE_DIR}/backends/gpu)
set(GPU_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated/gpu)
set(WALLE_GPU_SOURCES ${GPU_DIR}/launch_plan.cpp ${GPU_DIR}/launch_backend.cpp ${GPU_DIR}/address_map.cpp)
set(WALLE_GPU_DEFINITIONS "")
set(WALLE_GPU_LIBS ${CMAKE_DL_LIBS})

# walle_backend_wanted(NAME FOUND MISSING OUT): OUT is ON when backend option WALLE_<NAME> asks
# for it and its SDK was FOUND; an explicit ON without the SDK is a configure error naming what is
# MISSING, AUTO without it a status line.
function(walle_backend_wanted name found missing out)
  set(option WALLE_${name})
  set(${option} AUTO CACHE STRING "Build the ${name} backend: AUTO (when its SDK is found), ON (required) or OFF")
  set_property(CACHE ${option} PROPERTY STRINGS AUTO ON OFF)
  set(value "${${option}}")
  if(value STREQUAL "AUTO")
    set(${out} ${found} PARENT_SCOPE)
    if(NOT found)
      message(STATUS "Walle: ${name} backend OFF (${missing})")
    endif()
  elseif(value)
    if(NOT found)
      message(FATAL_ERROR "Walle: ${option}=ON but ${missing}")
    endif()
    set(${out} ON PARENT_SCOPE)
  else()
    set(${out} OFF PARENT_SCOPE)
    message(STATUS "Walle: ${name} backend OFF (${option}=${value})")
  endif()
endfunction()

find_path(OPENCL_HEADERS_DIR CL/cl.h)
if(OPENCL_HEADERS_DIR)
  set(opencl_found ON)
else()
  set(opencl_found OFF)
endif()
walle_backend_wanted(OPENCL ${opencl_found} "no CL/cl.h: apt-get install opencl-headers" WALLE_USE_OPENCL)
if(WALLE_USE_OPENCL)
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
endif()

include(${GPU_DIR}/vulkan.cmake)
include(${GPU_DIR}/cuda.cmake)
