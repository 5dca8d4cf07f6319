// lmkit perplexity: llama.cpp-compatible perplexity of a text file (infer/perplexity.h):
// non-overlapping chunks of --ctx tokens scored on their second half by default, or a
// sliding window with --stride.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/infer_options.h"
#include "lmkit/infer/perplexity.h"
#include "lmkit/io/tokenizer_loader.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    std::string input;
    int64_t ctx = 512, stride = 0, chunks = -1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  app.description(
      "Perplexity of a text file. Default: llama.cpp's `perplexity` tool's method (the text "
      "tokenized with a BOS, cut into chunks of --ctx tokens, each starting with BOS and scored "
      "on its second half; needs 2 * ctx tokens). With --stride S: a sliding window of --ctx "
      "tokens moved by S, every token scored once. Prints PPL with llama.cpp's +/- estimate.");
  add_model_options(app, a->m);
  app.add_option("--input", a->input, "text file")->required();
  app.add_option("--stride", a->stride, "sliding-window stride (0: llama.cpp chunks)")->capture_default_str();
  app.add_option("--chunks", a->chunks, "evaluate at most this many chunks (-1: all)")->capture_default_str();
  app.add_flag("--json", a->json, "print {\"ppl\", \"ppl_std\", \"nll_mean\", \"tokens\", \"chunks\", ...}");
  // --ctx is the chunk size here (llama.cpp -c); the shared option reads into m.ctx.
  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    const int64_t ctx = a->m.ctx > 0 ? a->m.ctx : a->ctx;
    const std::vector<int32_t> tokens = m.encode_prompt(read_file_bytes(a->input));
    EngineOptions eo = engine_options(a->m, m);
    eo.context = ctx;
    Engine engine(m.weights, eo);
    PerplexityOptions po;
    po.ctx = ctx;
    po.stride = a->stride;
    po.add_bos = m.add_bos;
    po.bos_id = m.bos_id;
    po.max_chunks = a->chunks;
    const bool tty = isatty(fileno(stderr));
    PerplexityResult r = perplexity(engine, tokens, po, [&](int64_t done, int64_t total, double ppl) {
      if (!a->json || tty) fmt::print(stderr, "[{}/{}] {:.4f}{}", done, total, ppl, done == total ? "\n" : tty ? "\r" : " ");
    });
    if (a->json) {
      json j = {{"ppl", r.ppl}, {"ppl_std", r.ppl_std}, {"nll_mean", r.nll_mean}, {"tokens", r.tokens},
                {"chunks", r.chunks}, {"ctx", ctx}, {"text_tokens", tokens.size()},
                {"method", a->stride > 0 ? "sliding" : "llama.cpp-chunks"}};
      if (a->stride > 0) j["stride"] = a->stride;
      write_out(j.dump() + "\n");
    } else {
      write_out(fmt::format("Final estimate: PPL = {:.4f} +/- {:.5f}  (mean NLL {:.6f} over {} tokens, "
                            "{} {} of {})\n", r.ppl, r.ppl_std, r.nll_mean, r.tokens, r.chunks,
                            a->stride > 0 ? "windows" : "chunks", ctx));
    }
    return 0;
  };
}

const Command reg("perplexity", "llama.cpp-compatible perplexity of a text file", setup);

}  // namespace
}  // namespace lmkit::cli
