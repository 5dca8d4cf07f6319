// Random-weight models of a given config, for tests, fixtures and benchmarks: the
// Decoder's GPT-2 / nanoGPT initialisation (model/decoder.h init_weights), optionally with
// matrices scaled by `scale` and, when scale != 1, norm weights 1 + 0.1 N(0,1) and biases
// 0.1 N(0,1) (as tests/fixtures/make_fixtures.py does: at std 0.02 a small model's
// distributions are nearly flat, which hides errors and makes argmax ties). Deterministic
// in (config, seed, scale).
#pragma once
#include <cstdint>

#include "lmkit/io/model_loader.h"

namespace lmkit {

ModelWeights random_weights(const ModelConfig& config, uint64_t seed, float scale = 1.0f);

}  // namespace lmkit
