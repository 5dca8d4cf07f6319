// Training-memory planner: per-GPU bytes of model states under mixed-precision Adam with
// ZeRO data parallelism, plus activations.
//
// Model states (Rajbhandari et al. 2019, "ZeRO: Memory Optimizations Toward Training
// Trillion Parameter Models", arXiv:1910.02054, Sec. 3.1 and Fig. 1): with Psi parameters,
// fp16 parameters 2 Psi + fp16 gradients 2 Psi + optimizer states K Psi, K = 12 (fp32
// master parameters, momentum and variance). Over N_d data-parallel GPUs:
//     stage 0 (plain data parallel)   (2 + 2 + K) Psi
//     stage 1 (P_os: optimizer)       2 Psi + 2 Psi + K Psi / N_d
//     stage 2 (P_os+g: + gradients)   2 Psi + (2 + K) Psi / N_d
//     stage 3 (P_os+g+p: + params)    (2 + 2 + K) Psi / N_d
// The paper's example (Psi = 7.5B, N_d = 64): 120 GB, 31.4 GB, 16.6 GB, 1.9 GB, with
// GB = 1e9 bytes. Tensor (t) and pipeline (p) parallelism first split the parameters over
// t * p GPUs (Shoeybi et al. 2019; Narayanan et al. 2021); the remaining GPUs, gpus/(t p),
// are the data-parallel group.
//
// Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
// Transformer Models", arXiv:2205.05198, Table 2): bytes per transformer layer with 16-bit
// activations, sequence s, micro-batch b, hidden h, heads a, tensor-parallel degree t:
//     no recomputation, t = 1          s b h (34 + 5 a s / h)
//     tensor parallel                  s b h (10 + 24/t + 5 a s / (h t))
//     tensor + sequence parallel       s b h (34/t + 5 a s / (h t))
//     selective recomputation          s b h (10 + 24/t)       (with sequence parallel: 34/t)
//     full recomputation               2 s b h                 (the layer input only)
// With pipeline parallelism (1F1B schedule) the first stage keeps L/p layers for p
// micro-batches in flight, i.e. L layers' worth (Sec. 4.2.3); the embedding and output
// layer terms are neglected, as in the paper's Eq. (5). The formula is derived for a GPT-3
// layer (4h MLP, dropout); for other layer types it is an estimate.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lmkit::analysis {

enum class Recompute { None, Selective, Full };
const char* recompute_name(Recompute r);  // "none" | "selective" | "full"

struct TrainSetup {
  double params = 0;   // Psi
  int64_t gpus = 1;    // total GPUs = data x tensor x pipeline parallel
  int zero_stage = 0;  // 0..3
  int64_t tensor_parallel = 1, pipeline_parallel = 1;
  double bytes_param = 2, bytes_grad = 2, bytes_optimizer = 12;  // 2 + 2 + K
  // Activations (counted only when `activations`).
  bool activations = false;
  int64_t layers = 0, hidden = 0, heads = 0, seq_len = 0, micro_batch = 1;
  Recompute recompute = Recompute::None;
  bool sequence_parallel = false;
};

struct MemoryPlan {
  int64_t data_parallel = 1;
  double params_bytes = 0, grads_bytes = 0, optimizer_bytes = 0;
  double model_states_bytes = 0;  // the three above, per GPU
  double activation_bytes_per_layer = 0;
  double activation_bytes = 0;  // per GPU (0 unless setup.activations)
  double bytes_per_gpu = 0;     // model states (+ activations)
};

// Throws lmkit::Error for inconsistent or absurd setups (non-integer data-parallel degree,
// stage outside 0..3, non-positive sizes, tensor-parallel degree not dividing the heads).
MemoryPlan plan_memory(const TrainSetup& s);

// Korthikanti et al. 2022, Table 2: bytes of activations of one layer.
double activation_bytes_per_layer(int64_t seq_len, int64_t micro_batch, int64_t hidden,
                                  int64_t heads, int64_t tensor_parallel, bool sequence_parallel,
                                  Recompute recompute);

}  // namespace lmkit::analysis
