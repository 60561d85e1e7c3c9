# The OpenCL backend (option WALLE_OPENCL: AUTO, ON or OFF): needs the OpenCL headers
# (opencl-headers); the ICD loader is dlopen'ed at run time.
find_path(OPENCL_HEADERS_DIR CL/cl.h)
if(OPENCL_HEADERS_DIR)
  set(opencl_found ON)
else()
  set(opencl_found OFF)
endif()
walle_backend_wanted(OPENCL ${opencl_found} "no CL/cl.h: apt-get install opencl-headers" WALLE_USE_OPENCL)
if(WALLE_USE_OPENCL)
  include(${CMAKE_CURRENT_LIST_DIR}/../gpu/device_common.cmake)
  set(CL_DIR ${CMAKE_CURRENT_LIST_DIR})
  add_custom_command(
    OUTPUT ${GPU_GEN_DIR}/opencl_source.h
    COMMAND ${CMAKE_COMMAND} -DOUT=${GPU_GEN_DIR}/opencl_source.h -DNAME=kOpenClSource
            "-DINPUTS=${CL_DIR}/prelude.cl\;${GPU_GEN_DIR}/op_codes.inc\;${GPU_DIR}/all_kernels.inc\;${GPU_DIR}/kernels.inc"
            -P ${GPU_DIR}/embed_source.cmake
    DEPENDS ${CL_DIR}/prelude.cl ${GPU_GEN_DIR}/op_codes.inc ${GPU_DIR}/all_kernels.inc ${GPU_DIR}/kernels.inc
            ${GPU_DIR}/embed_source.cmake
    COMMENT "embedding the OpenCL kernels")
  list(APPEND WALLE_BACKEND_SOURCES ${CL_DIR}/opencl_api.cpp ${CL_DIR}/opencl_backend.cpp ${GPU_GEN_DIR}/opencl_source.h)
  walle_backend(register_opencl_backend)
  message(STATUS "Walle: OpenCL backend ON (headers in ${OPENCL_HEADERS_DIR})")
endif()
