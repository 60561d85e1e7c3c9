# Kernel tests of the SIMD levels against the portable kernels (plain asserts; each prints
# "N passed, N failed" last). They link the same target as the GEMM test (see test_gemm.cmake).
foreach(name elementwise_f32 cpu_ops)
  add_executable(walle_test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.cpp)
  target_link_libraries(walle_test_${name} PRIVATE ${WALLE_GEMM_TEST_LINK})
  target_include_directories(walle_test_${name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc
                                                        ${CMAKE_CURRENT_LIST_DIR}/../../backends)
  add_test(NAME walle_test_${name} COMMAND walle_test_${name})
endforeach()

# Whole models: set WALLE_TEST_MODELS_DIR to a directory that
# tests/cpp/models/make_test_models.py filled (CI generates it on the host before the run).
add_executable(walle_test_models ${CMAKE_CURRENT_LIST_DIR}/test_models.cpp)
target_link_libraries(walle_test_models PRIVATE ${WALLE_GEMM_TEST_LINK})
target_include_directories(walle_test_models PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc)
set(WALLE_TEST_MODELS_DIR "" CACHE PATH "models written by tests/cpp/models/make_test_models.py")
if(WALLE_TEST_MODELS_DIR)
  add_test(NAME walle_test_models COMMAND walle_test_models ${WALLE_TEST_MODELS_DIR} resnet18 mobilenetv2)
endif()
