// The one weight-loading path of lmkit: a model file or folder -> ModelConfig + weights by
// lmkit name (notes/param_names.md) + the tokenizer found beside it.
//
// Formats (recognised by content, not by name):
//   GGUF v2/v3 (io/gguf.h): architectures llama, qwen2, qwen3, gpt2; tensors stay views
//     into the map in their stored type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K): quantized
//     weights are never expanded to f32. Tensor names per llama.cpp src/llama-arch.cpp
//     (token_embd, blk.N.attn_q, ...); tokenizer from tokenizer.ggml.* metadata.
//   HF folder (config.json + model.safetensors or a sharded index, io/safetensors.h):
//     GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
//     Qwen3ForCausalLM; views into the mapped shards. GPT-2's Conv1D stores its matrices
//     (in, out), the transpose of nn.Linear's (out, in) (transformers pytorch_utils.py
//     Conv1D: x @ weight + bias), so they are transposed once, into owned f32 copies.
//   llama2.c checkpoints (io/llama2c.h: versions 0 and 1 in fp32, version 2 "ak42" int8):
//     fp32 weights are views; version-2 matrices stay int8 with one f32 scale per group of
//     GS flattened elements and are multiplied by runq.c's own grouped kernel in the
//     engine (so generation matches runq.c); io/llama2c.h has already permuted their q/k
//     rows into lmkit's layout.
//
// RoPE pairing. lmkit's decoder rotates element i with i + hs/2 (HF rotate_half). Meta's
// checkpoints, llama2.c and llama.cpp's llama-arch GGUF files pair (2i, 2i+1) instead: their
// q/k rows are the HF rows permuted within each head (transformers
// convert_llama_weights_to_hf.py `permute`; llama.cpp convert_hf_to_gguf.py
// LlamaModel.permute is its inverse). Permuting rows is the same as switching the pairing,
// so loaded q/k weights are left as stored and ModelWeights::rope_pairing says which
// rotation the engine applies. to_decoder() permutes them back into lmkit's layout.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmkit/core/quant.h"
#include "lmkit/core/tensor.h"
#include "lmkit/model/config.h"
#include "lmkit/model/decoder.h"
#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

namespace gguf {
class File;
}

enum class RopePairing {
  HalfSplit,    // i with i + hs/2 (HF rotate_half, GPT-NeoX; llama.cpp LLAMA_ROPE_TYPE_NEOX)
  Interleaved,  // 2i with 2i + 1 (Meta, llama2.c; llama.cpp LLAMA_ROPE_TYPE_NORM)
};

// One parameter as the engine reads it: ggml-typed rows (QTensor: F32/F16/BF16/Q8_0/Q4_0/
// Q4_K/Q6_K), or llama2.c's grouped int8 (q.type == I8, group_size > 0).
struct Weight {
  QTensor q;  // shape in lmkit order (out, in); q.owner keeps the bytes alive
  // llama2.c int8 v2 (runq.c QuantizedTensor): element e of the flattened tensor is
  // int8 q[e] * group_scales[e / group_size].
  int64_t group_size = 0;
  const float* group_scales = nullptr;

  GgmlType type() const { return q.type; }
  bool grouped_q8() const { return group_size > 0; }
  int64_t rows() const { return q.rows(); }
  int64_t cols() const { return q.cols(); }
  // Row r as f32 (k = cols() values).
  void dequantize_row(int64_t r, float* out) const;
  // The whole tensor as a new contiguous f32 tensor of q.shape.
  Tensor to_f32() const;
  // Bytes of weight data (scales included).
  size_t bytes() const;
};

struct ModelWeights {
  ModelConfig config;
  RopePairing rope_pairing = RopePairing::HalfSplit;
  // Inverse RoPE frequencies (head_dim/2): kernels::rope_inv_freq of the config, divided
  // by a GGUF's rope_freqs factors when the file has them (llama.cpp's Llama-3 scaling).
  std::vector<float> rope_inv_freq;
  std::map<std::string, Weight> tensors;  // by lmkit name
  std::string format;  // "gguf", "hf", "llama2c", "llama2c-int8", "decoder"
  std::string source;  // the path loaded (empty for from_decoder)
  std::shared_ptr<const gguf::File> gguf;  // the GGUF loaded (its metadata), if any
  // Extra GGUF-only per-frequency RoPE factors (llama.cpp rope_freqs.weight), if any.
  std::vector<float> rope_freq_factors;

  const Weight& at(const std::string& name) const;  // throws naming the missing tensor
  const Weight* find(const std::string& name) const;
  // Checks that every parameter the config implies is present with the right shape and a
  // supported type, and that nothing else is (lmkit::Error naming the first problem).
  void validate() const;
  // Total bytes of weight data.
  size_t bytes() const;
  // The dominant storage type of the matrices ("f32", "q8_0", "llama2c-q8 gs=8", ...).
  std::string type_summary() const;

  // A Decoder holding f32 copies in lmkit's own layout (q/k rows in rotate_half order,
  // everything dequantized). For training, fidelity tests and conversion.
  Decoder to_decoder() const;
  // Views of a Decoder's parameters (no copy; the Decoder must outlive the result unless
  // its tensors are shared: the views hold references to the parameter storage).
  static ModelWeights from_decoder(const Decoder& decoder);
};

// Permutes the rows of a q or k projection weight (or bias) between the two RoPE pairings
// within each of `n_heads` heads. rows (n_heads*hs, ...) of `row_elems` elements each,
// in place. to_interleaved: HF -> Meta/GGUF (convert_hf_to_gguf.py permute); else back.
void permute_rope_rows(float* w, int64_t n_heads, int64_t hs, int64_t row_elems,
                       bool to_interleaved);

struct LoadedModel {
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when none was found or given
  std::string tokenizer_source;                // where it came from
  // Prompt conventions: prepend bos_id when add_bos (llama2.c: always, as run.c does; GGUF:
  // tokenizer.ggml.add_bos_token, else the vocabulary type's default; HF folders:
  // tokenizer_config.json add_bos_token, else the tokenizer's own template, else Llama
  // models add their config's BOS as llama.cpp does). stop_ids end generation (EOS, and a
  // chat template's end-of-turn tokens when the tokenizer knows them).
  bool add_bos = false;
  int32_t bos_id = -1;
  std::vector<int32_t> stop_ids;
  std::string chat_template;  // from the GGUF or tokenizer_config.json, if any

  const ModelConfig& config() const { return weights->config; }
  // ids of `text` under the tokenizer (which must be present), BOS prepended when add_bos.
  std::vector<int32_t> encode_prompt(const std::string& text) const;
  const Tokenizer& tok() const;  // throws asking for --tokenizer when absent
};

// The ModelConfig a GGUF file describes (its llama.cpp `<arch>.*` keys, ggml docs/gguf.md,
// and which optional tensors it stores). Needs only the metadata (gguf::File::open_metadata
// suffices). lmkit::Error naming `path` for an unsupported architecture or layout.
ModelConfig gguf_model_config(const gguf::File& file, const std::string& path);

// Loads weights only. path: a .gguf file, an HF folder (or its config.json), or a llama2.c
// .bin. lmkit::Error naming the path and the problem for anything unreadable.
ModelWeights load_weights(const std::string& path);

// Loads weights and the tokenizer: `tokenizer_spec` (io/tokenizer_loader.h) when given,
// else the GGUF's own vocabulary, the HF folder's tokenizer files, or a tokenizer.bin /
// tok<V>.bin next to a llama2.c file. When none is found the tokenizer is null (commands
// that need one fail asking for --tokenizer).
LoadedModel load_model(const std::string& path, const std::string& tokenizer_spec = "");

}  // namespace lmkit
