#include "lmkit/tokenizer/sentencepiece.h"

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_normalizer.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"
#include "lmkit/tokenizer/spm_bpe.h"
#include "lmkit/tokenizer/unigram.h"

namespace lmkit {

namespace {
constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// model_interface.cc SplitIntoWords (word model).
void split_into_words(std::string_view text, bool treat_ws_as_suffix, bool allow_ws_only,
                      std::vector<std::string_view>& result) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  bool in_ws_sequence = false;
  auto grow = [&](size_t n) { result.back() = std::string_view(result.back().data(), result.back().size() + n); };
  if (treat_ws_as_suffix) {
    if (begin < end) result.emplace_back(begin, 0);
    while (begin < end) {
      const size_t mblen = std::min<size_t>(spm_one_char_len(*begin), static_cast<size_t>(end - begin));
      const bool is_ws = std::string_view(begin, mblen) == kSpaceSymbol;
      if (is_ws) {
        in_ws_sequence = true;
      } else if (in_ws_sequence) {
        if (allow_ws_only) result.emplace_back(begin, 0);
        in_ws_sequence = false;
      }
      grow(mblen);
      begin += mblen;
      if (begin < end && is_ws && !allow_ws_only) result.emplace_back(begin, 0);
    }
  } else {
    while (begin < end) {
      const size_t mblen = std::min<size_t>(spm_one_char_len(*begin), static_cast<size_t>(end - begin));
      const bool is_ws = std::string_view(begin, mblen) == kSpaceSymbol;
      if (begin == text.data() || (is_ws && (!in_ws_sequence || !allow_ws_only))) {
        result.emplace_back(begin, 0);
        in_ws_sequence = true;
      }
      if (in_ws_sequence && !is_ws) in_ws_sequence = false;
      grow(mblen);
      begin += mblen;
    }
  }
}
}  // namespace

struct SentencePieceTokenizer::Impl {
  SpmModelSpec spec;
  std::string source;
  SpmVocabIndex index;
  SpmNormalizer normalizer;
  std::unique_ptr<SpmNormalizer> denormalizer;
  std::unique_ptr<UnigramModel> unigram;

  Impl(SpmModelSpec s, std::string src)
      : spec(std::move(s)),
        source(std::move(src)),
        index(spec, source),
        normalizer(spec.normalizer, spec.treat_whitespace_as_suffix, source) {
    normalizer.set_prefix_matcher(&index.user_defined());
    if (spec.denormalizer && !spec.denormalizer->precompiled_charsmap.empty())
      denormalizer = std::make_unique<SpmNormalizer>(*spec.denormalizer, false, source);
    const int mt = static_cast<int>(spec.model_type);
    check(mt >= 1 && mt <= 4, "{}: unknown model type {}", source, mt);
    if (spec.model_type == SpmModelType::kUnigram) {
      std::vector<std::pair<std::string, double>> pieces;
      std::vector<UnigramPieceKind> kinds;
      pieces.reserve(spec.pieces.size());
      kinds.reserve(spec.pieces.size());
      for (const SpmPiece& p : spec.pieces) {
        pieces.emplace_back(p.piece, static_cast<double>(p.score));
        kinds.push_back(p.type == SpmPieceType::kNormal        ? UnigramPieceKind::kNormal
                        : p.type == SpmPieceType::kUserDefined ? UnigramPieceKind::kUserDefined
                                                               : UnigramPieceKind::kNotInLattice);
      }
      UnigramOptions o;
      o.unk_id = index.unk_id();
      o.byte_fallback = spec.byte_fallback;
      o.sentencepiece_compat = true;
      unigram = std::make_unique<UnigramModel>(std::move(pieces), std::move(kinds), o);
    }
  }

  void segment(std::string_view normalized, std::vector<SpmSegment>& segs) const {
    switch (spec.model_type) {
      case SpmModelType::kBpe:
        spm_bpe_encode(index, normalized, segs);
        break;
      case SpmModelType::kUnigram: {
        thread_local std::vector<UnigramModel::Span> path;
        path.clear();
        unigram->viterbi(normalized, path);
        for (const auto& s : path) segs.push_back(SpmSegment{s.begin, s.length, s.id});
        break;
      }
      case SpmModelType::kWord: {  // word_model.cc
        std::vector<std::string_view> words;
        split_into_words(normalized, spec.treat_whitespace_as_suffix, spec.allow_whitespace_only_pieces, words);
        for (std::string_view w : words)
          segs.push_back(SpmSegment{static_cast<uint32_t>(w.data() - normalized.data()),
                                    static_cast<uint32_t>(w.size()), index.piece_to_id(w)});
        break;
      }
      case SpmModelType::kChar: {  // char_model.cc
        size_t pos = 0;
        while (pos < normalized.size()) {
          bool found = false;
          const size_t len = index.prefix_match(normalized.substr(pos), found);
          segs.push_back(SpmSegment{static_cast<uint32_t>(pos), static_cast<uint32_t>(len),
                                    index.piece_to_id(normalized.substr(pos, len))});
          pos += len;
        }
        break;
      }
    }
  }

  // sentencepiece_processor.cc PopulateSentencePieceText, ids only: byte fallback of
  // unknown pieces, runs of unknown pieces merged into one.
  void encode_normalized(std::string_view normalized, std::vector<int32_t>& ids) const {
    check(normalized.size() < 0x7FFFFFFFu, "{}: text of {} bytes is too long", source, normalized.size());
    thread_local std::vector<SpmSegment> segs;
    segs.clear();
    segment(normalized, segs);
    bool is_prev_unk = false;
    for (const SpmSegment& s : segs) {
      const bool is_unk = s.id == index.unk_id();
      if (is_unk && spec.byte_fallback) {
        for (uint32_t k = 0; k < s.length; ++k) {
          const int32_t b = index.byte_id(static_cast<uint8_t>(normalized[s.begin + k]));
          ids.push_back(b >= 0 ? b : index.unk_id());
        }
      } else if (!(is_prev_unk && is_unk)) {
        ids.push_back(s.id);
      }
      is_prev_unk = is_unk;
    }
  }
};

SentencePieceTokenizer::SentencePieceTokenizer(SpmModelSpec spec, std::string source)
    : impl_(std::make_unique<Impl>(std::move(spec), std::move(source))) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;

const SpmModelSpec& SentencePieceTokenizer::spec() const { return impl_->spec; }
int64_t SentencePieceTokenizer::vocab_size() const { return impl_->index.size(); }

std::string SentencePieceTokenizer::token_text(int32_t id) const {
  check(id >= 0 && id < vocab_size(), "{}: id {} is outside the vocabulary ({})", impl_->source, id, vocab_size());
  return impl_->spec.pieces[static_cast<size_t>(id)].piece;
}

std::optional<int32_t> SentencePieceTokenizer::bos_id() const {
  const int32_t id = impl_->spec.bos_id;
  if (id < 0 || id >= vocab_size()) return std::nullopt;
  return id;
}
std::optional<int32_t> SentencePieceTokenizer::eos_id() const {
  const int32_t id = impl_->spec.eos_id;
  if (id < 0 || id >= vocab_size()) return std::nullopt;
  return id;
}
bool SentencePieceTokenizer::adds_bos() const { return impl_->spec.add_bos && bos_id().has_value(); }

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int32_t id = impl_->index.piece_to_id(token);
  if (id == impl_->index.unk_id() && impl_->index.piece(id) != token) return std::nullopt;
  return id;
}

int32_t SentencePieceTokenizer::piece_to_id(std::string_view piece) const { return impl_->index.piece_to_id(piece); }

std::string SentencePieceTokenizer::normalize(std::string_view text) const {
  std::string out;
  impl_->normalizer.normalize(text, out);
  return out;
}

void SentencePieceTokenizer::encode_normalized(std::string_view normalized, std::vector<int32_t>& ids) const {
  impl_->encode_normalized(normalized, ids);
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> ids;
  if (add_special && adds_bos()) ids.push_back(*bos_id());
  thread_local std::string normalized;
  impl_->normalizer.normalize(text, normalized);
  ids.reserve(ids.size() + normalized.size() / 3 + 2);
  impl_->encode_normalized(normalized, ids);
  if (add_special && impl_->spec.add_eos && eos_id()) ids.push_back(*eos_id());
  return ids;
}

std::vector<std::string> SentencePieceTokenizer::encode_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : encode(text)) pieces.push_back(impl_->spec.pieces[static_cast<size_t>(id)].piece);
  return pieces;
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  // sentencepiece_processor.cc Decode(pieces, spt): control pieces vanish, <unk> becomes
  // unk_surface, runs of byte pieces are decoded as UTF-8 (each invalid byte -> U+FFFD),
  // "▁" -> ' ', and the leading "▁" of the first piece is dropped (add_dummy_prefix).
  const Impl& m = *impl_;
  const SpmNormalizerSpec& ns = m.spec.normalizer;
  std::string text;
  std::string bytes;
  bool is_bos_ws = true;
  bool bos_ws_seen = false;
  auto flush_bytes = [&]() {
    size_t off = 0;
    while (off < bytes.size()) {
      size_t len = 1;
      if (spm_valid_utf8_prefix(std::string_view(bytes).substr(off), len)) {
        text.append(bytes, off, len);
      } else {
        text.append(kReplacementChar);
        len = 1;
      }
      off += len;
    }
    bytes.clear();
  };
  for (int32_t id : ids) {
    check(id >= 0 && id < vocab_size(), "{}: id {} is outside the vocabulary ({})", m.source, id, vocab_size());
    // Decode(ids) goes through the pieces: PieceToId(IdToPiece(id)).
    const std::string& piece_str = m.spec.pieces[static_cast<size_t>(id)].piece;
    const int32_t pid = m.index.piece_to_id(piece_str);
    const SpmPieceType type = m.index.type(pid);
    if (type == SpmPieceType::kByte) {
      bytes.push_back(static_cast<char>(spm_piece_to_byte(piece_str)));
      continue;
    }
    flush_bytes();
    if (bos_ws_seen || !text.empty()) is_bos_ws = false;
    std::string_view piece = piece_str;
    bos_ws_seen = false;
    if (type == SpmPieceType::kControl) continue;  // invisible
    if (type == SpmPieceType::kUnknown) {
      text.append(m.spec.unk_surface);
      continue;
    }
    if (is_bos_ws && (ns.add_dummy_prefix || ns.remove_extra_whitespaces)) {
      if (piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
        piece.remove_prefix(kSpaceSymbol.size());
        bos_ws_seen = !ns.remove_extra_whitespaces;
      }
    }
    size_t p = 0;
    while (p < piece.size()) {
      if (piece.compare(p, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
        text.push_back(' ');
        p += kSpaceSymbol.size();
      } else {
        text.push_back(piece[p++]);
      }
    }
  }
  flush_bytes();
  if (m.denormalizer) {
    std::string out;
    m.denormalizer->normalize(text, out);
    return out;
  }
  return text;
}

}  // namespace lmkit
