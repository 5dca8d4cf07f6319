#include "lmkit/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <unordered_set>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/io/atomic_file.h"

namespace lmkit {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; lmkit views it in place");

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

namespace {

// The reference implementation's limit (safetensors/src/tensor.rs MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

enum class Kind { Float, Int, Opaque };

// The dtypes of the safetensors spec (safetensors/src/tensor.rs `Dtype`).
struct DtypeInfo {
  const char* name;
  size_t size;
  Kind kind;
  std::optional<DType> native;  // the lmkit dtype that holds it bit for bit
};

// clang-format off
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", 1, Kind::Int, std::nullopt},
    {"U8", 1, Kind::Int, DType::U8},
    {"I8", 1, Kind::Int, DType::I8},
    {"F8_E5M2", 1, Kind::Float, std::nullopt},
    {"F8_E4M3", 1, Kind::Float, std::nullopt},
    {"F8_E8M0", 1, Kind::Float, std::nullopt},
    {"I16", 2, Kind::Int, std::nullopt},
    {"U16", 2, Kind::Int, DType::U16},
    {"F16", 2, Kind::Float, DType::F16},
    {"BF16", 2, Kind::Float, DType::BF16},
    {"I32", 4, Kind::Int, DType::I32},
    {"U32", 4, Kind::Int, std::nullopt},
    {"F32", 4, Kind::Float, DType::F32},
    {"F64", 8, Kind::Float, std::nullopt},
    {"I64", 8, Kind::Int, std::nullopt},
    {"U64", 8, Kind::Int, std::nullopt},
    {"C64", 8, Kind::Opaque, std::nullopt},
};
// clang-format on

const DtypeInfo* find_dtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo& dtype_info(const std::string& name) {
  const DtypeInfo* d = find_dtype(name);
  check(d != nullptr, "unknown safetensors dtype '{}'", name);  // validated on open
  return *d;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

// Parses JSON text, rejecting duplicate keys at any depth (the safetensors README:
// "Duplicate keys are disallowed"). `what` names the file in messages.
template <typename Json>
Json parse_json_strict(const char* begin, const char* end, const std::string& what,
                       const char* part) {
  std::vector<std::unordered_set<std::string>> open_objects;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    check(depth <= 32, "'{}': the {} nests deeper than 32 levels", what, part);
    if (event == E::object_start) {
      open_objects.emplace_back();
    } else if (event == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == E::key && !open_objects.empty()) {
      const std::string& key = parsed.template get_ref<const std::string&>();
      check(open_objects.back().insert(key).second, "'{}': duplicate key \"{}\" in the {}", what,
            key, part);
    }
    return true;
  };
  try {
    return Json::parse(begin, end, on_event);
  } catch (const nlohmann::json::exception& e) {
    fail("'{}': the {} is not valid JSON: {}", what, part, e.what());
  }
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// A header number that must be a non-negative integer.
uint64_t header_uint(const ordered_json& v, const std::string& what, const std::string& name,
                     const char* field) {
  check(v.is_number_unsigned(), "'{}': tensor '{}': {} holds {}, not a non-negative integer", what,
        name, field, v.dump());
  return v.get<uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const ordered_json& v,
                             const std::string& what) {
  check(v.is_object(), "'{}': header entry of tensor '{}' is not an object", what, name);
  SafetensorsEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  check(dt != v.end() && dt->is_string(), "'{}': tensor '{}' has no \"dtype\" string", what, name);
  e.dtype = dt->get<std::string>();
  const DtypeInfo* info = find_dtype(e.dtype);
  if (!info) {
    if (e.dtype == "F4" || e.dtype.rfind("F6_", 0) == 0)
      fail("'{}': tensor '{}' has dtype {} (packed sub-byte floats), which lmkit does not read",
           what, name, e.dtype);
    fail("'{}': tensor '{}' has unknown dtype '{}'", what, name, e.dtype);
  }
  auto sh = v.find("shape");
  check(sh != v.end() && sh->is_array(), "'{}': tensor '{}' has no \"shape\" array", what, name);
  uint64_t numel = 1;
  bool overflow = false, has_zero = false;
  for (const auto& d : *sh) {
    uint64_t s = header_uint(d, what, name, "a shape dimension");
    check(s <= uint64_t(std::numeric_limits<int64_t>::max()),
          "'{}': tensor '{}' has an absurd dimension {}", what, name, s);
    e.shape.push_back(int64_t(s));
    if (__builtin_mul_overflow(numel, s, &numel)) overflow = true;
    if (s == 0) has_zero = true;
  }
  auto off = v.find("data_offsets");
  check(off != v.end() && off->is_array() && off->size() == 2,
        "'{}': tensor '{}' has no \"data_offsets\" [begin, end] pair", what, name);
  e.begin = header_uint((*off)[0], what, name, "data_offsets[0]");
  e.end = header_uint((*off)[1], what, name, "data_offsets[1]");
  check(e.begin <= e.end, "'{}': tensor '{}' has data_offsets [{}, {}] with begin > end", what,
        name, e.begin, e.end);
  if (has_zero) numel = 0, overflow = false;  // a zero dimension makes any product 0
  uint64_t bytes = 0;
  check(!overflow && !__builtin_mul_overflow(numel, uint64_t(info->size), &bytes),
        "'{}': tensor '{}' of shape {} has a byte size that overflows 64 bits", what, name,
        shape_text(e.shape));
  check(e.end - e.begin == bytes,
        "'{}': tensor '{}' ({} {}) needs {} bytes but data_offsets [{}, {}] span {}", what, name,
        e.dtype, shape_text(e.shape), bytes, e.begin, e.end, e.end - e.begin);
  return e;
}

// f8 E4M3 "FN" variant (no infinities, S.1111.111 is NaN; bias 7) and E5M2 (the upper byte
// of an IEEE binary16), as in "FP8 Formats for Deep Learning" (Micikevicius et al. 2022,
// arXiv:2209.05433), and E8M0 (unsigned power of two 2^(e-127), 0xFF NaN; OCP MX spec 1.0).
double f8_e4m3_to_double(uint8_t b) {
  int sign = (b & 0x80) ? -1 : 1;
  int exp = (b >> 3) & 0xf;
  int man = b & 7;
  if (exp == 15 && man == 7) return std::nan("");
  if (exp == 0) return sign * std::ldexp(double(man), -9);  // subnormal: man/8 * 2^-6
  return sign * std::ldexp(1.0 + man / 8.0, exp - 7);
}
double f8_e5m2_to_double(uint8_t b) {
  return f16_to_f32(f16{uint16_t(uint16_t(b) << 8)});
}
double f8_e8m0_to_double(uint8_t b) {
  return b == 0xff ? std::nan("") : std::ldexp(1.0, int(b) - 127);
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Element i of a float-kind source as a double.
double read_float(const DtypeInfo& d, const uint8_t* p) {
  switch (d.size) {
    case 1:
      if (std::strcmp(d.name, "F8_E4M3") == 0) return f8_e4m3_to_double(*p);
      if (std::strcmp(d.name, "F8_E5M2") == 0) return f8_e5m2_to_double(*p);
      return f8_e8m0_to_double(*p);
    case 2:
      return std::strcmp(d.name, "F16") == 0 ? f16_to_f32(f16{load<uint16_t>(p)})
                                             : bf16_to_f32(bf16{load<uint16_t>(p)});
    case 4:
      return load<float>(p);
    default:
      return load<double>(p);
  }
}

// Element of an integer-kind source; false when it does not fit in int64 (U64 above 2^63).
bool read_int(const DtypeInfo& d, const uint8_t* p, int64_t* out) {
  const std::string_view n = d.name;
  if (n == "BOOL")
    *out = *p != 0;
  else if (n == "U8")
    *out = *p;
  else if (n == "I8")
    *out = int8_t(*p);
  else if (n == "I16")
    *out = load<int16_t>(p);
  else if (n == "U16")
    *out = load<uint16_t>(p);
  else if (n == "I32")
    *out = load<int32_t>(p);
  else if (n == "U32")
    *out = load<uint32_t>(p);
  else if (n == "I64")
    *out = load<int64_t>(p);
  else {
    uint64_t u = load<uint64_t>(p);
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    *out = int64_t(u);
  }
  return true;
}

template <typename T>
void store_int(uint8_t* dst, size_t i, int64_t v) {
  T t = T(v);
  std::memcpy(dst + i * sizeof(T), &t, sizeof(T));
}

// Converts `n` elements at `src` (safetensors dtype `from`) into `out` (lmkit dtype).
void convert_into(const DtypeInfo& from, const uint8_t* src, size_t n, Tensor& out,
                  const std::string& what, const std::string& name) {
  const DType to = out.dtype();
  uint8_t* dst = out.raw();
  const bool float_target = to == DType::F32 || to == DType::F16 || to == DType::BF16;
  check(from.kind != Kind::Opaque, "'{}': tensor '{}' has dtype {}, which lmkit cannot convert",
        what, name, from.name);
  check(float_target || from.kind == Kind::Int,
        "'{}': tensor '{}' holds floating-point values ({}); refusing to convert to {}", what, name,
        from.name, dtype_name(to));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = src + i * from.size;
    if (float_target) {
      float f;
      if (from.kind == Kind::Float) {
        f = float(read_float(from, p));
      } else {
        int64_t v = 0;
        if (!read_int(from, p, &v))
          f = float(load<uint64_t>(p));
        else
          f = float(v);
      }
      if (to == DType::F32) {
        std::memcpy(dst + 4 * i, &f, 4);
      } else {
        uint16_t h = to == DType::F16 ? f32_to_f16(f).bits : f32_to_bf16(f).bits;
        std::memcpy(dst + 2 * i, &h, 2);
      }
      continue;
    }
    int64_t v = 0;
    bool fits = read_int(from, p, &v);
    int64_t lo = 0, hi = 0;
    switch (to) {
      case DType::I32:
        lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
        break;
      case DType::U16:
        lo = 0, hi = 65535;
        break;
      case DType::U8:
        lo = 0, hi = 255;
        break;
      default:
        lo = -128, hi = 127;
        break;  // I8
    }
    if (!fits || v < lo || v > hi)
      fail("'{}': tensor '{}': element {} ({}) does not fit in {}", what, name, i,
           fits ? std::to_string(v) : std::to_string(load<uint64_t>(p)), dtype_name(to));
    switch (to) {
      case DType::I32:
        store_int<int32_t>(dst, i, v);
        break;
      case DType::U16:
        store_int<uint16_t>(dst, i, v);
        break;
      case DType::U8:
        store_int<uint8_t>(dst, i, v);
        break;
      default:
        store_int<int8_t>(dst, i, v);
        break;
    }
  }
}

}  // namespace

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I32:
      return "I32";
    case DType::U16:
      return "U16";
    case DType::U8:
      return "U8";
    case DType::I8:
      return "I8";
  }
  return "?";
}

SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> file, const std::string& what) {
  check(file.size() >= 8,
        "'{}' is not a safetensors file: {} bytes, too short for the 8-byte header length", what,
        file.size());
  const uint64_t n = read_u64_le(file.data());
  check(n <= kMaxHeaderBytes,
        "'{}': header length {} exceeds the 100,000,000-byte limit (corrupt or not a "
        "safetensors file)",
        what, n);
  check(n <= file.size() - 8, "'{}': header length {} runs past the end of the file ({} bytes)",
        what, n, file.size());
  const char* h = reinterpret_cast<const char*>(file.data()) + 8;
  size_t len = size_t(n);
  while (len > 0 && h[len - 1] == ' ') --len;  // the spec's padding
  check(len >= 2 && h[0] == '{' && h[len - 1] == '}',
        "'{}': the header is not a JSON object (it must start with '{{' and end with '}}', "
        "padded only with spaces)",
        what);
  const ordered_json j = parse_json_strict<ordered_json>(h, h + len, what, "header");
  check(j.is_object(), "'{}': the header is not a JSON object", what);

  SafetensorsHeader header;
  header.data_start = 8 + n;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      check(value.is_object(), "'{}': __metadata__ is not an object of strings", what);
      for (const auto& [mk, mv] : value.items()) {
        check(mv.is_string(), "'{}': __metadata__ value of \"{}\" is {}, not a string", what, mk,
              mv.dump());
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_entry(key, value, what));
  }

  // The tensors must tile the data buffer: sorted by offsets, each starts where the previous
  // ended, the first at 0 and the last at the end of the file (README "Notes"; reference
  // Metadata::validate).
  std::vector<size_t> order(header.entries.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = header.entries[a];
    const auto& y = header.entries[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t expected = 0;
  const SafetensorsEntry* prev = nullptr;
  for (size_t i : order) {
    const SafetensorsEntry& e = header.entries[i];
    if (e.begin != expected) {
      if (e.begin < expected)
        fail("'{}': tensor '{}' (bytes [{}, {})) overlaps tensor '{}' (bytes [{}, {}))", what,
             e.name, e.begin, e.end, prev->name, prev->begin, prev->end);
      fail(
          "'{}': tensor '{}' starts at byte {} of the data but the bytes before it end at {} "
          "(the data buffer may not have holes)",
          what, e.name, e.begin, expected);
    }
    expected = e.end;
    prev = &e;
  }
  const uint64_t data_bytes = file.size() - 8 - n;
  check(expected == data_bytes,
        "'{}': the tensors cover {} bytes but the data buffer holds {} bytes ({})", what, expected,
        data_bytes, expected > data_bytes ? "file truncated" : "unindexed bytes at the end");
  return header;
}

// ---- SafetensorsFile ----

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.file_ = MappedFile::open(path);
  f.header_ =
      parse_safetensors_header(std::span<const uint8_t>(f.file_->data(), f.file_->size()), path);
  for (size_t i = 0; i < f.header_.entries.size(); ++i)
    f.index_.emplace(f.header_.entries[i].name, i);
  return f;
}

const std::string& SafetensorsFile::path() const {
  return file_->path();
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.entries.size());
  for (const auto& e : header_.entries) out.push_back(e.name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  check(it != index_.end(), "'{}' has no tensor named '{}'", path(), name);
  return header_.entries[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const DtypeInfo& info = dtype_info(e.dtype);
  check(info.native.has_value(),
        "'{}': tensor '{}' has dtype {}, which lmkit does not hold as is (convert it with get_as)",
        path(), name, e.dtype);
  check(e.shape.size() <= size_t(Tensor::kMaxDims), "'{}': tensor '{}' has {} dims (lmkit: max {})",
        path(), name, e.shape.size(), Tensor::kMaxDims);
  const size_t offset = size_t(header_.data_start + e.begin);
  const uint8_t* p = file_->data() + offset;
  if (reinterpret_cast<uintptr_t>(p) % info.size == 0)
    return Tensor::view_of(file_, offset, e.shape, *info.native);
  // Unaligned data (a writer that did not pad): an aligned copy.
  Tensor t = Tensor::zeros(e.shape, *info.native);
  if (t.nbytes() > 0) std::memcpy(t.raw(), p, t.nbytes());
  return t;
}

Tensor SafetensorsFile::get_as(const std::string& name, DType dtype) const {
  const SafetensorsEntry& e = entry(name);
  const DtypeInfo& info = dtype_info(e.dtype);
  if (info.native == dtype) return get(name);
  check(e.shape.size() <= size_t(Tensor::kMaxDims), "'{}': tensor '{}' has {} dims (lmkit: max {})",
        path(), name, e.shape.size(), Tensor::kMaxDims);
  Tensor out = Tensor::zeros(e.shape, dtype);
  convert_into(info, file_->data() + header_.data_start + e.begin, size_t(out.numel()), out, path(),
               name);
  return out;
}

// ---- SafetensorsCheckpoint ----

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  SafetensorsCheckpoint c;
  c.path_ = path;
  std::string file = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "model.safetensors.index.json", ec)) {
      file = (dir / "model.safetensors.index.json").string();
    } else if (fs::exists(dir / "model.safetensors", ec)) {
      file = (dir / "model.safetensors").string();
    } else {
      fail("directory '{}' holds neither model.safetensors.index.json nor model.safetensors", path);
    }
  }

  if (!ends_with(file, ".json")) {
    c.shards_.push_back(SafetensorsFile::open(file));
    c.metadata_ = c.shards_[0].metadata();
  } else {
    auto mapped = MappedFile::open(file);
    const char* text = reinterpret_cast<const char*>(mapped->data());
    const auto j = parse_json_strict<nlohmann::json>(text, text + mapped->size(), file, "index");
    check(j.is_object(), "'{}': the index is not a JSON object", file);
    auto wm = j.find("weight_map");
    check(wm != j.end() && wm->is_object() && !wm->empty(),
          "'{}': the index has no non-empty \"weight_map\" object", file);
    if (auto md = j.find("metadata"); md != j.end() && md->is_object())
      for (const auto& [k, v] : md->items())
        c.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();

    std::map<std::string, std::string> shard_of_name;  // tensor -> shard file
    std::map<std::string, size_t> shard_index;         // shard file -> index (sorted by name)
    for (const auto& [name, shard] : wm->items()) {
      check(shard.is_string(), "'{}': weight_map entry of '{}' is not a file name", file, name);
      const std::string s = shard.get<std::string>();
      const fs::path sp(s);
      bool escapes = sp.is_absolute() || s.empty();
      for (const auto& part : sp) escapes = escapes || part == "..";
      check(!escapes, "'{}': shard file name '{}' (for '{}') must be a relative path inside {}",
            file, s, name, "the checkpoint directory");
      shard_of_name[name] = s;
      shard_index.emplace(s, 0);
    }
    const fs::path dir = fs::path(file).parent_path();
    for (auto& [s, idx] : shard_index) {
      idx = c.shards_.size();
      c.shards_.push_back(SafetensorsFile::open((dir / s).string()));
    }
    for (const auto& [s, idx] : shard_index) {
      for (const auto& e : c.shards_[idx].entries()) {
        auto it = shard_of_name.find(e.name);
        check(it != shard_of_name.end(),
              "'{}': shard '{}' holds tensor '{}' which the weight_map "
              "does not list",
              file, s, e.name);
        check(it->second == s,
              "'{}': shard '{}' holds tensor '{}' which the weight_map assigns "
              "to '{}'",
              file, s, e.name, it->second);
      }
    }
    for (const auto& [name, s] : shard_of_name)
      check(c.shards_[shard_index.at(s)].contains(name),
            "'{}': the weight_map puts tensor '{}' in '{}', which does not hold it", file, name, s);
  }
  for (size_t si = 0; si < c.shards_.size(); ++si)
    for (const auto& e : c.shards_[si].entries()) {
      c.names_.push_back(e.name);
      c.where_.emplace(e.name, si);
    }
  return c;
}

const SafetensorsFile& SafetensorsCheckpoint::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  check(it != where_.end(), "checkpoint '{}' has no tensor named '{}'", path_, name);
  return shards_[it->second];
}

const SafetensorsEntry& SafetensorsCheckpoint::entry(const std::string& name) const {
  return shard_of(name).entry(name);
}

Tensor SafetensorsCheckpoint::get(const std::string& name) const {
  return shard_of(name).get(name);
}

Tensor SafetensorsCheckpoint::get_as(const std::string& name, DType dtype) const {
  return shard_of(name).get_as(name, dtype);
}

// ---- writer ----

void write_safetensors(const std::string& path,
                       std::span<const std::pair<std::string, Tensor>> tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    check(!name.empty(), "'{}': a tensor name is empty", path);
    check(name != "__metadata__", "'{}': '__metadata__' cannot name a tensor", path);
    check(seen.insert(name).second, "'{}': tensor name '{}' occurs twice", path, name);
    check(t.defined(), "'{}': tensor '{}' is undefined", path, name);
  }
  // Data order: stable by decreasing element size, so every tensor stays aligned.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });
  std::vector<uint64_t> begin(tensors.size());
  uint64_t offset = 0;
  for (size_t i : order) {
    begin[i] = offset;
    offset += tensors[i].second.nbytes();
  }

  ordered_json j = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json md = ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    j["__metadata__"] = std::move(md);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    ordered_json e = ordered_json::object();
    e["dtype"] = safetensors_dtype_name(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {begin[i], begin[i] + t.nbytes()};
    j[tensors[i].first] = std::move(e);
  }
  std::string header;
  try {
    header = j.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("'{}': a tensor name or metadata string is not valid UTF-8 ({})", path, e.what());
  }
  header.append((8 - header.size() % 8) % 8, ' ');

  write_file_atomic(path, [&](FileSink& sink) {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
    sink.write(len, 8);
    sink.write(header);
    for (size_t i : order) {
      const Tensor& t = tensors[i].second;
      if (t.nbytes() == 0) continue;
      if (t.is_contiguous()) {
        sink.write(t.raw(), t.nbytes());
      } else {
        Tensor c = t.contiguous();
        sink.write(c.raw(), c.nbytes());
      }
    }
  });
}

}  // namespace lmkit
