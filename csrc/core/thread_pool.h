// A fixed-size pool of worker threads owned by one session.
//
// parallel_for cuts [0, n) into contiguous tasks, a few per thread. Thread t (the caller is 0)
// owns the t-th contiguous run of them and takes its own in order; a thread that runs out
// steals from the back of another's run. So when every thread keeps up, thread t always
// handles the same part of every op's range: consecutive ops that split the same way (a
// pointwise conv after a depthwise one, both by pixel rows) find their input in their own
// core's cache (MobileNetV2 at 2 threads: 3.12 -> 2.86 ms against claiming from one shared
// counter, where who got which part changed from op to op). Stealing still matters on a
// shared machine: a worker the OS has not scheduled yet simply runs nothing, and the others do
// its share instead of waiting for it (with one fixed chunk per thread and no stealing, 2
// threads were often slower than 1 under load). A pool of size 1 spawns no thread and runs
// inline. Each session has its own pool, so two sessions with 1 thread each use exactly 2
// cores.
//
// Workers spin briefly before sleeping: waking a sleeping thread costs ~70 us here, more than
// many whole kernels, and a session's ops come back to back.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
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
  void worker_loop(int self);
  // Claims and runs tasks of job `generation` as thread `self` until none is left.
  void run_tasks(uint32_t generation, int self);
  // Claims one task of `generation` from thread `owner`'s run, the front one when the owner
  // itself asks, else the back one; -1 when that run is empty or belongs to another job.
  int64_t claim(uint32_t generation, int owner, bool front);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The job now published; a worker wakes when it differs from the last one it ran.
  std::atomic<uint32_t> generation_{0};
  // Per thread, its run of unclaimed tasks: generation (32 bits) | first (16) | end (16), in
  // one word. A claim is a CAS on it, so a worker that saw an old generation can never take a
  // task of a newer job, and job_/job_size_ are read only after a successful claim.
  std::unique_ptr<std::atomic<uint64_t>[]> runs_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  uint32_t tasks_ = 0;                 // task count of the current job
  std::atomic<uint32_t> finished_{0};  // tasks of the current job completed
  std::exception_ptr error_;
  std::atomic<bool> stopping_{false};
};

}  // namespace walle
