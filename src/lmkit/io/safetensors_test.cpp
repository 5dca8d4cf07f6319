#include "lmkit/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/model/config.h"
#include "lmkit/model/decoder.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public test::ScratchDirTest {
 protected:
  // A file image: 8-byte little-endian header length, `header`, `data`.
  static std::string image(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = char(n >> (8 * i));
    return out + header + data;
  }

  // Expects open() to throw lmkit::Error whose message contains every one of `needles`.
  void expect_open_error(const std::string& bytes, std::vector<std::string> needles) {
    std::string p = write("bad.safetensors", bytes);
    try {
      SafetensorsFile::open(p);
      ADD_FAILURE() << "expected lmkit::Error for file bytes " << testing::PrintToString(bytes);
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << "message does not name the file: " << msg;
      for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
    }
  }
  static std::string f32_bytes(std::initializer_list<float> v) {
    std::string out(v.size() * 4, '\0');
    size_t i = 0;
    for (float f : v) std::memcpy(&out[4 * i++], &f, 4);
    return out;
  }
};

Tensor iota_tensor(const Tensor::Shape& shape, DType dtype, float scale = 1.0f) {
  Tensor f = Tensor::zeros(shape);
  auto v = f.f32();
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) * scale - 3.0f;
  if (dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16) return f.to(dtype);
  Tensor t = Tensor::zeros(shape, dtype);
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t x = int64_t(i) * 3 - 5;
    switch (dtype) {
      case DType::I32:
        t.data<int32_t>()[i] = int32_t(x * 1000003);
        break;
      case DType::U16:
        t.data<uint16_t>()[i] = uint16_t(i * 977);
        break;
      case DType::U8:
        t.data<uint8_t>()[i] = uint8_t(i * 37);
        break;
      default:
        t.data<int8_t>()[i] = int8_t(x);
        break;
    }
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() &&
         (ca.nbytes() == 0 || std::memcmp(ca.raw(), cb.raw(), ca.nbytes()) == 0);
}

TEST_F(SafetensorsTest, RoundTripAllDtypesShapesAndMetadata) {
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"layers.0.attn.q.weight", iota_tensor({3, 5}, DType::F32, 0.25f)},
      {"u8", iota_tensor({7}, DType::U8)},  // odd byte count before wider dtypes
      {"half", iota_tensor({2, 3, 2}, DType::F16, 0.5f)},
      {"brain", iota_tensor({5}, DType::BF16, 0.125f)},
      {"ids", iota_tensor({2, 4}, DType::I32)},
      {"u16", iota_tensor({3}, DType::U16)},
      {"i8", iota_tensor({1, 1, 3}, DType::I8)},
      {"scalar", Tensor::from({42.5f}, {})},
      {"empty", Tensor::zeros({0, 4})},
      {"transposed", iota_tensor({4, 3}, DType::F32).transpose(0, 1)},  // non-contiguous
      {"ünïcode name", iota_tensor({2}, DType::F32)},
  };
  std::map<std::string, std::string> md = {{"format", "lmkit"}, {"config", "{\"dim\": 8}"}};
  std::string p = path("rt.safetensors");
  write_safetensors(p, ts, md);

  SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.metadata(), md);
  std::vector<std::string> names;
  for (auto& [n, t] : ts) names.push_back(n);
  EXPECT_EQ(f.names(), names);  // header keeps the given order
  for (auto& [n, t] : ts) {
    SCOPED_TRACE(n);
    Tensor r = f.get(n);
    EXPECT_TRUE(same_bytes(r, t));
    if (r.nbytes() > 0) {
      EXPECT_TRUE(r.read_only()) << "expected a zero-copy view of the mapping";
      EXPECT_EQ(reinterpret_cast<uintptr_t>(std::as_const(r).raw()) % dtype_size(r.dtype()), 0u);
    }
  }
  EXPECT_EQ(f.get("scalar").ndim(), 0);
  EXPECT_EQ(f.get("scalar").to_vector(), std::vector<float>{42.5f});
  // Data start is 8-aligned (header padded with spaces).
  std::string bytes = test::read_file(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8 + n - 1] == ' ' || bytes[8 + n - 1] == '}', true);
}

// The exact bytes the reference writer produces (safetensors/src/tensor.rs tests
// test_serialization, test_serialization_forced_alignement, test_empty).
TEST_F(SafetensorsTest, ByteExactAgainstReferenceLayout) {
  Tensor t = Tensor::from({0, 1, 2, 3, 4, 5}, {1, 2, 3});
  std::string p = path("a.safetensors");
  write_safetensors(p, std::vector<std::pair<std::string, Tensor>>{{"attn.0", t}});
  std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);  // a multiple of 8: no padding
  EXPECT_EQ(test::read_file(p), image(header, f32_bytes({0, 1, 2, 3, 4, 5})));

  write_safetensors(
      p, std::vector<std::pair<std::string, Tensor>>{{"attn0", t.reshape({1, 1, 2, 3})}});
  header = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(test::read_file(p), image(header + std::string(7, ' '), f32_bytes({0, 1, 2, 3, 4, 5})));

  write_safetensors(p, {}, {{"framework", "pt"}});
  EXPECT_EQ(test::read_file(p), image(R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '), ""));
  write_safetensors(p, {});
  EXPECT_EQ(test::read_file(p), image("{}" + std::string(6, ' '), ""));
  EXPECT_TRUE(SafetensorsFile::open(p).names().empty());
}

TEST_F(SafetensorsTest, ReadsHandBuiltFileInAnyHeaderOrder) {
  // Header order differs from data order; padding spaces; data starts unaligned (header
  // length 61), so views would be misaligned and are copied instead.
  std::string h = R"({"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},)"
                  R"("a":{"shape":[2],"dtype":"F32","data_offsets":[0,8],"extra":1}})";
  std::string data = f32_bytes({1.5f, -2.0f});
  int32_t ints[2] = {7, -9};
  data.append(reinterpret_cast<char*>(ints), 8);
  std::string p = write("h.safetensors", image(h + "   ", data));
  SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(f.get("a").to_vector(), (std::vector<float>{1.5f, -2.0f}));
  Tensor b = f.get("b");
  ASSERT_EQ(b.dtype(), DType::I32);
  EXPECT_EQ(b.data<int32_t>()[0], 7);
  EXPECT_EQ(b.data<int32_t>()[1], -9);
  EXPECT_EQ(f.entry("b").begin, 8u);
  EXPECT_EQ(f.entry("b").end, 16u);
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(SafetensorsTest, ConvertsOtherDtypesOnRequest) {
  double d[3] = {0.1, -2.5, 1e-3};
  int64_t l[3] = {5, -7, 2147483647};
  int64_t big[1] = {int64_t(1) << 40};
  uint8_t f8[4] = {0x38, 0x7e, 0xb8, 0x01};  // E4M3: 1.0, 448, -1.0, 2^-9
  uint8_t e5[2] = {0x3c, 0xc0};              // E5M2: 1.0, -2.0
  uint8_t bools[3] = {0, 1, 1};
  std::string data(reinterpret_cast<char*>(d), 24);
  data.append(reinterpret_cast<char*>(l), 24);
  data.append(reinterpret_cast<char*>(big), 8);
  data.append(reinterpret_cast<char*>(f8), 4);
  data.append(reinterpret_cast<char*>(e5), 2);
  data.append(reinterpret_cast<char*>(bools), 3);
  std::string h = R"({"d":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},)"
                  R"("l":{"dtype":"I64","shape":[3],"data_offsets":[24,48]},)"
                  R"("big":{"dtype":"I64","shape":[1],"data_offsets":[48,56]},)"
                  R"("f8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[56,60]},)"
                  R"("e5":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[60,62]},)"
                  R"("m":{"dtype":"BOOL","shape":[3],"data_offsets":[62,65]}})";
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string p = write("c.safetensors", image(h, data));
  SafetensorsFile f = SafetensorsFile::open(p);

  try {
    f.get("d");
    ADD_FAILURE() << "F64 get() should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("F64"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("get_as"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.get_as("d", DType::F32).to_vector(), (std::vector<float>{0.1f, -2.5f, 1e-3f}));
  EXPECT_EQ(f.get_as("d", DType::BF16).to_vector()[1], -2.5f);
  Tensor li = f.get_as("l", DType::I32);
  EXPECT_EQ(li.data<int32_t>()[0], 5);
  EXPECT_EQ(li.data<int32_t>()[1], -7);
  EXPECT_EQ(li.data<int32_t>()[2], 2147483647);
  EXPECT_EQ(f.get_as("l", DType::F32).to_vector()[1], -7.0f);
  EXPECT_THROW(f.get_as("l", DType::U16), Error);    // -7 does not fit
  EXPECT_THROW(f.get_as("big", DType::I32), Error);  // 2^40 does not fit
  EXPECT_THROW(f.get_as("d", DType::I32), Error);    // float -> int refused
  EXPECT_EQ(f.get_as("f8", DType::F32).to_vector(),
            (std::vector<float>{1.0f, 448.0f, -1.0f, std::ldexp(1.0f, -9)}));
  EXPECT_EQ(f.get_as("e5", DType::F32).to_vector(), (std::vector<float>{1.0f, -2.0f}));
  Tensor m = f.get_as("m", DType::U8);
  EXPECT_EQ(m.data<uint8_t>()[0], 0);
  EXPECT_EQ(m.data<uint8_t>()[2], 1);
  // A native dtype asked as itself is the view.
  EXPECT_TRUE(f.get_as("m", DType::U8).defined());
}

TEST_F(SafetensorsTest, EveryTruncationIsAnError) {
  std::vector<std::pair<std::string, Tensor>> ts = {{"w", iota_tensor({4, 3}, DType::F32)},
                                                    {"b", iota_tensor({3}, DType::BF16)}};
  std::string p = path("full.safetensors");
  write_safetensors(p, ts, {{"k", "v"}});
  std::string full = test::read_file(p);
  for (size_t len = 0; len < full.size(); ++len) {
    std::string q = write("cut.safetensors", full.substr(0, len));
    EXPECT_THROW(SafetensorsFile::open(q), Error) << "truncated to " << len << " bytes";
  }
  // Trailing garbage is an error too (the buffer must be exactly covered).
  std::string q = write("long.safetensors", full + "x");
  EXPECT_THROW(SafetensorsFile::open(q), Error);
}

TEST_F(SafetensorsTest, CorruptHeaderBytesNeverCrash) {
  std::vector<std::pair<std::string, Tensor>> ts = {{"w", iota_tensor({2, 3}, DType::F32)},
                                                    {"x", iota_tensor({5}, DType::U8)}};
  std::string p = path("full.safetensors");
  write_safetensors(p, ts, {{"k", "v"}});
  std::string full = test::read_file(p);
  uint64_t n = 0;
  std::memcpy(&n, full.data(), 8);
  const char repl[] = {'\0', '"', '{', '}', '[', ']', ',', ':', '9', '-', ' ', '\xff', 'e', '\\'};
  int errors = 0, ok = 0;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (char c : repl) {
      if (full[i] == c) continue;
      std::string bad = full;
      bad[i] = c;
      std::string q = write("c.safetensors", bad);
      try {
        SafetensorsFile f = SafetensorsFile::open(q);
        // A mutation that still parses must describe a consistent file.
        for (const auto& name : f.names()) (void)f.get_as(name, DType::F32);
        ++ok;
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(ok, 0);  // e.g. changing a character inside a name or metadata value
}

TEST_F(SafetensorsTest, MalformedHeadersGiveClearErrors) {
  auto one = [](const std::string& entry) { return "{\"t\":" + entry + "}"; };
  const std::string d8(8, '\0');
  // Header length absurd / past the end.
  {
    std::string b(16, '\0');
    b[7] = char(0x80);  // 2^63
    expect_open_error(b, {"exceeds"});
    uint64_t big = 100'000'001;
    std::memcpy(b.data(), &big, 8);
    expect_open_error(b, {"exceeds"});
  }
  expect_open_error(std::string("\x20\0\0\0\0\0\0\0{}", 10), {"runs past the end"});
  expect_open_error("abc", {"too short"});
  expect_open_error(image("  {}", ""), {"not a JSON object"});  // must start with '{'
  expect_open_error(image("{}\n", ""), {"not a JSON object"});  // padding is spaces only
  expect_open_error(image(std::string("{}\0", 3), ""), {"not a JSON object"});
  expect_open_error(image("[1, 2]", ""), {"not a JSON object"});
  expect_open_error(image("{\"t\":}", ""), {"not valid JSON"});
  expect_open_error(image("{\"\xff\":1}", ""), {"not valid JSON"});  // invalid UTF-8
  expect_open_error(image(one("[]"), ""), {"'t'", "not an object"});
  expect_open_error(image(one(R"({"dtype":"F33","shape":[2],"data_offsets":[0,8]})"), d8),
                    {"'t'", "unknown dtype 'F33'"});
  expect_open_error(image(one(R"({"dtype":"F4","shape":[2],"data_offsets":[0,1]})"), "x"),
                    {"'t'", "sub-byte"});
  expect_open_error(image(one(R"({"shape":[2],"data_offsets":[0,8]})"), d8), {"'t'", "dtype"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), d8),
                    {"'t'", "shape"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), d8),
                    {"'t'", "non-negative integer"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), d8),
                    {"'t'", "non-negative integer"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), d8),
                    {"'t'", "data_offsets"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), d8),
                    {"'t'", "begin > end"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), d8),
                    {"'t'", "needs 12 bytes"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), "1234"),
                    {"file truncated"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,16]})"), d8),
                    {"'t'", "holes"});
  expect_open_error(image(one(R"({"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                              R"("data_offsets":[0,8]})"),
                          d8),
                    {"'t'", "overflows"});
  expect_open_error(
      image(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]})"), d8),
      {"'t'", "non-negative integer"});
  // Two tensors over the same bytes.
  expect_open_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                          d8),
                    {"overlaps"});
  // Duplicate tensor names and duplicate keys inside an entry.
  expect_open_error(image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                          d8),
                    {"duplicate key \"a\""});
  expect_open_error(
      image(one(R"({"dtype":"U8","dtype":"I8","shape":[8],"data_offsets":[0,8]})"), d8),
      {"duplicate key \"dtype\""});
  expect_open_error(image(R"({"__metadata__":{"n":1}})", ""), {"not a string"});
  expect_open_error(image(R"({"__metadata__":[]})", ""), {"__metadata__"});
  expect_open_error(image("{\"t\":" + std::string(100, '[') + std::string(100, ']') + "}", ""),
                    {"deeper"});
}

TEST_F(SafetensorsTest, MissingTensorAndTooManyDims) {
  std::string h = R"({"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1],"data_offsets":[0,1]}})";
  std::string p = write("d.safetensors", image(h, "z"));
  SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_THROW(f.get("t"), Error);
  try {
    f.get("nope");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
}

TEST_F(SafetensorsTest, WriterRejectsBadNames) {
  Tensor t = Tensor::zeros({2});
  using L = std::vector<std::pair<std::string, Tensor>>;
  EXPECT_THROW(write_safetensors(path("w"), L{{"a", t}, {"a", t}}), Error);
  EXPECT_THROW(write_safetensors(path("w"), L{{"__metadata__", t}}), Error);
  EXPECT_THROW(write_safetensors(path("w"), L{{"", t}}), Error);
  EXPECT_THROW(write_safetensors(path("w"), L{{"x", Tensor()}}), Error);
  EXPECT_THROW(write_safetensors(path("w"), L{{"bad\xff", t}}), Error);
  EXPECT_FALSE(fs::exists(path("w")));
  // A failed write leaves the previous file intact.
  write_safetensors(path("w"), L{{"keep", t}});
  EXPECT_THROW(write_safetensors(path("w"), L{{"a", t}, {"a", t}}), Error);
  EXPECT_TRUE(SafetensorsFile::open(path("w")).contains("keep"));
}

TEST_F(SafetensorsTest, ShardedCheckpoint) {
  using L = std::vector<std::pair<std::string, Tensor>>;
  fs::create_directories(dir_ / "ck");
  Tensor a = iota_tensor({2, 2}, DType::F32), b = iota_tensor({3}, DType::BF16),
         c = iota_tensor({4}, DType::I32);
  write_safetensors((dir_ / "ck" / "model-00001-of-00002.safetensors").string(),
                    L{{"a", a}, {"b", b}});
  write_safetensors((dir_ / "ck" / "model-00002-of-00002.safetensors").string(), L{{"c", c}});
  auto index = [&](const std::string& weight_map) {
    write_file_atomic(
        (dir_ / "ck" / "model.safetensors.index.json").string(),
        R"({"metadata": {"total_size": 34, "format": "pt"}, "weight_map": )" + weight_map + "}");
  };
  index(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors"})");
  for (const std::string& open_path :
       {(dir_ / "ck").string(), (dir_ / "ck" / "model.safetensors.index.json").string()}) {
    SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(open_path);
    EXPECT_EQ(ck.shards().size(), 2u);
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(same_bytes(ck.get("a"), a));
    EXPECT_TRUE(same_bytes(ck.get("b"), b));
    EXPECT_TRUE(same_bytes(ck.get("c"), c));
    EXPECT_EQ(ck.metadata().at("total_size"), "34");
    EXPECT_EQ(ck.metadata().at("format"), "pt");
    EXPECT_THROW(ck.get("d"), Error);
  }
  // Inconsistent indexes.
  index(R"({"a": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);  // b unlisted
  index(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);  // b misplaced
  index(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors", "d": "model-00002-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);  // d absent
  index(R"({"a": "../model-00001-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);  // escapes
  index(R"({"a": "missing.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);
  index(R"({"a": "x.safetensors", "a": "y.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);  // duplicate key
  write_file_atomic((dir_ / "ck" / "model.safetensors.index.json").string(),
                    std::string_view("{\"weight_map\": {}}"));
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "ck").string()), Error);

  // A single-file checkpoint, by directory and by file.
  fs::create_directories(dir_ / "one");
  write_safetensors((dir_ / "one" / "model.safetensors").string(), L{{"a", a}}, {{"k", "v"}});
  SafetensorsCheckpoint one = SafetensorsCheckpoint::open((dir_ / "one").string());
  EXPECT_EQ(one.names(), std::vector<std::string>{"a"});
  EXPECT_EQ(one.metadata().at("k"), "v");
  EXPECT_TRUE(same_bytes(one.get_as("a", DType::F32), a));
  fs::create_directories(dir_ / "none");
  EXPECT_THROW(SafetensorsCheckpoint::open((dir_ / "none").string()), Error);
}

// The committed model fixtures (tests/fixtures/model, made by make_fixtures.py) read back
// through the loader: the config JSON is exactly ModelConfig's JSON form, every Decoder
// parameter is present (value, grad., after5.) with its shape and nothing else is, and the
// stored numbers are consistent with each other (loss = cross-entropy of the stored
// logits, grad_norms5[0] = norm of the stored gradients, lrs5 = the llm.c schedule).
TEST(ModelFixtures, LoadThroughTheLoaderAndAreConsistent) {
  for (const char* name : {"gpt2", "llama", "qwen3"}) {
    SCOPED_TRACE(name);
    const std::string base = std::string(LMKIT_SOURCE_DIR) + "/tests/fixtures/model/" + name;
    std::ifstream jf(base + ".json");
    ASSERT_TRUE(jf.good()) << "missing " << base << ".json";
    const nlohmann::json j = nlohmann::json::parse(jf);
    const ModelConfig cfg = ModelConfig::from_json(j.at("config"));
    EXPECT_EQ(cfg.to_json(), j.at("config"));
    const int64_t B = j.at("batch"), T = j.at("seq_len"), V = cfg.vocab_size;
    const nlohmann::json& tr = j.at("train");

    SafetensorsFile f = SafetensorsFile::open(base + ".safetensors");
    Decoder model(cfg);
    size_t expected_count = 0;
    double grad_sq = 0, grad_max = 0;
    for (const auto& p : model.params())
      for (float g : f.get("grad." + p.name).to_vector())
        grad_max = std::max(grad_max, double(std::fabs(g)));
    // Exactly the listed parameters have a gradient at round-off level (zero analytically).
    std::set<std::string> zero(j.at("zero_grad_params").begin(), j.at("zero_grad_params").end());
    for (const auto& p : model.params()) {
      double m = 0;
      for (float g : f.get("grad." + p.name).to_vector()) m = std::max(m, double(std::fabs(g)));
      EXPECT_EQ(m < 1e-6 * grad_max, zero.count(p.name) == 1) << p.name << ": max |grad| " << m;
    }
    for (const auto& p : model.params()) {
      SCOPED_TRACE(p.name);
      for (const std::string prefix : {"", "grad.", "after5."}) {
        ASSERT_TRUE(f.contains(prefix + p.name)) << prefix + p.name;
        Tensor t = f.get(prefix + p.name);
        EXPECT_EQ(t.dtype(), DType::F32);
        EXPECT_EQ(t.shape(), p.value.shape());
        ++expected_count;
      }
      for (float g : f.get("grad." + p.name).to_vector()) grad_sq += double(g) * g;
      EXPECT_NE(f.get(p.name).to_vector(), f.get("after5." + p.name).to_vector());
    }
    EXPECT_EQ(f.names().size(), expected_count + 7);  // + ids, targets, logits, loss, 3 x 5

    const Tensor ids = f.get("input_ids"), targets = f.get("targets"), logits = f.get("logits");
    ASSERT_EQ(ids.dtype(), DType::I32);
    ASSERT_EQ(targets.dtype(), DType::I32);
    ASSERT_EQ(ids.shape(), (Tensor::Shape{B, T}));
    ASSERT_EQ(targets.shape(), (Tensor::Shape{B, T}));
    ASSERT_EQ(logits.shape(), (Tensor::Shape{B, T, V}));
    for (int64_t i = 0; i < B * T; ++i) {
      EXPECT_TRUE(ids.data<int32_t>()[i] >= 0 && ids.data<int32_t>()[i] < V);
      EXPECT_TRUE(targets.data<int32_t>()[i] >= 0 && targets.data<int32_t>()[i] < V);
      if ((i + 1) % T != 0) {
        EXPECT_EQ(targets.data<int32_t>()[i], ids.data<int32_t>()[i + 1]);
      }
    }
    // Mean cross-entropy of the stored logits, in double.
    std::vector<float> lg = logits.to_vector();
    double ce = 0;
    for (int64_t i = 0; i < B * T; ++i) {
      const float* row = lg.data() + i * V;
      double m = *std::max_element(row, row + V), z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - m);
      ce += m + std::log(z) - row[targets.data<int32_t>()[i]];
    }
    ce /= double(B * T);
    const float loss = f.get("loss").to_vector().at(0);
    EXPECT_NEAR(loss, ce, 1e-5 * ce);
    const auto losses = f.get("losses5").to_vector(), norms = f.get("grad_norms5").to_vector(),
               lrs = f.get("lrs5").to_vector();
    const int steps = tr.at("steps"), warmup = tr.at("warmup_steps");
    ASSERT_EQ(losses.size(), size_t(steps));
    EXPECT_FLOAT_EQ(losses[0], loss);
    EXPECT_LT(losses.back(), losses.front());
    EXPECT_NEAR(norms[0], std::sqrt(grad_sq), 1e-5 * norms[0]);
    bool clipped = false, unclipped = false;
    const double clip = tr.at("grad_clip"), lr = tr.at("lr"), min_lr = tr.at("min_lr");
    for (int s = 0; s < steps; ++s) {
      (norms[s] > clip ? clipped : unclipped) = true;
      double want = s < warmup
                        ? lr * (s + 1) / warmup
                        : min_lr + 0.5 * (1 + std::cos(M_PI * (s - warmup) / (steps - warmup))) *
                                       (lr - min_lr);
      EXPECT_NEAR(lrs[s], want, 1e-7 * lr) << "step " << s;
    }
    EXPECT_TRUE(clipped && unclipped) << "fixture should exercise both clipping branches";
  }
}

}  // namespace
}  // namespace lmkit
