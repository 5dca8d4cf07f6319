// llama2.c model checkpoints (karpathy/llama2.c): the three layouts export.py writes.
//
//   version 0 (legacy_export; what run.c reads): 7 int32 header (dim, hidden_dim, n_layers,
//     n_heads, n_kv_heads, vocab_size, seq_len; vocab_size < 0 means an unshared
//     classifier), then fp32 tensors in run.c's memory_map_weights order:
//     token_embedding_table (V,C), rms_att_weight (L,C), wq (L,C,C), wk (L,KV,C),
//     wv (L,KV,C), wo (L,C,C), rms_ffn_weight (L,C), w1 (L,H,C), w2 (L,C,H), w3 (L,H,C),
//     rms_final_weight (C), freq_cis_real and freq_cis_imag (seq_len*hs/2 each, skipped),
//     wcls (V,C) if unshared.
//   version 1 (version1_export): 256-byte header (u32 magic 0x616b3432 "ak42", i32
//     version, the 7 int32 params, u8 shared_classifier, zero padding), then fp32: the
//     attention norms (L,C), the MLP norms (L,C), the final norm (C), the embedding, wq,
//     wk, wv, wo, w1, w2, w3 (all layers of each), wcls if unshared.
//   version 2 (version2_export; what runq.c reads): the same header plus i32 group_size
//     after the flag; the norms in fp32 as in version 1; then every matrix in the same
//     order (per layer), each as int8 values (numel) followed by fp32 scales
//     (numel / group_size): "Q8_0" groups of group_size consecutive elements of the
//     row-major tensor, w = q * scale (export.py quantize_q80).
// The file size must match the header exactly.
//
// Weights get lmkit's names and shapes (docs: param_names.md): embed.weight,
// layers.{i}.attn_norm.weight, layers.{i}.attn.{q,k,v,o}.weight, layers.{i}.mlp_norm.weight,
// layers.{i}.mlp.gate.weight (w1), layers.{i}.mlp.down.weight (w2), layers.{i}.mlp.up.weight
// (w3), final_norm.weight, and lm_head.weight when the classifier is not shared. The
// config is Llama (RMSNorm eps 1e-5, RoPE theta 10000, SwiGLU, no biases), tied
// embeddings = shared classifier, BOS 1 / EOS 2 (the Llama-2 SentencePiece ids run.c uses).
//
// RoPE pairing: llama2.c rotates adjacent pairs (2i, 2i+1) of each head (Meta's
// interleaved layout); lmkit rotates (i, i + hs/2) (HF rotate_half). As HF's
// convert_llama_weights_to_hf.py does, the rows of attn.q and attn.k are permuted within
// each head (new row j*hs/2 + i = old row 2i + j), which makes the two conventions compute
// the same attention. So attn.q / attn.k are permuted copies; every other fp32 weight is
// a read-only view into the mapped file (no copy).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmkit/core/tensor.h"
#include "lmkit/model/config.h"

namespace lmkit {
class MappedFile;
}

namespace lmkit::llama2c {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42" read as a little-endian u32

// A version-2 weight: int8 values in groups of `group_size` consecutive row-major elements,
// each group with one fp32 scale: w[i] = q[i] * scales[i / group_size]. Groups never
// straddle rows of the attention matrices (dim % group_size == 0 is checked) but may
// straddle rows of mlp.down (rows of hidden_dim elements), exactly as export.py wrote them.
//
// For inference: dequantize() gives the f32 weight; for lmkit's int8 kernels
// (core/quant.h) re-quantize it with quantize(w.dequantize(), GgmlType::Q8_0) when the
// row length is a multiple of 32 (llama2.c's groups, e.g. 8 or 64 elements, are not
// ggml's 32-element blocks, so the int8 values cannot be reused as they are).
struct GroupQ8 {
  Tensor::Shape shape;            // (out, in), as the fp32 weight
  const int8_t* q = nullptr;      // numel() values
  const float* scales = nullptr;  // numel() / group_size values
  int64_t group_size = 0;
  std::shared_ptr<const void> owner;  // the mapped file, or the buffer of a permuted copy

  int64_t numel() const;
  Tensor dequantize() const;  // a new F32 tensor of `shape`
};

class Checkpoint {
 public:
  // Maps `path`, detects the version, validates the header and the exact file size;
  // throws lmkit::Error naming the file and the problem.
  static Checkpoint open(const std::string& path);

  int version() const { return version_; }  // 0, 1 or 2
  const ModelConfig& config() const { return config_; }
  bool shared_classifier() const { return config_.tie_embeddings; }
  int64_t group_size() const { return group_size_; }  // version 2; 0 otherwise

  // Every weight name, in lmkit's parameter order.
  const std::vector<std::string>& names() const { return names_; }
  bool has(std::string_view name) const;
  // True for the version-2 matrices (stored as GroupQ8); the norms are always fp32.
  bool is_quantized(std::string_view name) const;
  // An fp32 weight (versions 0/1: all of them; version 2: the norms). Throws otherwise.
  const Tensor& tensor(std::string_view name) const;
  // A version-2 matrix. Throws for fp32 weights.
  const GroupQ8& quantized(std::string_view name) const;
  // Any weight as F32 (a view or copy for fp32 weights, dequantized for version 2).
  Tensor weight_f32(std::string_view name) const;

 private:
  std::string path_;
  int version_ = 0;
  int64_t group_size_ = 0;
  ModelConfig config_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, Tensor> fp32_;
  std::unordered_map<std::string, GroupQ8> q8_;
  std::shared_ptr<const MappedFile> map_;
  friend class Loader;
};

}  // namespace lmkit::llama2c
