#include "lmkit/core/packed_quant.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "lmkit/core/error.h"
#include "lmkit/core/quant_kernels.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit {

namespace {
const quant_detail::QuantKernels& kernels() { return quant_detail::kernels_for(active_isa()); }
bool q4(GgmlType t) { return t == GgmlType::Q4_0; }
}  // namespace

bool PackedQ::supported(const QTensor& w) {
  return (w.type == GgmlType::Q8_0 || w.type == GgmlType::Q4_0) && w.cols() > 0 && w.cols() % 64 == 0 &&
         w.rows() > 0 && kernels().gemm_packed != nullptr;
}

namespace {
// n bytes of fresh (zero) anonymous memory at a 2 MB boundary, asking for transparent
// huge pages where the matrix spans whole ones (an output head of 26 MB): fewer page faults
// while packing and fewer TLB entries for the bytes every token streams. Packing into
// malloc'd memory spent 29% of llama110m Q8_0's load in the memset that zeroed (and
// faulted in) the groups; fresh pages need none. Null when the system has no memory.
uint8_t* map_huge(size_t n) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t len = n + kHuge;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t b = reinterpret_cast<uintptr_t>(p), a = (b + kHuge - 1) & ~uintptr_t(kHuge - 1);
  if (a > b) munmap(p, a - b);  // the unaligned head and tail back to the system
  if (b + len > a + n) munmap(reinterpret_cast<void*>(a + n), b + len - (a + n));
  madvise(reinterpret_cast<void*>(a), n, MADV_HUGEPAGE);  // a hint: fine if refused
  return reinterpret_cast<uint8_t*>(a);
}
}  // namespace

size_t PackedQ::pair_bytes() const { return 64 + 2 * (q4(type_) ? 4 : 8) * 64; }

PackedQ::PackedQ(const QTensor& w, const std::function<void(const uint8_t*, size_t)>& packed)
    : type_(w.type), rows_(w.rows()), cols_(w.cols()) {
  w.validate();
  check(supported(w), "cannot pack a {} matrix of {} columns for the int8 kernels on this CPU "
        "(Q8_0 / Q4_0, columns a multiple of 64, AVX-512 VNNI)", ggml_type_name(w.type), w.cols());
  const size_t page = size_t(sysconf(_SC_PAGESIZE)), n = (bytes() + page - 1) / page * page;
  uint8_t* mem = map_huge(n);
  check(mem != nullptr, "out of memory packing a {} MB matrix", bytes() >> 20);
  data_ = std::shared_ptr<uint8_t>(mem, [n](uint8_t* p) { munmap(p, n); });
  const bool is_q4 = q4(type_);
  const size_t bs = ggml_traits(type_).type_size, pb = pair_bytes(), vec = (is_q4 ? 4 : 8) * 64;
  const int64_t nb = cols_ / QK8_0;
  // Group g (rows past the end of the matrix stay zeros).
  auto pack_group = [&](int64_t g) {
    uint8_t* grp = data_.get() + size_t(g) * group_bytes();  // fresh pages: zeros
    for (int64_t j = 0; j < kGroupRows && g * kGroupRows + j < rows_; ++j) {
      const uint8_t* row = w.row(g * kGroupRows + j);
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + size_t(b) * bs;
        uint8_t* pair = grp + size_t(b / 2) * pb;
        std::memcpy(pair + (b & 1) * 32 + j * 2, blk, 2);  // d (f16)
        uint8_t* vecs = pair + 64 + size_t(b & 1) * vec;
        for (size_t v = 0; v < vec / 64; ++v) {
          uint8_t* lane = vecs + v * 64 + size_t(j) * 4;
          std::memcpy(lane, blk + 2 + 4 * v, 4);
          if (!is_q4)
            for (int t = 0; t < 4; ++t) lane[t] ^= 0x80;  // int8 -> unsigned (+128)
        }
      }
    }
  };
  // Chunks of ~1 MB of source rows (whole groups), each split over the pool.
  const int64_t chunk = std::max<int64_t>(1, int64_t((size_t(1) << 20) / group_bytes()));
  for (int64_t c0 = 0; c0 < groups(); c0 += chunk) {
    const int64_t c1 = std::min(groups(), c0 + chunk);
    thread_pool().parallel_for(size_t(c1 - c0), [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) pack_group(c0 + int64_t(t));
    });
    if (packed) {
      const int64_t r0 = c0 * kGroupRows, r1 = std::min(rows_, c1 * kGroupRows);
      packed(w.row(r0), size_t(r1 - r0) * w.row_bytes());
    }
  }
}

void PackedQ::dequantize_row(int64_t r, float* out) const {
  check(r >= 0 && r < rows_, "row {} of a packed matrix of {} rows", r, rows_);
  const bool is_q4 = q4(type_);
  const size_t vec = (is_q4 ? 4 : 8) * 64, j = size_t(r % kGroupRows);
  const uint8_t* grp = group(r / kGroupRows);
  // Gather the row's blocks back into ggml's layout, then the reference dequantizer.
  std::vector<uint8_t> blocks(ggml_row_size(type_, cols_));
  const size_t bs = ggml_traits(type_).type_size;
  for (int64_t b = 0; b < cols_ / QK8_0; ++b) {
    const uint8_t* pair = grp + size_t(b / 2) * pair_bytes();
    uint8_t* blk = blocks.data() + size_t(b) * bs;
    std::memcpy(blk, pair + (b & 1) * 32 + j * 2, 2);
    const uint8_t* vecs = pair + 64 + size_t(b & 1) * vec;
    for (size_t v = 0; v < vec / 64; ++v) {
      std::memcpy(blk + 2 + 4 * v, vecs + v * 64 + j * 4, 4);
      if (!is_q4)
        for (size_t t = 0; t < 4; ++t) blk[2 + 4 * v + t] ^= 0x80;
    }
  }
  lmkit::dequantize_row(type_, blocks.data(), out, cols_);
}

namespace {
// The activations (M rows, columns [k0, k0 + n) of rows K apart) quantized to Q8_0 and
// prepared for the kernels, in thread-local buffers.
const void* prepare(const quant_detail::QuantKernels& kr, GgmlType wt, const float* x, int64_t K,
                    int64_t M, int64_t k0, int64_t n) {
  const int64_t nbk = n / QK8_0;
  thread_local std::vector<block_q8_0> xq;
  thread_local std::vector<uint8_t> prep;
  if (xq.size() < size_t(M * nbk)) xq.resize(size_t(M * nbk));
  for (int64_t m = 0; m < M; ++m) kr.quantize_q8_0(x + m * K + k0, xq.data() + m * nbk, n);
  void* p = quant_detail::aligned_scratch(prep, kr.prep_bytes(n, M));
  kr.prep_x(wt, n, xq.data(), M, p);
  return p;
}
}  // namespace

void matmul_packed(float* y, int64_t ldy, const float* x, const PackedQ& w, int64_t M, int64_t r0,
                   int64_t r1) {
  check(M >= 0 && r0 >= 0 && r0 <= r1 && r1 <= w.rows() && r0 % PackedQ::kGroupRows == 0,
        "matmul_packed: rows [{}, {}) of {} (the first a multiple of 16), {} activation rows", r0, r1,
        w.rows(), M);
  check(ldy >= r1 - r0, "matmul_packed: output row stride {} is below the {} outputs per row", ldy, r1 - r0);
  if (M == 0 || r1 == r0) return;
  const auto& kr = kernels();
  const int64_t K = w.cols();
  const void* p = prepare(kr, w.type(), x, K, M, 0, K);
  kr.gemm_packed(w.type(), K, w.group(r0 / PackedQ::kGroupRows), w.group_bytes(), r1 - r0, p, M, y,
                 size_t(ldy), 0, 0);
}

void matmul_packed_segments(float* y, int64_t ldy, int64_t lds, const float* x, const PackedQ& w,
                            int64_t M, int64_t k0, int64_t k1, int64_t seg) {
  const int64_t K = w.cols();
  check(M >= 0 && M <= 3, "matmul_packed_segments: {} activation rows (at most 3)", M);
  check(k0 >= 0 && k0 <= k1 && k1 <= K && seg > 0 && seg % 64 == 0 && k0 % 64 == 0 && (k1 - k0) % seg == 0,
        "matmul_packed_segments: columns [{}, {}) of {} are not whole segments of {} (multiples of 64)",
        k0, k1, K, seg);
  check(ldy >= w.rows(), "matmul_packed_segments: output row stride {} is below the {} outputs per row",
        ldy, w.rows());
  if (M == 0 || k1 == k0) return;
  const auto& kr = kernels();
  const void* p = prepare(kr, w.type(), x, K, M, k0, k1 - k0);
  kr.gemm_packed(w.type(), k1 - k0, w.group(0) + size_t(k0 / 64) * w.pair_bytes(), w.group_bytes(),
                 w.rows(), p, M, y, size_t(ldy), seg / QK8_0, size_t(lds));
}

}  // namespace lmkit
