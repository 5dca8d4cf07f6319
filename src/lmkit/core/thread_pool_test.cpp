#include "lmkit/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace lmkit {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> calls(3);
  std::atomic<int> size_seen{0};
  pool.run([&](int tid, int nt) {
    calls[size_t(tid)]++;
    if (nt == 3) size_seen++;
  });
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
  EXPECT_EQ(size_seen.load(), 3);
}

TEST(ThreadPoolTest, ParallelForCoversTheRangeOnce) {
  ThreadPool pool(3);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n " << n << " i " << i;
  }
}

// Every thread must see all the others' writes of a stage after the barrier, for many
// reuses of the same barrier.
TEST(BarrierTest, SeparatesStagesAcrossReuses) {
  constexpr int kThreads = 3, kStages = 2000;
  ThreadPool pool(kThreads);
  Barrier barrier(kThreads);
  std::vector<int> slot(kThreads, -1);
  std::atomic<int> errors{0};
  pool.run([&](int tid, int nt) {
    for (int s = 0; s < kStages; ++s) {
      slot[size_t(tid)] = s;  // plain writes, published by the barrier
      barrier.wait();
      for (int t = 0; t < nt; ++t)
        if (slot[size_t(t)] != s) errors++;
      barrier.wait();  // nobody writes stage s + 1 before everyone has read stage s
    }
  });
  EXPECT_EQ(errors.load(), 0);
}

// Thread 1 arrives only once thread 0 is working inside wait(work), i.e. has arrived.
void wait_until(const std::atomic<int>& v, int at_least) {
  while (v.load() < at_least) std::this_thread::yield();
}

// wait(work): only a thread that has to wait runs the work, it stops when the work says
// so, and it still waits for the others.
TEST(BarrierTest, WaitWithWorkRunsItWhileWaitingAndStillWaits) {
  ThreadPool pool(2);
  Barrier barrier(2);
  std::atomic<int> pieces{0};  // thread 0's pieces of work
  std::atomic<bool> late_arrived{false};
  bool passed_early = false;  // thread 0 left the barrier before thread 1 arrived
  pool.run([&](int tid, int) {
    if (tid == 0) {
      barrier.wait([&] { return ++pieces < 5; });  // five pieces, then sleep
      passed_early = !late_arrived.load();
    } else {
      wait_until(pieces, 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      late_arrived = true;
      barrier.wait([] {
        ADD_FAILURE() << "the last thread to arrive must not run the work";
        return false;
      });
    }
  });
  EXPECT_EQ(pieces.load(), 5);
  EXPECT_FALSE(passed_early);
}

TEST(BarrierTest, WaitWithWorkStopsWorkingWhenReleased) {
  ThreadPool pool(2);
  Barrier barrier(2);
  std::atomic<int> pieces{0};
  pool.run([&](int tid, int) {
    if (tid == 0) {
      barrier.wait([&] {  // endless work: only the release ends it
        pieces++;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        return true;
      });
    } else {
      wait_until(pieces, 3);
      barrier.wait();
    }
  });
  EXPECT_GE(pieces.load(), 3);
}

TEST(BarrierTest, OneThreadNeverWaitsNorWorks) {
  Barrier barrier(1);
  barrier.wait([] {
    ADD_FAILURE() << "a barrier of one thread has nothing to wait for";
    return false;
  });
  barrier.wait();
}

}  // namespace
}  // namespace lmkit
