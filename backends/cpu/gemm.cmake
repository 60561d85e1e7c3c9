# SGEMM sources for the CPU backend. include() this from the top-level CMakeLists before
# the library target is created; it appends to WALLE_CPU_SOURCES. Include directories
# needed: <repo>/csrc and <repo>/backends (gemm.cpp includes "core/..." and "cpu/...").
#
# The x86 microkernels are built with their own instruction-set flags while the rest of the
# library stays at the baseline target; gemm.cpp picks a kernel at run time from walle::Isa
# (on aarch64 the NEON kernel needs no flags: NEON is in the baseline).
# (set_source_files_properties is directory scoped: the target using WALLE_CPU_SOURCES must
# be defined in the directory that include()s this file.)
set(WALLE_GEMM_DIR ${CMAKE_CURRENT_LIST_DIR})
list(APPEND WALLE_CPU_SOURCES ${WALLE_GEMM_DIR}/gemm.cpp)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND WALLE_CPU_SOURCES
       ${WALLE_GEMM_DIR}/x86/gemm_avx2.cpp
       ${WALLE_GEMM_DIR}/x86/gemm_avx512.cpp)
  set_source_files_properties(${WALLE_GEMM_DIR}/x86/gemm_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${WALLE_GEMM_DIR}/x86/gemm_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mfma")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  # NEON (Advanced SIMD with FMA) is part of the aarch64 baseline: no extra flags.
  list(APPEND WALLE_CPU_SOURCES ${WALLE_GEMM_DIR}/arm/gemm_neon.cpp)
endif()
