// SentencePiece BPE segmentation (google/sentencepiece src/bpe_model.cc Model::Encode):
// start from characters (user-defined pieces frozen whole), repeatedly merge the adjacent
// pair whose concatenation is the highest-scoring piece (ties: leftmost), then resegment
// pieces that are UNUSED back into their parts. Unlike GPT-2 BPE there is no merge list:
// the piece score is the merge priority.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace lmkit {

class SpmVocabIndex;

struct SpmSegment {
  uint32_t begin, length;  // bytes of the normalized text
  int32_t id;              // piece id; the unknown id for pieces not in the vocabulary
};

// Appends the segments of `normalized` to `out`. `index` holds the piece lookup, scores,
// types and the user-defined prefix matcher.
void spm_bpe_encode(const SpmVocabIndex& index, std::string_view normalized,
                    std::vector<SpmSegment>& out);

}  // namespace lmkit
