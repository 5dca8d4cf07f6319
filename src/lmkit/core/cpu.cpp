#include "lmkit/core/cpu.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>

#include "lmkit/core/error.h"

namespace lmkit {

namespace {
// F16C from CPUID leaf 1 (ECX bit 29) directly: clang 14 does not know
// __builtin_cpu_supports("f16c").
// Cached: CPUID traps to the hypervisor in a VM (tens of microseconds), and kernels ask
// per call.
bool has_f16c() {
  static const bool f16c = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  }();
  return f16c;
}
}  // namespace

Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma") && has_f16c())
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
    return Isa::Avx2;
  return Isa::Scalar;
}

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return detect_isa() == Isa::Avx512 && __builtin_cpu_supports("avx512vnni");
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(std::string_view name) {
  if (name == "scalar") return Isa::Scalar;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  fail("unknown ISA '{}' (expected scalar, avx2 or avx512)", name);
}

namespace {
std::atomic<int>& active_slot() {
  static std::atomic<int> slot = [] {
    Isa best = detect_isa();
    if (const char* env = std::getenv("LMKIT_ISA"); env && *env) {
      Isa want = parse_isa(env);
      check(static_cast<int>(want) <= static_cast<int>(best),
            "LMKIT_ISA={} but this CPU supports at most {}", env, isa_name(best));
      best = want;
    }
    return static_cast<int>(best);
  }();
  return slot;
}
}  // namespace

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  check(static_cast<int>(isa) <= static_cast<int>(detect_isa()),
        "cannot use {} kernels: this CPU supports at most {}", isa_name(isa),
        isa_name(detect_isa()));
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace lmkit
