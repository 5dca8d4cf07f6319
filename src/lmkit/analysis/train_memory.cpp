#include "lmkit/analysis/train_memory.h"

#include <cmath>

#include "lmkit/core/error.h"

namespace lmkit::analysis {

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::None:
      return "none";
    case Recompute::Selective:
      return "selective";
    case Recompute::Full:
      return "full";
  }
  return "none";
}

double activation_bytes_per_layer(int64_t seq_len, int64_t micro_batch, int64_t hidden,
                                  int64_t heads, int64_t tp, bool sp, Recompute recompute) {
  const double s = double(seq_len), b = double(micro_batch), h = double(hidden), a = double(heads),
               t = double(tp);
  const double sbh = s * b * h;
  switch (recompute) {
    case Recompute::Full:
      return 2 * sbh;
    case Recompute::Selective:
      return sp ? sbh * 34 / t : sbh * (10 + 24 / t);
    case Recompute::None:
      break;
  }
  if (sp) return sbh * (34 / t + 5 * a * s / (h * t));
  return sbh * (10 + 24 / t + 5 * a * s / (h * t));  // t = 1: sbh (34 + 5as/h)
}

MemoryPlan plan_memory(const TrainSetup& s) {
  check(std::isfinite(s.params) && s.params > 0, "params must be positive (got {})", s.params);
  check(s.params <= 1e15, "params = {:g} is absurd (limit 1e15)", s.params);
  check(s.gpus >= 1 && s.gpus <= (int64_t(1) << 24), "gpus = {} is out of range (1..16M)", s.gpus);
  check(s.zero_stage >= 0 && s.zero_stage <= 3, "ZeRO stage must be 0, 1, 2 or 3 (got {})",
        s.zero_stage);
  check(s.tensor_parallel >= 1 && s.pipeline_parallel >= 1,
        "tensor/pipeline parallel degrees must be >= 1");
  const int64_t mp = s.tensor_parallel * s.pipeline_parallel;
  check(s.gpus % mp == 0, "gpus = {} is not a multiple of tensor x pipeline parallel = {} x {}",
        s.gpus, s.tensor_parallel, s.pipeline_parallel);
  for (double v : {s.bytes_param, s.bytes_grad, s.bytes_optimizer})
    check(std::isfinite(v) && v >= 0 && v <= 64, "bytes per parameter must be in [0, 64]");
  MemoryPlan p;
  p.data_parallel = s.gpus / mp;
  const double psi = s.params / double(mp);  // this GPU's model-parallel shard
  const double nd = double(p.data_parallel);
  p.params_bytes = s.bytes_param * psi / (s.zero_stage >= 3 ? nd : 1);
  p.grads_bytes = s.bytes_grad * psi / (s.zero_stage >= 2 ? nd : 1);
  p.optimizer_bytes = s.bytes_optimizer * psi / (s.zero_stage >= 1 ? nd : 1);
  p.model_states_bytes = p.params_bytes + p.grads_bytes + p.optimizer_bytes;
  p.bytes_per_gpu = p.model_states_bytes;
  if (s.activations) {
    check(s.layers >= 1 && s.hidden >= 1 && s.heads >= 1,
          "activations need the model's layers, hidden size and heads");
    check(s.seq_len >= 1 && s.seq_len <= (int64_t(1) << 24), "seq_len = {} is out of range",
          s.seq_len);
    check(s.micro_batch >= 1 && s.micro_batch <= (int64_t(1) << 20),
          "micro_batch = {} is out of range", s.micro_batch);
    check(s.heads % s.tensor_parallel == 0,
          "tensor parallel degree {} does not divide the {} attention heads", s.tensor_parallel,
          s.heads);
    check(s.layers % s.pipeline_parallel == 0,
          "pipeline parallel degree {} does not divide the {} layers", s.pipeline_parallel,
          s.layers);
    p.activation_bytes_per_layer =
        activation_bytes_per_layer(s.seq_len, s.micro_batch, s.hidden, s.heads, s.tensor_parallel,
                                   s.sequence_parallel, s.recompute);
    // First pipeline stage: L/p layers x p micro-batches in flight = L layers.
    p.activation_bytes = p.activation_bytes_per_layer * double(s.layers);
    p.bytes_per_gpu += p.activation_bytes;
  }
  return p;
}

}  // namespace lmkit::analysis
