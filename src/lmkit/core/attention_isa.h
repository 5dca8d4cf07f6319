// Internal to core/attention*.cpp: the per-ISA halves of the attention kernels
// (attention_scalar.cpp, attention_avx2.cpp, attention_avx512.cpp). The dispatcher
// (attention.cpp) validates arguments, owns the threads and the scratch memory, and calls
// one of these tables; the ISA files hold compute only, so nothing that could be emitted
// as a shared weak symbol (std:: templates, thread pool code) is compiled with AVX flags.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmkit::kernels::attention_isa {

struct Shape {
  int64_t B, T, NH, NKV, hs;
  float scale;
};

struct ForwardArgs {
  Shape s;
  float* out;      // (B, T, NH, hs)
  float* lse;      // (B, NH, T)
  const float* q;  // (B, T, NH, hs)
  const float* k;  // (B, T, NKV, hs)
  const float* v;  // (B, T, NKV, hs)
};

struct BackwardArgs {
  Shape s;
  float* dq;          // (B, T, NH, hs), accumulated
  float* dk;          // (B, T, NKV, hs), accumulated
  float* dv;          // (B, T, NKV, hs), accumulated
  const float* dout;  // (B, T, NH, hs)
  const float* out;   // (B, T, NH, hs)
  const float* lse;   // (B, NH, T)
  const float* q;     // (B, T, NH, hs)
  const float* k;     // (B, T, NKV, hs)
  const float* v;     // (B, T, NKV, hs)
};

// One ISA's kernels. Thread tid of nt does its static share of the work (a function of
// tid, nt and the shape only, so results never depend on timing) using `scratch`, a
// 64-byte aligned block of *_scratch(shape) floats that belongs to that thread alone.
struct Kernels {
  size_t (*forward_scratch)(const Shape& s);
  void (*forward)(const ForwardArgs& a, int tid, int nt, float* scratch);
  size_t (*backward_scratch)(const Shape& s);
  void (*backward)(const BackwardArgs& a, int tid, int nt, float* scratch);
};

extern const Kernels scalar_kernels;
extern const Kernels avx2_kernels;
extern const Kernels avx512_kernels;

// Static split of [0, n) into nt contiguous ranges: thread tid gets [begin, end).
// static: each ISA file gets its own copy (no shared weak symbol across ISA flags).
static inline void split_range(int64_t n, int tid, int nt, int64_t* begin, int64_t* end) {
  *begin = n * tid / nt;
  *end = n * (tid + 1) / nt;
}

}  // namespace lmkit::kernels::attention_isa
