// The KV-cache engine against the training Decoder's graph (the same model computed the
// other way: full sequence, flash attention): logits within 1e-5 for GPT-2, Llama with GQA
// and Llama-3 RoPE scaling, Qwen2 and Qwen3 configs with random weights, by prefill, by
// token-by-token decode, by batched decode of several sequences, with the q/k rows in
// the interleaved (Meta / GGUF) layout, and with an f16 cache.
#include "lmkit/infer/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/graph.h"
#include "lmkit/core/half.h"
#include "lmkit/core/quant.h"
#include "lmkit/core/random.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/infer/engine_kernels.h"
#include "lmkit/model/decoder.h"

namespace lmkit {
namespace {

ModelConfig config_named(const std::string& name) {
  if (name == "gpt2") return ModelConfig::gpt2(2, 4, 32, 67, 64);
  if (name == "llama_gqa") {
    ModelConfig c = ModelConfig::llama(2, 4, 2, 32, 48, 61, 64);
    c.rope_scaling.enabled = true;  // Llama-3.1 frequency scaling, small original context
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position = 16;
    return c;
  }
  if (name == "qwen2") return ModelConfig::qwen2(2, 4, 2, 32, 40, 59, 64);
  if (name == "qwen3") return ModelConfig::qwen3(2, 4, 2, 32, 16, 40, 71, 64);
  ADD_FAILURE() << name;
  return {};
}

// Random weights wide enough that attention is far from uniform (std 0.16 matrices, norm
// weights 1 + 0.1 N(0,1), biases 0.1 N(0,1)), as tests/fixtures/make_fixtures.py does.
Decoder random_decoder(const ModelConfig& c, uint64_t seed) {
  Decoder d(c);
  d.init_weights(seed);
  Rng rng(seed + 1);
  for (auto& p : d.params()) {
    for (float& v : p.value.f32()) {
      if (p.name.ends_with("norm.weight")) v = float(1.0 + 0.1 * rng.normal());
      else if (p.name.ends_with(".bias")) v = float(0.1 * rng.normal());
      else v *= 8.0f;
    }
  }
  return d;
}

// Decoder graph logits (T, V) for one sequence.
std::vector<float> graph_logits(const Decoder& d, const std::vector<int32_t>& ids) {
  Graph g;
  const int64_t T = int64_t(ids.size());
  auto io = d.build(g, 1, T, false);
  g.set_training(false);
  g.allocate();
  std::copy(ids.begin(), ids.end(), g.tensor(io.ids).data<int32_t>());
  g.forward();
  return g.tensor(io.logits).to_vector();
}

std::vector<int32_t> random_ids(int64_t n, int64_t V, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = int32_t(r.next_u64() % uint64_t(V));
  return ids;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double e = 0;
  for (size_t i = 0; i < n; ++i) e = std::max(e, std::fabs(double(a[i]) - double(b[i])));
  return e;
}

class EngineVsDecoder : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineVsDecoder, PrefillAndDecodeMatchTheGraph) {
  const ModelConfig c = config_named(GetParam());
  const Decoder d = random_decoder(c, 7);
  const int64_t T = 40, V = c.vocab_size;
  const auto ids = random_ids(T, V, 11);
  const auto ref = graph_logits(d, ids);
  auto w = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d));

  // Prefill in one pass (all positions' logits).
  {
    Engine e(w);
    int s = e.add_sequence();
    std::vector<float> all(size_t(T * V));
    e.prefill(s, ids, nullptr, all.data());
    EXPECT_LT(max_abs_diff(all.data(), ref.data(), all.size()), 1e-5) << "prefill";
    EXPECT_EQ(e.length(s), T);
  }
  // Prefill of a prefix in small batches, then token-by-token decode.
  {
    EngineOptions o;
    o.max_batch = 7;
    Engine e(w, o);
    int s = e.add_sequence();
    const int64_t P = 13;
    std::vector<float> last(static_cast<size_t>(V));
    e.prefill(s, std::span<const int32_t>(ids).first(size_t(P)), last.data());
    EXPECT_LT(max_abs_diff(last.data(), ref.data() + (P - 1) * V, size_t(V)), 1e-5);
    for (int64_t t = P; t < T; ++t) {
      e.step(std::span<const int>(&s, 1), std::span<const int32_t>(&ids[size_t(t)], 1), last.data());
      ASSERT_LT(max_abs_diff(last.data(), ref.data() + t * V, size_t(V)), 1e-5) << "decode t=" << t;
    }
  }
}

TEST_P(EngineVsDecoder, BatchedDecodeOfSeveralSequences) {
  const ModelConfig c = config_named(GetParam());
  const Decoder d = random_decoder(c, 3);
  const int64_t V = c.vocab_size;
  auto w = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d));
  Engine e(w);
  // Three sequences of different lengths, prefilled in one mixed batch, then decoded
  // together; each must equal its own full-sequence graph.
  std::vector<std::vector<int32_t>> seqs = {random_ids(9, V, 1), random_ids(4, V, 2),
                                            random_ids(15, V, 3)};
  std::vector<int> sid;
  std::vector<BatchToken> batch;
  for (size_t s = 0; s < seqs.size(); ++s) sid.push_back(e.add_sequence());
  for (size_t i = 0; i < 15; ++i)
    for (size_t s = 0; s < seqs.size(); ++s)
      if (i < seqs[s].size()) batch.push_back({sid[s], seqs[s][i], i + 1 == seqs[s].size()});
  std::vector<float> out(3 * size_t(V));
  ASSERT_EQ(e.decode(batch, out.data()), 3);
  // Output rows come in batch order: the shortest sequence finishes first.
  const size_t order[3] = {1, 0, 2};
  for (size_t r = 0; r < 3; ++r) {
    const auto& ids = seqs[order[r]];
    auto ref = graph_logits(d, ids);
    EXPECT_LT(max_abs_diff(out.data() + r * V, ref.data() + (ids.size() - 1) * V, size_t(V)), 1e-5);
  }
  for (int t = 0; t < 6; ++t) {
    std::vector<int32_t> next;
    for (size_t s = 0; s < seqs.size(); ++s) {
      next.push_back(int32_t((t * 7 + int(s) * 13) % V));
      seqs[s].push_back(next.back());
    }
    e.step(sid, next, out.data());
    for (size_t s = 0; s < seqs.size(); ++s) {
      auto ref = graph_logits(d, seqs[s]);
      ASSERT_LT(max_abs_diff(out.data() + s * V, ref.data() + (seqs[s].size() - 1) * V, size_t(V)), 1e-5)
          << "sequence " << s << " step " << t;
    }
  }
  // Removing one sequence and truncating another leaves the rest intact.
  e.remove_sequence(sid[0]);
  e.truncate(sid[2], 10);
  seqs[2].resize(10);
  seqs[2].push_back(5);
  std::vector<float> last(static_cast<size_t>(V));
  e.prefill(sid[2], std::span<const int32_t>(&seqs[2].back(), 1), last.data());
  auto ref = graph_logits(d, seqs[2]);
  EXPECT_LT(max_abs_diff(last.data(), ref.data() + 10 * V, size_t(V)), 1e-5);
  EXPECT_EQ(e.num_sequences(), 2);
}

TEST_P(EngineVsDecoder, F16CacheIsClose) {
  const ModelConfig c = config_named(GetParam());
  const Decoder d = random_decoder(c, 5);
  const int64_t T = 24, V = c.vocab_size;
  const auto ids = random_ids(T, V, 4);
  const auto ref = graph_logits(d, ids);
  EngineOptions o;
  o.kv_type = KvType::F16;
  Engine e(std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d)), o);
  int s = e.add_sequence();
  std::vector<float> all(size_t(T * V));
  e.prefill(s, ids, nullptr, all.data());
  double err = max_abs_diff(all.data(), ref.data(), all.size());
  EXPECT_LT(err, 2e-2);  // f16 keys/values: ~3 significant digits
  EXPECT_GT(err, 0.0);   // and it really is the f16 path
}

// Models above the engine's single-thread size run each pass split over the pool: rows of
// every projection, KV heads for the attention (one or more heads per thread, or split by
// (head, sequence) when there are more threads than KV heads). The logits must not depend
// on the thread count, in prefill, decode and batched decode.
TEST(Engine, ThreadCountDoesNotChangeTheLogits) {
  ModelConfig c = ModelConfig::llama(2, 8, 4, 256, 704, 300, 64);
  const Decoder d = random_decoder(c, 21);
  auto w = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d));
  ASSERT_GT(w->bytes(), size_t(4) << 20) << "the model must be large enough to use the pool";
  const auto ids = random_ids(20, c.vocab_size, 5);
  auto run = [&](int threads) {
    set_num_threads(threads);
    EngineOptions o;
    o.kv_type = KvType::F16;
    Engine e(w, o);
    const int a = e.add_sequence(), b = e.add_sequence();
    std::vector<float> out(size_t(3 * c.vocab_size));
    // Batches of 2-3 tokens from two sequences (f32 weights: batches above 8 tokens go
    // through OpenBLAS, whose blocking, and so rounding, depends on the rows per thread).
    std::vector<float> logits;
    for (int64_t t = 0; t < 12; ++t) {
      std::vector<BatchToken> batch = {{a, ids[size_t(t)], true}, {b, ids[size_t(19 - t)], true}};
      if (t % 4 == 0) batch.push_back({a, ids[size_t(t + 1)], true});
      const int64_t n = e.decode(batch, out.data());
      logits.insert(logits.end(), out.begin(), out.begin() + n * c.vocab_size);
    }
    return logits;
  };
  const int saved = num_threads();
  const auto one = run(1);
  for (int threads : {2, 3, 8}) EXPECT_EQ(run(threads), one) << threads << " threads";
  set_num_threads(saved);
}

// Q8_0 / Q4_0 weights packed for the int8 kernels (the default) and read in place give the
// same logits bit for bit: prefill, then decode batches of one to three tokens (the split
// output projection and down over columns) on two threads.
TEST(Engine, PackedWeightsGiveTheSameLogits) {
  const ModelConfig c = ModelConfig::llama(4, 8, 4, 512, 1408, 1000, 64);
  const Decoder d = random_decoder(c, 31);
  const auto ids = random_ids(24, c.vocab_size, 9);
  const int saved = num_threads();
  set_num_threads(2);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    ModelWeights mw = ModelWeights::from_decoder(d);
    for (auto& [name, wt] : mw.tensors)
      if (wt.q.shape.size() == 2) wt.q = quantize(wt.to_f32(), t);
    auto w = std::make_shared<const ModelWeights>(std::move(mw));
    ASSERT_GT(w->bytes(), size_t(4) << 20) << "the model must be large enough to use the pool";
    auto run = [&](bool pack) {
      EngineOptions o;
      o.pack_weights = pack;
      Engine e(w, o);
      const int a = e.add_sequence(), b = e.add_sequence();
      std::vector<float> out(size_t(12 * c.vocab_size)), logits;
      std::vector<BatchToken> prompt;
      for (int64_t i = 0; i < 12; ++i) prompt.push_back({a, ids[size_t(i)], true});
      int64_t n = e.decode(prompt, out.data());
      logits.insert(logits.end(), out.begin(), out.begin() + n * c.vocab_size);
      for (int64_t i = 12; i < 20; ++i) {
        std::vector<BatchToken> batch = {{a, ids[size_t(i)], true}};
        if (i % 2 == 0) batch.push_back({b, ids[size_t(i - 12)], true});
        if (i % 4 == 0) batch.push_back({b, ids[size_t(i - 11)], true});
        n = e.decode(batch, out.data());
        logits.insert(logits.end(), out.begin(), out.begin() + n * c.vocab_size);
      }
      return logits;
    };
    const auto packed = run(true), in_place = run(false);
    ASSERT_EQ(packed.size(), in_place.size());
    EXPECT_TRUE(packed == in_place) << ggml_type_name(t);
  }
  set_num_threads(saved);
}

// The f16 cache rows: the vector conversions round exactly as core/half.h's f32_to_f16.
TEST(EngineKernels, F16CacheRowsRoundAsTheScalarConversion) {
  std::vector<float> x;
  Rng r(3);
  for (int i = 0; i < 4000; ++i) x.push_back(float(r.normal() * std::pow(2.0, double(int(r.next_u64() % 40)) - 25)));
  for (float v : {0.0f, -0.0f, 65504.0f, 65520.0f, 65519.99f, -70000.0f, 5.96e-8f, 2.98e-8f, 2.99e-8f,
                  6.1e-5f, 1.0f / 3.0f, std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min()})
    x.push_back(v);
  const Isa saved = active_isa();
  for (int isa = 0; isa <= int(detect_isa()); ++isa) {
    set_active_isa(Isa(isa));
    std::vector<f16> got(x.size());
    infer_kernels::f32_to_f16_row(x.data(), got.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(got[i].bits, f32_to_f16(x[i]).bits) << isa_name(Isa(isa)) << " " << x[i];
  }
  set_active_isa(saved);
}

// attend_many (prefill's attention: many query rows per pass over the cache) against
// attend (one row), on every ISA, f32 and f16 caches, head sizes that are and are not
// multiples of the vector width, causal lengths.
TEST(EngineKernels, AttendManyMatchesAttend) {
  const Isa saved = active_isa();
  Rng r(9);
  for (int64_t hs : {8, 64, 80}) {
    for (bool f16_cache : {false, true}) {
      const int64_t n_pos = 45, nq = 23;
      std::vector<float> kf(size_t(n_pos * hs)), vf(size_t(n_pos * hs)), q(size_t(nq * hs));
      for (float& x : kf) x = float(r.normal());
      for (float& x : vf) x = float(r.normal());
      for (float& x : q) x = float(r.normal());
      std::vector<f16> kh(kf.size()), vh(vf.size());
      for (size_t i = 0; i < kf.size(); ++i) kh[i] = f32_to_f16(kf[i]), vh[i] = f32_to_f16(vf[i]);
      const auto* k = f16_cache ? reinterpret_cast<const uint8_t*>(kh.data()) : reinterpret_cast<const uint8_t*>(kf.data());
      const auto* v = f16_cache ? reinterpret_cast<const uint8_t*>(vh.data()) : reinterpret_cast<const uint8_t*>(vf.data());
      std::vector<int64_t> lens;
      std::vector<const float*> qs;
      std::vector<float> out(size_t(nq * hs)), want(size_t(nq * hs));
      std::vector<float*> outs;
      for (int64_t i = 0; i < nq; ++i) {
        lens.push_back(n_pos - nq + 1 + i / 2 * 2);  // nondecreasing, pairs of equal lengths
        qs.push_back(q.data() + i * hs);
        outs.push_back(out.data() + i * hs);
      }
      for (int isa = 0; isa <= int(detect_isa()); ++isa) {
        set_active_isa(Isa(isa));
        std::vector<float> scratch(size_t(infer_kernels::attend_many_scratch(nq, n_pos, hs)));
        std::vector<float> probs(static_cast<size_t>(n_pos));
        infer_kernels::attend_many(outs.data(), qs.data(), lens.data(), nq, k, v, f16_cache, hs, 0.125f,
                                   scratch.data());
        for (int64_t i = 0; i < nq; ++i)
          infer_kernels::attend(want.data() + i * hs, qs[size_t(i)], k, v, f16_cache, lens[size_t(i)], hs,
                                0.125f, probs.data());
        for (size_t i = 0; i < out.size(); ++i)
          ASSERT_NEAR(out[i], want[i], 2e-6 * (1.0 + std::fabs(want[i])))
              << isa_name(Isa(isa)) << " hs " << hs << (f16_cache ? " f16" : " f32") << " " << i;
      }
    }
  }
  set_active_isa(saved);
}

// The f32 matrix-vector product gives the same bits whatever the alignment of the weight
// rows (GGUF tensors start 32 bytes into a cache line; the AVX-512 kernel then reads whole
// lines and splices them).
TEST(EngineKernels, GemvSameBitsAtAnyAlignment) {
  const int64_t K = 96, N = 11;
  Rng r(4);
  std::vector<float> x(static_cast<size_t>(K)), buf(size_t(N * K + 64));
  for (float& v : x) v = float(r.normal());
  float* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
  for (int64_t i = 0; i < N * K; ++i) aligned[i] = float(r.normal());
  std::vector<float> want(static_cast<size_t>(N));
  infer_kernels::gemv_f32(want.data(), N, x.data(), 1, aligned, K, N);
  std::vector<float> moved(size_t(N * K + 64));
  for (int64_t off : {1, 4, 8, 12}) {  // floats: 4, 16, 32, 48 bytes into a line
    float* w = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(moved.data()) + 63) & ~uintptr_t(63)) + off;
    std::copy(aligned, aligned + N * K, w);
    std::vector<float> got(static_cast<size_t>(N));
    infer_kernels::gemv_f32(got.data(), N, x.data(), 1, w, K, N);
    EXPECT_EQ(got, want) << off;
  }
}

// gemv_f32_segments: each segment's partial equals the plain product of that segment's
// columns (whatever the alignment of the rows), on every ISA, for 1 to 3 activation rows.
TEST(EngineKernels, GemvSegmentsEqualTheProductsOfTheirColumns) {
  const int64_t K = 160, N = 13, k0 = 32, k1 = 160, seg = 64, nseg = (k1 - k0) / seg;
  Rng r(6);
  std::vector<float> x(size_t(3 * K)), buf(size_t(N * K + 64));
  for (float& v : x) v = float(r.normal());
  const Isa saved = active_isa();
  for (int64_t off : {0, 8, 5}) {
    float* w = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63)) + off;
    for (int64_t i = 0; i < N * K; ++i) w[i] = float(r.normal());
    for (int isa = 0; isa <= int(detect_isa()); ++isa) {
      set_active_isa(Isa(isa));
      for (int64_t M = 1; M <= 3; ++M) {
        const int64_t ldy = N + 1, lds = 3 * ldy;
        std::vector<float> y(size_t(nseg * lds));
        infer_kernels::gemv_f32_segments(y.data(), ldy, lds, x.data(), M, w, K, k0, k1, seg, N);
        for (int64_t sg = 0; sg < nseg; ++sg) {
          std::vector<float> ws(size_t(N * seg)), xs(size_t(M * seg)), want(size_t(M * N));
          for (int64_t row = 0; row < N; ++row)
            for (int64_t k = 0; k < seg; ++k) ws[size_t(row * seg + k)] = w[row * K + k0 + sg * seg + k];
          for (int64_t m = 0; m < M; ++m)
            for (int64_t k = 0; k < seg; ++k) xs[size_t(m * seg + k)] = x[size_t(m * K + k0 + sg * seg + k)];
          infer_kernels::gemv_f32(want.data(), N, xs.data(), M, ws.data(), seg, N);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t row = 0; row < N; ++row)
              ASSERT_EQ(y[size_t(sg * lds + m * ldy + row)], want[size_t(m * N + row)])
                  << isa_name(Isa(isa)) << " offset " << off << " M " << M << " segment " << sg << " row " << row;
        }
      }
    }
  }
  set_active_isa(saved);
}

INSTANTIATE_TEST_SUITE_P(Configs, EngineVsDecoder,
                         ::testing::Values("gpt2", "llama_gqa", "qwen2", "qwen3"));

// q/k rows stored in the interleaved (Meta / llama2.c / GGUF llama) layout with the
// matching rotation compute the same logits; to_decoder() undoes the permutation.
TEST(Engine, InterleavedRopeLayoutMatches) {
  const ModelConfig c = config_named("llama_gqa");
  const Decoder d = random_decoder(c, 9);
  const int64_t T = 20, V = c.vocab_size;
  const auto ids = random_ids(T, V, 8);
  const auto ref = graph_logits(d, ids);
  ModelWeights m = ModelWeights::from_decoder(d);
  std::vector<Tensor> keep;
  for (auto& [name, w] : m.tensors) {
    bool q = name.ends_with("attn.q.weight"), k = name.ends_with("attn.k.weight");
    if (!q && !k) continue;
    Tensor t = w.to_f32();
    permute_rope_rows(t.data<float>(), q ? c.n_head : c.n_kv_head, c.head_dim, c.dim, true);
    Weight nw;
    nw.q = w.q;
    auto own = std::make_shared<Tensor>(t);
    nw.q.data = own->data<uint8_t>();
    nw.q.owner = own;
    w = nw;
  }
  m.rope_pairing = RopePairing::Interleaved;
  auto mw = std::make_shared<const ModelWeights>(m);
  Engine e(mw);
  int s = e.add_sequence();
  std::vector<float> all(size_t(T * V));
  e.prefill(s, ids, nullptr, all.data());
  EXPECT_LT(max_abs_diff(all.data(), ref.data(), all.size()), 1e-5);
  // Back to lmkit's layout.
  Decoder back = mw->to_decoder();
  for (const auto& p : d.params()) {
    auto a = p.value.to_vector(), b = back.find(p.name)->value.to_vector();
    ASSERT_EQ(a, b) << p.name;
  }
}

TEST(Engine, RejectsBadInput) {
  const ModelConfig c = config_named("gpt2");
  const Decoder d = random_decoder(c, 1);
  EngineOptions o;
  o.context = 8;
  Engine e(std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d)), o);
  int s = e.add_sequence();
  std::vector<float> l(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> bad = {1, int32_t(c.vocab_size)};
  EXPECT_THROW(e.prefill(s, bad, l.data()), Error);
  EXPECT_EQ(e.length(s), 0);
  std::vector<int32_t> long_ids(9, 1);
  EXPECT_THROW(e.prefill(s, long_ids, l.data()), Error);
  EXPECT_THROW(e.prefill(s + 5, std::vector<int32_t>{1}, l.data()), Error);
  EXPECT_THROW(e.truncate(s, 3), Error);
  o.context = 1000;  // more than GPT-2's 64 learned positions
  EXPECT_THROW(Engine(std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d)), o), Error);
}

}  // namespace
}  // namespace lmkit
