// Symbol pair -> dense index (open addressing on the packed 64-bit key), shared by the BPE
// trainers (bpe_trainer.cpp, spm_bpe_trainer.cpp): per-pair data live in plain arrays
// indexed by it, which keeps the incremental pair-count updates free of node-based maps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace lmkit {

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

class PairIndex {
 public:
  PairIndex() : slots_(1 << 16, Slot{}), mask_((1 << 16) - 1) {}
  // Index of the pair, created (as size() before the call) when absent.
  uint32_t get(uint64_t key) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t i = hash(key) & mask_;
    while (slots_[i].index != kNone) {
      if (slots_[i].key == key) return slots_[i].index;
      i = (i + 1) & mask_;
    }
    slots_[i] = {key, uint32_t(size_)};
    return uint32_t(size_++);
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  struct Slot {
    uint64_t key = 0;
    uint32_t index = kNone;
  };
  static size_t hash(uint64_t k) {  // MurmurHash3's fmix64 (first half)
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return size_t(k);
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.index == kNone) continue;
      size_t i = hash(s.key) & mask_;
      while (slots_[i].index != kNone) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  size_t mask_;
  size_t size_ = 0;
};

}  // namespace lmkit
