# Kernel microbenchmarks walle_ops_bench (conv variants, depthwise, softmax, layernorm, pool;
# google-benchmark). Skipped quietly when the package is missing.
find_package(benchmark QUIET)
if(benchmark_FOUND)
  add_executable(walle_ops_bench ${CMAKE_CURRENT_LIST_DIR}/ops_bench.cpp)
  target_link_libraries(walle_ops_bench PRIVATE walle_core benchmark::benchmark)
endif()
