#include "core/thread_pool.h"

#include <chrono>

namespace walle {

namespace {
// Chunk i of `parts` equal contiguous pieces of [0, n).
void chunk(int64_t n, int parts, int i, int64_t* begin, int64_t* end) {
  *begin = n * i / parts;
  *end = n * (i + 1) / parts;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins up to ~200 us for `ready()`; returns whether it became true.
template <typename Ready> bool spin_until(Ready ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) return false;
  }
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
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

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    error_ = nullptr;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes job_ to spinning workers
  }
  wake_.notify_all();
  int64_t begin, end;
  chunk(n, size(), 0, &begin, &end);
  std::exception_ptr mine;
  try {
    if (begin < end) fn(begin, end);
  } catch (...) {
    mine = std::current_exception();
  }
  auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  job_ = nullptr;
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_work = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(has_work)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_work);
    }
    if (stopping_) return;
    seen = generation_.load(std::memory_order_acquire);
    const std::function<void(int64_t, int64_t)>* job = job_;
    int64_t n = job_size_;
    int64_t begin, end;
    chunk(n, size(), index, &begin, &end);
    std::exception_ptr failure;
    try {
      if (begin < end) (*job)(begin, end);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = failure;
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's predicate check
      done_.notify_all();
    }
  }
}

}  // namespace walle
