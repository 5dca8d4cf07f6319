// The one thread pool that runs every parallel kernel in lmkit.
//
// Work is split statically (thread t of n always gets the same range), so results do not
// depend on timing: same inputs and thread count -> bit-identical outputs. Idle workers
// block in the kernel (std::atomic::wait = futex on Linux): after a job ends no thread
// spins. OpenBLAS runs single-threaded inside our jobs (core/gemm.h splits GEMMs over this
// pool), so the machine is never oversubscribed.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace lmkit {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(tid, n_threads) once on every thread (the caller is tid 0) and returns when
  // all have finished. Not reentrant: a job that calls run() runs the inner job serially.
  template <typename F>
  void run(F&& fn) {
    run_raw(
        [](void* ctx, int tid, int n) { (*static_cast<std::remove_reference_t<F>*>(ctx))(tid, n); },
        &fn);
  }

  // Splits [0, n) into n_threads contiguous static ranges and calls fn(begin, end) for
  // each non-empty one.
  template <typename F>
  void parallel_for(size_t n, F&& fn) {
    if (n == 0) return;
    if (n == 1 || n_threads_ == 1) {
      fn(size_t{0}, n);
      return;
    }
    run([&](int tid, int nt) {
      size_t b = n * tid / nt, e = n * (tid + 1) / nt;
      if (b < e) fn(b, e);
    });
  }

 private:
  using RawFn = void (*)(void*, int, int);
  void run_raw(RawFn fn, void* ctx);
  void worker(int tid);

  int n_threads_;
  std::vector<std::thread> workers_;
  RawFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  bool in_job_ = false;
};

// A reusable barrier for the threads of one pool job (several stages in one job cost one
// wake-up of the pool instead of one per stage). Waiters block on a futex
// (std::atomic::wait), never spin: on a VM whose vCPUs sometimes deliver one CPU's worth,
// a spinning waiter would steal the time of the thread it waits for.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    wait([] { return false; });
  }
  // As wait(), but a thread that has to wait first does work of its own, a piece at a time:
  // work() does one short piece (a few microseconds) and returns false when none is left;
  // between pieces the thread checks whether the others have arrived, and once the work
  // runs out it sleeps. Meant for work the thread would do anyway right after the barrier
  // (the engine prefetches the next stage's weights), so that nothing is spent that a
  // slowed machine would miss. A thread still working notices the release within a piece;
  // one woken from the futex starts late (on this VM, avoiding the wake-ups altogether, by
  // a spin measured for comparison only, made Q4_0 decode 5-10% faster).
  template <class Work>
  void wait(Work&& work) {
    if (n_ <= 1) return;
    const uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      gen_.notify_all();
      return;
    }
    while (gen_.load(std::memory_order_acquire) == gen && work()) {
    }
    while (gen_.load(std::memory_order_acquire) == gen) gen_.wait(gen, std::memory_order_acquire);
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<uint32_t> gen_{0};
};

// The process-wide pool. Its size comes from set_num_threads(), else LMKIT_THREADS, else
// the number of cores.
ThreadPool& thread_pool();
// Resizes the global pool (e.g. from --threads); n <= 0 means the default.
void set_num_threads(int n);
int num_threads();
int default_num_threads();

}  // namespace lmkit
