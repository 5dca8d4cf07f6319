// Chat templates: the Jinja templates that Hugging Face tokenizer_config.json files and
// GGUF tokenizer.chat_template keys carry, rendered by a small interpreter of the Jinja
// subset they use (Jinja2 template designer docs, https://jinja.palletsprojects.com/en/3.1.x/templates/),
// with the environment transformers uses (tokenization_utils_base.py
// _compile_jinja_template / chat_template_utils.py): trim_blocks and lstrip_blocks on, the
// loopcontrols extension, a tojson filter that does not escape HTML (json.dumps with
// ensure_ascii=False), raise_exception() and strftime_now() globals.
//
// Supported: text, {{ }}, {% %}, {# #} with '-' / '+' whitespace control; if / elif / else,
// for (tuple targets, `if` filters, else, loop.index/index0/revindex/first/last/length,
// break / continue), set (names and namespace attributes); literals (strings, numbers,
// true/false/none in either case, lists, dicts), variables, .attr, [key], slices
// [a:b:c], calls; operators or and not, == != < > <= >= in / not in, + - * / // % ** ~,
// unary -, conditional expressions; tests (defined, undefined, none, string, number,
// integer, float, boolean, true, false, mapping, iterable, sequence, equalto, eq, odd,
// even); filters (length count trim tojson items list join string upper lower title
// capitalize first last default/d selectattr rejectattr select reject map unique reverse
// sort int float abs round replace indent wordcount); string methods (startswith endswith
// split rsplit strip lstrip rstrip upper lower title capitalize replace find count
// format) and dict methods (items keys values get); namespace(), range(),
// raise_exception(), strftime_now().
// Anything else is an lmkit::Error naming the template line.
#pragma once
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lmkit {

struct ChatMessage {
  std::string role;     // system | user | assistant | tool ...
  std::string content;
};

class ChatTemplate {
 public:
  // Parses `source`; syntax errors throw lmkit::Error with the line number.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with the variables of `context` (a JSON object, key order kept for tojson: messages, add_generation_prompt,
  // bos_token, eos_token, tools, ...). Names absent from it are undefined.
  std::string render(const nlohmann::ordered_json& context) const;

  // The usual call: messages + add_generation_prompt, with the special-token strings.
  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token) const;

  // strftime_now() uses this time instead of the clock (tests).
  void set_now(std::time_t t) { now_ = t; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::optional<std::time_t> now_;
};

}  // namespace lmkit
