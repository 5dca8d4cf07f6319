// HF model folders (tests/fixtures/infer/hf/, written with their PyTorch logits by
// make_hf_fixtures.py from transformers' modelling semantics): GPT2LMHeadModel (Conv1D,
// fused c_attn, a causal-mask buffer to skip), LlamaForCausalLM (GQA, Llama-3.1 RoPE
// scaling, one file and two shards), Qwen2ForCausalLM, Qwen3ForCausalLM. lmkit's engine
// must give the reference logits within 1e-4, by prefill and by token-by-token decode;
// and again after `convert` to an HF folder and to GGUF F32.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "lmkit/core/error.h"
#include "lmkit/infer/engine.h"
#include "lmkit/io/model_loader.h"
#include "lmkit/io/model_writer.h"
#include "lmkit/io/safetensors.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

std::string dir_of(const std::string& name) {
  return test::fixture("infer/hf/" + name);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double e = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    e = std::max(e, std::fabs(double(a[i]) - double(b[i])));
  return e;
}

std::vector<float> prefill_all(const LoadedModel& m, const std::vector<int32_t>& ids) {
  Engine e(m.weights);
  const int s = e.add_sequence();
  std::vector<float> out(ids.size() * size_t(m.config().vocab_size));
  e.prefill(s, ids, nullptr, out.data());
  return out;
}

class HfFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(HfFixture, LogitsMatchPyTorch) {
  const std::string dir = dir_of(GetParam());
  auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
  const Tensor ids_t = ref.get_as("input_ids", DType::I32);
  const std::vector<int32_t> ids(ids_t.data<int32_t>(), ids_t.data<int32_t>() + ids_t.numel());
  const std::vector<float> want = ref.get_as("logits", DType::F32).to_vector();

  LoadedModel m = load_model(dir);
  EXPECT_EQ(m.weights->format, "hf");
  const int64_t V = m.config().vocab_size;
  EXPECT_LT(max_abs_diff(prefill_all(m, ids), want), 1e-4) << "prefill";

  // Token by token.
  {
    Engine e(m.weights);
    const int s = e.add_sequence();
    std::vector<float> l(static_cast<size_t>(V)), got;
    for (int32_t t : ids) {
      e.step(std::span<const int>(&s, 1), std::span<const int32_t>(&t, 1), l.data());
      got.insert(got.end(), l.begin(), l.end());
    }
    EXPECT_LT(max_abs_diff(got, want), 1e-4) << "decode";
  }

  // Through the writers.
  const std::string base = (fs::temp_directory_path() / ("lmkit_hf_" + std::to_string(getpid()) + "_" + GetParam())).string();
  write_hf(m, base + "_hf", {});
  EXPECT_LT(max_abs_diff(prefill_all(load_model(base + "_hf"), ids), want), 1e-4) << "HF round trip";
  fs::remove_all(base + "_hf");
  ConvertOptions o;
  o.type = "f32";
  write_gguf(m, base + ".gguf", o);
  LoadedModel g = load_model(base + ".gguf");
  // GGUF GPT-2 uses llama.cpp's f16-table GELU (engine.h): ~3 digits in the MLP.
  EXPECT_LT(max_abs_diff(prefill_all(g, ids), want), m.config().arch == "gpt2" ? 5e-3 : 1e-4)
      << "GGUF F32";
  fs::remove(base + ".gguf");
}

INSTANTIATE_TEST_SUITE_P(Models, HfFixture,
                         ::testing::Values("gpt2", "llama", "llama_sharded", "qwen2", "qwen3"));

TEST(HfFixture, ShardedAndSingleFileLoadTheSameWeights) {
  LoadedModel a = load_model(dir_of("llama")), b = load_model(dir_of("llama_sharded"));
  ASSERT_EQ(a.weights->tensors.size(), b.weights->tensors.size());
  for (const auto& [name, w] : a.weights->tensors) {
    const Weight* o = b.weights->find(name);
    ASSERT_NE(o, nullptr) << name;
    EXPECT_EQ(w.to_f32().to_vector(), o->to_f32().to_vector()) << name;
  }
}

TEST(HfFixture, MalformedFoldersAreClearErrors) {
  const std::string d = (fs::temp_directory_path() / ("lmkit_hf_bad_" + std::to_string(getpid()))).string();
  fs::remove_all(d);
  fs::create_directories(d);
  fs::copy_file(dir_of("qwen3") + "/model.safetensors", d + "/model.safetensors");
  EXPECT_THROW(load_model(d), Error);  // no config.json
  {
    std::ofstream(d + "/config.json") << "{\"model_type\": \"qwen3\", \"num_hidden_layers\": 3, "
                                         "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                                         "\"hidden_size\": 32, \"head_dim\": 16, \"intermediate_size\": 80, "
                                         "\"vocab_size\": 67}";
  }
  try {
    load_model(d);
    ADD_FAILURE() << "a missing layer must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers.2"), std::string::npos) << e.what();
  }
  {
    std::ofstream(d + "/config.json") << "{\"model_type\": \"qwen3\", \"num_hidden_layers\": 2, "
                                         "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                                         "\"hidden_size\": 32, \"intermediate_size\": 80, \"vocab_size\": 67}";
  }
  try {
    load_model(d);  // head_dim 8 (default) vs the file's 16
    ADD_FAILURE() << "a wrong shape must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  std::ofstream(d + "/config.json") << "{\"model_type\": \"bert\"}";
  EXPECT_THROW(load_model(d), Error);
  fs::remove_all(d);
}

}  // namespace
}  // namespace lmkit
