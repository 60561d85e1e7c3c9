# Standalone ThreadPool test: walle_test_thread_pool (plain asserts; prints "N passed, N
# failed" last). Links the same target as the GEMM test (see test_gemm.cmake).
add_executable(walle_test_thread_pool ${CMAKE_CURRENT_LIST_DIR}/test_thread_pool.cpp)
target_link_libraries(walle_test_thread_pool PRIVATE ${WALLE_GEMM_TEST_LINK})
target_include_directories(walle_test_thread_pool PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc)
if(COMMAND add_test)
  add_test(NAME walle_test_thread_pool COMMAND walle_test_thread_pool)
endif()
