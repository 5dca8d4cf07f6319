// lmkit convert: any loadable model (GGUF, HF folder, llama2.c) -> a GGUF file llama.cpp
// loads, or -> an HF safetensors folder (io/model_writer.h). Also writes random-weight
// models of a given config (for tests and benchmarks).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli/infer_options.h"
#include "lmkit/io/json_file.h"
#include "lmkit/io/model_writer.h"
#include "lmkit/io/random_model.h"
#include "lmkit/io/tokenizer_loader.h"

namespace lmkit::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

Run setup(CLI::App& app) {
  struct Args {
    std::string in, out, tokenizer, type, name, random_config;
    uint64_t seed = 0;
    float init_scale = 1.0f;
    bool hf = false;
  };
  auto a = std::make_shared<Args>();
  auto threads = add_threads_option(app);
  app.description(
      "Convert a model to GGUF (OUT ends in .gguf) or to a Hugging Face folder (any other OUT, or "
      "--hf). IN is a GGUF file, an HF folder or a llama2.c .bin. With --random-config, IN is "
      "omitted and the weights are random (GPT-2 init) for that config.");
  app.add_option("in", a->in, "input model (omit with --random-config)");
  app.add_option("out", a->out, "output .gguf file or HF folder");
  app.add_option("--type", a->type, "weight type of the matrices: f32, f16, bf16, q8_0, q4_0 "
                 "(default: as stored; 1-d tensors stay f32)");
  app.add_option("--tokenizer", a->tokenizer, "tokenizer to write with the model (default: the "
                 "model's own)");
  app.add_option("--name", a->name, "general.name of the GGUF");
  app.add_flag("--hf", a->hf, "write an HF folder even if OUT ends in .gguf");
  app.add_option("--random-config", a->random_config,
                 "write random weights for this config (lmkit ModelConfig JSON or HF config.json)");
  app.add_option("--seed", a->seed, "seed of --random-config weights")->capture_default_str();
  app.add_option("--init-scale", a->init_scale,
                 "multiply --random-config matrices by this (1: GPT-2 init, std 0.02)")
      ->capture_default_str();
  return [a, threads]() -> int {
    threads();
    LoadedModel m;
    if (!a->random_config.empty() && a->out.empty()) std::swap(a->in, a->out);
    check(!a->out.empty(), "give the output path (OUT)");
    if (!a->random_config.empty()) {
      check(a->in.empty(), "give either IN or --random-config, not both");
      json j = read_json_file(a->random_config, "--random-config");
      ModelConfig c = j.contains("model_type") ? ModelConfig::from_hf_json(j) : ModelConfig::from_json(j);
      m.weights = std::make_shared<const ModelWeights>(random_weights(c, a->seed, a->init_scale));
      if (!a->tokenizer.empty()) {
        m.tokenizer = load_tokenizer(a->tokenizer);
        m.tokenizer_source = a->tokenizer;
      }
    } else {
      check(!a->in.empty(), "give an input model (or --random-config)");
      m = load_model(a->in, a->tokenizer);
    }
    ConvertOptions o;
    o.type = a->type;
    o.name = a->name;
    const bool gguf = !a->hf && fs::path(a->out).extension() == ".gguf";
    if (gguf) write_gguf(m, a->out, o);
    else write_hf(m, a->out, o);
    std::error_code ec;
    uintmax_t bytes = 0;
    if (fs::is_directory(a->out))
      for (auto& e : fs::directory_iterator(a->out)) bytes += e.is_regular_file() ? e.file_size() : 0;
    else
      bytes = fs::file_size(a->out, ec);
    fmt::print(stderr, "wrote {} ({} {}, {:.2f} MB)\n", a->out, m.config().arch,
               gguf ? "GGUF" : "HF folder", double(bytes) / 1e6);
    return 0;
  };
}

const Command reg("convert", "convert a model to GGUF or to an HF safetensors folder", setup);

}  // namespace
}  // namespace lmkit::cli
