// The inference engine: the decoder's forward pass over a KV cache, for any number of
// sequences at once. It computes what model/decoder.h computes (same formulas, same
// kernels for norms and activations), but token by token with cached keys and values:
//
//   decode(batch) processes a batch of N tokens, each appended to its own sequence at the
//   next position (llama.cpp's llama_decode / llama_batch). All linear layers run once
//   over the N rows: a GEMM for prefill (one long sequence), a matrix-vector product per
//   weight streamed once for decode (one token from each of N sequences). Attention runs
//   per token and head over that sequence's cache.
//
// Weights stay in their stored types (io/model_loader.h): f32 through OpenBLAS
// (core/gemm.h), f16/bf16/Q8_0/Q4_0/Q4_K/Q6_K through core/quant.h matmul_q (activations
// quantized to Q8_0 for Q8_0/Q4_0 weights, rounded to f16/bf16 for f16/bf16 weights, as
// llama.cpp does). Nothing is expanded to f32 at load time. GGUF models use llama.cpp's
// f16-table GELU (engine_kernels.h gelu_ggml); everything else computes the Decoder's
// formulas. llama2.c int8 checkpoints run a port of runq.c's forward() that keeps its
// order of operations (its rmsnorm, RoPE with powf/cosf/sinf, attention sums in Meta's
// pair order, softmax, SwiGLU, grouped int8 matmul), so greedy text equals runq.c's: its
// activations are re-quantized to int8 before every matmul, where a one-ulp difference
// can flip a rounding and, tokens later, an argmax.
//
// KV cache: per sequence and layer, keys and values (NKV, ctx, hs) in f32 or f16, in
// lazily-committed anonymous memory (pages become resident as positions are written).
//
// Letters: N tokens in a batch, C dim, hs head size, NH / NKV query / key-value heads,
// H MLP width, V vocabulary.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmkit/io/model_loader.h"

namespace lmkit {

enum class KvType { F32, F16 };

struct EngineOptions {
  int64_t context = 0;            // positions per sequence (0: the model's max_seq_len)
  KvType kv_type = KvType::F32;
  // Tokens per forward pass; longer batches are split. 256 keeps a pass's activations
  // small (peak memory) while a GEMM over 256 rows is as fast per token as over 512.
  int64_t max_batch = 256;
  // Q8_0 / Q4_0 matrices packed for the int8 kernels (core/packed_quant.h) where the CPU
  // has them: a copy made at load, the mapped file's pages of it given back. False: the
  // products read the weights in place in the file's layout (slower decode on Q4_0).
  bool pack_weights = true;
};

// One token of a batch: appended to sequence `seq`; logits computed when `logits`.
struct BatchToken {
  int seq = 0;
  int32_t token = 0;
  bool logits = false;
};

class Engine {
 public:
  explicit Engine(std::shared_ptr<const ModelWeights> weights, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const;
  const ModelWeights& weights() const { return *w_; }
  int64_t context() const { return ctx_; }
  int64_t vocab_size() const;
  KvType kv_type() const { return opt_.kv_type; }

  // Sequences. Ids are small integers, reused after remove_sequence.
  int add_sequence();
  void remove_sequence(int seq);
  // Keeps the first n cached positions of seq (n <= length): a shared prefix is reused.
  void truncate(int seq, int64_t n);
  int64_t length(int seq) const;  // cached positions
  int num_sequences() const;

  // Runs the batch; logits (n_out, V) gets one row per token with logits = true, in batch
  // order (may be null when none is asked). Tokens of one sequence take consecutive
  // positions in batch order. Throws lmkit::Error for unknown sequences, tokens outside
  // the vocabulary, or a sequence that would exceed the context. Returns n_out.
  int64_t decode(std::span<const BatchToken> batch, float* logits);

  // Appends tokens to seq. last_logits (V): the logits after the last token (may be null);
  // all_logits (T, V): after every token (may be null).
  void prefill(int seq, std::span<const int32_t> tokens, float* last_logits,
               float* all_logits = nullptr);
  // One token for each listed sequence (batched decode); logits (n, V).
  void step(std::span<const int> seqs, std::span<const int32_t> tokens, float* logits);

  // Attention weights of one layer in the next decode() calls (for `lmkit attention`):
  // for every batch token and head the softmax row over positions 0..pos.
  // layer < 0 turns capture off.
  void capture_attention(int layer);
  struct AttentionRow {
    int seq;
    int64_t pos;
    int head;
    std::vector<float> weights;  // (pos + 1)
  };
  const std::vector<AttentionRow>& captured_attention() const { return captured_; }

  // Bytes of KV cache committed so far (resident at most) and its reserved maximum.
  size_t kv_bytes_reserved() const;

 private:
  struct Impl;
  std::shared_ptr<const ModelWeights> w_;
  EngineOptions opt_;
  int64_t ctx_ = 0;
  std::unique_ptr<Impl> impl_;
  int capture_layer_ = -1;
  std::vector<AttentionRow> captured_;
  void forward(std::span<const BatchToken> batch, float* logits);
  void forward_runq(std::span<const BatchToken> batch, float* logits);
};

}  // namespace lmkit
