// Dispatcher for the flash attention kernels (attention.h): checks the arguments, picks
// the ISA (cpu.h: active_isa()), hands every pool thread its own slice of a scratch
// arena and runs the ISA's per-thread work on the global thread pool.
#include "lmkit/core/attention.h"

#include <cstdlib>
#include <memory>

#include "lmkit/core/attention_isa.h"
#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::kernels {

namespace {

using attention_isa::Kernels;

const Kernels& kernels_for_active_isa() {
  switch (active_isa()) {
    case Isa::Avx512:
      return attention_isa::avx512_kernels;
    case Isa::Avx2:
      return attention_isa::avx2_kernels;
    case Isa::Scalar:
      break;
  }
  return attention_isa::scalar_kernels;
}

// Per calling thread: grows to the largest request and is then reused, so steady-state
// calls allocate nothing. thread_local keeps concurrent callers (each with its own pool
// job) apart.
struct ScratchArena {
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], FreeDeleter> data;
  size_t capacity = 0;  // floats

  float* get(size_t floats) {
    if (floats > capacity) {
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
      check(p != nullptr, "attention: cannot allocate {} bytes of scratch", bytes);
      data.reset(p);
      capacity = floats;
    }
    return data.get();
  }
};

float* thread_scratch(size_t floats) {
  thread_local ScratchArena arena;
  return arena.get(floats);
}

size_t round_up_64b(size_t floats) {
  return (floats + 15) / 16 * 16;
}

attention_isa::Shape check_shape(const char* what, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                                 int64_t hs, float scale) {
  check(B >= 0 && T >= 0, "{}: B={} and T={} must not be negative", what, B, T);
  check(NH > 0 && NKV > 0, "{}: NH={} and NKV={} must be positive", what, NH, NKV);
  check(NH % NKV == 0, "{}: NH={} is not a multiple of NKV={} (grouped-query heads)", what, NH,
        NKV);
  check(hs > 0, "{}: head size hs={} must be positive", what, hs);
  check(scale == scale && scale > 0.f && scale < 1e30f, "{}: scale={} must be a positive number",
        what, scale);
  return {B, T, NH, NKV, hs, scale};
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hs, float scale) {
  attention_isa::Shape s = check_shape("attention_forward", B, T, NH, NKV, hs, scale);
  if (B == 0 || T == 0) return;
  check(out && lse && q && k && v, "attention_forward: null tensor pointer");
  const Kernels& kern = kernels_for_active_isa();
  ThreadPool& pool = thread_pool();
  size_t per_thread = round_up_64b(kern.forward_scratch(s));
  float* scratch = thread_scratch(per_thread * static_cast<size_t>(pool.size()));
  attention_isa::ForwardArgs a{s, out, lse, q, k, v};
  pool.run([&](int tid, int nt) { kern.forward(a, tid, nt, scratch + per_thread * tid); });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v, int64_t B,
                        int64_t T, int64_t NH, int64_t NKV, int64_t hs, float scale) {
  attention_isa::Shape s = check_shape("attention_backward", B, T, NH, NKV, hs, scale);
  if (B == 0 || T == 0) return;
  check(dq && dk && dv && dout && out && lse && q && k && v,
        "attention_backward: null tensor pointer");
  const Kernels& kern = kernels_for_active_isa();
  ThreadPool& pool = thread_pool();
  size_t per_thread = round_up_64b(kern.backward_scratch(s));
  float* scratch = thread_scratch(per_thread * static_cast<size_t>(pool.size()));
  attention_isa::BackwardArgs a{s, dq, dk, dv, dout, out, lse, q, k, v};
  pool.run([&](int tid, int nt) { kern.backward(a, tid, nt, scratch + per_thread * tid); });
}

}  // namespace lmkit::kernels
