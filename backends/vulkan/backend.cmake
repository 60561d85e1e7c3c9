# The Vulkan backend (option WALLE_VULKAN: AUTO, ON or OFF): needs the Vulkan headers
# (libvulkan-dev; the loader is dlopen'ed at run time) and glslc, which compiles
# backends/gpu/kernels.inc to one SPIR-V module per kernel at build time.
find_path(VULKAN_HEADERS_DIR vulkan/vulkan.h)
find_program(GLSLC_PROGRAM glslc)
if(VULKAN_HEADERS_DIR AND GLSLC_PROGRAM)
  set(vulkan_found ON)
else()
  set(vulkan_found OFF)
endif()
walle_backend_wanted(VULKAN ${vulkan_found}
  "needs vulkan/vulkan.h and glslc: apt-get install libvulkan-dev glslc" WALLE_USE_VULKAN)
if(WALLE_USE_VULKAN)
  include(${CMAKE_CURRENT_LIST_DIR}/../gpu/device_common.cmake)
  set(VK_DIR ${CMAKE_CURRENT_LIST_DIR})
  set(VK_ENTRIES raster_4 raster_8 fill_4 fill_8 unary_f32 binary_f32 reduce_f32 argreduce_f32 matmul_f32
      matmul_f32_t4 conv_f32 conv_f32_oc4 pool_f32 gather_4 gather_8 gather_checked_4 gather_checked_8 cast
      scatter_serial_4 scatter_serial_8 scatter_serial_f32 scatter_serial_i32 scatter_rows_4 scatter_rows_8
      scatter_groups_f32 scatter_groups_i32 topk_select_f32 topk_select_i32 topk_rank_f32 topk_rank_i32
      softmax_f32_row softmax_f32_wg layernorm_f32_row layernorm_f32_wg random_bernoulli)
  string(REPLACE ";" "\\;" VK_ENTRIES_ARG "${VK_ENTRIES}")  # one argument through add_custom_command
  set(VK_SPV "")
  foreach(e ${VK_ENTRIES})
    add_custom_command(
      OUTPUT ${GPU_GEN_DIR}/spv/${e}.spv
      COMMAND ${CMAKE_COMMAND} -E make_directory ${GPU_GEN_DIR}/spv
      COMMAND ${GLSLC_PROGRAM} -fshader-stage=compute -O -DWL_WANT_${e}=1 -I${GPU_GEN_DIR} ${VK_DIR}/kernel.comp
              -o ${GPU_GEN_DIR}/spv/${e}.spv
      DEPENDS ${VK_DIR}/kernel.comp ${VK_DIR}/prelude.glsl ${GPU_GEN_DIR}/op_codes.inc ${GPU_DIR}/kernels.inc
      COMMENT "glslc: ${e}.spv")
    list(APPEND VK_SPV ${GPU_GEN_DIR}/spv/${e}.spv)
  endforeach()
  add_custom_command(
    OUTPUT ${GPU_GEN_DIR}/vulkan_spirv.h
    COMMAND ${CMAKE_COMMAND} -DOUT=${GPU_GEN_DIR}/vulkan_spirv.h -DSPV_DIR=${GPU_GEN_DIR}/spv
            "-DENTRIES=${VK_ENTRIES_ARG}" -P ${VK_DIR}/embed_spirv.cmake
    DEPENDS ${VK_SPV} ${VK_DIR}/embed_spirv.cmake
    COMMENT "embedding the SPIR-V kernels")
  list(APPEND WALLE_BACKEND_SOURCES ${VK_DIR}/vulkan_api.cpp ${VK_DIR}/vulkan_backend.cpp ${GPU_GEN_DIR}/vulkan_spirv.h)
  walle_backend(register_vulkan_backend)
  message(STATUS "Walle: Vulkan backend ON (glslc ${GLSLC_PROGRAM})")
endif()
