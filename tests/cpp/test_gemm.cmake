# Standalone SGEMM test: walle_test_gemm (plain asserts; prints "N passed, N failed" last).
# Expects the library target walle_core (or set WALLE_GEMM_TEST_LINK to the target that
# holds WALLE_CPU_SOURCES and csrc/core) to exist already.
if(NOT DEFINED WALLE_GEMM_TEST_LINK)
  set(WALLE_GEMM_TEST_LINK walle_core)
endif()
add_executable(walle_test_gemm ${CMAKE_CURRENT_LIST_DIR}/test_gemm.cpp)
target_link_libraries(walle_test_gemm PRIVATE ${WALLE_GEMM_TEST_LINK})
target_include_directories(walle_test_gemm PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc
                                                   ${CMAKE_CURRENT_LIST_DIR}/../../backends)
if(COMMAND add_test)
  if(CMAKE_CROSSCOMPILING)  # run under an emulator (CMAKE_CROSSCOMPILING_EMULATOR): fewer shapes
    add_test(NAME walle_test_gemm COMMAND walle_test_gemm --quick)
  else()
    add_test(NAME walle_test_gemm COMMAND walle_test_gemm)
  endif()
endif()
