// The pass/fail tally of the standalone C++ tests (no gtest): check() records one
// assertion, report() prints "N passed, N failed" as the last line and gives the exit code.
#pragma once
#include <cstdio>
#include <string>

namespace walle_test {

inline int g_passed = 0, g_failed = 0;

inline void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 50) std::printf("FAIL: %s\n", what.c_str());
  }
}

inline int report() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

}  // namespace walle_test
