// lmkit memory: per-GPU training memory (mixed-precision Adam, ZeRO stages, tensor/pipeline
// parallelism, activations with and without recomputation) and which setups fit a GPU.
// Formulas and sources: analysis/train_memory.h.
#include <fmt/core.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "lmkit/analysis/counts.h"
#include "lmkit/analysis/format.h"
#include "lmkit/analysis/model_spec.h"
#include "lmkit/analysis/presets.h"
#include "lmkit/analysis/roofline.h"
#include "lmkit/analysis/train_memory.h"
#include "lmkit/core/error.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;
using namespace lmkit::analysis;

struct Options {
  std::string model;
  double params = 0;
  int64_t gpus = 1, tp = 1, pp = 1;
  int zero = 0;
  double optimizer_bytes = 12;
  bool activations = false, sequence_parallel = false, json_out = false;
  int64_t seq_len = 2048, micro_batch = 1, layers = 0, hidden = 0, heads = 0;
  std::string recompute = "none";
  double gpu_memory_gb = 0;
  std::string device;
};

Recompute parse_recompute(const std::string& s) {
  if (s == "none") return Recompute::None;
  if (s == "selective") return Recompute::Selective;
  if (s == "full") return Recompute::Full;
  fail("--recompute must be none, selective or full (got '{}')", s);
}

// Integral values below 2^53 as JSON integers (exact), the rest as doubles.
json num(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9007199254740992.0)
    return json(int64_t(v));
  return json(v);
}

json plan_json(const MemoryPlan& p) {
  return {{"bytes_per_gpu", num(p.bytes_per_gpu)},
          {"data_parallel", p.data_parallel},
          {"params_bytes", num(p.params_bytes)},
          {"grads_bytes", num(p.grads_bytes)},
          {"optimizer_bytes", num(p.optimizer_bytes)},
          {"model_states_bytes", num(p.model_states_bytes)},
          {"activation_bytes_per_layer", num(p.activation_bytes_per_layer)},
          {"activation_bytes", num(p.activation_bytes)}};
}

Run setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.description(
      "Per-GPU training memory: mixed-precision Adam model states (2+2+12 bytes/param, "
      "Rajbhandari et al. 2019) under ZeRO stages 0-3, tensor/pipeline parallelism, and "
      "activations (Korthikanti et al. 2022) with or without recomputation; shows which "
      "setups fit a GPU.");
  app.add_option("--model,-m", o->model,
                 "model SPEC: a preset (" + preset_names() +
                     "), an HF config.json, an lmkit config JSON or a .gguf file");
  app.add_option("--params,-N", o->params, "parameter count (instead of --model)");
  app.add_option("--gpus", o->gpus, "total GPUs (data x tensor x pipeline parallel)")
      ->capture_default_str();
  app.add_option("--zero", o->zero, "ZeRO stage 0, 1, 2 or 3")->capture_default_str();
  app.add_option("--tp", o->tp, "tensor-parallel degree")->capture_default_str();
  app.add_option("--pp", o->pp, "pipeline-parallel degree")->capture_default_str();
  app.add_option("--optimizer-bytes", o->optimizer_bytes,
                 "optimizer-state bytes per parameter K (Adam with fp32 master copy: 12)")
      ->capture_default_str();
  app.add_flag(
      "--activations", o->activations,
      "add activation memory to bytes_per_gpu (needs --model or --layers/--hidden/--heads)");
  app.add_option("--seq-len", o->seq_len, "sequence length s for activations")
      ->capture_default_str();
  app.add_option("--micro-batch", o->micro_batch, "micro-batch size b for activations")
      ->capture_default_str();
  app.add_option("--recompute", o->recompute, "activation recomputation: none | selective | full")
      ->capture_default_str();
  app.add_flag("--sequence-parallel", o->sequence_parallel,
               "Megatron sequence parallelism (splits the non-tensor-parallel activations by tp)");
  app.add_option("--layers", o->layers, "layers (with --params, for activations)");
  app.add_option("--hidden", o->hidden, "hidden size (with --params, for activations)");
  app.add_option("--heads", o->heads, "attention heads (with --params, for activations)");
  app.add_option("--gpu-memory", o->gpu_memory_gb,
                 "GPU memory in GB (1e9 bytes) for the fit table");
  app.add_option("--device", o->device, "GPU whose memory to fit into: " + device_names());
  app.add_flag("--json", o->json_out, "print one JSON object");
  return [o]() {
    check(o->model.empty() != (o->params == 0), "give exactly one of --model and --params");
    TrainSetup s;
    json j;
    if (!o->model.empty()) {
      ModelSpec m = resolve_model(o->model);
      s.params = double(count_params(m.config).total);
      s.layers = m.config.n_layer;
      s.hidden = m.config.dim;
      s.heads = m.config.n_head;
      j["model"] = m.name;
    } else {
      check(std::isfinite(o->params) && o->params > 0, "--params must be positive (got {})",
            o->params);
      s.params = o->params;
    }
    if (o->layers) s.layers = o->layers;
    if (o->hidden) s.hidden = o->hidden;
    if (o->heads) s.heads = o->heads;
    s.gpus = o->gpus;
    s.zero_stage = o->zero;
    s.tensor_parallel = o->tp;
    s.pipeline_parallel = o->pp;
    s.bytes_optimizer = o->optimizer_bytes;
    s.activations = o->activations;
    s.seq_len = o->seq_len;
    s.micro_batch = o->micro_batch;
    s.recompute = parse_recompute(o->recompute);
    s.sequence_parallel = o->sequence_parallel;
    if (o->activations)
      check(s.layers > 0 && s.hidden > 0 && s.heads > 0,
            "--activations needs the model shape: --model, or --layers, --hidden and --heads");

    double capacity = 0;
    std::string capacity_what;
    if (!o->device.empty()) {
      const Device& d = find_device(o->device);
      capacity = d.memory_bytes;
      capacity_what = d.description;
    }
    if (o->gpu_memory_gb != 0) {
      check(std::isfinite(o->gpu_memory_gb) && o->gpu_memory_gb > 0 && o->gpu_memory_gb < 1e6,
            "--gpu-memory must be a positive number of GB (got {})", o->gpu_memory_gb);
      capacity = o->gpu_memory_gb * 1e9;
      capacity_what = fmt::format("{:g} GB", o->gpu_memory_gb);
    }

    MemoryPlan plan = plan_memory(s);
    j.update(plan_json(plan));
    j["params"] = s.params;
    j["gpus"] = s.gpus;
    j["zero_stage"] = s.zero_stage;
    j["tensor_parallel"] = s.tensor_parallel;
    j["pipeline_parallel"] = s.pipeline_parallel;
    j["bytes_per_param"] = {
        {"params", s.bytes_param}, {"grads", s.bytes_grad}, {"optimizer", s.bytes_optimizer}};
    j["activations_included"] = s.activations;
    if (s.activations)
      j["activation_setup"] = {{"seq_len", s.seq_len},
                               {"micro_batch", s.micro_batch},
                               {"recompute", recompute_name(s.recompute)},
                               {"sequence_parallel", s.sequence_parallel},
                               {"layers", s.layers},
                               {"hidden", s.hidden},
                               {"heads", s.heads}};
    j["sources"] = {"Rajbhandari et al. 2019 (ZeRO), Sec. 3.1 and Fig. 1",
                    "Korthikanti et al. 2022, Table 2 (activations per layer)"};

    // Every ZeRO stage x recomputation choice for the same GPUs (activations when the shape
    // is known), against the capacity.
    json setups = json::array();
    const bool shape = s.layers > 0 && s.hidden > 0 && s.heads > 0 && s.seq_len > 0;
    for (int z = 0; z <= 3; ++z) {
      for (Recompute r : {Recompute::None, Recompute::Selective, Recompute::Full}) {
        if (!shape && r != Recompute::None) continue;
        TrainSetup t = s;
        t.zero_stage = z;
        t.recompute = r;
        t.activations = shape;
        MemoryPlan q = plan_memory(t);
        json e = {{"zero_stage", z},
                  {"bytes_per_gpu", num(q.bytes_per_gpu)},
                  {"model_states_bytes", num(q.model_states_bytes)}};
        if (shape)
          e["recompute"] = recompute_name(r), e["activation_bytes"] = num(q.activation_bytes);
        if (capacity > 0) e["fits"] = q.bytes_per_gpu <= capacity;
        setups.push_back(e);
      }
    }
    j["setups"] = setups;
    if (capacity > 0) j["gpu_memory_bytes"] = capacity;

    if (o->json_out) {
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    fmt::print(
        "{} parameters ({}), {} GPUs = {} data x {} tensor x {} pipeline parallel, ZeRO "
        "stage {}\n",
        si(s.params), j.contains("model") ? j["model"].get<std::string>() : "--params", s.gpus,
        plan.data_parallel, s.tensor_parallel, s.pipeline_parallel, s.zero_stage);
    fmt::print(
        "Model states per GPU (mixed-precision Adam, 2 + 2 + {:g} bytes/param; GB = 1e9 "
        "bytes):\n",
        s.bytes_optimizer);
    fmt::print("  fp16 params {}   fp16 grads {}   optimizer states {}   = {}\n",
               bytes(plan.params_bytes), bytes(plan.grads_bytes), bytes(plan.optimizer_bytes),
               bytes(plan.model_states_bytes));
    if (s.activations)
      fmt::print(
          "Activations (Korthikanti et al. 2022 Table 2: 16-bit, attention scores stored "
          "unless recomputed; {} recompute{}, s = {}, b = {}): {} per layer x {} layers = {}\n",
          recompute_name(s.recompute), s.sequence_parallel ? ", sequence parallel" : "", s.seq_len,
          s.micro_batch, bytes(plan.activation_bytes_per_layer), s.layers,
          bytes(plan.activation_bytes));
    fmt::print("bytes_per_gpu: {} ({:.4g} bytes{})\n", bytes(plan.bytes_per_gpu),
               plan.bytes_per_gpu, s.activations ? ", with activations" : ", model states only");
    fmt::print("\nAll ZeRO stages{}{}:\n", shape ? " x recomputation" : "",
               capacity > 0 ? " (fit in " + capacity_what + "?)" : "");
    for (const json& e : setups) {
      fmt::print("  stage {}", e["zero_stage"].get<int>());
      if (shape)
        fmt::print("  recompute {:<10} activations {:>10}", e["recompute"].get<std::string>(),
                   bytes(e["activation_bytes"].get<double>()));
      fmt::print("  model states {:>10}  total {:>10}",
                 bytes(e["model_states_bytes"].get<double>()),
                 bytes(e["bytes_per_gpu"].get<double>()));
      if (e.contains("fits")) fmt::print("  {}", e["fits"].get<bool>() ? "fits" : "does not fit");
      fmt::print("\n");
    }
    return 0;
  };
}

const Command command("memory", "training memory per GPU (ZeRO, parallelism, activations)", setup);

}  // namespace
}  // namespace lmkit::cli
