// aligned_alloc_large: 64-byte alignment below 2 MiB, 2 MiB alignment (huge-page ready) from
// 2 MiB up, every byte usable, and LargeAllocator vectors behave as vectors. Standalone (no
// gtest): exit code 1 on any failure; the last line is "N passed, N failed".
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "core/tensor.h"

using walle_test::check;

int main() {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, (size_t{2} << 20) - 4, size_t{2} << 20,
                       (size_t{5} << 20) + 12}) {
    void* p = walle::aligned_alloc_large(bytes);
    const auto at = reinterpret_cast<uintptr_t>(p);
    const uintptr_t want = bytes >= (size_t{2} << 20) ? (uintptr_t{2} << 20) : 64;
    check(p != nullptr && at % want == 0, std::to_string(bytes) + " bytes: aligned to " + std::to_string(want));
    if (p && bytes) {
      std::memset(p, 0xab, bytes);
      check(static_cast<unsigned char*>(p)[bytes - 1] == 0xab, std::to_string(bytes) + " bytes: all writable");
    }
    std::free(p);
  }
  std::vector<float, walle::LargeAllocator<float>> v(3 << 20, 1.5f);  // 12 MiB
  v.push_back(2.5f);
  check(reinterpret_cast<uintptr_t>(v.data()) % (uintptr_t{2} << 20) == 0 && v.back() == 2.5f && v[12345] == 1.5f,
        "LargeAllocator vector: aligned, grows, keeps its values");
  return walle_test::report();
}
