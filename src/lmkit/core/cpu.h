// Run-time CPU feature detection (CPUID via GCC's __builtin_cpu_supports) and the choice
// of kernel ISA. One binary runs on any x86-64: kernels compiled for AVX2 / AVX-512 live in
// *_avx2.cpp / *_avx512.cpp and are only called when the CPU has them.
#pragma once
#include <string_view>

namespace lmkit {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// The best ISA this CPU supports (AVX-512 needs F+BW+VL+DQ; AVX2 needs AVX2+FMA+F16C).
Isa detect_isa();
bool cpu_has_avx512_vnni();

// The ISA kernels dispatch to. Defaults to detect_isa(); LMKIT_ISA=scalar|avx2|avx512 or
// set_active_isa() lowers it (tests use that to compare paths). Asking for more than the
// CPU has throws lmkit::Error.
Isa active_isa();
void set_active_isa(Isa isa);
std::string_view isa_name(Isa isa);
Isa parse_isa(std::string_view name);

}  // namespace lmkit
