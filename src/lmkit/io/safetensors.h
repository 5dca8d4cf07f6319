// safetensors: reading (memory-mapped, zero-copy) and writing (atomic).
//
// Format (huggingface/safetensors README, "Format", and the reference Rust crate
// safetensors/src/tensor.rs):
//   8 bytes   N: unsigned little-endian 64-bit size of the header
//   N bytes   UTF-8 JSON object, starting with '{' and possibly padded at the end with
//             spaces (0x20):
//               {"__metadata__": {"key": "value", ...},            (optional, str -> str)
//                "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   rest      the byte buffer; offsets are relative to its start, little-endian, C order.
// Rules enforced here (from the README and the reference validate()): duplicate keys are
// disallowed; every tensor's size is numel * dtype size; the tensors, sorted by offsets,
// tile the byte buffer exactly (no holes, no overlap, nothing after the last one); the
// header is at most 100,000,000 bytes.
//
// Sharded Hugging Face checkpoints ("model.safetensors.index.json": {"metadata": {...},
// "weight_map": {tensor name: shard file name}}, transformers modeling_utils) are opened as
// one SafetensorsCheckpoint.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lmkit/core/tensor.h"

namespace lmkit {

class MappedFile;

// One tensor as the header describes it.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // as spelled in the file: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;  // outermost first; {} is a scalar
  uint64_t begin = 0;          // byte range [begin, end) within the data buffer
  uint64_t end = 0;
};

// A validated header.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // file offset of the data buffer (8 + N)
};

// Validates the header of a complete file image `file` (every rule listed above) and
// returns it; throws lmkit::Error naming `what` (the file) and the offending tensor.
SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> file, const std::string& what);

// One .safetensors file, memory-mapped.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const;
  // Tensor names in header order (the order the writer was given).
  std::vector<std::string> names() const;
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // The header entry of `name`; throws lmkit::Error naming the file when it is absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  // The tensor in its stored dtype: a read-only view into the mapping (no copy) when the
  // dtype is one lmkit stores (F32 F16 BF16 I32 U16 U8 I8) and the bytes are aligned to
  // the element size, an owned copy when they are not aligned. Other dtypes (F64, I64, ...)
  // throw lmkit::Error pointing to get_as().
  Tensor get(const std::string& name) const;
  // The tensor converted to `dtype`: F64/F32/F16/BF16/F8_E4M3/F8_E5M2 -> F32/F16/BF16
  // (rounded to nearest even), integers and BOOL -> any lmkit dtype (integer targets are
  // range-checked: a value that does not fit is an error). Float -> integer is refused.
  // A view when no conversion is needed (as get()).
  Tensor get_as(const std::string& name, DType dtype) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> index_;  // name -> entries index
};

// A checkpoint in one file or sharded over several, opened from
//   - a .safetensors file,
//   - a *.safetensors.index.json (its weight_map names shard files in the same directory),
//   - a directory holding model.safetensors.index.json or model.safetensors.
// Every shard is opened (and validated) up front; every tensor of a shard must be listed
// in the weight_map under that shard and vice versa, and no name may occur twice.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::string& path);

  // All tensor names: shard by shard, in each shard's header order.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  Tensor get(const std::string& name) const;
  Tensor get_as(const std::string& name, DType dtype) const;
  // The single file's __metadata__, or the index's "metadata" (non-string values as JSON).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  const std::string& path() const { return path_; }

 private:
  const SafetensorsFile& shard_of(const std::string& name) const;
  std::string path_;
  std::vector<SafetensorsFile> shards_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> where_;  // name -> shard index
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any strides; written contiguous) and `metadata` to `path` atomically
// (io/atomic_file.h). The header lists the tensors in the given order; the data buffer
// holds them sorted (stably) by decreasing element size, as the reference writer does, so
// that with the header padded to a multiple of 8 every tensor is aligned to its element
// size. Names must be unique, non-empty, valid UTF-8 and not "__metadata__".
void write_safetensors(const std::string& path,
                       std::span<const std::pair<std::string, Tensor>> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The file spelling of an lmkit dtype ("F32", "BF16", ...).
const char* safetensors_dtype_name(DType t);

}  // namespace lmkit
