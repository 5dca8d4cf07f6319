// GGUF: the model file format of ggml / llama.cpp, versions 2 and 3 (little-endian).
// Spec: ggml docs/gguf.md (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md);
// reference reader/writer: ggml/src/gguf.cpp.
//
// Layout: "GGUF" magic, u32 version, u64 tensor_count, u64 metadata_kv_count, the
// metadata key/value pairs, the tensor infos (name, n_dims, dims innermost first, ggml
// type, offset relative to the data section), zero padding to `general.alignment`
// (default 32), then the tensor data, each tensor at an aligned offset.
//
// gguf::File::open maps the file and validates everything before exposing it (magic,
// version, counts against the file size, string and array lengths, nesting depth, value
// and tensor types, dims, size overflow, alignment, tensor extents and overlaps); any
// problem is an lmkit::Error naming the file and the problem. Tensors are views into the
// map (no copy).
//
// Shapes: GGUF lists dims innermost first (ggml ne[0], ne[1], ...); lmkit lists them
// outermost first, so TensorInfo::shape is the GGUF dims reversed. A GGUF token_embd of
// dims [C, V] is an lmkit (V, C) tensor: the row-major layout is the same bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lmkit/core/quant.h"
#include "lmkit/core/tensor.h"

namespace lmkit {
class MappedFile;
}

namespace lmkit::gguf {

// gguf_metadata_value_type (docs/gguf.md).
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8,
  Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);  // "u8", "i32", "f32", "bool", "string", "array" ...

// One metadata value: a scalar, a string, or an array (of scalars, strings or arrays).
class Value {
 public:
  Value() = default;  // u8 0
  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value string(std::string v);
  // Arrays. Numeric element arrays keep the elements' little-endian bytes.
  static Value array_u8(std::span<const uint8_t> v);
  static Value array_i32(std::span<const int32_t> v);
  static Value array_u32(std::span<const uint32_t> v);
  static Value array_i64(std::span<const int64_t> v);
  static Value array_f32(std::span<const float> v);
  static Value array_f64(std::span<const double> v);
  static Value array_bool(const std::vector<bool>& v);
  static Value array_string(std::vector<std::string> v);
  static Value array_array(std::vector<Value> v);  // every element must be an array
  // An array of `elem` scalars (not string/array) from `count` packed little-endian elements.
  static Value array_raw(ValueType elem, uint64_t count, std::vector<uint8_t> bytes);

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::Array; }
  bool is_integer() const;  // u8..i64 (not bool)
  bool is_float() const;    // f32 / f64

  // Typed reads; a value of another kind throws lmkit::Error saying what it is.
  int64_t as_int() const;    // any integer type; a u64 above INT64_MAX throws
  uint64_t as_uint() const;  // any integer type; a negative value throws
  double as_float() const;   // f32 / f64
  bool as_bool() const;
  const std::string& as_string() const;

  // Arrays.
  ValueType array_type() const;  // element type (throws if not an array)
  uint64_t array_size() const;   // number of elements
  std::vector<int64_t> as_ints() const;             // integer-element array
  std::vector<float> as_floats() const;             // f32 / f64-element array
  const std::vector<std::string>& as_strings() const;  // string-element array
  const std::vector<Value>& as_arrays() const;         // array-element array
  std::span<const uint8_t> array_bytes() const;        // numeric / bool elements, packed LE

  // Short human-readable form, e.g. `42`, `"llama"`, `[string x 32000: "<unk>", ...]`.
  std::string to_string(size_t max_items = 6) const;

  bool operator==(const Value& o) const;
  // A scalar's bytes, zero-extended to 64 bits (what the file stores, little-endian).
  uint64_t scalar_bits() const { return bits_; }

 private:
  static Value from_bits(ValueType t, uint64_t bits);
  ValueType type_ = ValueType::U8;
  uint64_t bits_ = 0;        // scalars: the value's bytes (zero-extended)
  std::string str_;          // String
  ValueType elem_ = ValueType::U8;  // Array: element type
  uint64_t count_ = 0;              // Array: element count
  std::vector<uint8_t> raw_;        // Array of scalars: packed LE elements
  std::vector<std::string> strs_;   // Array of strings
  std::vector<Value> items_;        // Array of arrays
  friend class Parser;
};

// Ordered key -> value map with typed getters. Getters throw lmkit::Error naming the
// context (the file path), the key and the problem (missing, or the type found).
class Metadata {
 public:
  explicit Metadata(std::string context = "") : context_(std::move(context)) {}

  size_t size() const { return entries_.size(); }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const Value* find(std::string_view key) const;
  const Value& at(std::string_view key) const;  // throws if missing
  // Inserts or replaces (a replaced key keeps its position).
  void set(std::string key, Value v);
  bool erase(std::string_view key);

  int64_t get_int(std::string_view key) const;
  uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;  // f32 / f64 (integers are not accepted)
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  std::vector<int64_t> get_ints(std::string_view key) const;
  std::vector<float> get_floats(std::string_view key) const;
  const std::vector<std::string>& get_strings(std::string_view key) const;
  // Defaults when the key is absent (a present key of the wrong type still throws).
  int64_t get_int(std::string_view key, int64_t dflt) const;
  double get_float(std::string_view key, double dflt) const;
  bool get_bool(std::string_view key, bool dflt) const;
  std::string get_string(std::string_view key, std::string_view dflt) const;

  const std::string& context() const { return context_; }

 private:
  template <typename F>
  auto typed(std::string_view key, F&& f) const -> decltype(f(std::declval<const Value&>()));
  std::string context_;
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  Tensor::Shape shape;  // lmkit order: outermost first (the GGUF dims reversed)
  uint64_t offset = 0;  // absolute byte offset in the file (data section start + relative)
  uint64_t bytes = 0;   // size of the data
  int64_t numel() const;
};

constexpr uint32_t kDefaultAlignment = 32;

class File {
 public:
  // Maps `path` and validates it fully; tensors can then be viewed.
  static File open(const std::string& path);
  // Reads only the header, metadata and tensor infos (with ordinary reads, no map; the
  // tensor extents are still checked against the file size). tensor()/qtensor() throw.
  // For tools that need the configuration and shapes only (lmkit flops, inspect).
  static File open_metadata(const std::string& path);
  // Parses an in-memory GGUF image (used by the fuzzer and tests); `name` is for messages.
  // The bytes must outlive the File; tensor views are not available.
  static File parse(std::span<const uint8_t> bytes, const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  uint64_t file_size() const { return file_size_; }
  const Metadata& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor_info(std::string_view name) const;  // throws if absent
  bool has_data() const { return map_ != nullptr; }

  // A read-only view (no copy) of an F32, F16, BF16, I8 or I32 tensor; other types throw
  // (use qtensor()).
  Tensor tensor(std::string_view name) const;
  // A raw view of a tensor of any type (blocks as stored), keeping the map alive.
  QTensor qtensor(std::string_view name) const;

 private:
  friend class Parser;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  uint64_t file_size_ = 0;
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
  std::shared_ptr<const MappedFile> map_;
};

// Builds a GGUF file: metadata in insertion order, tensors in the order added, each
// padded to the alignment. write() is atomic (temp file + rename, io/atomic_file.h).
// The layout is the one llama.cpp's gguf writer produces (tensor data packed in order,
// names of at most 63 bytes), so ggml's gguf_init_from_file reads what this writes and
// rewriting a llama.cpp file reproduces it byte for byte (tested). Note that ggml rejects
// arrays of arrays, which the spec (and this reader) allows: avoid them in model files.
class Writer {
 public:
  explicit Writer(uint64_t alignment = kDefaultAlignment);  // a power of two >= 8

  Metadata& metadata() { return metadata_; }
  const Metadata& metadata() const { return metadata_; }
  // An F32/F16/BF16/I8/I32 tensor of any strides (written contiguous). The Writer keeps
  // a reference to its storage until it is destroyed.
  void add_tensor(const std::string& name, const Tensor& t);
  // Blocks of any ggml type; q.owner keeps the bytes alive.
  void add_tensor(const std::string& name, const QTensor& q);
  // Writes version 3 (or 2: same layout) to `path`, replacing it atomically. Writes
  // general.alignment when the alignment is not the default 32.
  void write(const std::string& path, uint32_t version = 3) const;

 private:
  struct Entry {
    std::string name;
    QTensor q;     // raw form (type, shape, bytes)
    Tensor keep;   // the source tensor, when added as a Tensor
  };
  uint64_t alignment_;
  Metadata metadata_;
  std::vector<Entry> tensors_;
};

}  // namespace lmkit::gguf
