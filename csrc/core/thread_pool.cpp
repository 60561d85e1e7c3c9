#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace walle {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins up to ~2 ms for `ready()`; returns whether it became true. 2 ms rather than 200 us: a
// caller that serves requests one after another (the model benchmark's workers, a server)
// starts the next inference more than 200 us after the last one ended, and every run then
// began by waking a sleeping worker (2-thread medians 5-9 ms instead of 4.3-4.9 ms).
template <typename Ready> bool spin_until(Ready ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(2000);
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

uint32_t generation_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 32); }
uint32_t tasks_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 16) & 0xffff; }
uint32_t next_of(uint64_t claim) { return static_cast<uint32_t>(claim) & 0xffff; }

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(uint32_t generation) {
  for (;;) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    uint32_t task, tasks;
    do {
      if (generation_of(c) != generation) return;
      task = next_of(c);
      tasks = tasks_of(c);
      if (task >= tasks) return;
    } while (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire));
    // The job stays alive until every claimed task of this generation has finished.
    const int64_t begin = job_size_ * task / tasks, end = job_size_ * (task + 1) / tasks;
    try {
      if (begin < end) (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
      std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's predicate check
      done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    // A few tasks per thread absorb a late or descheduled worker; more only add claims.
    tasks_ = static_cast<uint32_t>(std::min<int64_t>({n, 4 * static_cast<int64_t>(size()), 0xffff}));
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    generation = generation_of(claim_.load(std::memory_order_relaxed)) + 1;
    claim_.store((static_cast<uint64_t>(generation) << 32) | (static_cast<uint64_t>(tasks_) << 16),
                 std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(generation);
  auto all_done = [this] { return finished_.load(std::memory_order_acquire) == tasks_; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    auto has_work = [&] {
      return stopping_.load() || generation_of(claim_.load(std::memory_order_acquire)) != seen;
    };
    if (!spin_until(has_work)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_work);
    }
    if (stopping_) return;
    seen = generation_of(claim_.load(std::memory_order_acquire));
    run_tasks(seen);
  }
}

}  // namespace walle
