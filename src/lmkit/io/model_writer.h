// Writing models: any loaded model (io/model_loader.h) -> a GGUF file that llama.cpp loads,
// or -> a Hugging Face folder (config.json + model.safetensors + tokenizer).
//
// GGUF (ggml docs/gguf.md; key and tensor names as llama.cpp's gguf-py constants.py and
// src/llama-arch.cpp, metadata as convert_hf_to_gguf.py writes it):
//   general.architecture llama | qwen2 | qwen3 | gpt2; {arch}.context_length,
//   embedding_length, block_count, feed_forward_length, attention.head_count,
//   attention.head_count_kv, attention.layer_norm_rms_epsilon (layer_norm_epsilon for
//   gpt2), rope.freq_base, rope.dimension_count, attention.key_length / value_length
//   when head_dim != dim / n_head, vocab_size; general.file_type (llama_ftype) and
//   general.quantization_version 2 for quantized files.
//   Tensors token_embd, position_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v,
//   attn_qkv (gpt2: q, k, v rows fused), attn_output, attn_q_norm, attn_k_norm, ffn_norm,
//   ffn_gate, ffn_up, ffn_down}, output_norm, output. For the llama architecture the q/k
//   rows are permuted into Meta's interleaved layout (convert_hf_to_gguf.py
//   LlamaModel.permute), because llama.cpp rotates llama q/k with LLAMA_ROPE_TYPE_NORM.
//   Llama-3 RoPE scaling becomes the rope_freqs tensor llama.cpp reads (convert_hf_to_gguf
//   LlamaModel.generate_extra_tensors), plus lmkit.rope_scaling.* keys that lmkit reads back
//   to recover the exact config.
//   Types: 1-d tensors stay f32; matrices get the requested type. Q8_0/Q4_0 use the
//   ggml-identical reference quantizers (core/quant.h); a matrix whose rows are not whole
//   32-element blocks falls back to f16, as convert_hf_to_gguf.py does (QuantError).
//   Weights already in the requested type are copied as stored (no re-quantization).
//   Tokenizer: a GGUF source's tokenizer.* keys are copied; a llama2.c tokenizer becomes a
//   "llama" (SentencePiece) vocabulary; an HF tokenizer.json BPE becomes a "gpt2"
//   vocabulary with its merges; a model without a tokenizer gets a byte vocabulary
//   (<unk>, <s>, </s>, <0x00>..<0xFF>, then placeholder pieces) so llama.cpp can load it.
//
// HF folder: config.json (transformers names for GPT2LMHeadModel / LlamaForCausalLM /
// Qwen2ForCausalLM / Qwen3ForCausalLM), model.safetensors with HF tensor names (GPT-2's
// matrices transposed back into Conv1D's (in, out) and c_attn fused), q/k rows in HF's
// rotate_half layout; the tokenizer is copied (HF files, llama2.c tokenizer.bin) or written
// as a vocabulary-only tokenizer.gguf that io/tokenizer_loader.h reads.
#pragma once
#include <cstdint>
#include <string>

#include "lmkit/core/quant.h"
#include "lmkit/io/model_loader.h"

namespace lmkit {

struct ConvertOptions {
  // f32 | f16 | bf16 | q8_0 | q4_0, or "" to keep each matrix's stored type where the
  // output format can hold it (GGUF: everything ggml knows; HF: f32/f16/bf16).
  std::string type;
  std::string name;  // general.name (default: the source file's stem)
};

// Parses a --type value; lmkit::Error listing the choices for anything else.
GgmlType parse_weight_type(const std::string& type);

// Writes `model` (weights + tokenizer) as a GGUF v3 file, atomically.
void write_gguf(const LoadedModel& model, const std::string& path, const ConvertOptions& options);

// Writes `model` as an HF folder (created; existing files with the same names replaced).
void write_hf(const LoadedModel& model, const std::string& dir, const ConvertOptions& options);

// The HF config.json object for a config (inverse of ModelConfig::from_hf_json).
std::string hf_config_json(const ModelConfig& config);

}  // namespace lmkit
