// lmkit quantize: a GGUF file -> the same model with its matrices in another type (ggml's
// reference quantizers for q8_0 / q4_0, core/quant.h), everything else copied.
#include <fmt/format.h>

#include <filesystem>

#include "cli/infer_options.h"
#include "lmkit/io/model_writer.h"

namespace lmkit::cli {
namespace {

namespace fs = std::filesystem;

Run setup(CLI::App& app) {
  struct Args {
    std::string in, out, type;
  };
  auto a = std::make_shared<Args>();
  auto threads = add_threads_option(app);
  app.description("Requantize the matrices of a GGUF model (1-d tensors stay f32; matrices whose "
                  "rows are not whole 32-element blocks become f16, as llama.cpp's converter does).");
  app.add_option("in", a->in, "input .gguf")->required();
  app.add_option("out", a->out, "output .gguf")->required();
  app.add_option("type", a->type, "q8_0, q4_0, f16, bf16 or f32")->required();
  return [a, threads]() -> int {
    threads();
    parse_weight_type(a->type);
    LoadedModel m = load_model(a->in);
    check(m.weights->format == "gguf", "'{}' is not a GGUF file (use `lmkit convert` for other "
          "formats)", a->in);
    ConvertOptions o;
    o.type = a->type;
    write_gguf(m, a->out, o);
    fmt::print(stderr, "{} ({:.2f} MB) -> {} ({:.2f} MB, {})\n", a->in,
               double(fs::file_size(a->in)) / 1e6, a->out, double(fs::file_size(a->out)) / 1e6,
               a->type);
    return 0;
  };
}

const Command reg("quantize", "requantize a GGUF model (q8_0, q4_0, f16, bf16, f32)", setup);

}  // namespace
}  // namespace lmkit::cli
