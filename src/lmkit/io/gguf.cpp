// GGUF v2/v3 reader and writer (spec: ggml docs/gguf.md; reference: ggml/src/gguf.cpp).
// See gguf.h for the layout and the shape convention.
#include "lmkit/io/gguf.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/io/atomic_file.h"

namespace lmkit::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

namespace {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr int kMaxArrayDepth = 16;       // nested arrays deeper than this are rejected
constexpr uint64_t kMaxKeyLength = 65535;  // docs/gguf.md: keys are at most 2^16-1 bytes
constexpr uint64_t kMaxTensorName = 64;    // docs/gguf.md: names are at most 64 bytes
constexpr uint64_t kMaxWriteName = 63;     // ggml GGML_MAX_NAME (64) includes the NUL
constexpr uint32_t kMaxDims = 4;           // docs/gguf.md / ggml GGML_MAX_DIMS

// Byte size of a scalar value type; 0 for string / array / unknown.
size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::String: case ValueType::Array: return 0;
  }
  return 0;
}

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::F64); }

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// The lmkit DType that views a ggml type in place, if any.
std::optional<DType> view_dtype(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return DType::F32;
    case GgmlType::F16: return DType::F16;
    case GgmlType::BF16: return DType::BF16;
    case GgmlType::I8: return DType::I8;
    case GgmlType::I32: return DType::I32;
    default: return std::nullopt;
  }
}

// Where the parser's bytes come from: a memory image (mapped file / buffer) or a file
// read through a buffer (open_metadata). Every read is bounds-checked against the size.
class Source {
 public:
  Source(const uint8_t* data, uint64_t size, const std::string& name)
      : mem_(data), size_(size), name_(name) {}
  Source(int fd, uint64_t size, const std::string& name) : fd_(fd), size_(size), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& name() const { return name_; }

  void read(void* dst, uint64_t n, std::string_view what) {
    if (n > remaining())
      fail("'{}': truncated: {} at offset {} needs {} bytes but only {} remain", name_, what,
           pos_, n, remaining());
    if (mem_) {
      if (n) std::memcpy(dst, mem_ + pos_, n);
      pos_ += n;
      return;
    }
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      if (buf_pos_ == buf_.size()) refill();
      uint64_t take = std::min<uint64_t>(n, buf_.size() - buf_pos_);
      std::memcpy(out, buf_.data() + buf_pos_, take);
      buf_pos_ += take;
      out += take;
      n -= take;
      pos_ += take;
    }
  }

  template <typename T>
  T get(std::string_view what) {
    T v;
    read(&v, sizeof(T), what);
    return v;
  }

 private:
  void refill() {
    uint64_t want = std::min<uint64_t>(kChunk, size_ - pos_);
    buf_.resize(want);
    uint64_t got = 0;
    while (got < want) {
      ssize_t r = ::pread(fd_, buf_.data() + got, want - got, off_t(pos_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail("'{}': read error at offset {}: {}", name_, pos_ + got,
                       r < 0 ? std::strerror(errno) : "unexpected end of file");
      got += uint64_t(r);
    }
    buf_pos_ = 0;
  }
  static constexpr uint64_t kChunk = 1 << 20;
  const uint8_t* mem_ = nullptr;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;
  std::string name_;
  std::vector<uint8_t> buf_;
  size_t buf_pos_ = 0;
};

}  // namespace

// --- Value -----------------------------------------------------------------------------

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

Value Value::from_bits(ValueType t, uint64_t bits) {
  Value out;
  out.type_ = t;
  out.bits_ = bits;
  return out;
}

namespace {
// A scalar's bytes, zero-extended to 64 bits (little-endian host).
template <typename T>
uint64_t bits_of(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  return b;
}
}  // namespace

Value Value::u8(uint8_t v) { return from_bits(ValueType::U8, bits_of(v)); }
Value Value::i8(int8_t v) { return from_bits(ValueType::I8, bits_of(v)); }
Value Value::u16(uint16_t v) { return from_bits(ValueType::U16, bits_of(v)); }
Value Value::i16(int16_t v) { return from_bits(ValueType::I16, bits_of(v)); }
Value Value::u32(uint32_t v) { return from_bits(ValueType::U32, bits_of(v)); }
Value Value::i32(int32_t v) { return from_bits(ValueType::I32, bits_of(v)); }
Value Value::u64(uint64_t v) { return from_bits(ValueType::U64, v); }
Value Value::i64(int64_t v) { return from_bits(ValueType::I64, bits_of(v)); }
Value Value::f32(float v) { return from_bits(ValueType::F32, bits_of(v)); }
Value Value::f64(double v) { return from_bits(ValueType::F64, bits_of(v)); }

Value Value::boolean(bool v) {
  Value out;
  out.type_ = ValueType::Bool;
  out.bits_ = v ? 1 : 0;
  return out;
}

Value Value::string(std::string v) {
  Value out;
  out.type_ = ValueType::String;
  out.str_ = std::move(v);
  return out;
}

Value Value::array_raw(ValueType elem, uint64_t count, std::vector<uint8_t> bytes) {
  size_t es = scalar_size(elem);
  check(es != 0, "a raw GGUF array needs a scalar element type, not {}", value_type_name(elem));
  check(bytes.size() / es == count && bytes.size() % es == 0,
        "a GGUF {} array of {} elements needs {} bytes, got {}", value_type_name(elem), count,
        count * es, bytes.size());
  if (elem == ValueType::Bool)
    for (uint8_t b : bytes) check(b <= 1, "a GGUF bool array holds byte {} (must be 0 or 1)", b);
  Value out;
  out.type_ = ValueType::Array;
  out.elem_ = elem;
  out.count_ = count;
  out.raw_ = std::move(bytes);
  return out;
}

namespace {
template <typename T>
Value packed(ValueType elem, std::span<const T> v) {
  std::vector<uint8_t> bytes(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return Value::array_raw(elem, v.size(), std::move(bytes));
}
}  // namespace

Value Value::array_u8(std::span<const uint8_t> v) { return packed(ValueType::U8, v); }
Value Value::array_i32(std::span<const int32_t> v) { return packed(ValueType::I32, v); }
Value Value::array_u32(std::span<const uint32_t> v) { return packed(ValueType::U32, v); }
Value Value::array_i64(std::span<const int64_t> v) { return packed(ValueType::I64, v); }
Value Value::array_f32(std::span<const float> v) { return packed(ValueType::F32, v); }
Value Value::array_f64(std::span<const double> v) { return packed(ValueType::F64, v); }
Value Value::array_bool(const std::vector<bool>& v) {
  std::vector<uint8_t> bytes(v.begin(), v.end());
  return array_raw(ValueType::Bool, v.size(), std::move(bytes));
}

Value Value::array_string(std::vector<std::string> v) {
  Value out;
  out.type_ = ValueType::Array;
  out.elem_ = ValueType::String;
  out.count_ = v.size();
  out.strs_ = std::move(v);
  return out;
}

Value Value::array_array(std::vector<Value> v) {
  for (const Value& e : v)
    check(e.is_array(), "every element of a GGUF array of arrays must be an array, got {}",
          value_type_name(e.type()));
  Value out;
  out.type_ = ValueType::Array;
  out.elem_ = ValueType::Array;
  out.count_ = v.size();
  out.items_ = std::move(v);
  return out;
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default: return false;
  }
}

bool Value::is_float() const { return type_ == ValueType::F32 || type_ == ValueType::F64; }

namespace {
// The integer in `bits` of scalar type t, as a signed 128-bit-free pair (neg, magnitude).
struct IntVal {
  bool neg;
  uint64_t mag;
};
IntVal int_of(ValueType t, uint64_t bits) {
  auto sgn = [](int64_t v) { return IntVal{v < 0, v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v)}; };
  switch (t) {
    case ValueType::U8: return {false, uint8_t(bits)};
    case ValueType::U16: return {false, uint16_t(bits)};
    case ValueType::U32: return {false, uint32_t(bits)};
    case ValueType::U64: return {false, bits};
    case ValueType::I8: return sgn(int8_t(uint8_t(bits)));
    case ValueType::I16: return sgn(int16_t(uint16_t(bits)));
    case ValueType::I32: return sgn(int32_t(uint32_t(bits)));
    case ValueType::I64: return sgn(int64_t(bits));
    default: fail("GGUF value of type {} is not an integer", value_type_name(t));
  }
}
int64_t to_int64(ValueType t, uint64_t bits) {
  IntVal v = int_of(t, bits);
  if (v.neg) return int64_t(uint64_t(0) - v.mag);
  check(v.mag <= uint64_t(std::numeric_limits<int64_t>::max()),
        "GGUF {} value {} does not fit in int64", value_type_name(t), v.mag);
  return int64_t(v.mag);
}
double to_double(ValueType t, uint64_t bits) {
  if (t == ValueType::F32) {
    float f;
    uint32_t b = uint32_t(bits);
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (t == ValueType::F64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  fail("GGUF value of type {} is not a float", value_type_name(t));
}
}  // namespace

int64_t Value::as_int() const {
  check(is_integer(), "value is {}, expected an integer", value_type_name(type_));
  return to_int64(type_, bits_);
}

uint64_t Value::as_uint() const {
  check(is_integer(), "value is {}, expected an integer", value_type_name(type_));
  IntVal v = int_of(type_, bits_);
  check(!v.neg, "value is negative (-{}), expected an unsigned integer", v.mag);
  return v.mag;
}

double Value::as_float() const {
  check(is_float(), "value is {}, expected a float", value_type_name(type_));
  return to_double(type_, bits_);
}

bool Value::as_bool() const {
  check(type_ == ValueType::Bool, "value is {}, expected a bool", value_type_name(type_));
  return bits_ != 0;
}

const std::string& Value::as_string() const {
  check(type_ == ValueType::String, "value is {}, expected a string", value_type_name(type_));
  return str_;
}

ValueType Value::array_type() const {
  check(is_array(), "value is {}, expected an array", value_type_name(type_));
  return elem_;
}

uint64_t Value::array_size() const {
  check(is_array(), "value is {}, expected an array", value_type_name(type_));
  return count_;
}

std::vector<int64_t> Value::as_ints() const {
  ValueType e = array_type();
  size_t es = scalar_size(e);
  check(es != 0 && e != ValueType::Bool && e != ValueType::F32 && e != ValueType::F64,
        "value is an array of {}, expected an array of integers", value_type_name(e));
  std::vector<int64_t> out(count_);
  for (uint64_t i = 0; i < count_; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, raw_.data() + i * es, es);
    out[i] = to_int64(e, bits);
  }
  return out;
}

std::vector<float> Value::as_floats() const {
  ValueType e = array_type();
  check(e == ValueType::F32 || e == ValueType::F64,
        "value is an array of {}, expected an array of floats", value_type_name(e));
  std::vector<float> out(count_);
  size_t es = scalar_size(e);
  for (uint64_t i = 0; i < count_; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, raw_.data() + i * es, es);
    out[i] = float(to_double(e, bits));
  }
  return out;
}

const std::vector<std::string>& Value::as_strings() const {
  ValueType e = array_type();
  check(e == ValueType::String, "value is an array of {}, expected an array of strings",
        value_type_name(e));
  return strs_;
}

const std::vector<Value>& Value::as_arrays() const {
  ValueType e = array_type();
  check(e == ValueType::Array, "value is an array of {}, expected an array of arrays",
        value_type_name(e));
  return items_;
}

std::span<const uint8_t> Value::array_bytes() const {
  ValueType e = array_type();
  check(scalar_size(e) != 0, "value is an array of {}, which has no packed bytes",
        value_type_name(e));
  return raw_;
}

namespace {
std::string quote(std::string_view s, size_t max_len = 60) {
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char c : s) {
    if (n++ == max_len) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string scalar_string(ValueType t, uint64_t bits) {
  switch (t) {
    case ValueType::Bool: return bits ? "true" : "false";
    case ValueType::F32: case ValueType::F64: return fmt::format("{}", to_double(t, bits));
    default: {
      IntVal v = int_of(t, bits);
      return v.neg ? fmt::format("-{}", v.mag) : fmt::format("{}", v.mag);
    }
  }
}
}  // namespace

std::string Value::to_string(size_t max_items) const {
  if (type_ == ValueType::String) return quote(str_);
  if (!is_array()) return scalar_string(type_, bits_);
  std::string out = fmt::format("[{} x {}", value_type_name(elem_), count_);
  size_t shown = size_t(std::min<uint64_t>(count_, max_items));
  for (size_t i = 0; i < shown; ++i) {
    out += i == 0 ? ": " : ", ";
    if (elem_ == ValueType::String) {
      out += quote(strs_[i], 24);
    } else if (elem_ == ValueType::Array) {
      out += items_[i].to_string(2);
    } else {
      size_t es = scalar_size(elem_);
      uint64_t bits = 0;
      std::memcpy(&bits, raw_.data() + i * es, es);
      out += scalar_string(elem_, bits);
    }
  }
  if (shown < count_) out += ", ...";
  return out + "]";
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  if (type_ == ValueType::String) return str_ == o.str_;
  if (!is_array()) return bits_ == o.bits_;
  return elem_ == o.elem_ && count_ == o.count_ && raw_ == o.raw_ && strs_ == o.strs_ &&
         items_ == o.items_;
}

// --- Metadata --------------------------------------------------------------------------

const Value* Metadata::find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value& Metadata::at(std::string_view key) const {
  const Value* v = find(key);
  if (!v) fail("{}metadata key '{}' is missing", context_.empty() ? "" : "'" + context_ + "': ", key);
  return *v;
}

void Metadata::set(std::string key, Value v) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(v);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(std::move(key), std::move(v));
}

bool Metadata::erase(std::string_view key) {
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return false;
  entries_.erase(entries_.begin() + ptrdiff_t(it->second));
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
  return true;
}

template <typename F>
auto Metadata::typed(std::string_view key, F&& f) const
    -> decltype(f(std::declval<const Value&>())) {
  const Value& v = at(key);
  try {
    return f(v);
  } catch (const Error& e) {
    fail("{}metadata key '{}': {}", context_.empty() ? "" : "'" + context_ + "': ", key,
         e.what());
  }
}

int64_t Metadata::get_int(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_int(); });
}
uint64_t Metadata::get_uint(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_uint(); });
}
double Metadata::get_float(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_float(); });
}
bool Metadata::get_bool(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_bool(); });
}
const std::string& Metadata::get_string(std::string_view key) const {
  return typed(key, [](const Value& v) -> const std::string& { return v.as_string(); });
}
std::vector<int64_t> Metadata::get_ints(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_ints(); });
}
std::vector<float> Metadata::get_floats(std::string_view key) const {
  return typed(key, [](const Value& v) { return v.as_floats(); });
}
const std::vector<std::string>& Metadata::get_strings(std::string_view key) const {
  return typed(key,
               [](const Value& v) -> const std::vector<std::string>& { return v.as_strings(); });
}
int64_t Metadata::get_int(std::string_view key, int64_t dflt) const {
  return has(key) ? get_int(key) : dflt;
}
double Metadata::get_float(std::string_view key, double dflt) const {
  return has(key) ? get_float(key) : dflt;
}
bool Metadata::get_bool(std::string_view key, bool dflt) const {
  return has(key) ? get_bool(key) : dflt;
}
std::string Metadata::get_string(std::string_view key, std::string_view dflt) const {
  return has(key) ? get_string(key) : std::string(dflt);
}

// --- reader ----------------------------------------------------------------------------

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

class Parser {
 public:
  Parser(Source& src, File& f) : src_(src), f_(f) {}

  void parse() {
    const std::string& name = src_.name();
    uint8_t magic[4] = {};
    if (src_.size() < 4) fail("'{}': not a GGUF file: only {} bytes", name, src_.size());
    src_.read(magic, 4, "magic");
    if (std::memcmp(magic, kMagic, 4) != 0)
      fail("'{}': not a GGUF file: magic bytes {:02x} {:02x} {:02x} {:02x} (expected 'GGUF')",
           name, magic[0], magic[1], magic[2], magic[3]);
    uint32_t version = src_.get<uint32_t>("version");
    if (version != 0 && (version & 0xffffu) == 0)
      fail("'{}': GGUF version field {:#x} looks byte-swapped: big-endian GGUF files are not "
           "supported", name, version);
    if (version == 1) fail("'{}': GGUF version 1 is not supported (versions 2 and 3 are)", name);
    if (version != 2 && version != 3)
      fail("'{}': unsupported GGUF version {} (versions 2 and 3 are supported)", name, version);
    f_.version_ = version;

    uint64_t n_tensors = src_.get<uint64_t>("tensor count");
    uint64_t n_kv = src_.get<uint64_t>("metadata count");
    // Every key/value takes at least 13 bytes (u64 key length, a 1-byte key, u32 type, a
    // 1-byte value) and every tensor info at least 24 (u64 name length, u32 n_dims, u32
    // type, u64 offset): counts that cannot fit in the file are rejected before anything
    // is allocated for them.
    if (n_kv > src_.remaining() / 13)
      fail("'{}': metadata count {} cannot fit in the {} bytes that remain", name, n_kv,
           src_.remaining());
    if (n_tensors > src_.remaining() / 24)
      fail("'{}': tensor count {} cannot fit in the {} bytes that remain", name, n_tensors,
           src_.remaining());

    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = read_string(fmt::format("key of metadata entry {}", i), kMaxKeyLength);
      if (key.empty()) fail("'{}': metadata entry {} has an empty key", name, i);
      if (f_.metadata_.has(key)) fail("'{}': duplicate metadata key '{}'", name, key);
      uint32_t t = src_.get<uint32_t>("metadata value type");
      if (!valid_value_type(t))
        fail("'{}': metadata key '{}' has unknown value type {}", name, key, t);
      Value v = read_value(ValueType(t), 0, key);
      f_.metadata_.set(std::move(key), std::move(v));
    }

    if (const Value* a = f_.metadata_.find("general.alignment")) {
      if (a->type() != ValueType::U32)
        fail("'{}': general.alignment must be a u32, not {}", name, value_type_name(a->type()));
      uint64_t al = a->as_uint();
      if (!is_pow2(al) || al % 8 != 0)
        fail("'{}': general.alignment {} is not a power of two that is a multiple of 8", name,
             al);
      f_.alignment_ = al;
    }

    f_.tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(i);

    f_.data_offset_ = align_up(src_.pos(), f_.alignment_);
    check_extents();
  }

 private:
  std::string read_string(const std::string& what, uint64_t max_len) {
    uint64_t len = src_.get<uint64_t>(what);
    if (len > src_.remaining())
      fail("'{}': {} has length {} but only {} bytes remain", src_.name(), what, len,
           src_.remaining());
    if (len > max_len)
      fail("'{}': {} has length {} (at most {} allowed)", src_.name(), what, len, max_len);
    std::string s(size_t(len), '\0');
    src_.read(s.data(), len, what);
    return s;
  }

  Value read_value(ValueType t, int depth, const std::string& key) {
    const std::string& name = src_.name();
    Value v;
    v.type_ = t;
    if (t == ValueType::String) {
      v.str_ = read_string(fmt::format("string value of '{}'", key),
                           std::numeric_limits<uint64_t>::max());
      return v;
    }
    if (t != ValueType::Array) {
      size_t n = scalar_size(t);
      src_.read(&v.bits_, n, fmt::format("value of '{}'", key));
      if (t == ValueType::Bool && v.bits_ > 1)
        fail("'{}': metadata key '{}' holds bool byte {} (must be 0 or 1)", name, key, v.bits_);
      return v;
    }
    if (depth >= kMaxArrayDepth)
      fail("'{}': metadata key '{}' nests arrays deeper than {}", name, key, kMaxArrayDepth);
    uint32_t et = src_.get<uint32_t>(fmt::format("array type of '{}'", key));
    if (!valid_value_type(et))
      fail("'{}': metadata key '{}' is an array of unknown type {}", name, key, et);
    v.elem_ = ValueType(et);
    v.count_ = src_.get<uint64_t>(fmt::format("array length of '{}'", key));
    size_t es = scalar_size(v.elem_);
    // The least bytes one element takes: a scalar its size, a string its u64 length, an
    // array its u32 type and u64 length.
    uint64_t min_elem = es ? es : v.elem_ == ValueType::String ? 8 : 12;
    if (v.count_ > src_.remaining() / min_elem)
      fail("'{}': metadata key '{}' is an array of {} {} elements, which cannot fit in the {} "
           "bytes that remain", name, key, v.count_, value_type_name(v.elem_), src_.remaining());
    if (es) {
      v.raw_.resize(size_t(v.count_ * es));
      src_.read(v.raw_.data(), v.raw_.size(), fmt::format("array of '{}'", key));
      if (v.elem_ == ValueType::Bool)
        for (size_t i = 0; i < v.raw_.size(); ++i)
          if (v.raw_[i] > 1)
            fail("'{}': metadata key '{}' element {} is bool byte {} (must be 0 or 1)", name,
                 key, i, v.raw_[i]);
    } else if (v.elem_ == ValueType::String) {
      v.strs_.reserve(size_t(v.count_));
      for (uint64_t i = 0; i < v.count_; ++i)
        v.strs_.push_back(read_string(fmt::format("string {} of '{}'", i, key),
                                      std::numeric_limits<uint64_t>::max()));
    } else {
      v.items_.reserve(size_t(v.count_));
      for (uint64_t i = 0; i < v.count_; ++i)
        v.items_.push_back(read_value(ValueType::Array, depth + 1, key));
    }
    return v;
  }

  void read_tensor_info(uint64_t i) {
    const std::string& name = src_.name();
    TensorInfo ti;
    ti.name = read_string(fmt::format("name of tensor {}", i), kMaxTensorName);
    if (ti.name.empty()) fail("'{}': tensor {} has an empty name", name, i);
    if (f_.tensor_index_.count(ti.name)) fail("'{}': duplicate tensor name '{}'", name, ti.name);
    uint32_t n_dims = src_.get<uint32_t>("tensor dimension count");
    if (n_dims > kMaxDims)
      fail("'{}': tensor '{}' has {} dimensions (at most {})", name, ti.name, n_dims, kMaxDims);
    std::vector<uint64_t> ne(n_dims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = src_.get<uint64_t>("tensor dimension");
      if (ne[d] > uint64_t(std::numeric_limits<int64_t>::max()) ||
          (ne[d] != 0 && numel > uint64_t(std::numeric_limits<int64_t>::max()) / ne[d]))
        fail("'{}': tensor '{}' has absurd dimensions (dimension {} is {})", name, ti.name, d,
             ne[d]);
      numel *= ne[d];
    }
    uint32_t type = src_.get<uint32_t>("tensor type");
    const GgmlTypeTraits* tr = ggml_type_traits(type);
    if (!tr) fail("'{}': tensor '{}' has unknown ggml type {}", name, ti.name, type);
    ti.type = GgmlType(type);
    uint64_t row = n_dims ? ne[0] : 1;
    if (row % uint64_t(tr->block_size) != 0)
      fail("'{}': tensor '{}' of type {} has rows of {} elements, not a multiple of its block "
           "size {}", name, ti.name, tr->name, row, tr->block_size);
    uint64_t blocks = numel / uint64_t(tr->block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / tr->type_size)
      fail("'{}': tensor '{}' has a size that overflows", name, ti.name);
    ti.bytes = blocks * tr->type_size;
    uint64_t rel = src_.get<uint64_t>("tensor offset");
    if (rel % f_.alignment_ != 0)
      fail("'{}': tensor '{}' has offset {}, not a multiple of the alignment {}", name, ti.name,
           rel, f_.alignment_);
    ti.offset = rel;  // made absolute in check_extents()
    for (uint32_t d = 0; d < n_dims; ++d) ti.shape.push_back(int64_t(ne[n_dims - 1 - d]));
    f_.tensor_index_.emplace(ti.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(ti));
  }

  // Makes offsets absolute and checks every tensor lies inside the file, without overlaps.
  void check_extents() {
    const std::string& name = src_.name();
    uint64_t size = src_.size();
    std::vector<std::pair<uint64_t, size_t>> order;
    for (size_t i = 0; i < f_.tensors_.size(); ++i) {
      TensorInfo& ti = f_.tensors_[i];
      uint64_t rel = ti.offset;
      if (f_.data_offset_ > size || rel > size - f_.data_offset_ ||
          ti.bytes > size - f_.data_offset_ - rel)
        fail("'{}': tensor '{}' data ({} bytes at offset {} of the data section, which starts "
             "at {}) runs past the end of the file ({} bytes)", name, ti.name, ti.bytes, rel,
             f_.data_offset_, size);
      ti.offset = f_.data_offset_ + rel;
      if (ti.bytes) order.emplace_back(ti.offset, i);
    }
    std::sort(order.begin(), order.end());
    for (size_t k = 1; k < order.size(); ++k) {
      const TensorInfo& a = f_.tensors_[order[k - 1].second];
      const TensorInfo& b = f_.tensors_[order[k].second];
      if (a.offset + a.bytes > b.offset)
        fail("'{}': the data of tensors '{}' and '{}' overlap", name, a.name, b.name);
    }
  }

  Source& src_;
  File& f_;
};

File File::open(const std::string& path) {
  std::shared_ptr<const MappedFile> map = MappedFile::open(path);
  File f = parse(std::span<const uint8_t>(map->data(), map->size()), path);
  f.map_ = std::move(map);
  return f;
}

File File::parse(std::span<const uint8_t> bytes, const std::string& name) {
  File f;
  f.path_ = name;
  f.metadata_ = Metadata(name);
  f.file_size_ = bytes.size();
  Source src(bytes.data(), bytes.size(), name);
  Parser(src, f).parse();
  return f;
}

File File::open_metadata(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file", path);
  }
  File f;
  f.path_ = path;
  f.metadata_ = Metadata(path);
  f.file_size_ = uint64_t(st.st_size);
  try {
    Source src(fd, f.file_size_, path);
    Parser(src, f).parse();
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return f;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor_info(std::string_view name) const {
  const TensorInfo* ti = find_tensor(name);
  if (!ti) fail("'{}': no tensor named '{}'", path_, name);
  return *ti;
}

Tensor File::tensor(std::string_view name) const {
  const TensorInfo& ti = tensor_info(name);
  check(map_ != nullptr, "'{}': opened for metadata only; tensor '{}' cannot be read", path_,
        name);
  std::optional<DType> dt = view_dtype(ti.type);
  if (!dt)
    fail("'{}': tensor '{}' is {}, which is not a plain float/int type (use qtensor() or "
         "dequantize)", path_, name, ggml_type_name(ti.type));
  return Tensor::view_of(map_, size_t(ti.offset), ti.shape, *dt);
}

QTensor File::qtensor(std::string_view name) const {
  const TensorInfo& ti = tensor_info(name);
  check(map_ != nullptr, "'{}': opened for metadata only; tensor '{}' cannot be read", path_,
        name);
  QTensor q;
  q.type = ti.type;
  q.shape = ti.shape;
  q.data = map_->data() + ti.offset;
  q.bytes = size_t(ti.bytes);
  q.owner = map_;
  return q;
}

// --- writer ----------------------------------------------------------------------------

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  check(is_pow2(alignment) && alignment % 8 == 0 && alignment <= (1u << 30),
        "GGUF alignment {} must be a power of two, a multiple of 8", alignment);
}

namespace {
std::optional<GgmlType> ggml_of(DType d) {
  switch (d) {
    case DType::F32: return GgmlType::F32;
    case DType::F16: return GgmlType::F16;
    case DType::BF16: return GgmlType::BF16;
    case DType::I8: return GgmlType::I8;
    case DType::I32: return GgmlType::I32;
    default: return std::nullopt;
  }
}

void check_tensor_name(const std::string& name) {
  check(!name.empty(), "GGUF tensor names must not be empty");
  check(name.size() <= kMaxWriteName, "GGUF tensor name '{}' is longer than {} bytes", name,
        kMaxWriteName);
}
}  // namespace

void Writer::add_tensor(const std::string& name, const Tensor& t) {
  check_tensor_name(name);
  std::optional<GgmlType> g = ggml_of(t.dtype());
  if (!g) fail("GGUF cannot store tensor '{}' of dtype {}", name, dtype_name(t.dtype()));
  Tensor c = t.is_contiguous() ? t : t.contiguous();
  QTensor q;
  q.type = *g;
  q.shape = c.shape();
  q.data = std::as_const(c).raw();  // const access: c may be a read-only mapped view
  q.bytes = c.nbytes();
  add_tensor(name, q);
  tensors_.back().keep = c;
}

void Writer::add_tensor(const std::string& name, const QTensor& q) {
  check_tensor_name(name);
  for (const Entry& e : tensors_)
    check(e.name != name, "GGUF tensor '{}' added twice", name);
  check(q.shape.size() <= kMaxDims, "GGUF tensor '{}' has {} dimensions (at most {})", name,
        q.shape.size(), kMaxDims);
  q.validate();
  tensors_.push_back(Entry{name, q, Tensor()});
}

namespace {
void put_string(FileSink& out, std::string_view s) {
  uint64_t n = s.size();
  out.write(&n, 8);
  out.write(s.data(), s.size());
}

void put_value(FileSink& out, const Value& v) {
  switch (v.type()) {
    case ValueType::String: put_string(out, v.as_string()); return;
    case ValueType::Array: {
      uint32_t et = uint32_t(v.array_type());
      uint64_t n = v.array_size();
      out.write(&et, 4);
      out.write(&n, 8);
      if (v.array_type() == ValueType::String) {
        for (const std::string& s : v.as_strings()) put_string(out, s);
      } else if (v.array_type() == ValueType::Array) {
        for (const Value& e : v.as_arrays()) put_value(out, e);
      } else {
        std::span<const uint8_t> b = v.array_bytes();
        out.write(b.data(), b.size());
      }
      return;
    }
    default: {
      // Scalars: the value's little-endian bytes.
      size_t n = scalar_size(v.type());
      uint64_t bits = v.scalar_bits();
      out.write(&bits, n);
      return;
    }
  }
}
}  // namespace

void Writer::write(const std::string& path, uint32_t version) const {
  check(version == 2 || version == 3, "GGUF version {} cannot be written (2 or 3)", version);
  Metadata md = metadata_;
  if (const Value* a = md.find("general.alignment")) {
    check(a->type() == ValueType::U32 && a->as_uint() == alignment_,
          "'{}': metadata general.alignment ({}) disagrees with the writer's alignment {}", path,
          a->to_string(), alignment_);
  } else if (alignment_ != kDefaultAlignment) {
    md.set("general.alignment", Value::u32(uint32_t(alignment_)));
  }
  for (const auto& [key, v] : md.entries()) {
    check(!key.empty() && key.size() <= kMaxKeyLength,
          "'{}': metadata key of length {} (must be 1..{})", path, key.size(), kMaxKeyLength);
  }

  write_file_atomic(path, [&](FileSink& out) {
    out.write(kMagic, 4);
    out.write(&version, 4);
    uint64_t n_tensors = tensors_.size(), n_kv = md.size();
    out.write(&n_tensors, 8);
    out.write(&n_kv, 8);
    for (const auto& [key, v] : md.entries()) {
      put_string(out, key);
      uint32_t t = uint32_t(v.type());
      out.write(&t, 4);
      put_value(out, v);
    }
    uint64_t rel = 0;
    for (const Entry& e : tensors_) {
      put_string(out, e.name);
      uint32_t n_dims = uint32_t(e.q.shape.size());
      out.write(&n_dims, 4);
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = uint64_t(e.q.shape[n_dims - 1 - d]);  // GGUF: innermost first
        out.write(&ne, 8);
      }
      uint32_t type = uint32_t(e.q.type);
      out.write(&type, 4);
      out.write(&rel, 8);
      rel = align_up(rel + e.q.bytes, alignment_);
    }
    static const uint8_t zeros[256] = {};
    auto pad = [&](uint64_t pos) {
      uint64_t n = align_up(pos, alignment_) - pos;
      while (n > 0) {
        uint64_t k = std::min<uint64_t>(n, sizeof zeros);
        out.write(zeros, k);
        n -= k;
      }
    };
    if (!tensors_.empty()) pad(out.written());
    for (const Entry& e : tensors_) {
      out.write(e.q.data, e.q.bytes);
      pad(out.written());
    }
  });
}

}  // namespace lmkit::gguf
