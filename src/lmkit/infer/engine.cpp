// The KV-cache inference engine (engine.h). The forward pass follows model/decoder.cpp
// Decoder::build line by line; references for each formula are in core/kernels.h.
#include "lmkit/infer/engine.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>

#include "lmkit/core/error.h"
#include "lmkit/core/gemm.h"
#include "lmkit/core/half.h"
#include "lmkit/core/kernels.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/core/packed_quant.h"
#include "lmkit/core/quant.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/infer/engine_kernels.h"

namespace lmkit {

namespace {

// Anonymous memory committed page by page as it is first written (MAP_NORESERVE: a long
// context reserves address space, not RAM).
class LazyBuffer {
 public:
  LazyBuffer() = default;
  explicit LazyBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_ == 0) return;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check(p != MAP_FAILED, "cannot reserve {} bytes for the KV cache", bytes_);
    data_ = static_cast<uint8_t*>(p);
  }
  ~LazyBuffer() {
    if (data_) munmap(data_, bytes_);
  }
  LazyBuffer(LazyBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  LazyBuffer& operator=(LazyBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// A small vector parameter (norm weight, bias) as f32.
std::vector<float> vec_f32(const Weight* w) {
  if (!w) return {};
  std::vector<float> v(size_t(w->q.numel()));
  if (w->grouped_q8()) {
    w->dequantize_row(0, v.data());
  } else {
    dequantize_row(w->q.type, w->q.data, v.data(), w->q.numel());
  }
  return v;
}

// A matrix the engine multiplies by: the model's weight and, where the int8 kernels
// apply (Q8_0 / Q4_0 on AVX-512 VNNI, EngineOptions::pack_weights), the same rows packed
// for them (core/packed_quant.h), which every product then reads instead.
struct Linear {
  const Weight* w = nullptr;
  std::unique_ptr<const PackedQ> packed;
  int64_t rows() const { return w->rows(); }
  int64_t cols() const { return w->cols(); }
  GgmlType type() const { return w->type(); }
};

}  // namespace

struct Engine::Impl {
  struct Layer {
    std::vector<float> attn_norm_w, attn_norm_b, mlp_norm_w, mlp_norm_b;
    const Linear *q, *k, *v, *o, *gate, *up, *down;
    std::vector<float> q_b, k_b, v_b, o_b, gate_b, up_b, down_b, q_norm, k_norm;
  };
  struct Sequence {
    bool used = false;
    int64_t len = 0;
    LazyBuffer kv;  // per layer: K (NKV, ctx, hs) then V (NKV, ctx, hs)
  };

  const ModelConfig* c = nullptr;
  std::vector<Layer> layers;
  const Weight* embed = nullptr;
  const Weight* pos_embed = nullptr;
  const Linear* head = nullptr;
  std::deque<Linear> linears;  // every matrix of the layers and the head
  std::vector<float> final_w, final_b;
  std::vector<Sequence> seqs;
  size_t elem = 4;          // bytes per cached value
  size_t layer_stride = 0;  // bytes of one layer's K or V in a sequence
  // RoPE cos/sin (ctx, 2, hs/2), as core/kernels.cpp rope_cos_sin computes them.
  std::vector<float> cos_sin;
  bool interleaved = false;
  // Scratch for a batch of N tokens; xn_t: per pool thread, normalised activations (N + R, C)
  // (R: the rows that want logits).
  std::vector<float> x, q, k, v, att, h1, h2, o;
  std::vector<float> part_o, part_d;  // decode: partial products per column segment
  std::vector<std::vector<float>> xn_t;
  std::vector<float> embrow;
  bool single_thread = false;  // tiny models: one thread beats waking the pool
  bool runq = false;           // llama2.c int8: runq.c's forward (Engine::forward_runq)
  bool ggml_gelu = false;      // GGUF models: llama.cpp's f16-table GELU
};

Engine::Engine(std::shared_ptr<const ModelWeights> weights, EngineOptions options)
    : w_(std::move(weights)), opt_(options), impl_(std::make_unique<Impl>()) {
  check(w_ != nullptr, "Engine: no weights");
  w_->validate();
  const ModelConfig& c = w_->config;
  ctx_ = opt_.context > 0 ? opt_.context : c.max_seq_len;
  check(ctx_ >= 1 && ctx_ <= (int64_t(1) << 24), "context {} is out of range", ctx_);
  check(c.pos != PosKind::Learned || ctx_ <= c.max_seq_len,
        "context {} exceeds the {} learned positions of the model", ctx_, c.max_seq_len);
  check(opt_.max_batch >= 1, "max_batch must be >= 1");
  Impl& I = *impl_;
  I.c = &w_->config;
  I.embed = &w_->at("embed.weight");
  I.pos_embed = w_->find("pos_embed.weight");
  auto linear = [&](const Weight* w) -> const Linear* {
    if (!w) return nullptr;
    I.linears.push_back({w, nullptr});
    return &I.linears.back();
  };
  I.head = linear(c.tie_embeddings ? I.embed : &w_->at("lm_head.weight"));
  I.final_w = vec_f32(&w_->at("final_norm.weight"));
  I.final_b = vec_f32(w_->find("final_norm.bias"));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string L = "layers." + std::to_string(l) + ".";
    Impl::Layer ly;
    ly.attn_norm_w = vec_f32(&w_->at(L + "attn_norm.weight"));
    ly.attn_norm_b = vec_f32(w_->find(L + "attn_norm.bias"));
    ly.mlp_norm_w = vec_f32(&w_->at(L + "mlp_norm.weight"));
    ly.mlp_norm_b = vec_f32(w_->find(L + "mlp_norm.bias"));
    ly.q = linear(&w_->at(L + "attn.q.weight"));
    ly.k = linear(&w_->at(L + "attn.k.weight"));
    ly.v = linear(&w_->at(L + "attn.v.weight"));
    ly.o = linear(&w_->at(L + "attn.o.weight"));
    ly.gate = linear(w_->find(L + "mlp.gate.weight"));
    ly.up = linear(&w_->at(L + "mlp.up.weight"));
    ly.down = linear(&w_->at(L + "mlp.down.weight"));
    ly.q_b = vec_f32(w_->find(L + "attn.q.bias"));
    ly.k_b = vec_f32(w_->find(L + "attn.k.bias"));
    ly.v_b = vec_f32(w_->find(L + "attn.v.bias"));
    ly.o_b = vec_f32(w_->find(L + "attn.o.bias"));
    ly.gate_b = vec_f32(w_->find(L + "mlp.gate.bias"));
    ly.up_b = vec_f32(w_->find(L + "mlp.up.bias"));
    ly.down_b = vec_f32(w_->find(L + "mlp.down.bias"));
    ly.q_norm = vec_f32(w_->find(L + "attn.q_norm.weight"));
    ly.k_norm = vec_f32(w_->find(L + "attn.k_norm.weight"));
    I.layers.push_back(std::move(ly));
  }
  I.elem = opt_.kv_type == KvType::F16 ? 2 : 4;
  I.layer_stride = size_t(c.n_kv_head) * size_t(ctx_) * size_t(c.head_dim) * I.elem;
  I.interleaved = w_->rope_pairing == RopePairing::Interleaved;
  I.runq = I.layers.front().q->w->grouped_q8();
  I.ggml_gelu = w_->format == "gguf";
  if (I.runq)
    for (const auto& [name, wt] : w_->tensors)
      check(wt.grouped_q8() || wt.q.shape.size() == 1,
            "{}: mixes llama2.c int8 and other weight "
            "types ('{}')",
            w_->source, name);
  check(!I.runq || (w_->rope_pairing == RopePairing::HalfSplit && c.pos == PosKind::Rope &&
                    c.mlp == MlpKind::SwiGlu && !c.attn_qkv_bias && !c.qk_norm),
        "llama2.c int8 weights only come in llama2.c's Llama architecture");
  // Pack what the int8 kernels can take, giving back the mapped file's pages of each
  // chunk as soon as it is packed (resident memory holds the weights about once: the
  // pages of one ~1 MB chunk twice, never a whole matrix).
  if (opt_.pack_weights && !I.runq)
    for (Linear& l : I.linears)
      if (PackedQ::supported(l.w->q)) {
        l.packed = std::make_unique<const PackedQ>(
            l.w->q, [](const uint8_t* p, size_t n) { MappedFile::release(p, n); });
      }
  I.embrow.resize(size_t(c.dim));
  // Below ~1 MB of weights per token the work is microseconds per layer: a single thread
  // avoids waking the pool dozens of times per token.
  I.single_thread = w_->bytes() < (size_t(2) << 20);
}

Engine::~Engine() = default;

const ModelConfig& Engine::config() const {
  return w_->config;
}
int64_t Engine::vocab_size() const {
  return w_->config.vocab_size;
}

int Engine::add_sequence() {
  Impl& I = *impl_;
  size_t id = 0;
  while (id < I.seqs.size() && I.seqs[id].used) ++id;
  if (id == I.seqs.size()) I.seqs.emplace_back();
  Impl::Sequence& s = I.seqs[id];
  s.used = true;
  s.len = 0;
  if (s.kv.size() == 0) s.kv = LazyBuffer(2 * I.layer_stride * size_t(config().n_layer));
  return int(id);
}

void Engine::remove_sequence(int seq) {
  check(seq >= 0 && size_t(seq) < impl_->seqs.size() && impl_->seqs[size_t(seq)].used,
        "no sequence {}", seq);
  Impl::Sequence& s = impl_->seqs[size_t(seq)];
  s.used = false;
  s.len = 0;
  s.kv = LazyBuffer();  // give the pages back
}

void Engine::truncate(int seq, int64_t n) {
  check(seq >= 0 && size_t(seq) < impl_->seqs.size() && impl_->seqs[size_t(seq)].used,
        "no sequence {}", seq);
  Impl::Sequence& s = impl_->seqs[size_t(seq)];
  check(n >= 0 && n <= s.len, "cannot truncate sequence {} of {} positions to {}", seq, s.len, n);
  s.len = n;
}

int64_t Engine::length(int seq) const {
  check(seq >= 0 && size_t(seq) < impl_->seqs.size() && impl_->seqs[size_t(seq)].used,
        "no sequence {}", seq);
  return impl_->seqs[size_t(seq)].len;
}

int Engine::num_sequences() const {
  int n = 0;
  for (const auto& s : impl_->seqs) n += s.used;
  return n;
}

size_t Engine::kv_bytes_reserved() const {
  size_t n = 0;
  for (const auto& s : impl_->seqs) n += s.kv.size();
  return n;
}

void Engine::capture_attention(int layer) {
  check(layer < config().n_layer, "layer {} is outside the model's {} layers", layer,
        config().n_layer);
  capture_layer_ = layer;
  captured_.clear();
}

int64_t Engine::decode(std::span<const BatchToken> batch, float* logits) {
  const ModelConfig& c = config();
  // Validate everything before touching any cache.
  std::vector<int64_t> add(impl_->seqs.size(), 0);
  int64_t n_out = 0;
  for (const BatchToken& b : batch) {
    check(b.seq >= 0 && size_t(b.seq) < impl_->seqs.size() && impl_->seqs[size_t(b.seq)].used,
          "batch names sequence {}, which does not exist", b.seq);
    check(b.token >= 0 && b.token < c.vocab_size, "token id {} is outside the vocabulary of {}",
          b.token, c.vocab_size);
    ++add[size_t(b.seq)];
    n_out += b.logits;
  }
  for (size_t s = 0; s < add.size(); ++s)
    check(impl_->seqs[s].len + add[s] <= ctx_ || add[s] == 0,
          "sequence {} would grow to {} positions, past the context of {}", s,
          impl_->seqs[s].len + add[s], ctx_);
  check(n_out == 0 || logits != nullptr, "decode: logits requested but no output buffer");
  captured_.clear();
  int64_t done_out = 0;
  for (size_t b0 = 0; b0 < batch.size(); b0 += size_t(opt_.max_batch)) {
    const size_t n = std::min(batch.size() - b0, size_t(opt_.max_batch));
    auto part = batch.subspan(b0, n);
    float* out = logits ? logits + done_out * c.vocab_size : nullptr;
    if (impl_->single_thread) {
      // Run the whole pass inside one pool job: nested kernels then run serially.
      thread_pool().run([&](int tid, int) {
        if (tid == 0) forward(part, out);
      });
    } else {
      forward(part, out);
    }
    for (const BatchToken& t : part) done_out += t.logits;
  }
  return n_out;
}

void Engine::prefill(int seq, std::span<const int32_t> tokens, float* last_logits,
                     float* all_logits) {
  if (tokens.empty()) return;
  std::vector<BatchToken> batch(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    batch[i] = {seq, tokens[i],
                all_logits != nullptr || (last_logits != nullptr && i + 1 == tokens.size())};
  if (all_logits) {
    decode(batch, all_logits);
    if (last_logits)
      std::memcpy(last_logits, all_logits + (tokens.size() - 1) * size_t(vocab_size()),
                  size_t(vocab_size()) * sizeof(float));
  } else {
    decode(batch, last_logits);
  }
}

void Engine::step(std::span<const int> seqs, std::span<const int32_t> tokens, float* logits) {
  check(seqs.size() == tokens.size(), "step: {} sequences but {} tokens", seqs.size(),
        tokens.size());
  std::vector<BatchToken> batch(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) batch[i] = {seqs[i], tokens[i], true};
  decode(batch, logits);
}

namespace {

// [begin, end) of thread tid's share of n items, split at multiples of `align`.
std::pair<int64_t, int64_t> split_range(int64_t n, int tid, int nt, int64_t align) {
  const int64_t units = (n + align - 1) / align;
  const int64_t b = std::min(n, units * tid / nt * align),
                e = std::min(n, units * (tid + 1) / nt * align);
  return {b, e};
}

// The weight bytes a thread reads in its next decode stage, prefetched (into L2) while it
// waits at the barrier before that stage, as Barrier::wait's work. Measured on llama110m
// (2 threads): each thread spent ~20% of a Q4_0 token waiting at the two barriers per layer,
// both alike (the stages' lengths vary from token to token, not one thread's), and a thread
// woken from the futex started its next stage late; prefetching keeps the waiting thread
// awake and the memory bus busy with bytes it reads next (Q4_0 and Q8_0 decode ~5% faster,
// paired rounds). Up to kBudget bytes (half of a 1 MB L2), kPiece bytes a piece.
class StagePrefetch {
 public:
  void clear() { n_ = cur_ = 0, row_ = 0, off_ = 0, done_ = 0; }
  // Adds rows [r0, r1) of l (at most 4 spans in all): packed, its groups of them.
  void rows(const Linear& l, int64_t r0, int64_t r1) {
    if (r1 <= r0) return;
    if (const PackedQ* p = l.packed.get()) {
      const int64_t g0 = r0 / PackedQ::kGroupRows, g1 = (r1 + PackedQ::kGroupRows - 1) / PackedQ::kGroupRows;
      add(p->group(g0), size_t(g1 - g0) * p->group_bytes(), 0, 1);
      return;
    }
    const size_t rb = l.w->q.row_bytes();
    add(l.w->q.data + size_t(r0) * rb, size_t(r1 - r0) * rb, 0, 1);
  }
  // Adds columns [k0, k1) of every row of l (a column segment: part of each row; packed,
  // part of each group, k0 and k1 multiples of 64).
  void cols(const Linear& l, int64_t k0, int64_t k1) {
    if (k1 <= k0) return;
    if (const PackedQ* p = l.packed.get()) {
      add(p->group(0) + size_t(k0 / 64) * p->pair_bytes(), size_t((k1 - k0) / 64) * p->pair_bytes(),
          p->group_bytes(), p->groups());
      return;
    }
    const Weight& w = *l.w;
    const size_t b0 = ggml_row_size(w.type(), k0), b1 = ggml_row_size(w.type(), k1);
    add(w.q.data + b0, b1 - b0, w.q.row_bytes(), w.rows());
  }
  // One piece; false when everything (or the budget) is prefetched.
  bool step() {
    size_t piece = 0;
    while (piece < kPiece && cur_ < n_) {
      const Span& sp = spans_[size_t(cur_)];
      // The lines of this row's bytes, from the start of the line its first byte is in.
      const uint8_t* row = sp.p + size_t(row_) * sp.stride;
      const uint8_t* line0 = row - reinterpret_cast<uintptr_t>(row) % 64;
      const size_t n = size_t(row + sp.len - line0);
      for (; off_ < n && piece < kPiece; off_ += 64, piece += 64)
        __builtin_prefetch(line0 + off_, 0, 2);  // read, keep in L2
      if (off_ >= n) {
        off_ = 0;
        if (++row_ == sp.rows) row_ = 0, ++cur_;
      }
    }
    done_ += piece;
    return cur_ < n_ && done_ < kBudget;
  }

 private:
  static constexpr size_t kBudget = 512 * 1024, kPiece = 4096;
  struct Span {  // rows of len bytes from p, stride apart
    const uint8_t* p;
    size_t len, stride;
    int64_t rows;
  };
  void add(const uint8_t* p, size_t len, size_t stride, int64_t rows) {
    if (n_ < int(spans_.size())) spans_[size_t(n_++)] = {p, len, stride, rows};
  }
  std::array<Span, 4> spans_{};
  int n_ = 0, cur_ = 0;
  int64_t row_ = 0;
  size_t off_ = 0, done_ = 0;
};

// Columns [r0, r1) of out = x (M, K) @ w^T + bias (N), w (N, K) of any supported storage,
// on the calling thread (inside a pool job the core kernels run serially): stored into
// y[m * ldy + j], or, given `via` (a free buffer of the same layout), computed there and
// then added to y (y += out, the residual connection; out is complete, bias included,
// before the add).
void linear_rows(float* y, int64_t ldy, const float* x, const Linear& l,
                 const std::vector<float>& bias, int64_t M, int64_t r0, int64_t r1,
                 float* via = nullptr) {
  if (r1 <= r0 || M == 0) return;
  const Weight& w = *l.w;
  const int64_t K = w.cols(), n = r1 - r0;
  float* out = (via ? via : y) + r0;
  const int64_t ldo = ldy;
  if (l.packed && r0 % PackedQ::kGroupRows == 0) {
    matmul_packed(out, ldo, x, *l.packed, M, r0, r1);
  } else if (w.q.type == GgmlType::F32) {
    const float* wr = reinterpret_cast<const float*>(w.q.data) + r0 * K;
    // Few activation rows (decode): stream each weight row once; else OpenBLAS's GEMM (which
    // packs the weight panel first, a second pass over memory that only pays off for many rows).
    if (M <= 8)
      infer_kernels::gemv_f32(out, ldo, x, M, wr, K, n);
    else
      sgemm_serial(false, true, M, n, K, 1.0f, x, K, wr, K, 0.0f, out, ldo);
  } else {
    const float* xin = x;
    if (w.q.type == GgmlType::F16 || w.q.type == GgmlType::BF16) {
      // ggml converts the activations to the weight's 16-bit type (vec_dot_type) and sums
      // the exact products in f32; rounding x first and multiplying in f32 is the same.
      thread_local std::vector<float> xr;
      if (xr.size() < size_t(M * K)) xr.resize(size_t(M * K));
      if (w.q.type == GgmlType::F16)
        infer_kernels::round_to_f16(xr.data(), x, M * K);
      else
        infer_kernels::round_to_bf16(xr.data(), x, M * K);
      xin = xr.data();
    }
    QTensor part = w.q;
    part.shape[0] = n;
    part.data = w.q.row(r0);
    part.bytes = w.q.row_bytes() * size_t(n);
    matmul_q(out, ldo, xin, part, M);
  }
  for (int64_t m = 0; m < M; ++m) {
    float* o = out + m * ldo;
    if (!bias.empty())
      for (int64_t j = 0; j < n; ++j) o[j] += bias[size_t(r0 + j)];
    if (via) {
      float* ym = y + m * ldy + r0;
      for (int64_t j = 0; j < n; ++j) ym[j] += o[j];
    }
  }
}

void norm(const ModelConfig& c, float* out, const float* x, const std::vector<float>& w,
          const std::vector<float>& b, int64_t N) {
  if (c.norm == NormKind::LayerNorm)
    kernels::layernorm_forward(out, nullptr, nullptr, x, w.data(), b.empty() ? nullptr : b.data(),
                               N, c.dim, float(c.norm_eps));
  else
    kernels::rmsnorm_forward(out, nullptr, x, w.data(), N, c.dim, float(c.norm_eps));
}

}  // namespace

// llama2.c runq.c forward(), one token at a time, with its exact operation order
// (karpathy/llama2.c runq.c: rmsnorm, quantize + matmul, RoPE, multihead attention,
// softmax, SwiGLU). The q/k rows were permuted into rotate_half order by io/llama2c.h:
// runq.c's element 2p + j of a head is our element j * hs/2 + p, so its pairs and its
// sums over a head are visited in runq.c's order below.
void Engine::forward_runq(std::span<const BatchToken> batch, float* logits) {
  Impl& I = *impl_;
  const ModelConfig& c = *I.c;
  const int64_t C = c.dim, hs = c.head_dim, NH = c.n_head, NKV = c.n_kv_head, H = c.hidden_dim,
                V = c.vocab_size, half = hs / 2, kv_mul = NH / NKV;
  check(I.elem == 4, "llama2.c int8 models keep an f32 KV cache (as runq.c does)");
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> x = buf(C), xb = buf(C), xb2 = buf(C), q = buf(NH * hs), k = buf(NKV * hs),
                     v = buf(NKV * hs), hb = buf(H), hb2 = buf(H), att = buf(ctx_);
  auto rmsnorm = [&](float* o, const float* xs, const std::vector<float>& w) {
    float ss = 0.0f;
    for (int64_t j = 0; j < C; j++) ss += xs[j] * xs[j];
    ss /= float(C);
    ss += 1e-5f;
    ss = 1.0f / std::sqrt(ss);
    for (int64_t j = 0; j < C; j++) o[j] = w[size_t(j)] * (ss * xs[j]);
  };
  auto matmul = [&](float* y, const float* xs, const Linear& l) {
    const Weight& w = *l.w;
    infer_kernels::matmul_llama2c_q8(y, xs, reinterpret_cast<const int8_t*>(w.q.data),
                                     w.group_scales, w.group_size, 1, w.cols(), w.rows());
  };
  int64_t out_row = 0;
  for (const BatchToken& bt : batch) {
    Impl::Sequence& s = I.seqs[size_t(bt.seq)];
    const int64_t pos = s.len;
    I.embed->dequantize_row(bt.token, x.data());
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const Impl::Layer& ly = I.layers[size_t(l)];
      rmsnorm(xb.data(), x.data(), ly.attn_norm_w);
      matmul(q.data(), xb.data(), *ly.q);
      matmul(k.data(), xb.data(), *ly.k);
      matmul(v.data(), xb.data(), *ly.v);
      // RoPE: freq = 1 / powf(10000, head_dim / head_size), val = pos * freq.
      for (int64_t h = 0; h < NH; ++h)
        for (int64_t p = 0; p < half; ++p) {
          const float freq = 1.0f / std::pow(10000.0f, float(2 * p) / float(hs));
          const float val = float(pos) * freq;
          const float fcr = std::cos(val), fci = std::sin(val);
          for (int rot = 0; rot < (h < NKV ? 2 : 1); ++rot) {
            float* vec = (rot == 0 ? q.data() : k.data()) + h * hs;
            const float v0 = vec[p], v1 = vec[p + half];
            vec[p] = v0 * fcr - v1 * fci;
            vec[p + half] = v0 * fci + v1 * fcr;
          }
        }
      float* kc = reinterpret_cast<float*>(s.kv.data() + size_t(2 * l) * I.layer_stride);
      float* vc = reinterpret_cast<float*>(s.kv.data() + size_t(2 * l + 1) * I.layer_stride);
      for (int64_t h = 0; h < NKV; ++h) {
        std::memcpy(kc + (h * ctx_ + pos) * hs, k.data() + h * hs, size_t(hs) * 4);
        std::memcpy(vc + (h * ctx_ + pos) * hs, v.data() + h * hs, size_t(hs) * 4);
      }
      const bool capture = capture_layer_ == l;
      for (int64_t h = 0; h < NH; ++h) {
        const float* qh = q.data() + h * hs;
        const int64_t kh = h / kv_mul;
        for (int64_t t = 0; t <= pos; ++t) {
          const float* kt = kc + (kh * ctx_ + t) * hs;
          float score = 0.0f;
          for (int64_t p = 0; p < half; ++p) {  // runq.c's i = 2p, 2p + 1
            score += qh[p] * kt[p];
            score += qh[p + half] * kt[p + half];
          }
          score /= std::sqrt(float(hs));
          att[size_t(t)] = score;
        }
        float max_val = att[0];
        for (int64_t t = 1; t <= pos; ++t)
          if (att[size_t(t)] > max_val) max_val = att[size_t(t)];
        float sum = 0.0f;
        for (int64_t t = 0; t <= pos; ++t) {
          att[size_t(t)] = std::exp(att[size_t(t)] - max_val);
          sum += att[size_t(t)];
        }
        for (int64_t t = 0; t <= pos; ++t) att[size_t(t)] /= sum;
        if (capture)
          captured_.push_back(
              {bt.seq, pos, int(h), std::vector<float>(att.begin(), att.begin() + pos + 1)});
        float* o = xb.data() + h * hs;
        std::fill(o, o + hs, 0.0f);
        for (int64_t t = 0; t <= pos; ++t) {
          const float* vt = vc + (kh * ctx_ + t) * hs;
          const float a = att[size_t(t)];
          for (int64_t i = 0; i < hs; ++i) o[i] += a * vt[i];
        }
      }
      matmul(xb2.data(), xb.data(), *ly.o);
      for (int64_t i = 0; i < C; ++i) x[size_t(i)] += xb2[size_t(i)];
      rmsnorm(xb.data(), x.data(), ly.mlp_norm_w);
      matmul(hb.data(), xb.data(), *ly.gate);
      matmul(hb2.data(), xb.data(), *ly.up);
      for (int64_t i = 0; i < H; ++i) {
        float val = hb[size_t(i)];
        val *= (1.0f / (1.0f + std::exp(-val)));
        val *= hb2[size_t(i)];
        hb[size_t(i)] = val;
      }
      matmul(xb.data(), hb.data(), *ly.down);
      for (int64_t i = 0; i < C; ++i) x[size_t(i)] += xb[size_t(i)];
    }
    s.len++;
    if (!bt.logits) continue;
    rmsnorm(x.data(), x.data(), I.final_w);
    matmul(logits + out_row * V, x.data(), *I.head);
    ++out_row;
  }
}

void Engine::forward(std::span<const BatchToken> batch, float* logits) {
  Impl& I = *impl_;
  if (I.runq) {
    forward_runq(batch, logits);
    return;
  }
  const ModelConfig& c = *I.c;
  const int64_t N = int64_t(batch.size());
  const int64_t C = c.dim, hs = c.head_dim, NH = c.n_head, NKV = c.n_kv_head, H = c.hidden_dim,
                V = c.vocab_size;
  const int64_t qd = NH * hs, kvd = NKV * hs;
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (v.size() < size_t(n)) v.resize(size_t(n));
  };
  grow(I.x, N * C);
  grow(I.q, N * qd);
  grow(I.k, N * kvd);
  grow(I.v, N * kvd);
  grow(I.att, N * qd);
  if (c.mlp == MlpKind::SwiGlu) grow(I.h1, N * H);
  grow(I.h2, N * H);

  // Positions: each token takes the next position of its sequence.
  std::vector<int64_t> pos(static_cast<size_t>(N));
  {
    std::vector<int64_t> next(I.seqs.size());
    for (size_t s = 0; s < I.seqs.size(); ++s) next[s] = I.seqs[s].len;
    for (int64_t i = 0; i < N; ++i) pos[size_t(i)] = next[size_t(batch[size_t(i)].seq)]++;
  }
  int64_t max_pos = 0;
  for (int64_t p : pos) max_pos = std::max(max_pos, p);
  if (c.pos == PosKind::Rope && int64_t(I.cos_sin.size()) < (max_pos + 1) * hs) {
    // core/kernels.cpp rope_cos_sin: angle = f32(pos * inv_freq[i]) evaluated in double.
    const int64_t half = hs / 2, from = int64_t(I.cos_sin.size()) / hs;
    const int64_t to = std::max<int64_t>(max_pos + 1, std::min<int64_t>(ctx_, 2 * from + 64));
    I.cos_sin.resize(size_t(to * hs));
    for (int64_t p = from; p < to; ++p) {
      float* row = I.cos_sin.data() + p * hs;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(float(p) * w_->rope_inv_freq[size_t(i)]);
        row[i] = float(std::cos(angle));
        row[half + i] = float(std::sin(angle));
      }
    }
  }

  // Embeddings: x = wte[id] (+ wpe[pos]) (kernels::embedding_forward).
  for (int64_t i = 0; i < N; ++i) {
    float* xr = I.x.data() + i * C;
    if (I.head->w == I.embed && I.head->packed)  // tied and packed: the file's pages were given back
      I.head->packed->dequantize_row(batch[size_t(i)].token, xr);
    else
      I.embed->dequantize_row(batch[size_t(i)].token, xr);
    if (I.pos_embed) {
      I.pos_embed->dequantize_row(pos[size_t(i)], I.embrow.data());
      for (int64_t j = 0; j < C; ++j) xr[j] += I.embrow[size_t(j)];
    }
  }

  // The rows that want logits.
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < N; ++i)
    if (batch[size_t(i)].logits) rows.push_back(i);
  const int64_t R = int64_t(rows.size());

  // Capture buffers are sized before the threads start.
  if (capture_layer_ >= 0) {
    captured_.resize(size_t(N * NH));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t h = 0; h < NH; ++h) {
        auto& r = captured_[size_t(i * NH + h)];
        r.seq = batch[size_t(i)].seq;
        r.pos = pos[size_t(i)];
        r.head = int(h);
        r.weights.assign(size_t(pos[size_t(i)] + 1), 0.0f);
      }
  }

  // Attention work units: (KV head, sequence of the batch). tok_order lists the batch's
  // token indices grouped by sequence (batch order within one), seq_first[g] where group g
  // starts.
  std::vector<int64_t> tok_order, seq_first;
  {
    std::vector<int64_t> count(I.seqs.size(), 0), first(I.seqs.size(), -1);
    for (const BatchToken& b : batch) ++count[size_t(b.seq)];
    for (const BatchToken& b : batch)
      if (first[size_t(b.seq)] < 0) {
        first[size_t(b.seq)] = int64_t(tok_order.size());
        seq_first.push_back(first[size_t(b.seq)]);
        tok_order.resize(tok_order.size() + size_t(count[size_t(b.seq)]));
      }
    seq_first.push_back(N);
    std::vector<int64_t> fill = first;
    for (int64_t i = 0; i < N; ++i) tok_order[size_t(fill[size_t(batch[size_t(i)].seq)]++)] = i;
  }
  const int64_t n_seq = int64_t(seq_first.size()) - 1, n_units = n_seq * NKV;

  // The whole pass is one job on the thread pool. Stages, split over the threads and
  // separated by a barrier (futex, no spinning), so a token costs one wake-up of the pool:
  //   1. norm (every thread, all tokens, into its own buffer), then its rows of q, k, v
  //      (those of its KV heads when every thread has one: then no barrier before 2.);
  //   2. per (KV head, sequence): q/k norms, RoPE, cache append, attention of that head group;
  //   3. its rows of the output projection, added to the residual stream x;
  //   4. norm (own buffer), its rows of up (and gate) and the activation of those columns;
  //   5. its rows of down, added to x.
  // Each thread writes only its own columns of x, so the residual adds need no extra stage.
  const int nt_job = I.single_thread ? 1 : thread_pool().size();
  if (I.xn_t.size() < size_t(nt_job)) I.xn_t.resize(size_t(nt_job));
  for (int t = 0; t < nt_job; ++t) grow(I.xn_t[size_t(t)], (N + R) * C);
  // The projections added to x go through buffers (N, C) that are free at that point: q
  // (read by the attention stage before) for the output projection, h2 (up, consumed by
  // the activation) for down, else a buffer of their own.
  float* o_via = I.q.data();
  if (qd < C) {
    grow(I.o, N * C);
    o_via = I.o.data();
  }
  float* down_via = I.o.data();
  if (c.mlp == MlpKind::SwiGlu && H >= C) down_via = I.h2.data();
  else if (qd >= C) down_via = I.q.data();
  else grow(I.o, N * C), down_via = I.o.data();
  // Decode (at most three tokens): the output projection and down are split over their
  // input columns rather than their rows. Each thread multiplies the attention outputs of
  // its own KV heads and its own MLP columns, into partial products per fixed column
  // segment (one KV head group of o's columns; d_seg of down's), and every thread adds all
  // the segments, in order, into its own copy of x (core/quant.h matmul_q_segments). Two
  // barriers per layer instead of four, and the same bits for any thread count (the
  // segments do not depend on it). Prefill (GEMMs) keeps the row split.
  const int64_t group = NH / NKV, o_seg = group * hs;
  auto segmentable = [&](const Linear* w, int64_t seg) {
    if (!w) return true;
    const GgmlType t = w->type();
    if (t == GgmlType::Q8_0 || t == GgmlType::Q4_0) return seg % 64 == 0;
    if (t == GgmlType::F32) return seg % 16 == 0;
    return t == GgmlType::F16 || t == GgmlType::BF16;
  };
  int64_t d_seg = 0;
  for (int64_t sgc : {256, 128, 64})
    if (H % sgc == 0) {
      d_seg = sgc;
      break;
    }
  bool split_k = N <= 3 && d_seg > 0;
  for (const Impl::Layer& ly : I.layers)
    split_k = split_k && segmentable(ly.o, o_seg) && segmentable(ly.down, d_seg);
  if (split_k) {
    grow(I.part_o, NKV * N * C);
    grow(I.part_d, (H / d_seg) * N * C);
    for (int t = 0; t < nt_job; ++t) grow(I.xn_t[size_t(t)], (2 * N + R) * C);
  }
  const float scale = 1.0f / std::sqrt(float(hs));
  Barrier barrier(nt_job);
  auto body = [&](int tid, int nt) {
    auto sync = [&] { barrier.wait(); };
    StagePrefetch pf;
    auto sync_prefetch = [&] { barrier.wait([&] { return pf.step(); }); };
    float* xn = I.xn_t[size_t(tid)].data();  // (N, C) this thread's normalised activations
    // The residual stream: shared, or (split_k) this thread's own copy.
    float* x = I.x.data();
    if (split_k) {
      x = xn + (N + R) * C;
      std::memcpy(x, I.x.data(), size_t(N * C) * sizeof(float));
    }
    // part[s] (N, C) for the segments of columns [k0, k1) of w (C, K) against xs (N, K).
    auto segments = [&](float* part, const float* xs, const Linear& l, int64_t k0, int64_t k1,
                        int64_t seg) {
      const Weight& w = *l.w;
      if (l.packed)
        matmul_packed_segments(part, C, N * C, xs, *l.packed, N, k0, k1, seg);
      else if (w.type() == GgmlType::F32)
        infer_kernels::gemv_f32_segments(part, C, N * C, xs, N, reinterpret_cast<const float*>(w.q.data),
                                         w.cols(), k0, k1, seg, w.rows());
      else
        matmul_q_segments(part, C, N * C, xs, w.q, N, k0, k1, seg);
    };
    // x (N, C) += sum over segments s < n of part[s] (N, C), in segment order, plus bias.
    auto add_segments = [&](const float* part, int64_t n, const std::vector<float>& bias) {
      thread_local std::vector<float> row;
      if (row.size() < size_t(C)) row.resize(size_t(C));
      for (int64_t m = 0; m < N; ++m) {
        std::memcpy(row.data(), part + m * C, size_t(C) * sizeof(float));
        for (int64_t sg = 1; sg < n; ++sg) {
          const float* p = part + (sg * N + m) * C;
          for (int64_t j = 0; j < C; ++j) row[size_t(j)] += p[j];
        }
        if (!bias.empty())
          for (int64_t j = 0; j < C; ++j) row[size_t(j)] += bias[size_t(j)];
        for (int64_t j = 0; j < C; ++j) x[m * C + j] += row[size_t(j)];
      }
    };
    auto matmul = [&](float* y, int64_t ldy, const float* x, const Linear& w,
                      const std::vector<float>& bias, float* via) {
      const auto [r0, r1] = split_range(w.rows(), tid, nt, 16);
      linear_rows(y, ldy, x, w, bias, N, r0, r1, via);
    };
    // With at least one KV head per thread, a thread computes the q, k, v rows of its own
    // heads and attends with them: no barrier between the projections and the attention.
    // Else q, k, v are split by rows and the attention by (sequence, KV head) after a barrier.
    const bool head_split = NKV >= nt;
    const auto [kv0, kv1] = split_range(NKV, tid, nt, 1);
    const auto [u0, u1] = head_split ? std::pair<int64_t, int64_t>{kv0 * n_seq, kv1 * n_seq}
                                     : split_range(n_units, tid, nt, 1);
    const auto [h0, h1] = split_range(H, tid, nt, split_k ? d_seg : 16);
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const Impl::Layer& ly = I.layers[size_t(l)];
      norm(c, xn, x, ly.attn_norm_w, ly.attn_norm_b, N);
      if (head_split) {
        linear_rows(I.q.data(), qd, xn, *ly.q, ly.q_b, N, kv0 * group * hs, kv1 * group * hs);
        linear_rows(I.k.data(), kvd, xn, *ly.k, ly.k_b, N, kv0 * hs, kv1 * hs);
        linear_rows(I.v.data(), kvd, xn, *ly.v, ly.v_b, N, kv0 * hs, kv1 * hs);
      } else {
        matmul(I.q.data(), qd, xn, *ly.q, ly.q_b, nullptr);
        matmul(I.k.data(), kvd, xn, *ly.k, ly.k_b, nullptr);
        matmul(I.v.data(), kvd, xn, *ly.v, ly.v_b, nullptr);
        sync();
      }
      const bool capture = capture_layer_ == l;
      thread_local std::vector<float> scores;
      if (scores.size() < size_t(ctx_)) scores.resize(size_t(ctx_));
      for (int64_t u = u0; u < u1; ++u) {
        // Units in KV-head-major order: all sequences of one KV head are consecutive.
        const int64_t kh = u / n_seq, g = u % n_seq, t_begin = seq_first[size_t(g)],
                      t_end = seq_first[size_t(g) + 1];
        Impl::Sequence& s = I.seqs[size_t(batch[size_t(tok_order[size_t(t_begin)])].seq)];
        uint8_t* kbase = s.kv.data() + size_t(2 * l) * I.layer_stride +
                         size_t(kh) * size_t(ctx_) * size_t(hs) * I.elem;
        uint8_t* vbase = kbase + I.layer_stride;
        for (int64_t t = t_begin; t < t_end; ++t) {
          const int64_t i = tok_order[size_t(t)];
          float* qg = I.q.data() + i * qd + kh * group * hs;  // the group's query heads
          float* ki = I.k.data() + i * kvd + kh * hs;
          const float* vi = I.v.data() + i * kvd + kh * hs;
          if (c.qk_norm) {  // Qwen3: RMSNorm over each head of q and k, before RoPE
            kernels::rmsnorm_forward(qg, nullptr, qg, ly.q_norm.data(), group, hs, float(c.norm_eps));
            kernels::rmsnorm_forward(ki, nullptr, ki, ly.k_norm.data(), 1, hs, float(c.norm_eps));
          }
          if (c.pos == PosKind::Rope) {
            const float* cs = I.cos_sin.data() + pos[size_t(i)] * hs;
            infer_kernels::rope(qg, group, hs, cs, I.interleaved);
            infer_kernels::rope(ki, 1, hs, cs, I.interleaved);
          }
          const size_t off = size_t(pos[size_t(i)]) * size_t(hs) * I.elem;
          if (I.elem == 4) {
            std::memcpy(kbase + off, ki, size_t(hs) * 4);
            std::memcpy(vbase + off, vi, size_t(hs) * 4);
          } else {
            infer_kernels::f32_to_f16_row(ki, reinterpret_cast<f16*>(kbase + off), hs);
            infer_kernels::f32_to_f16_row(vi, reinterpret_cast<f16*>(vbase + off), hs);
          }
        }
        // Token i, head h over positions 0..pos[i] of its sequence (the earlier tokens of
        // this batch are in the cache now). Several tokens (prefill): attend_many, a chunk
        // of query rows at a time; else (and when capturing weights) one row at a time.
        if ((t_end - t_begin) * group >= 4 && !capture) {
          constexpr int64_t kChunk = 64;  // query rows per attend_many call
          thread_local std::vector<float*> outs;
          thread_local std::vector<const float*> qs;
          thread_local std::vector<int64_t> lens;
          thread_local std::vector<float> scratch;
          outs.clear();
          qs.clear();
          lens.clear();
          auto flush = [&] {
            if (lens.empty()) return;
            const int64_t need = infer_kernels::attend_many_scratch(
                int64_t(lens.size()), *std::max_element(lens.begin(), lens.end()), hs);
            if (scratch.size() < size_t(need)) scratch.resize(size_t(need));
            infer_kernels::attend_many(outs.data(), qs.data(), lens.data(), int64_t(lens.size()),
                                       kbase, vbase, I.elem == 2, hs, scale, scratch.data());
            outs.clear();
            qs.clear();
            lens.clear();
          };
          for (int64_t t = t_begin; t < t_end; ++t) {
            const int64_t i = tok_order[size_t(t)];
            for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
              outs.push_back(I.att.data() + i * qd + h * hs);
              qs.push_back(I.q.data() + i * qd + h * hs);
              lens.push_back(pos[size_t(i)] + 1);
            }
            if (int64_t(lens.size()) >= kChunk) flush();
          }
          flush();
          continue;
        }
        for (int64_t t = t_begin; t < t_end; ++t) {
          const int64_t i = tok_order[size_t(t)];
          for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
            infer_kernels::attend(I.att.data() + i * qd + h * hs, I.q.data() + i * qd + h * hs,
                                  kbase, vbase, I.elem == 2, pos[size_t(i)] + 1, hs, scale,
                                  scores.data());
            if (capture)
              std::memcpy(captured_[size_t(i * NH + h)].weights.data(), scores.data(),
                          size_t(pos[size_t(i)] + 1) * sizeof(float));
          }
        }
      }
      if (split_k) {
        // This thread's KV head groups' segments of the output projection (after the
        // attention of every head when the heads were not split by thread).
        auto [g0, g1] = std::pair<int64_t, int64_t>{kv0, kv1};
        if (!head_split) {
          sync();
          std::tie(g0, g1) = split_range(NKV, tid, nt, 1);
        }
        if (g1 > g0)
          segments(I.part_o.data() + g0 * N * C, I.att.data(), *ly.o, g0 * o_seg, g1 * o_seg, o_seg);
        pf.clear();  // the MLP stage's weights: up (and gate) rows, down columns
        pf.rows(*ly.up, h0, h1);
        if (ly.gate) pf.rows(*ly.gate, h0, h1);
        pf.cols(*ly.down, h0, h1);
        sync_prefetch();
        add_segments(I.part_o.data(), NKV, ly.o_b);
      } else {
        sync();
        matmul(x, C, I.att.data(), *ly.o, ly.o_b, o_via);
        sync();
      }
      norm(c, xn, x, ly.mlp_norm_w, ly.mlp_norm_b, N);
      linear_rows(I.h2.data(), H, xn, *ly.up, ly.up_b, N, h0, h1);
      if (c.mlp == MlpKind::SwiGlu) linear_rows(I.h1.data(), H, xn, *ly.gate, ly.gate_b, N, h0, h1);
      // The activation of this thread's columns, through a row-sized buffer back into h
      // (the kernels take no overlapping arguments): h = act(h1, h2) or act(h2).
      float* hact = c.mlp == MlpKind::SwiGlu ? I.h1.data() : I.h2.data();
      thread_local std::vector<float> arow;
      if (arow.size() < size_t(H)) arow.resize(size_t(H));
      for (int64_t m = 0; m < N && h1 > h0; ++m) {
        const int64_t e0 = m * H + h0, n = h1 - h0;
        if (c.mlp == MlpKind::SwiGlu)
          kernels::swiglu_forward(arow.data(), I.h1.data() + e0, I.h2.data() + e0, n);
        else if (I.ggml_gelu)
          infer_kernels::gelu_ggml(arow.data(), I.h2.data() + e0, n);
        else
          kernels::gelu_forward(arow.data(), I.h2.data() + e0, n);
        std::memcpy(hact + e0, arow.data(), size_t(n) * sizeof(float));
      }
      if (split_k) {
        if (h1 > h0) segments(I.part_d.data() + (h0 / d_seg) * N * C, hact, *ly.down, h0, h1, d_seg);
        pf.clear();  // the next layer's q, k, v rows and o columns of this thread's heads
        if (l + 1 < c.n_layer && head_split) {
          const Impl::Layer& nx = I.layers[size_t(l + 1)];
          pf.rows(*nx.q, kv0 * group * hs, kv1 * group * hs);
          pf.rows(*nx.k, kv0 * hs, kv1 * hs);
          pf.rows(*nx.v, kv0 * hs, kv1 * hs);
          pf.cols(*nx.o, kv0 * o_seg, kv1 * o_seg);
        } else if (l + 1 == c.n_layer && R > 0) {  // or this thread's rows of the output head
          const auto [r0, r1] = split_range(V, tid, nt, 16);
          pf.rows(*I.head, r0, r1);
        }
        sync_prefetch();
        add_segments(I.part_d.data(), H / d_seg, ly.down_b);
      } else {
        sync();
        matmul(x, C, hact, *ly.down, ly.down_b, down_via);
        sync();
      }
    }
    if (R == 0) return;
    // The final norm of the rows that want logits (every thread, into its own buffer), then
    // this thread's rows of the output head.
    float* xr = xn + N * C;
    for (int64_t r = 0; r < R; ++r)
      std::memcpy(xr + r * C, x + rows[size_t(r)] * C, size_t(C) * 4);
    norm(c, xn, xr, I.final_w, I.final_b, R);
    const auto [r0, r1] = split_range(V, tid, nt, 16);
    linear_rows(logits, V, xn, *I.head, {}, R, r0, r1);
  };
  if (I.single_thread) {
    thread_pool().run([&](int tid, int) {
      if (tid == 0) body(0, 1);
    });
  } else {
    thread_pool().run(body);
  }
  for (const BatchToken& t : batch) I.seqs[size_t(t.seq)].len++;
}

}  // namespace lmkit
