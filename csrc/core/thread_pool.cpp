#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace walle {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");  // the spin-wait hint (PAUSE's counterpart), not a system call
#else
  std::this_thread::yield();
#endif
}

// Spins up to ~2 ms for `ready()`; returns whether it became true. 2 ms rather than 200 us: a
// caller that serves requests one after another (the model benchmark's workers, a server)
// starts the next inference more than 200 us after the last one ended, and every run then
// began by waking a sleeping worker (2-thread medians 5-9 ms instead of 4.3-4.9 ms).
template <typename Ready>
bool spin_until(Ready ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(2000);
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

// A run word: generation (32 bits) | first unclaimed task (16) | end of the run (16).
uint64_t run_word(uint32_t generation, uint32_t first, uint32_t end) {
  return (static_cast<uint64_t>(generation) << 32) | (static_cast<uint64_t>(first) << 16) | end;
}
uint32_t generation_of(uint64_t run) { return static_cast<uint32_t>(run >> 32); }
uint32_t first_of(uint64_t run) { return static_cast<uint32_t>(run >> 16) & 0xffff; }
uint32_t end_of(uint64_t run) { return static_cast<uint32_t>(run) & 0xffff; }

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  runs_ = std::make_unique<std::atomic<uint64_t>[]>(threads);
  for (int i = 0; i < threads; ++i) runs_[i].store(0, std::memory_order_relaxed);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::claim(uint32_t generation, int owner, bool front) {
  std::atomic<uint64_t>& run = runs_[owner];
  uint64_t w = run.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t first = first_of(w), end = end_of(w);
    if (generation_of(w) != generation || first >= end) return -1;
    const uint64_t next = front ? run_word(generation, first + 1, end) : run_word(generation, first, end - 1);
    if (run.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_acquire))
      return front ? first : end - 1;
  }
}

void ThreadPool::run_tasks(uint32_t generation, int self) {
  const int threads = size();
  for (;;) {
    // Own run first, front to back; then the back of the others', nearest thread first.
    int64_t task = claim(generation, self, true);
    for (int k = 1; task < 0 && k < threads; ++k) task = claim(generation, (self + k) % threads, false);
    if (task < 0) return;
    // The job stays alive until every claimed task of this generation has finished.
    const int64_t begin = job_size_ * task / tasks_, end = job_size_ * (task + 1) / tasks_;
    try {
      if (begin < end) (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks_) {
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
    const int threads = size();
    tasks_ = static_cast<uint32_t>(std::min<int64_t>({n, 4 * static_cast<int64_t>(threads), 0xffff}));
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    generation = generation_.load(std::memory_order_relaxed) + 1;
    for (int t = 0; t < threads; ++t)
      runs_[t].store(run_word(generation, static_cast<uint32_t>(uint64_t{tasks_} * t / threads),
                              static_cast<uint32_t>(uint64_t{tasks_} * (t + 1) / threads)),
                     std::memory_order_release);
    generation_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(generation, 0);
  auto all_done = [this] { return finished_.load(std::memory_order_acquire) == tasks_; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop(int self) {
  uint32_t seen = 0;
  for (;;) {
    auto has_work = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(has_work)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_work);
    }
    if (stopping_) return;
    seen = generation_.load(std::memory_order_acquire);
    run_tasks(seen, self);
  }
}

}  // namespace walle
