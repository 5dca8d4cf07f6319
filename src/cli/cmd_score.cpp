// lmkit score: the log-probability of every token of a text under a model,
// log P(x_t | x_<t), teacher-forced in one prefill (infer/engine.h).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "cli/infer_options.h"
#include "lmkit/infer/generate.h"
#include "lmkit/infer/score.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    std::string text;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  app.description(
      "Per-token log-probabilities of a text: log P(x_t | x_<t). The first token is conditioned "
      "on the BOS token (or, for models that add none, on their end-of-text token when they "
      "have one; else it gets no log-probability).");
  add_model_options(app, a->m);
  app.add_option("--text", a->text, "the text to score")->required();
  app.add_flag("--json", a->json,
               "print {\"tokens\":[...],\"ids\":[...],\"logprobs\":[...],\"total_logprob\":...}");
  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    const Tokenizer& tok = m.tok();
    const ScoredText s = score_text(m, a->text, engine_options(a->m, m));
    // Each token's piece of the text in context (SentencePiece's "▁upon" after "Once" is
    // " upon", the first piece after BOS has no space): the pieces concatenate to the text.
    // A token ending inside a UTF-8 character contributes its bytes to the next piece.
    TextStream stream(tok);
    for (int32_t id : s.context_ids) stream.push(id);
    json tokens = json::array(), lps = json::array();
    for (size_t i = 0; i < s.ids.size(); ++i) {
      std::string piece = stream.push(s.ids[i]);
      if (i + 1 == s.ids.size()) piece += stream.flush();
      tokens.push_back(piece);
      lps.push_back(std::isnan(s.logprobs[i]) ? json(nullptr) : json(s.logprobs[i]));
    }
    if (a->json) {
      json j = {{"tokens", tokens}, {"ids", s.ids}, {"logprobs", lps},
                {"total_logprob", s.total_logprob}, {"context_ids", s.context_ids}};
      write_out(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    } else {
      for (size_t i = 0; i < s.ids.size(); ++i)
        write_out(fmt::format("{:>6} {:<20} {}\n", s.ids[i], "'" + show_token(tok, s.ids[i]) + "'",
                              std::isnan(s.logprobs[i]) ? std::string("-")
                                                        : fmt::format("{:.6f}", s.logprobs[i])));
      write_out(fmt::format("total log-probability {:.6f} over {} tokens\n", s.total_logprob,
                            s.scored));
    }
    return 0;
  };
}

const Command reg("score", "log-probability of every token of a text under a model", setup);

}  // namespace
}  // namespace lmkit::cli
