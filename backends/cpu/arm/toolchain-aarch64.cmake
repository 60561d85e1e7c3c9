# Cross build for aarch64 Linux with Debian's g++-aarch64-linux-gnu, tests run under qemu-user:
#   cmake -S . -B build/aarch64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=backends/cpu/arm/toolchain-aarch64.cmake \
#     -DWALLE_BUILD_PYTHON=OFF -DWALLE_BUILD_TESTS=ON -DPython_EXECUTABLE=<host python with flatc>
#   cmake --build build/aarch64 && ctest --test-dir build/aarch64
# flatc runs on the host (the Python interpreter named above imports the `flatc` package), so
# Python_EXECUTABLE must be given. Device backends are off: their SDKs are host-only here.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(WALLE_AARCH64_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the aarch64 cross compiler")
set(CMAKE_C_COMPILER ${WALLE_AARCH64_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${WALLE_AARCH64_TRIPLE}-g++)

# Headers and libraries come from the target sysroot only; programs (flatc, ccache) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${WALLE_AARCH64_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs each test program through qemu; -L points it at the target's dynamic loader and libc.
find_program(WALLE_QEMU_AARCH64 qemu-aarch64)
if(WALLE_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${WALLE_QEMU_AARCH64} -L /usr/${WALLE_AARCH64_TRIPLE})
endif()

set(WALLE_OPENCL OFF CACHE BOOL "no OpenCL in the aarch64 cross build")
set(WALLE_VULKAN OFF CACHE BOOL "no Vulkan in the aarch64 cross build")
set(WALLE_CUDA OFF CACHE BOOL "no CUDA in the aarch64 cross build")
