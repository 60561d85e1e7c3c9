# What the device backends (OpenCL, Vulkan, CUDA) share: one kernel source (kernels.inc), the
# launch planning and the device address map. Each device backend.cmake includes this file;
# its part is added once. Drivers are loaded at run time, so a build with a device backend
# still runs on a machine without that driver.
include_guard(GLOBAL)
set(GPU_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GPU_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated/gpu)
list(APPEND WALLE_BACKEND_SOURCES ${GPU_DIR}/launch_plan.cpp ${GPU_DIR}/launch_backend.cpp ${GPU_DIR}/address_map.cpp)
list(APPEND WALLE_BACKEND_INCLUDES ${GPU_GEN_DIR})
list(APPEND WALLE_BACKEND_LIBS ${CMAKE_DL_LIBS})
include(${GPU_DIR}/op_codes.cmake)
