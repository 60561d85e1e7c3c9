# A test-only backend, built into the C++ test build only (WALLE_BUILD_TESTS): it shows that a
# backend joins the engine from its own folder, with no edit to any other file. It registers
# "test-loopback", a host-memory backend running every op with the portable CPU kernels and
# offering each op two named variants, and walle_test_loopback_backend checks that sessions and
# the search use it.
list(APPEND WALLE_BACKEND_SOURCES ${CMAKE_CURRENT_LIST_DIR}/loopback_backend.cpp)
walle_backend(register_loopback_backend)
add_executable(walle_test_loopback_backend ${CMAKE_CURRENT_LIST_DIR}/test_loopback_backend.cpp)
target_link_libraries(walle_test_loopback_backend PRIVATE walle_core)
target_include_directories(walle_test_loopback_backend PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../..)
if(COMMAND add_test)
  add_test(NAME walle_test_loopback_backend COMMAND walle_test_loopback_backend)
endif()
