#include "lmkit/io/sentencepiece_model.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"

namespace lmkit {

namespace {

// Protobuf wire format (https://protobuf.dev/programming-guides/encoding/): a message is
// a sequence of (tag = field << 3 | wire type, value); wire types 0 varint, 1 fixed64,
// 2 length-delimited, 5 fixed32 (3/4, groups, are not used by sentencepiece).
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& source, const char* what)
      : data_(data), source_(source), what_(what) {}
  bool done() const { return pos_ >= data_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      check(pos_ < data_.size(), "{}: truncated varint in {} at byte {}", source_, what_, pos_);
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("{}: varint longer than 10 bytes in {} at byte {}", source_, what_, pos_);
  }
  // Reads the next tag; returns {field, wire type}.
  std::pair<uint32_t, uint32_t> tag() {
    const uint64_t t = varint();
    const uint64_t field = t >> 3;
    check(field >= 1 && field <= 0x1FFFFFFF, "{}: invalid field number {} in {}", source_, field, what_);
    return {static_cast<uint32_t>(field), static_cast<uint32_t>(t & 7)};
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    check(n <= data_.size() - pos_, "{}: length-delimited field of {} bytes overruns {} ({} bytes left)",
          source_, n, what_, data_.size() - pos_);
    std::string_view s = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  uint32_t fixed32() {
    check(data_.size() - pos_ >= 4, "{}: truncated fixed32 in {}", source_, what_);
    uint32_t v;
    std::memcpy(&v, data_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  float f32() {
    const uint32_t v = fixed32();
    float f;
    std::memcpy(&f, &v, 4);
    return f;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1:
        check(data_.size() - pos_ >= 8, "{}: truncated fixed64 in {}", source_, what_);
        pos_ += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: fail("{}: unsupported protobuf wire type {} in {}", source_, wire, what_);
    }
  }
  void expect(uint32_t got, uint32_t want, uint32_t field) {
    check(got == want, "{}: field {} of {} has wire type {}, expected {}", source_, field, what_, got, want);
  }
  // int32 fields are varints holding the sign-extended 64-bit value.
  int32_t int32(uint32_t field) {
    const int64_t v = static_cast<int64_t>(varint());
    check(v >= INT32_MIN && v <= INT32_MAX, "{}: field {} of {} ({}) is not an int32", source_, field, what_, v);
    return static_cast<int32_t>(v);
  }

 private:
  std::string_view data_;
  const std::string& source_;
  const char* what_;
  size_t pos_ = 0;
};

SpmPiece parse_piece(std::string_view data, const std::string& source, size_t index) {
  SpmPiece p;
  WireReader r(data, source, "ModelProto.SentencePiece");
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: r.expect(wire, 2, field); p.piece = std::string(r.bytes()); break;
      case 2: r.expect(wire, 5, field); p.score = r.f32(); break;
      case 3: {
        r.expect(wire, 0, field);
        const uint64_t t = r.varint();
        check(t >= 1 && t <= 6, "{}: piece {} has unknown type {}", source, index, t);
        p.type = static_cast<SpmPieceType>(t);
        break;
      }
      default: r.skip(wire);
    }
  }
  return p;
}

void parse_normalizer(std::string_view data, const std::string& source, SpmNormalizerSpec& n) {
  WireReader r(data, source, "NormalizerSpec");
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: r.expect(wire, 2, field); n.name = std::string(r.bytes()); break;
      case 2: r.expect(wire, 2, field); n.precompiled_charsmap = std::string(r.bytes()); break;
      case 3: r.expect(wire, 0, field); n.add_dummy_prefix = r.varint() != 0; break;
      case 4: r.expect(wire, 0, field); n.remove_extra_whitespaces = r.varint() != 0; break;
      case 5: r.expect(wire, 0, field); n.escape_whitespaces = r.varint() != 0; break;
      default: r.skip(wire);
    }
  }
}

struct TrainerFields {
  std::string bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
};

void parse_trainer(std::string_view data, const std::string& source, SpmModelSpec& spec, TrainerFields& t) {
  WireReader r(data, source, "TrainerSpec");
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 3: {
        r.expect(wire, 0, field);
        const uint64_t mt = r.varint();
        check(mt >= 1 && mt <= 4, "{}: unknown model_type {}", source, mt);
        spec.model_type = static_cast<SpmModelType>(mt);
        break;
      }
      case 24: r.expect(wire, 0, field); spec.treat_whitespace_as_suffix = r.varint() != 0; break;
      case 26: r.expect(wire, 0, field); spec.allow_whitespace_only_pieces = r.varint() != 0; break;
      case 35: r.expect(wire, 0, field); spec.byte_fallback = r.varint() != 0; break;
      case 40: r.expect(wire, 0, field); spec.unk_id = r.int32(field); break;
      case 41: r.expect(wire, 0, field); spec.bos_id = r.int32(field); break;
      case 42: r.expect(wire, 0, field); spec.eos_id = r.int32(field); break;
      case 43: r.expect(wire, 0, field); spec.pad_id = r.int32(field); break;
      case 44: r.expect(wire, 2, field); spec.unk_surface = std::string(r.bytes()); break;
      case 46: r.expect(wire, 2, field); t.bos_piece = std::string(r.bytes()); break;
      case 47: r.expect(wire, 2, field); t.eos_piece = std::string(r.bytes()); break;
      case 48: r.expect(wire, 2, field); t.pad_piece = std::string(r.bytes()); break;
      default: r.skip(wire);
    }
  }
}

// Protobuf writer for serialize_sentencepiece_model.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t{field} << 3) | wire); }
void put_bytes(std::string& out, uint32_t field, std::string_view s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out.append(s);
}
void put_int(std::string& out, uint32_t field, int64_t v) {
  put_tag(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_float(std::string& out, uint32_t field, float f) {
  put_tag(out, field, 5);
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
}
std::string normalizer_bytes(const SpmNormalizerSpec& n) {
  std::string s;
  if (!n.name.empty()) put_bytes(s, 1, n.name);
  if (!n.precompiled_charsmap.empty()) put_bytes(s, 2, n.precompiled_charsmap);
  put_int(s, 3, n.add_dummy_prefix);
  put_int(s, 4, n.remove_extra_whitespaces);
  put_int(s, 5, n.escape_whitespaces);
  return s;
}

}  // namespace

SpmModelSpec parse_sentencepiece_model(std::string_view bytes, const std::string& source) {
  SpmModelSpec spec;
  TrainerFields tf;
  WireReader r(bytes, source, "ModelProto");
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: r.expect(wire, 2, field); spec.pieces.push_back(parse_piece(r.bytes(), source, spec.pieces.size())); break;
      case 2: r.expect(wire, 2, field); parse_trainer(r.bytes(), source, spec, tf); break;
      case 3: r.expect(wire, 2, field); parse_normalizer(r.bytes(), source, spec.normalizer); break;
      case 5:
        r.expect(wire, 2, field);
        if (!spec.denormalizer) spec.denormalizer.emplace();
        parse_normalizer(r.bytes(), source, *spec.denormalizer);
        break;
      default: r.skip(wire);
    }
  }
  check(!spec.pieces.empty(), "{}: not a SentencePiece model (no pieces)", source);
  // SentencePieceProcessor::bos_id() etc.: the id of bos_piece when it is a control
  // piece (unk_id: the UNKNOWN piece), not the TrainerSpec numbers.
  auto control_id = [&](const std::string& piece) -> int32_t {
    for (size_t i = 0; i < spec.pieces.size(); ++i)
      if (spec.pieces[i].piece == piece && spec.pieces[i].type == SpmPieceType::kControl) return static_cast<int32_t>(i);
    return -1;
  };
  spec.bos_id = control_id(tf.bos_piece);
  spec.eos_id = control_id(tf.eos_piece);
  spec.pad_id = control_id(tf.pad_piece);
  spec.unk_id = -1;
  for (size_t i = 0; i < spec.pieces.size(); ++i)
    if (spec.pieces[i].type == SpmPieceType::kUnknown) {
      spec.unk_id = static_cast<int32_t>(i);
      break;
    }
  return spec;
}

std::string serialize_sentencepiece_model(const SpmModelSpec& spec) {
  std::string out;
  for (const SpmPiece& p : spec.pieces) {
    std::string m;
    put_bytes(m, 1, p.piece);
    put_float(m, 2, p.score);
    if (p.type != SpmPieceType::kNormal) put_int(m, 3, static_cast<int>(p.type));
    put_bytes(out, 1, m);
  }
  std::string t;
  put_int(t, 3, static_cast<int>(spec.model_type));
  if (spec.treat_whitespace_as_suffix) put_int(t, 24, 1);
  if (spec.allow_whitespace_only_pieces) put_int(t, 26, 1);
  put_int(t, 35, spec.byte_fallback);
  put_int(t, 40, spec.unk_id);
  put_int(t, 41, spec.bos_id);
  put_int(t, 42, spec.eos_id);
  put_int(t, 43, spec.pad_id);
  auto piece_or = [&](int32_t id, std::string_view dflt) -> std::string_view {
    return id >= 0 && id < static_cast<int64_t>(spec.pieces.size()) ? std::string_view(spec.pieces[static_cast<size_t>(id)].piece) : dflt;
  };
  put_bytes(t, 44, spec.unk_surface);
  put_bytes(t, 46, piece_or(spec.bos_id, "<s>"));
  put_bytes(t, 47, piece_or(spec.eos_id, "</s>"));
  put_bytes(t, 48, piece_or(spec.pad_id, "<pad>"));
  put_bytes(out, 2, t);
  put_bytes(out, 3, normalizer_bytes(spec.normalizer));
  if (spec.denormalizer) put_bytes(out, 5, normalizer_bytes(*spec.denormalizer));
  return out;
}

std::unique_ptr<SentencePieceTokenizer> load_sentencepiece_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "{}: cannot open SentencePiece model", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  check(!in.bad(), "{}: read error", path);
  const std::string bytes = ss.str();
  return std::make_unique<SentencePieceTokenizer>(parse_sentencepiece_model(bytes, path), path);
}

}  // namespace lmkit
