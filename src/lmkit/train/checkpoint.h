// Training checkpoints. One checkpoint is a directory
//   <run>/checkpoints/step-<8 digits>/
//     model.safetensors      parameters by lmkit name (model/decoder.h)
//     optimizer.safetensors  AdamW m.<name>, v.<name>
//     state.json             model config, training options, optimizer step, data position,
//                            RNG seed, best validation loss, log length
// written into a temporary directory and renamed into place (io/atomic_file.h), so a
// failed write (disk full, Ctrl-C, crash) leaves every earlier checkpoint intact. The
// newest complete checkpoint is the one with the highest step.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "lmkit/model/decoder.h"
#include "lmkit/train/adamw.h"

namespace lmkit {

struct CheckpointInfo {
  std::string dir;
  int64_t step = 0;
};

// Saves model + optimizer + state (state must hold at least "step").
void save_checkpoint(const std::string& dir, const Decoder& model, AdamW& opt,
                     const nlohmann::json& state);
// All complete checkpoints under <run>/checkpoints, oldest first.
std::vector<CheckpointInfo> list_checkpoints(const std::string& run_dir);
// state.json of a checkpoint (validated JSON object with "config" and "step").
nlohmann::json read_checkpoint_state(const std::string& dir);
// Loads parameters (and, if opt is given, optimizer moments) into `model`, validating every
// name, shape and dtype; throws lmkit::Error naming the file on any mismatch or corruption.
void load_checkpoint_weights(const std::string& dir, Decoder& model, AdamW* opt);
// The directory name for step s: "step-00000042".
std::string checkpoint_name(int64_t step);

}  // namespace lmkit
