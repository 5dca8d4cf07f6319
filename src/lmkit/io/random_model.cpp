#include "lmkit/io/random_model.h"

#include <memory>

#include "lmkit/core/random.h"

namespace lmkit {

ModelWeights random_weights(const ModelConfig& config, uint64_t seed, float scale) {
  auto d = std::make_shared<Decoder>(config);
  d->init_weights(seed);
  if (scale != 1.0f) {
    Rng rng(seed ^ 0x5DEECE66Dull);
    for (auto& p : d->params())
      for (float& v : p.value.f32()) {
        if (p.name.ends_with("norm.weight")) v = float(1.0 + 0.1 * rng.normal());
        else if (p.name.ends_with(".bias")) v = float(0.1 * rng.normal());
        else v *= scale;
      }
  }
  // The views keep the parameter tensors (shared storage) alive without the Decoder.
  ModelWeights w = ModelWeights::from_decoder(*d);
  w.format = "random";
  return w;
}

}  // namespace lmkit
