// Test support: a counting global operator new, for tests that pin "no heap allocation in
// this loop". Include from exactly one .cpp of a test executable (it replaces the global
// operator new/delete of that program). Count with:
//   lmkit::test_support::AllocationCounter c;  ...work...;  EXPECT_EQ(c.count(), 0);
#pragma once
#include <atomic>
#include <cstdlib>
#include <new>

namespace lmkit::test_support {
inline std::atomic<long> g_allocations{0};
inline std::atomic<int> g_counting{0};

// Counts operator new calls (on any thread) while alive.
class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations = 0;
    g_counting++;
  }
  ~AllocationCounter() { g_counting--; }
  long count() const { return g_allocations.load(); }
};
}  // namespace lmkit::test_support

void* operator new(size_t n) {
  if (lmkit::test_support::g_counting.load(std::memory_order_relaxed))
    lmkit::test_support::g_allocations.fetch_add(1);
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
