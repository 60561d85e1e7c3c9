// A fixed-size pool of worker threads owned by one session.
//
// parallel_for splits [0, n) into contiguous chunks, one per thread, and the calling thread
// takes a chunk itself, so a pool of size 1 spawns no thread and runs inline. Each session
// has its own pool, so two sessions with 1 thread each use exactly 2 cores.
//
// Workers spin briefly before sleeping: waking a sleeping thread costs ~70 us here, more than
// many whole kernels, and a session's ops come back to back.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace walle {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n); returns when all are done.
  // The first exception thrown by any chunk is rethrown here.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::exception_ptr error_;
  std::atomic<bool> stopping_{false};
};

}  // namespace walle
