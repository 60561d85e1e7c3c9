# Standalone tests of the core (plain asserts; each prints "N passed, N failed" last):
# walle_test_thread_pool, walle_test_large_alloc, and walle_test_search_signature (the tune
# cache's key). They link the same target as the GEMM test (see test_gemm.cmake).
foreach(name thread_pool large_alloc search_signature)
  add_executable(walle_test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.cpp)
  target_link_libraries(walle_test_${name} PRIVATE ${WALLE_GEMM_TEST_LINK})
  target_include_directories(walle_test_${name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../csrc)
  if(COMMAND add_test)
    add_test(NAME walle_test_${name} COMMAND walle_test_${name})
  endif()
endforeach()
