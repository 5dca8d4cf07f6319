#include "lmkit/train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/safetensors.h"

namespace lmkit {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:08d}", step); }

void save_checkpoint(const std::string& dir, const Decoder& model, AdamW& opt,
                     const json& state) {
  replace_dir_atomic(dir, [&](const std::string& tmp) {
    std::vector<std::pair<std::string, Tensor>> weights, moments;
    const auto& params = model.params();
    for (size_t i = 0; i < params.size(); ++i) {
      weights.emplace_back(params[i].name, params[i].value);
      moments.emplace_back("m." + params[i].name, opt.m()[i]);
      moments.emplace_back("v." + params[i].name, opt.v()[i]);
    }
    write_safetensors(tmp + "/model.safetensors", weights, {{"format", "lmkit"}});
    write_safetensors(tmp + "/optimizer.safetensors", moments,
                      {{"adamw_step", std::to_string(opt.steps_taken())}});
    write_file_atomic(tmp + "/state.json", state.dump(2) + "\n");
  });
}

std::vector<CheckpointInfo> list_checkpoints(const std::string& run_dir) {
  std::vector<CheckpointInfo> out;
  fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || !name.starts_with("step-") || name.size() != 13) continue;
    if (!std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (!fs::exists(e.path() / "state.json")) continue;
    out.push_back({e.path().string(), std::stoll(name.substr(5))});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.step < b.step; });
  return out;
}

json read_checkpoint_state(const std::string& dir) {
  std::string path = dir + "/state.json";
  std::ifstream f(path);
  check(f.good(), "checkpoint '{}' has no state.json", dir);
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    fail("checkpoint state '{}' is corrupt: {}", path, e.what());
  }
  check(j.is_object() && j.contains("config") && j.contains("step") &&
            j["step"].is_number_integer() && j["step"].get<int64_t>() >= 0,
        "checkpoint state '{}' lacks a valid \"config\" and \"step\"", path);
  return j;
}

namespace {
void load_into(const SafetensorsFile& f, const std::string& name, Tensor& dst) {
  check(f.contains(name), "checkpoint '{}' lacks tensor '{}'", f.path(), name);
  Tensor t = f.get(name);
  check(t.dtype() == DType::F32 && t.shape() == dst.shape(),
        "checkpoint '{}': tensor '{}' is {} {}, expected f32 {}", f.path(), name,
        dtype_name(t.dtype()), t.shape_str(), dst.shape_str());
  dst.copy_from(t);
}
}  // namespace

void load_checkpoint_weights(const std::string& dir, Decoder& model, AdamW* opt) {
  SafetensorsFile w = SafetensorsFile::open(dir + "/model.safetensors");
  auto& params = model.params();
  for (auto& p : params) {
    if (p.value.read_only()) p.value = Tensor::zeros(p.value.shape());
    load_into(w, p.name, p.value);
  }
  if (!opt) return;
  SafetensorsFile o = SafetensorsFile::open(dir + "/optimizer.safetensors");
  for (size_t i = 0; i < params.size(); ++i) {
    load_into(o, "m." + params[i].name, opt->m()[i]);
    load_into(o, "v." + params[i].name, opt->v()[i]);
  }
  auto it = o.metadata().find("adamw_step");
  check(it != o.metadata().end(), "checkpoint '{}' lacks the optimizer step", o.path());
  try {
    opt->set_steps_taken(std::stoll(it->second));
  } catch (const std::exception&) {
    fail("checkpoint '{}': bad optimizer step '{}'", o.path(), it->second);
  }
}

}  // namespace lmkit
