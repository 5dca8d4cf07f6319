// The one decoder-only transformer of lmkit (GPT-2 / Llama / Qwen2 / Qwen3 as settings of
// ModelConfig). Structure as nanoGPT's model.py and HF's modelling_llama.py: embeddings,
// n_layer pre-norm blocks (attention then MLP, each added to the residual stream), final
// norm, language-model head. Parameter names and shapes: see Decoder::Param and the table
// in docs (names mirror HF's module tree, e.g. layers.3.attn.q.weight).
//
// The same parameters serve training (build() records an autograd Graph) and inference.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lmkit/core/graph.h"
#include "lmkit/core/tensor.h"
#include "lmkit/model/config.h"

namespace lmkit {

class Decoder {
 public:
  struct Param {
    std::string name;
    Tensor value;  // f32, contiguous; may be a read-only mmap view for inference
    Tensor grad;   // allocated by enable_grads()
    bool decay = false;  // weight decay applies (matrices and embeddings, not biases/norms)
  };

  // Allocates every parameter (zeros; norm weights one) for `config` (validated).
  explicit Decoder(const ModelConfig& config);

  const ModelConfig& config() const { return cfg_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  Param& param(const std::string& name);
  const Param* find(const std::string& name) const;
  int64_t num_params() const;

  // GPT-2 / nanoGPT init: weights N(0, 0.02), residual output projections (attn.o, mlp.down)
  // N(0, 0.02/sqrt(2*n_layer)), biases 0, norm weights 1.
  void init_weights(uint64_t seed);
  // Replaces a parameter's value (shape must match; f32 contiguous).
  void set_param(const std::string& name, Tensor value);
  void enable_grads();
  void zero_grads();

  struct Outputs {
    Var ids;      // (B,T) I32 input
    Var targets;  // (B,T) I32 input (only with_loss)
    Var logits;   // (B,T,V)
    Var loss;     // scalar mean cross-entropy (only with_loss)
  };
  // Records the forward pass for a (B,T) batch into g (and the loss when with_loss).
  // Parameters get gradients in the graph only if enable_grads() was called.
  Outputs build(Graph& g, int64_t B, int64_t T, bool with_loss) const;

  // RoPE inverse frequencies (head_dim/2), including Llama-3.1 scaling when configured.
  const std::vector<float>& rope_inv_freq() const { return inv_freq_; }

 private:
  void add_param(const std::string& name, Tensor::Shape shape, bool decay);
  ModelConfig cfg_;
  std::vector<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<float> inv_freq_;
};

}  // namespace lmkit
