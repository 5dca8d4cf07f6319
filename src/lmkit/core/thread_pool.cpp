#include "lmkit/core/thread_pool.h"

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "lmkit/core/error.h"

namespace lmkit {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_raw(RawFn fn, void* ctx) {
  if (n_threads_ == 1 || in_job_) {
    // Nested parallelism runs serially on the calling thread: one level of threads only.
    fn(ctx, 0, 1);
    return;
  }
  in_job_ = true;
  fn_ = fn;
  ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  fn(ctx, 0, n_threads_);
  // Block (futex) until the workers are done; no spinning.
  for (int p = pending_.load(std::memory_order_acquire); p != 0;
       p = pending_.load(std::memory_order_acquire))
    pending_.wait(p, std::memory_order_acquire);
  in_job_ = false;
}

void ThreadPool::worker(int tid) {
  uint32_t seen = 0;
  for (;;) {
    generation_.wait(seen, std::memory_order_acquire);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    fn_(ctx_, tid, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

int default_num_threads() {
  if (const char* env = std::getenv("LMKIT_THREADS"); env && *env) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    check(end && *end == 0 && n >= 1 && n <= 1024,
          "LMKIT_THREADS='{}' is not a thread count (1..1024)", env);
    return static_cast<int>(n);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

namespace {
std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;
}  // namespace

ThreadPool& thread_pool() {
  std::lock_guard lock(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(default_num_threads());
  return *g_pool;
}

void set_num_threads(int n) {
  std::lock_guard lock(g_pool_mu);
  int want = n <= 0 ? default_num_threads() : n;
  check(want <= 1024, "thread count {} is out of range (1..1024)", want);
  if (g_pool && g_pool->size() == want) return;
  g_pool.reset();
  g_pool = std::make_unique<ThreadPool>(want);
}

int num_threads() { return thread_pool().size(); }

}  // namespace lmkit
