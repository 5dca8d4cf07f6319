// The avx2 instantiation of the f32 kernels (kernels_impl.h over simd::Avx2).
// Compiled with the avx2 flags (CMake: *_avx2.cpp); entered only after a CPUID check.
#include "lmkit/core/kernels_impl.h"

#if !defined(__AVX2__)
#error "kernels_avx2.cpp must be compiled with the avx2 flags"
#endif

namespace lmkit::kernels::detail {

namespace {
constexpr KernelTable kTable = make_table<simd::Avx2>();
}  // namespace

const KernelTable& avx2_table() {
  return kTable;
}

}  // namespace lmkit::kernels::detail
