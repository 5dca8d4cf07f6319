#include "lmkit/io/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit::gguf {
namespace {

namespace fs = std::filesystem;

// Parses `bytes`, expecting an lmkit::Error whose message names the file and contains
// `what`.
void expect_error(const std::vector<uint8_t>& bytes, const std::string& what) {
  try {
    File::parse(bytes, "bad.gguf");
    ADD_FAILURE() << "parsed, but expected an error containing '" << what << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nexpected: " << what;
  }
}

// Hand-built GGUF bytes (little-endian), for malformed files.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& raw(const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return *this;
  }
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    raw("GGUF", 4);
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  // A key with a u32 value.
  Bytes& kv_u32(std::string_view key, uint32_t v) {
    str(key);
    u32(uint32_t(ValueType::U32));
    return u32(v);
  }
  // Tensor info: name, dims (GGUF order, innermost first), type, relative offset.
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t off) {
    str(name);
    u32(uint32_t(ne.size()));
    for (uint64_t d : ne) u64(d);
    u32(type);
    return u64(off);
  }
  Bytes& pad_to(size_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

// --- the real files -----------------------------------------------------------------------

TEST(GgufRead, TinyLlamaGgufV3) {
  const std::string path = test::asset("models/llama-2-tiny-random.gguf");
  LMKIT_SKIP_IF_ABSENT(path);
  File f = File::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  const Metadata& md = f.metadata();
  EXPECT_EQ(md.get_string("general.architecture"), "llama");
  EXPECT_EQ(md.get_int("llama.embedding_length"), 8);
  EXPECT_EQ(md.get_uint("llama.block_count"), 1u);
  EXPECT_EQ(md.get_int("llama.feed_forward_length"), 32);
  EXPECT_EQ(md.get_int("llama.attention.head_count"), 2);
  EXPECT_EQ(md.get_int("llama.context_length"), 4096);
  EXPECT_NEAR(md.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(md.get_int("tokenizer.ggml.bos_token_id"), 1);
  const std::vector<std::string>& tokens = md.get_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(md.get_floats("tokenizer.ggml.scores").size(), 32000u);
  std::vector<int64_t> types = md.get_ints("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), 32000u);
  EXPECT_EQ(types[0], 2);  // UNKNOWN
  EXPECT_EQ(types[1], 3);  // CONTROL
  EXPECT_EQ(types[3], 6);  // BYTE
  EXPECT_EQ(md.get_int("absent.key", -7), -7);
  EXPECT_EQ(md.get_string("absent.key", "x"), "x");

  ASSERT_EQ(f.tensors().size(), 12u);
  const TensorInfo& emb = f.tensor_info("token_embd.weight");
  EXPECT_EQ(emb.type, GgmlType::F16);
  EXPECT_EQ(emb.shape, (Tensor::Shape{32000, 8}));  // GGUF dims [8, 32000] reversed
  EXPECT_EQ(emb.bytes, 32000u * 8 * 2);
  EXPECT_EQ(f.tensor_info("blk.0.ffn_down.weight").shape, (Tensor::Shape{8, 32}));
  EXPECT_EQ(f.tensor_info("blk.0.ffn_up.weight").shape, (Tensor::Shape{32, 8}));

  const Tensor e = f.tensor("token_embd.weight");
  EXPECT_EQ(e.dtype(), DType::F16);
  EXPECT_TRUE(e.read_only());
  EXPECT_EQ(e.shape(), (Tensor::Shape{32000, 8}));
  // A view into the map, no copy: its bytes are the file's bytes at the tensor's offset.
  std::vector<uint8_t> file = test::read_bytes(path);
  EXPECT_EQ(std::memcmp(e.raw(), file.data() + emb.offset, emb.bytes), 0);
  for (float v : e.to_vector()) ASSERT_TRUE(std::isfinite(v));
  Tensor norm = f.tensor("output_norm.weight");
  EXPECT_EQ(norm.dtype(), DType::F32);
  EXPECT_EQ(norm.shape(), (Tensor::Shape{8}));

  QTensor q = f.qtensor("output.weight");
  EXPECT_EQ(q.type, GgmlType::F16);
  EXPECT_EQ(q.rows(), 32000);
  EXPECT_EQ(q.cols(), 8);
  q.validate();
  EXPECT_EQ(dequantize(q).to_vector(), f.tensor("output.weight").to_vector());

  EXPECT_THROW(f.tensor("no.such.tensor"), Error);
  try {
    md.get_string("llama.block_count");
    ADD_FAILURE() << "expected a type error";
  } catch (const Error& err) {
    std::string msg = err.what();
    EXPECT_NE(msg.find("llama.block_count"), std::string::npos) << msg;
    EXPECT_NE(msg.find("u32"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  try {
    md.get_int("llama.missing");
    ADD_FAILURE() << "expected a missing-key error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("llama.missing"), std::string::npos);
  }
  EXPECT_THROW(md.get_float("llama.block_count"), Error);  // ints are not floats
  EXPECT_THROW(md.get_ints("tokenizer.ggml.scores"), Error);
  EXPECT_THROW(md.get_strings("tokenizer.ggml.scores"), Error);
}

TEST(GgufRead, MetadataOnlyOpenMatchesFullOpen) {
  const std::string path = test::asset("models/llama-2-tiny-random.gguf");
  LMKIT_SKIP_IF_ABSENT(path);
  File full = File::open(path);
  File meta = File::open_metadata(path);
  EXPECT_FALSE(meta.has_data());
  EXPECT_TRUE(full.has_data());
  EXPECT_EQ(meta.data_offset(), full.data_offset());
  ASSERT_EQ(meta.metadata().size(), full.metadata().size());
  for (size_t i = 0; i < meta.metadata().size(); ++i) {
    EXPECT_EQ(meta.metadata().entries()[i].first, full.metadata().entries()[i].first);
    EXPECT_TRUE(meta.metadata().entries()[i].second == full.metadata().entries()[i].second);
  }
  ASSERT_EQ(meta.tensors().size(), full.tensors().size());
  for (size_t i = 0; i < meta.tensors().size(); ++i) {
    EXPECT_EQ(meta.tensors()[i].name, full.tensors()[i].name);
    EXPECT_EQ(meta.tensors()[i].shape, full.tensors()[i].shape);
    EXPECT_EQ(meta.tensors()[i].offset, full.tensors()[i].offset);
  }
  EXPECT_THROW(meta.tensor("token_embd.weight"), Error);
  EXPECT_THROW(meta.qtensor("token_embd.weight"), Error);
  EXPECT_THROW(File::open_metadata(test::temp_path("missing.gguf")), Error);
}

TEST(GgufRead, LlamaCppVocabOnlyFiles) {
  const std::string dir = test::asset("tokenizers/llamacpp-vocab");
  LMKIT_SKIP_IF_ABSENT(dir);
  struct Case {
    const char* file;
    const char* model;
    size_t n_tokens;
  };
  for (const Case& c : {Case{"ggml-vocab-gpt-2.gguf", "gpt2", 50257},
                        Case{"ggml-vocab-llama-spm.gguf", "llama", 32000},
                        Case{"ggml-vocab-bert-bge.gguf", "bert", 30522},
                        Case{"ggml-vocab-phi-3.gguf", "llama", 32064},
                        Case{"ggml-vocab-falcon.gguf", "gpt2", 65024},
                        Case{"ggml-vocab-mpt.gguf", "gpt2", 50432},
                        Case{"ggml-vocab-gpt-neox.gguf", "gpt2", 50432}}) {
    File f = File::open(dir + "/" + c.file);
    EXPECT_EQ(f.tensors().size(), 0u) << c.file;
    EXPECT_EQ(f.metadata().get_string("tokenizer.ggml.model"), c.model) << c.file;
    EXPECT_EQ(f.metadata().get_strings("tokenizer.ggml.tokens").size(), c.n_tokens) << c.file;
    if (f.metadata().has("tokenizer.ggml.merges")) {
      EXPECT_GT(f.metadata().get_strings("tokenizer.ggml.merges").size(), 0u) << c.file;
    }
  }
}

// Writing what was read gives the same bytes: llama.cpp's writer lays files out the way
// ours does (metadata in order, tensors packed at the alignment).
TEST(GgufWrite, RewritingRealFilesIsByteIdentical) {
  std::vector<std::string> paths = {test::asset("models/llama-2-tiny-random.gguf"),
                                    test::asset("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf"),
                                    test::asset("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf")};
  LMKIT_SKIP_IF_ABSENT(paths[0]);
  for (const std::string& path : paths) {
    File f = File::open(path);
    Writer w(f.alignment());
    for (const auto& [k, v] : f.metadata().entries()) w.metadata().set(k, v);
    for (const TensorInfo& ti : f.tensors()) {
      // Plain tensors go through add_tensor(Tensor) with their read-only mapped views.
      if (ti.type == GgmlType::F32 || ti.type == GgmlType::F16)
        w.add_tensor(ti.name, f.tensor(ti.name));
      else
        w.add_tensor(ti.name, f.qtensor(ti.name));
    }
    std::string out = test::temp_path("rewrite.gguf");
    w.write(out, f.version());
    EXPECT_TRUE(test::read_bytes(out) == test::read_bytes(path)) << path;
    fs::remove(out);
  }
}

// --- writer round trips -------------------------------------------------------------------

Metadata every_kind_of_value() {
  Metadata md;
  md.set("general.architecture", Value::string("llama"));
  md.set("t.u8", Value::u8(250));
  md.set("t.i8", Value::i8(-100));
  md.set("t.u16", Value::u16(65000));
  md.set("t.i16", Value::i16(-32000));
  md.set("t.u32", Value::u32(4000000000u));
  md.set("t.i32", Value::i32(-2000000000));
  md.set("t.u64", Value::u64(18000000000000000000ull));
  md.set("t.i64", Value::i64(-9000000000000000000ll));
  md.set("t.f32", Value::f32(0.1f));
  md.set("t.f64", Value::f64(-1e300));
  md.set("t.bool", Value::boolean(true));
  md.set("t.str", Value::string(std::string("caf\xc3\xa9 \0 nul", 11)));
  md.set("t.empty_str", Value::string(""));
  md.set("t.strs", Value::array_string({"a", "", "\xe2\x96\x81hello"}));
  md.set("t.empty_arr", Value::array_string({}));
  std::vector<int32_t> i32s = {1, -2, 3};
  md.set("t.i32s", Value::array_i32(i32s));
  std::vector<float> f32s = {0.5f, -1.25f};
  md.set("t.f32s", Value::array_f32(f32s));
  std::vector<double> f64s = {1e-300, 2.5};
  md.set("t.f64s", Value::array_f64(f64s));
  std::vector<int64_t> i64s = {-5, 1ll << 40};
  md.set("t.i64s", Value::array_i64(i64s));
  std::vector<uint32_t> u32s = {7, 4000000000u};
  md.set("t.u32s", Value::array_u32(u32s));
  std::vector<uint8_t> u8s = {0, 255};
  md.set("t.u8s", Value::array_u8(u8s));
  md.set("t.bools", Value::array_bool({true, false, true}));
  md.set("t.nested", Value::array_array({Value::array_string({"x", "y"}), Value::array_i32(i32s),
                                         Value::array_array({Value::array_f32(f32s)})}));
  return md;
}

TEST(GgufWrite, RoundTripsEveryValueTypeAndTensorType) {
  for (uint32_t version : {2u, 3u}) {
    Writer w(64);
    Metadata md = every_kind_of_value();
    for (const auto& [k, v] : md.entries()) w.metadata().set(k, v);
    std::vector<float> vals(4 * 64);
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = std::sin(float(i)) * 3.0f;
    Tensor a = Tensor::from(vals, {4, 64});
    w.add_tensor("a.f32", a);
    w.add_tensor("a.f16", a.to(DType::F16));
    w.add_tensor("a.bf16", a.to(DType::BF16));
    w.add_tensor("a.t", a.transpose(0, 1));  // non-contiguous: written contiguous
    Tensor i8 = Tensor::zeros({3}, DType::I8);
    i8.data<int8_t>()[1] = -5;
    w.add_tensor("a.i8", i8);
    Tensor i32 = Tensor::zeros({2, 1, 1, 2}, DType::I32);
    i32.data<int32_t>()[3] = 123456;
    w.add_tensor("a.i32", i32);
    QTensor q8 = quantize(a, GgmlType::Q8_0), q4 = quantize(a, GgmlType::Q4_0);
    w.add_tensor("a.q8_0", q8);
    w.add_tensor("a.q4_0", q4);
    std::string path = test::temp_path("roundtrip.gguf");
    w.write(path, version);

    File f = File::open(path);
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.metadata().get_uint("general.alignment"), 64u);
    for (const auto& [k, v] : md.entries()) {
      const Value* got = f.metadata().find(k);
      ASSERT_NE(got, nullptr) << k;
      EXPECT_TRUE(*got == v) << k << ": " << got->to_string() << " vs " << v.to_string();
    }
    EXPECT_EQ(f.metadata().get_int("t.i64"), -9000000000000000000ll);
    EXPECT_EQ(f.metadata().get_uint("t.u64"), 18000000000000000000ull);
    EXPECT_THROW(f.metadata().get_int("t.u64"), Error);  // does not fit in int64
    EXPECT_THROW(f.metadata().get_uint("t.i8"), Error);  // negative
    EXPECT_EQ(f.metadata().get_float("t.f32"), double(0.1f));
    EXPECT_EQ(f.metadata().get_string("t.str").size(), 11u);
    EXPECT_EQ(f.metadata().get_ints("t.u32s"), (std::vector<int64_t>{7, 4000000000ll}));
    EXPECT_EQ(f.metadata().get_floats("t.f64s")[1], 2.5f);
    EXPECT_EQ(f.metadata().at("t.nested").as_arrays()[2].as_arrays()[0].as_floats(),
              (std::vector<float>{0.5f, -1.25f}));
    for (const TensorInfo& ti : f.tensors()) EXPECT_EQ(ti.offset % 64, 0u) << ti.name;

    EXPECT_EQ(f.tensor("a.f32").to_vector(), vals);
    EXPECT_EQ(f.tensor("a.f16").to_vector(), a.to(DType::F16).to_vector());
    EXPECT_EQ(f.tensor("a.bf16").dtype(), DType::BF16);
    EXPECT_EQ(f.tensor("a.bf16").to_vector(), a.to(DType::BF16).to_vector());
    EXPECT_EQ(f.tensor("a.t").shape(), (Tensor::Shape{64, 4}));
    EXPECT_EQ(f.tensor("a.t").to_vector(), a.transpose(0, 1).to_vector());
    const Tensor ri8 = f.tensor("a.i8"), ri32 = f.tensor("a.i32");
    EXPECT_EQ(ri8.data<int8_t>()[1], -5);
    EXPECT_EQ(ri32.shape(), (Tensor::Shape{2, 1, 1, 2}));
    EXPECT_EQ(ri32.data<int32_t>()[3], 123456);
    QTensor r8 = f.qtensor("a.q8_0");
    EXPECT_EQ(r8.type, GgmlType::Q8_0);
    EXPECT_EQ(r8.shape, (Tensor::Shape{4, 64}));
    ASSERT_EQ(r8.bytes, q8.bytes);
    EXPECT_EQ(std::memcmp(r8.data, q8.data, q8.bytes), 0);
    EXPECT_EQ(std::memcmp(f.qtensor("a.q4_0").data, q4.data, q4.bytes), 0);
    EXPECT_THROW(f.tensor("a.q8_0"), Error);  // quantized: qtensor() only
    fs::remove(path);
  }
}

TEST(GgufWrite, RejectsBadInput) {
  EXPECT_THROW(Writer(12), Error);
  EXPECT_THROW(Writer(4), Error);
  Writer w;
  Tensor t = Tensor::zeros({4});
  w.add_tensor("x", t);
  EXPECT_THROW(w.add_tensor("x", t), Error);                      // duplicate
  EXPECT_THROW(w.add_tensor("", t), Error);                       // empty name
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), t), Error);     // llama.cpp's limit is 63
  EXPECT_THROW(w.add_tensor("u16", Tensor::zeros({2}, DType::U16)), Error);
  EXPECT_THROW(w.add_tensor("big", Tensor::zeros({1, 1, 1, 1, 2})), Error);  // 5 dims
  QTensor q = quantize(Tensor::zeros({2, 32}), GgmlType::Q8_0);
  q.bytes -= 1;
  EXPECT_THROW(w.add_tensor("q", q), Error);
  EXPECT_THROW(Value::array_array({Value::u8(1)}), Error);
  EXPECT_THROW(Value::array_raw(ValueType::Bool, 1, {2}), Error);
  EXPECT_THROW(Value::array_raw(ValueType::U32, 2, {1, 2, 3}), Error);
  w.metadata().set("general.alignment", Value::u32(64));  // disagrees with the writer (32)
  EXPECT_THROW(w.write(test::temp_path("x.gguf")), Error);
  w.metadata().set("general.alignment", Value::u32(32));
  EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), Error);
  std::string ok = test::temp_path("ok.gguf");
  w.write(ok);
  EXPECT_EQ(File::open(ok).tensor("x").numel(), 4);
  fs::remove(ok);
}

TEST(GgufWrite, ReplacesAnExistingFileAtomically) {
  std::string path = test::temp_path("replace.gguf");
  test::write_bytes(path, {1, 2, 3});
  Writer w;
  w.metadata().set("general.architecture", Value::string("llama"));
  w.write(path);
  EXPECT_EQ(File::open(path).metadata().get_string("general.architecture"), "llama");
  // A failing write leaves the previous file as it was.
  Writer bad;
  bad.metadata().set("general.alignment", Value::f32(1.0f));
  EXPECT_THROW(bad.write(path), Error);
  EXPECT_EQ(File::open(path).metadata().get_string("general.architecture"), "llama");
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(fs::path(path).filename().string() + ".tmp"),
              std::string::npos);
  fs::remove(path);
}

// --- malformed files ------------------------------------------------------------------------

TEST(GgufMalformed, HeaderProblems) {
  expect_error({}, "not a GGUF file");
  expect_error({'G', 'G', 'U'}, "not a GGUF file");
  expect_error(Bytes().raw("GGML", 4).u32(3).u64(0).u64(0).b, "magic");
  expect_error(Bytes().header(0, 0, 1).b, "version 1");
  expect_error(Bytes().header(0, 0, 4).b, "unsupported GGUF version 4");
  expect_error(Bytes().header(0, 0, 0x03000000).b, "big-endian");
  expect_error(Bytes().raw("GGUF", 4).u32(3).u64(0).b, "truncated");
  expect_error(Bytes().header(1ull << 62, 0).b, "tensor count");
  expect_error(Bytes().header(0, ~0ull).b, "metadata count");
  expect_error(Bytes().header(0, 1).b, "metadata count");
  // The smallest valid files.
  EXPECT_NO_THROW(File::parse(Bytes().header(0, 0).b, "empty.gguf"));
  EXPECT_NO_THROW(File::parse(Bytes().header(0, 0, 2).b, "empty.gguf"));
}

TEST(GgufMalformed, MetadataProblems) {
  expect_error(Bytes().header(0, 1).str("").u32(4).u32(1).b, "empty key");
  expect_error(Bytes().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).b, "duplicate metadata key 'a.b'");
  expect_error(Bytes().header(0, 1).str("k").u32(13).u32(0).zeros(16).b, "unknown value type 13");
  expect_error(Bytes().header(0, 1).str("k").u32(7).u8(2).zeros(16).b, "bool byte 2");
  expect_error(Bytes().header(0, 1).str("k").u32(8).u64(~0ull).zeros(16).b, "string value of 'k'");
  expect_error(Bytes().header(0, 1).u64(1ull << 40).raw("k", 1).zeros(16).b, "key of metadata entry 0");
  expect_error(Bytes().header(0, 1).str("k").u32(4).b, "truncated");
  // Arrays: unknown element type, absurd lengths, bad bools, too deep nesting.
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(77).u64(0).b, "array of unknown type 77");
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 61).zeros(64).b,
               "cannot fit");
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(8).u64(1ull << 60).zeros(64).b,
               "cannot fit");
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(9).u64(~0ull).zeros(64).b, "cannot fit");
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(7).u64(3).u8(1).u8(0).u8(9).b,
               "bool byte 9");
  Bytes deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 40; ++i) deep.u32(9).u64(1);
  deep.u32(4).u64(0);
  expect_error(deep.b, "nests arrays deeper than");
  Bytes ok;  // three levels of nesting are fine
  ok.header(0, 1).str("k").u32(9).u32(9).u64(1).u32(9).u64(1).u32(4).u64(1).u32(42);
  File f = File::parse(ok.b, "ok.gguf");
  EXPECT_EQ(f.metadata().at("k").as_arrays()[0].as_arrays()[0].as_ints(), (std::vector<int64_t>{42}));
}

TEST(GgufMalformed, AlignmentProblems) {
  auto with_alignment = [](uint32_t type, uint64_t v) {
    Bytes b;
    b.header(0, 1).str("general.alignment").u32(type);
    if (type == uint32_t(ValueType::U64)) b.u64(v); else b.u32(uint32_t(v));
    return b.b;
  };
  expect_error(with_alignment(uint32_t(ValueType::U64), 32), "general.alignment must be a u32");
  expect_error(with_alignment(uint32_t(ValueType::U32), 48), "power of two");
  expect_error(with_alignment(uint32_t(ValueType::U32), 0), "power of two");
  expect_error(with_alignment(uint32_t(ValueType::U32), 4), "power of two");
  EXPECT_EQ(File::parse(with_alignment(uint32_t(ValueType::U32), 128), "a.gguf").alignment(), 128u);
}

// One F32 tensor of 4 elements at relative offset 0: a valid baseline to corrupt.
Bytes one_tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t off,
                 size_t data_bytes) {
  Bytes b;
  b.header(1, 0).tensor(name, std::move(ne), type, off).pad_to(32).zeros(data_bytes);
  return b;
}

TEST(GgufMalformed, TensorInfoProblems) {
  EXPECT_NO_THROW(File::parse(one_tensor("t", {4}, 0, 0, 16).b, "ok.gguf"));
  expect_error(one_tensor("", {4}, 0, 0, 16).b, "empty name");
  expect_error(one_tensor(std::string(65, 'n'), {4}, 0, 0, 16).b, "at most 64");
  expect_error(one_tensor("t", {1, 1, 1, 1, 4}, 0, 0, 16).b, "5 dimensions");
  expect_error(one_tensor("t", {1ull << 40, 1ull << 40}, 0, 0, 16).b, "absurd dimensions");
  expect_error(one_tensor("t", {1ull << 63}, 0, 0, 16).b, "absurd dimensions");
  expect_error(one_tensor("t", {4}, 4, 0, 16).b, "unknown ggml type 4");
  expect_error(one_tensor("t", {4}, 99, 0, 16).b, "unknown ggml type 99");
  expect_error(one_tensor("t", {33}, 8, 0, 64).b, "block size 32");
  expect_error(one_tensor("t", {4}, 0, 8, 64).b, "not a multiple of the alignment");
  expect_error(one_tensor("t", {4}, 0, 32, 16).b, "runs past the end");
  expect_error(one_tensor("t", {8}, 0, 0, 16).b, "runs past the end");
  expect_error(one_tensor("t", {1ull << 61}, 0, 0, 16).b, "runs past the end");
  expect_error(one_tensor("t", {1ull << 62}, 0, 0, 16).b, "overflows");
  expect_error(one_tensor("t", {4}, 0, ~0ull - 31, 16).b, "runs past the end");
  Bytes dup;
  dup.header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad_to(32).zeros(64);
  expect_error(dup.b, "duplicate tensor name 't'");
  Bytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad_to(32).zeros(64);
  expect_error(overlap.b, "overlap");
  Bytes sharing;  // zero-size tensors overlap nothing
  sharing.header(2, 0).tensor("a", {0}, 0, 0).tensor("b", {4}, 0, 0).pad_to(32).zeros(16);
  EXPECT_NO_THROW(File::parse(sharing.b, "ok.gguf"));
}

// A valid file holding every kind of value and several tensors, then: every truncation,
// single-byte corruptions at every position, and random multi-byte mutations. Each parse
// must succeed or throw lmkit::Error (never crash or read out of bounds: run under ASan
// with -DLMKIT_SANITIZE=ON to check the latter).
std::vector<uint8_t> sample_file() {
  Writer w;
  Metadata md = every_kind_of_value();
  for (const auto& [k, v] : md.entries()) w.metadata().set(k, v);
  std::vector<float> vals(2 * 64, 0.25f);
  Tensor a = Tensor::from(vals, {2, 64});
  w.add_tensor("a", a);
  w.add_tensor("b", quantize(a, GgmlType::Q8_0));
  w.add_tensor("c", a.to(DType::F16));
  std::string path = test::temp_path("sample.gguf");
  w.write(path);
  std::vector<uint8_t> b = test::read_bytes(path);
  fs::remove(path);
  return b;
}

bool parses(const std::vector<uint8_t>& b) {
  try {
    File f = File::parse(b, "mutant.gguf");
    for (const auto& [k, v] : f.metadata().entries()) (void)v.to_string();
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(GgufMalformed, EveryTruncationIsRejectedOrHarmless) {
  std::vector<uint8_t> full = sample_file();
  File f = File::parse(full, "sample.gguf");
  uint64_t data_end = 0;
  for (const TensorInfo& ti : f.tensors()) data_end = std::max(data_end, ti.offset + ti.bytes);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + ptrdiff_t(n));
    bool ok = parses(cut);
    // Only the padding after the last tensor may be cut off.
    EXPECT_EQ(ok, n >= data_end) << "truncated to " << n << " of " << full.size();
  }
  // The file reader (open_metadata) on truncated files on disk.
  std::string path = test::temp_path("cut.gguf");
  for (size_t n = 0; n < full.size(); n += 37) {
    test::write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + ptrdiff_t(n)));
    bool ok = true;
    try {
      File::open_metadata(path);
      File::open(path);
    } catch (const Error&) {
      ok = false;
    }
    EXPECT_EQ(ok, n >= data_end) << "truncated to " << n;
  }
  fs::remove(path);
}

TEST(GgufMalformed, CorruptedBytesNeverCrash) {
  std::vector<uint8_t> full = sample_file();
  File f = File::parse(full, "sample.gguf");
  const size_t header_end = size_t(f.data_offset());
  size_t rejected = 0, total = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(0x80), uint8_t(full[i] + 1)}) {
      if (v == full[i]) continue;
      std::vector<uint8_t> m = full;
      m[i] = v;
      rejected += !parses(m);
      ++total;
    }
  }
  EXPECT_GT(rejected, total / 4);  // many corruptions are detectable
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> m = full;
    int edits = 1 + int(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % header_end;
      switch (rng() % 4) {
        case 0: m[pos] = uint8_t(rng()); break;
        case 1: m[pos] ^= uint8_t(1u << (rng() % 8)); break;
        case 2: {  // an 8-byte length/count set to something large
          uint64_t big = uint64_t(1) << (rng() % 64);
          if (pos + 8 <= m.size()) std::memcpy(&m[pos], &big, 8);
          break;
        }
        default: m.resize(pos); break;
      }
      if (m.size() <= pos) break;
    }
    parses(m);
  }
}

}  // namespace
}  // namespace lmkit::gguf
