// The avx512 instantiation of the f32 kernels (kernels_impl.h over simd::Avx512).
// Compiled with the avx512 flags (CMake: *_avx512.cpp); entered only after a CPUID check.
#include "lmkit/core/kernels_impl.h"

#if !defined(__AVX512F__)
#error "kernels_avx512.cpp must be compiled with the avx512 flags"
#endif

namespace lmkit::kernels::detail {

namespace {
constexpr KernelTable kTable = make_table<simd::Avx512>();
}  // namespace

const KernelTable& avx512_table() {
  return kTable;
}

}  // namespace lmkit::kernels::detail
