// The scalar instantiation of the f32 kernels (kernels_impl.h over simd::Scalar).
#include "lmkit/core/kernels_impl.h"

namespace lmkit::kernels::detail {

namespace {
constexpr KernelTable kTable = make_table<simd::Scalar>();
}  // namespace

const KernelTable& scalar_table() {
  return kTable;
}

}  // namespace lmkit::kernels::detail
