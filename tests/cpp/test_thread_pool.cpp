// ThreadPool::parallel_for: every index runs exactly once for any n and pool size, errors come
// back to the caller, and a thread stuck in one task does not hold up the rest of its run
// (the others steal it). Standalone (no gtest): exit code 1 on any failure; the last line is
// "N passed, N failed".
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "check.h"

using walle::ThreadPool;

namespace {

using walle_test::check;

// Each index of [0, n) is visited exactly once, by ranges that are non-empty and in bounds.
void test_coverage(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  std::atomic<bool> bad_range{false};
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    if (b < 0 || e > n || b >= e) bad_range = true;
    for (int64_t i = b; i < e && i < n && i >= 0; ++i) seen[i].fetch_add(1);
  });
  bool once = true;
  for (auto& s : seen) once = once && s.load() == 1;
  check(once && !bad_range, "pool " + std::to_string(pool.size()) + ": every index of " + std::to_string(n) + " once");
}

void test_error(ThreadPool& pool) {
  std::atomic<int> ran{0};
  bool caught = false;
  try {
    pool.parallel_for(64, [&](int64_t b, int64_t e) {
      ran += static_cast<int>(e - b);
      if (b <= 40 && 40 < e) throw std::runtime_error("task 40 failed");
    });
  } catch (const std::runtime_error& e) { caught = std::string(e.what()) == "task 40 failed"; }
  check(caught, "pool " + std::to_string(pool.size()) + ": a task's exception reaches the caller");
  check(ran.load() == 64, "pool " + std::to_string(pool.size()) + ": the other tasks still run");
  test_coverage(pool, 100);  // and the pool is usable afterwards
}

// With one index per task (4 per thread), the thread that takes the first index of thread 1's
// run blocks until the rest of that run is done. That can only finish if another thread takes
// them over while it waits.
void test_stealing(ThreadPool& pool) {
  const int64_t n = 4 * pool.size(), first = 4, last = 7;
  std::atomic<int64_t> rest_done{0};
  std::atomic<bool> timed_out{false};
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (i == first) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (rest_done.load() < last - first)
          if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            break;
          } else {
            std::this_thread::yield();
          }
      } else if (i > first && i <= last) {
        rest_done.fetch_add(1);
      }
    }
  });
  check(!timed_out, "pool " + std::to_string(pool.size()) + ": a blocked task's run is taken over by the others");
}

}  // namespace

int main() {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 20, 100, 1000, 70001}) test_coverage(pool, n);
    // Many small jobs back to back: a worker late for one job must not take part in the next.
    bool all = true;
    for (int job = 0; job < 2000; ++job) {
      std::atomic<int64_t> sum{0};
      const int64_t n = 1 + job % 37;
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum += i;
      });
      all = all && sum.load() == n * (n - 1) / 2;
    }
    check(all, "pool " + std::to_string(threads) + ": 2000 jobs back to back");
    test_error(pool);
    if (threads > 1) test_stealing(pool);
  }
  return walle_test::report();
}
