# The CPU backends ("cpu" at the processor's best instruction set, "cpu-reference"): portable
# kernels, the x86 AVX2/AVX-512 or aarch64 NEON ones chosen at run time, and the GEMM.
set(CPU_DIR ${CMAKE_CURRENT_LIST_DIR})
set(WALLE_CPU_SOURCES
  ${CPU_DIR}/cpu_backend.cpp ${CPU_DIR}/broadcast.cpp ${CPU_DIR}/elementwise_f32.cpp
  ${CPU_DIR}/elementwise_kernels.cpp ${CPU_DIR}/data_kernels.cpp ${CPU_DIR}/reduce_kernels.cpp
  ${CPU_DIR}/matmul_kernels.cpp ${CPU_DIR}/conv_kernels.cpp ${CPU_DIR}/fused_kernels.cpp ${CPU_DIR}/conv_f32.cpp
  ${CPU_DIR}/conv_winograd.cpp ${CPU_DIR}/conv_blocked.cpp ${CPU_DIR}/index_kernels.cpp ${CPU_DIR}/text_kernels.cpp
  ${CPU_DIR}/reference/elementwise_f32_reference.cpp)
include(${CPU_DIR}/gemm.cmake)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(X86_AVX2_FLAGS "-mavx2;-mfma;-mf16c")
  set(X86_AVX512_FLAGS "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mfma;-mf16c")
  list(APPEND WALLE_CPU_SOURCES ${CPU_DIR}/x86/elementwise_f32_avx2.cpp ${CPU_DIR}/x86/elementwise_f32_avx512.cpp
       ${CPU_DIR}/x86/conv_f32_avx2.cpp ${CPU_DIR}/x86/conv_f32_avx512.cpp
       ${CPU_DIR}/x86/conv_blocked_avx512.cpp)
  set_source_files_properties(${CPU_DIR}/x86/elementwise_f32_avx2.cpp ${CPU_DIR}/x86/conv_f32_avx2.cpp
                              PROPERTIES COMPILE_OPTIONS "${X86_AVX2_FLAGS}")
  set_source_files_properties(${CPU_DIR}/x86/elementwise_f32_avx512.cpp ${CPU_DIR}/x86/conv_f32_avx512.cpp
                              ${CPU_DIR}/x86/conv_blocked_avx512.cpp
                              PROPERTIES COMPILE_OPTIONS "${X86_AVX512_FLAGS}")
  list(APPEND WALLE_BACKEND_DEFINITIONS WALLE_HAVE_X86_KERNELS=1)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  # NEON is in the aarch64 baseline, so these need no flags; they run where getauxval says so.
  list(APPEND WALLE_CPU_SOURCES ${CPU_DIR}/arm/elementwise_f32_neon.cpp ${CPU_DIR}/arm/conv_f32_neon.cpp)
  list(APPEND WALLE_BACKEND_DEFINITIONS WALLE_HAVE_ARM_KERNELS=1)
endif()
list(APPEND WALLE_BACKEND_SOURCES ${WALLE_CPU_SOURCES})
walle_backend(register_cpu_backends)
