// Reading a whole JSON file (configs, run state, HF config.json / tokenizer.json) with one
// error style: a missing or unreadable file and a JSON syntax error both throw lmkit::Error
// naming the file. Writing goes through io/atomic_file.h.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lmkit {

// The parsed content of `path`. `what` names the file's role in messages ("--config",
// "model config", ...): "cannot read <what> '<path>': <errno text>" or "<what> '<path>' is
// not valid JSON: <parser message>".
nlohmann::json read_json_file(const std::string& path, std::string_view what = "JSON file");

}  // namespace lmkit
