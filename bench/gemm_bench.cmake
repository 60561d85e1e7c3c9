# SGEMM microbenchmark walle_gemm_bench (google-benchmark; Debian: libbenchmark-dev).
# Skipped quietly when the package is missing. Links WALLE_GEMM_BENCH_LINK (default
# walle_core), the target that holds WALLE_CPU_SOURCES and csrc/core.
find_package(benchmark QUIET)
if(benchmark_FOUND)
  if(NOT DEFINED WALLE_GEMM_BENCH_LINK)
    set(WALLE_GEMM_BENCH_LINK walle_core)
  endif()
  add_executable(walle_gemm_bench ${CMAKE_CURRENT_LIST_DIR}/gemm_bench.cpp)
  target_link_libraries(walle_gemm_bench PRIVATE ${WALLE_GEMM_BENCH_LINK} benchmark::benchmark)
  target_include_directories(walle_gemm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../csrc
                                                      ${CMAKE_CURRENT_LIST_DIR}/../backends)
else()
  message(STATUS "google-benchmark not found: walle_gemm_bench is not built")
endif()
