# walle_run_model: runs a .walle model N times on one backend (see run_model.cpp and
# count_instructions.sh, which counts instructions per inference under qemu-aarch64).
add_executable(walle_run_model ${CMAKE_CURRENT_LIST_DIR}/run_model.cpp)
target_link_libraries(walle_run_model PRIVATE walle_core)
