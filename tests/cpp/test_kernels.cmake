# Kernel tests of the SIMD levels against the portable kernels (plain asserts; each prints
# "N passed, N failed" last). They link the same target as the GEMM test (see test_gemm.cmake).
foreach(name elementwise_f32 cpu_ops)
  add_executable(walle_test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.cpp)
  target_link_libraries(walle_test_${name} PRIVATE ${WALLE_GEMM_TEST_LINK})
  target_include_directories(walle_test_${name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc
                                                        ${CMAKE_CURRENT_LIST_DIR}/../../backends)
  add_test(NAME walle_test_${name} COMMAND walle_test_${name})
endforeach()
