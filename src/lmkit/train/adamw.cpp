#include "lmkit/train/adamw.h"

#include <cmath>

#include "lmkit/core/error.h"
#include "lmkit/core/kernels.h"

namespace lmkit {

AdamW::AdamW(Decoder& model, AdamWOptions options) : model_(model), opt_(options) {
  model_.enable_grads();
  for (auto& p : model_.params()) {
    m_.push_back(Tensor::zeros(p.value.shape()));
    v_.push_back(Tensor::zeros(p.value.shape()));
  }
}

double AdamW::grad_norm() const {
  double ss = 0;
  for (const auto& p : model_.params())
    ss += kernels::sum_squares(p.grad.data<float>(), p.grad.numel());
  return std::sqrt(ss);
}

double AdamW::step(double lr) {
  double norm = grad_norm();
  // torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), applied if < 1.
  float scale = 1.0f;
  if (opt_.grad_clip > 0) {
    float coef = float(opt_.grad_clip) / (float(norm) + 1e-6f);
    if (coef < 1.0f) scale = coef;
  }
  ++t_;
  auto& params = model_.params();
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    kernels::adamw_update(p.value.data<float>(), m_[i].data<float>(), v_[i].data<float>(),
                          p.grad.data<float>(), p.value.numel(), float(lr), float(opt_.beta1),
                          float(opt_.beta2), float(opt_.eps),
                          p.decay ? float(opt_.weight_decay) : 0.0f, t_, scale);
  }
  return norm;
}

}  // namespace lmkit
