// A fixed-size pool of worker threads owned by one session.
//
// parallel_for cuts [0, n) into contiguous tasks (a few per thread) that the calling thread
// and the workers claim from one shared counter, so a pool of size 1 spawns no thread and runs
// inline. Dynamic claiming matters on a shared machine: a worker the OS has not scheduled yet
// simply claims nothing, and the caller does its share instead of waiting for it (with one
// fixed chunk per thread, 2 threads were often slower than 1 under load). Each session has its
// own pool, so two sessions with 1 thread each use exactly 2 cores.
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
  void worker_loop();
  // Claims and runs tasks of job `generation` until none is left.
  void run_tasks(uint32_t generation);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // generation (32 bits) | task count (16) | next unclaimed task (16), in one word: a claim
  // is a CAS on it, so a worker that saw an old generation can never take a task of a newer
  // job, and job_/job_size_ are read only after a successful claim.
  std::atomic<uint64_t> claim_{0};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  uint32_t tasks_ = 0;  // the caller's copy of the task count
  std::atomic<uint32_t> finished_{0};  // tasks of the current job completed
  std::exception_ptr error_;
  std::atomic<bool> stopping_{false};
};

}  // namespace walle
