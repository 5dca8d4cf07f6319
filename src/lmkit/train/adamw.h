// AdamW optimizer (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), with
// PyTorch torch.optim.AdamW's update order, plus clipping by global gradient norm
// (torch.nn.utils.clip_grad_norm_). Weight decay applies only to parameters marked decay
// (>= 2-D: matrices and embeddings), as nanoGPT's configure_optimizers.
#pragma once
#include <cstdint>
#include <vector>

#include "lmkit/model/decoder.h"

namespace lmkit {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  double grad_clip = 1.0;  // <= 0: no clipping
};

class AdamW {
 public:
  AdamW(Decoder& model, AdamWOptions options);
  // Global L2 norm of all gradients (computed in double).
  double grad_norm() const;
  // One update with learning rate lr. Returns the gradient norm before clipping.
  double step(double lr);
  int64_t steps_taken() const { return t_; }
  // State for checkpoints: m and v per parameter (same order as model.params()).
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  const AdamWOptions& options() const { return opt_; }

 private:
  Decoder& model_;
  AdamWOptions opt_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

}  // namespace lmkit
