#include "lmkit/io/llama2c.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit::llama2c {
namespace {

namespace fs = std::filesystem;

std::vector<float> floats_at(const std::vector<uint8_t>& file, size_t offset, size_t n) {
  std::vector<float> v(n);
  std::memcpy(v.data(), file.data() + offset, n * 4);
  return v;
}

void expect_error(const std::vector<uint8_t>& bytes, const std::string& what) {
  std::string path = test::temp_path("bad.bin");
  test::write_bytes(path, bytes);
  try {
    Checkpoint::open(path);
    ADD_FAILURE() << "opened, but expected an error containing '" << what << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nexpected: " << what;
  }
  fs::remove(path);
}

// --- a small checkpoint writer following export.py, for synthetic files -------------

struct Model {
  int32_t dim = 16, hidden = 24, layers = 2, heads = 4, kv_heads = 2, vocab = 32, seq = 8;
  bool shared = true;
  // Weights in export.py order, keyed by lmkit name, random.
  std::vector<std::pair<std::string, std::vector<float>>> norms, mats;
  std::vector<float> freq;  // legacy freq_cis (cos then sin), seq * hs/2 each
};

Model make_model(bool shared, uint32_t seed) {
  Model m;
  m.shared = shared;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng);
    return v;
  };
  const size_t C = size_t(m.dim), H = size_t(m.hidden), V = size_t(m.vocab);
  const size_t KV = size_t(m.kv_heads) * C / size_t(m.heads);
  for (const char* n : {"attn_norm", "mlp_norm"})
    for (int l = 0; l < m.layers; ++l)
      m.norms.emplace_back("layers." + std::to_string(l) + "." + n + ".weight", rnd(C));
  m.norms.emplace_back("final_norm.weight", rnd(C));
  m.mats.emplace_back("embed.weight", rnd(V * C));
  struct M {
    const char* name;
    size_t n;
  };
  for (M w : {M{"attn.q", C * C}, M{"attn.k", KV * C}, M{"attn.v", KV * C}, M{"attn.o", C * C},
              M{"mlp.gate", H * C}, M{"mlp.down", C * H}, M{"mlp.up", H * C}})
    for (int l = 0; l < m.layers; ++l)
      m.mats.emplace_back("layers." + std::to_string(l) + "." + w.name + ".weight", rnd(w.n));
  if (!shared) m.mats.emplace_back("lm_head.weight", rnd(V * C));
  m.freq = rnd(size_t(m.seq) * C / size_t(m.heads) / 2);  // seq_len * hs/2
  return m;
}

struct Out {
  std::vector<uint8_t> b;
  template <typename T>
  void put(const T& v) {
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + sizeof v);
  }
  void floats(const std::vector<float>& v) {
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(v.data()),
             reinterpret_cast<const uint8_t*>(v.data()) + v.size() * 4);
  }
};

const std::vector<float>& weight(const Model& m, const std::string& name) {
  for (const auto& [n, v] : m.norms) if (n == name) return v;
  for (const auto& [n, v] : m.mats) if (n == name) return v;
  throw std::runtime_error("no " + name);
}

// export.py legacy_export (version 0).
std::vector<uint8_t> write_v0(const Model& m) {
  Out o;
  for (int32_t v : {m.dim, m.hidden, m.layers, m.heads, m.kv_heads, m.shared ? m.vocab : -m.vocab, m.seq})
    o.put(v);
  o.floats(weight(m, "embed.weight"));
  auto layers = [&](const char* w) {
    for (int l = 0; l < m.layers; ++l) o.floats(weight(m, "layers." + std::to_string(l) + "." + w + ".weight"));
  };
  for (const char* w : {"attn_norm", "attn.q", "attn.k", "attn.v", "attn.o", "mlp_norm",
                        "mlp.gate", "mlp.down", "mlp.up"})
    layers(w);
  o.floats(weight(m, "final_norm.weight"));
  o.floats(m.freq);
  o.floats(m.freq);
  if (!m.shared) o.floats(weight(m, "lm_head.weight"));
  return o.b;
}

std::vector<uint8_t> header_v12(const Model& m, int32_t version, int32_t group_size) {
  Out o;
  o.put(kMagic);
  o.put(version);
  for (int32_t v : {m.dim, m.hidden, m.layers, m.heads, m.kv_heads, m.vocab, m.seq}) o.put(v);
  o.put(uint8_t(m.shared));
  if (version == 2) o.put(group_size);
  o.b.resize(256, 0);
  return o.b;
}

// export.py version1_export.
std::vector<uint8_t> write_v1(const Model& m) {
  Out o;
  o.b = header_v12(m, 1, 0);
  for (const auto& [n, v] : m.norms) o.floats(v);
  for (const auto& [n, v] : m.mats) o.floats(v);
  return o.b;
}

// export.py quantize_q80: groups of gs consecutive elements, scale = max|w| / 127,
// q = round(w / scale) (torch.round: half to even).
void quantize_q80(const std::vector<float>& w, int gs, std::vector<int8_t>& q, std::vector<float>& s) {
  q.resize(w.size());
  s.resize(w.size() / size_t(gs));
  for (size_t g = 0; g < s.size(); ++g) {
    float wmax = 0;
    for (int i = 0; i < gs; ++i) wmax = std::max(wmax, std::fabs(w[g * size_t(gs) + size_t(i)]));
    s[g] = wmax / 127.0f;
    for (int i = 0; i < gs; ++i)
      q[g * size_t(gs) + size_t(i)] = int8_t(std::nearbyint(w[g * size_t(gs) + size_t(i)] / s[g]));
  }
}

// export.py version2_export.
std::vector<uint8_t> write_v2(const Model& m, int gs) {
  Out o;
  o.b = header_v12(m, 2, gs);
  for (const auto& [n, v] : m.norms) o.floats(v);
  for (const auto& [n, v] : m.mats) {
    std::vector<int8_t> q;
    std::vector<float> s;
    quantize_q80(v, gs, q, s);
    o.b.insert(o.b.end(), reinterpret_cast<const uint8_t*>(q.data()), reinterpret_cast<const uint8_t*>(q.data()) + q.size());
    o.floats(s);
  }
  return o.b;
}

// Row r of the lmkit q/k weight is row order(r) of llama2.c's (see llama2c.h).
int64_t old_row(int64_t r, int64_t hs) {
  const int64_t h = r / hs, j = (r % hs) / (hs / 2), i = r % (hs / 2);
  return h * hs + 2 * i + j;
}

void expect_weights_match(const Checkpoint& c, const Model& m, float tol) {
  const int64_t hs = m.dim / m.heads;
  std::vector<std::string> expected;
  for (const auto& [n, v] : m.norms) expected.push_back(n);
  for (const auto& [n, v] : m.mats) expected.push_back(n);
  EXPECT_EQ(c.names().size(), expected.size());
  for (const std::string& name : expected) {
    ASSERT_TRUE(c.has(name)) << name;
    const std::vector<float>& want = weight(m, name);
    std::vector<float> got = c.weight_f32(name).to_vector();
    ASSERT_EQ(got.size(), want.size()) << name;
    const bool rope = name.find("attn.q") != std::string::npos || name.find("attn.k") != std::string::npos;
    const int64_t cols = m.dim;
    for (size_t i = 0; i < got.size(); ++i) {
      size_t src = i;
      if (rope) src = size_t(old_row(int64_t(i) / cols, hs) * cols + int64_t(i) % cols);
      ASSERT_NEAR(got[i], want[src], tol) << name << " element " << i;
    }
  }
}

// --- synthetic checkpoints: every version, shared and unshared classifier ----------------

TEST(Llama2c, ReadsEveryVersionOfSyntheticCheckpoints) {
  for (bool shared : {true, false}) {
    Model m = make_model(shared, shared ? 1 : 2);
    for (int version : {0, 1, 2}) {
      std::string path = test::temp_path("model.bin");
      test::write_bytes(path, version == 0 ? write_v0(m) : version == 1 ? write_v1(m) : write_v2(m, 8));
      Checkpoint c = Checkpoint::open(path);
      SCOPED_TRACE("version " + std::to_string(version) + (shared ? " shared" : " unshared"));
      EXPECT_EQ(c.version(), version);
      const ModelConfig& cfg = c.config();
      EXPECT_EQ(cfg.arch, "llama");
      EXPECT_EQ(cfg.dim, 16);
      EXPECT_EQ(cfg.hidden_dim, 24);
      EXPECT_EQ(cfg.n_layer, 2);
      EXPECT_EQ(cfg.n_head, 4);
      EXPECT_EQ(cfg.n_kv_head, 2);
      EXPECT_EQ(cfg.head_dim, 4);
      EXPECT_EQ(cfg.vocab_size, 32);
      EXPECT_EQ(cfg.max_seq_len, 8);
      EXPECT_EQ(cfg.tie_embeddings, shared);
      EXPECT_EQ(c.has("lm_head.weight"), !shared);
      EXPECT_EQ(c.group_size(), version == 2 ? 8 : 0);
      EXPECT_EQ(c.is_quantized("embed.weight"), version == 2);
      EXPECT_FALSE(c.is_quantized("layers.1.mlp_norm.weight"));
      // Version 2 values are int8 with scale max|w|/127: error at most half a step.
      expect_weights_match(c, m, version == 2 ? 0.5f * 2.5f / 127.0f : 0.0f);
      if (version == 2) {
        const GroupQ8& g = c.quantized("layers.0.mlp.down.weight");
        EXPECT_EQ(g.shape, (Tensor::Shape{16, 24}));
        EXPECT_EQ(g.group_size, 8);
        EXPECT_THROW(c.tensor("layers.0.mlp.down.weight"), Error);
      } else {
        EXPECT_THROW(c.quantized("embed.weight"), Error);
      }
      EXPECT_THROW(c.tensor("nope"), Error);
      fs::remove(path);
    }
  }
}

// --- the real stories260K checkpoints -----------------------------------------------------

TEST(Llama2c, Stories260KFp32) {
  const std::string path = test::asset("models/stories260K.bin");
  LMKIT_SKIP_IF_ABSENT(path);
  Checkpoint c = Checkpoint::open(path);
  EXPECT_EQ(c.version(), 0);
  const ModelConfig& cfg = c.config();
  // The MANIFEST: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, vocab 512, seq_len
  // 512, classifier shared with the embedding.
  EXPECT_EQ(cfg.dim, 64);
  EXPECT_EQ(cfg.hidden_dim, 172);
  EXPECT_EQ(cfg.n_layer, 5);
  EXPECT_EQ(cfg.n_head, 8);
  EXPECT_EQ(cfg.n_kv_head, 4);
  EXPECT_EQ(cfg.vocab_size, 512);
  EXPECT_EQ(cfg.max_seq_len, 512);
  EXPECT_TRUE(cfg.tie_embeddings);
  EXPECT_EQ(cfg.norm, NormKind::RMSNorm);
  EXPECT_EQ(cfg.mlp, MlpKind::SwiGlu);
  EXPECT_EQ(cfg.rope_theta, 10000.0);
  EXPECT_EQ(cfg.norm_eps, 1e-5);
  EXPECT_NO_THROW(cfg.validate());
  EXPECT_EQ(c.names().size(), 1u + 5 * 9 + 1);
  EXPECT_FALSE(c.has("lm_head.weight"));

  // Views into the map at run.c's offsets.
  std::vector<uint8_t> file = test::read_bytes(path);
  const Tensor& emb = c.tensor("embed.weight");
  EXPECT_TRUE(emb.read_only());
  EXPECT_EQ(emb.shape(), (Tensor::Shape{512, 64}));
  EXPECT_EQ(emb.to_vector(), floats_at(file, 28, 512 * 64));
  size_t off = 28 + 4 * 512 * 64;  // rms_att_weight (5, 64)
  EXPECT_EQ(c.tensor("layers.2.attn_norm.weight").to_vector(), floats_at(file, off + 4 * 2 * 64, 64));
  off += 4 * 5 * 64;  // wq (5, 64, 64)
  std::vector<float> wq2 = floats_at(file, off + 4 * 2 * 64 * 64, 64 * 64);
  std::vector<float> q = c.tensor("layers.2.attn.q.weight").to_vector();
  for (int64_t r = 0; r < 64; ++r)
    for (int64_t k = 0; k < 64; ++k)
      ASSERT_EQ(q[size_t(r * 64 + k)], wq2[size_t(old_row(r, 8) * 64 + k)]);
  off += 4 * 5 * 64 * 64 + 2 * 4 * 5 * 32 * 64;  // skip wq, wk, wv (5, 32, 64)
  EXPECT_EQ(c.tensor("layers.4.attn.o.weight").to_vector(), floats_at(file, off + 4 * 4 * 64 * 64, 64 * 64));
  off += 4 * 5 * 64 * 64 + 4 * 5 * 64;  // wo, rms_ffn
  EXPECT_EQ(c.tensor("layers.0.mlp.gate.weight").shape(), (Tensor::Shape{172, 64}));
  EXPECT_EQ(c.tensor("layers.0.mlp.gate.weight").to_vector(), floats_at(file, off, 172 * 64));
  off += 4 * 5 * 172 * 64;  // w1 -> w2 (down)
  EXPECT_EQ(c.tensor("layers.1.mlp.down.weight").shape(), (Tensor::Shape{64, 172}));
  EXPECT_EQ(c.tensor("layers.1.mlp.down.weight").to_vector(), floats_at(file, off + 4 * 172 * 64, 172 * 64));
  off += 2 * 4 * 5 * 172 * 64;  // w2, w3 -> rms_final
  EXPECT_EQ(c.tensor("final_norm.weight").to_vector(), floats_at(file, off, 64));
  EXPECT_EQ(off + 4 * 64 + 2 * 4 * 512 * 4, file.size());  // + freq_cis real/imag
}

// The q/k row permutation turns llama2.c's RoPE (run.c: pairs (2i, 2i+1) rotated by
// 10000^(-2i/hs) * pos) into lmkit's rotate_half form (pairs (i, i + hs/2), same
// frequencies) without changing any attention score q.k.
TEST(Llama2c, PermutedQueryKeyRowsPreserveRopeAttentionScores) {
  const std::string path = test::asset("models/stories260K.bin");
  LMKIT_SKIP_IF_ABSENT(path);
  Checkpoint c = Checkpoint::open(path);
  std::vector<uint8_t> file = test::read_bytes(path);
  const int64_t C = 64, hs = 8, NH = 8, NKV = 4;
  const size_t wq_off = 28 + 4 * (512 * 64 + 5 * 64), wk_off = wq_off + 4 * 5 * 64 * 64;
  std::vector<float> wq = floats_at(file, wq_off, 64 * 64), wk = floats_at(file, wk_off, 32 * 64);
  std::vector<float> pq = c.tensor("layers.0.attn.q.weight").to_vector();
  std::vector<float> pk = c.tensor("layers.0.attn.k.weight").to_vector();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> x1(C), x2(C);
  for (float& v : x1) v = nd(rng);
  for (float& v : x2) v = nd(rng);
  auto matvec = [&](const std::vector<float>& w, const std::vector<float>& x, int64_t rows) {
    std::vector<double> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < C; ++k) y[size_t(r)] += double(w[size_t(r * C + k)]) * x[size_t(k)];
    return y;
  };
  auto freq = [&](int64_t i) { return std::pow(10000.0, -2.0 * double(i) / double(hs)); };
  // run.c: for each pair (2i, 2i+1) of a head: rotate by pos * freq(i).
  auto rope_interleaved = [&](std::vector<double>& v, int64_t pos) {
    for (size_t h = 0; h < v.size() / size_t(hs); ++h)
      for (int64_t i = 0; i < hs / 2; ++i) {
        double a = double(pos) * freq(i), c0 = std::cos(a), s0 = std::sin(a);
        double& v0 = v[h * size_t(hs) + size_t(2 * i)];
        double& v1 = v[h * size_t(hs) + size_t(2 * i + 1)];
        double t0 = v0 * c0 - v1 * s0, t1 = v0 * s0 + v1 * c0;
        v0 = t0;
        v1 = t1;
      }
  };
  // HF / lmkit: pair (i, i + hs/2).
  auto rope_half = [&](std::vector<double>& v, int64_t pos) {
    for (size_t h = 0; h < v.size() / size_t(hs); ++h)
      for (int64_t i = 0; i < hs / 2; ++i) {
        double a = double(pos) * freq(i), c0 = std::cos(a), s0 = std::sin(a);
        double& v0 = v[h * size_t(hs) + size_t(i)];
        double& v1 = v[h * size_t(hs) + size_t(i + hs / 2)];
        double t0 = v0 * c0 - v1 * s0, t1 = v0 * s0 + v1 * c0;
        v0 = t0;
        v1 = t1;
      }
  };
  std::vector<double> q0 = matvec(wq, x1, NH * hs), k0 = matvec(wk, x2, NKV * hs);
  std::vector<double> q1 = matvec(pq, x1, NH * hs), k1 = matvec(pk, x2, NKV * hs);
  rope_interleaved(q0, 7);
  rope_interleaved(k0, 3);
  rope_half(q1, 7);
  rope_half(k1, 3);
  for (int64_t h = 0; h < NH; ++h) {
    const int64_t g = h / (NH / NKV);
    double s0 = 0, s1 = 0;
    for (int64_t i = 0; i < hs; ++i) {
      s0 += q0[size_t(h * hs + i)] * k0[size_t(g * hs + i)];
      s1 += q1[size_t(h * hs + i)] * k1[size_t(g * hs + i)];
    }
    EXPECT_NEAR(s0, s1, 1e-9 * (1 + std::fabs(s0))) << "head " << h;
  }
}

TEST(Llama2c, Stories260KInt8MatchesFp32) {
  const std::string p8 = test::asset("models/stories260K-q8_v2.bin"), p32 = test::asset("models/stories260K.bin");
  LMKIT_SKIP_IF_ABSENT(p8);
  LMKIT_SKIP_IF_ABSENT(p32);
  Checkpoint q = Checkpoint::open(p8), f = Checkpoint::open(p32);
  EXPECT_EQ(q.version(), 2);
  EXPECT_EQ(q.group_size(), 8);
  EXPECT_EQ(q.config().to_json(), f.config().to_json());
  EXPECT_EQ(q.names(), f.names());
  for (const std::string& name : f.names()) {
    std::vector<float> a = f.weight_f32(name).to_vector();
    std::vector<float> b = q.weight_f32(name).to_vector();
    ASSERT_EQ(a.size(), b.size()) << name;
    if (!q.is_quantized(name)) {
      EXPECT_EQ(a, b) << name;  // norms are fp32 in both
      continue;
    }
    const GroupQ8& g = q.quantized(name);
    for (size_t i = 0; i < a.size(); ++i) {
      // The export rounded each weight to the nearest step of its group's scale.
      const float scale = g.scales[i / size_t(g.group_size)];
      ASSERT_LE(std::fabs(a[i] - b[i]), 0.5f * scale * 1.001f + 1e-7f) << name << " " << i;
    }
  }
}

// --- malformed files ------------------------------------------------------------------------

TEST(Llama2c, RejectsMalformedFiles) {
  Model m = make_model(true, 3);
  const std::vector<uint8_t> v0 = write_v0(m), v1 = write_v1(m), v2 = write_v2(m, 8);
  auto patch = [](std::vector<uint8_t> b, size_t off, int32_t v) {
    std::memcpy(b.data() + off, &v, 4);
    return b;
  };
  expect_error({}, "too short");
  expect_error({1, 2, 3}, "too short");
  expect_error(std::vector<uint8_t>(v0.begin(), v0.end() - 1), "but the file has");
  std::vector<uint8_t> longer = v0;
  longer.push_back(0);
  expect_error(longer, "but the file has");
  expect_error(patch(v0, 0, 0), "dim 0 is not a positive multiple of n_heads");
  expect_error(patch(v0, 0, 18), "not a positive multiple");    // 18 % 4 heads
  expect_error(patch(v0, 12, 0), "not a positive multiple");    // n_heads 0
  expect_error(patch(v0, 16, 3), "n_kv_head = 3 must divide n_head = 4");
  expect_error(patch(v0, 4, -5), "hidden_dim = -5");
  expect_error(patch(v0, 8, 1 << 30), "n_layer");
  expect_error(patch(v0, 20, 0), "vocab_size is 0");
  expect_error(patch(v0, 20, INT32_MIN), "vocab_size");
  expect_error(patch(v0, 20, 1 << 30), "vocab_size");
  expect_error(patch(v0, 24, -1), "max_seq_len");
  expect_error(patch(patch(v0, 0, 24), 12, 8), "RoPE needs an even head_dim");  // hs 3
  expect_error(patch(v0, 24, 9), "but the file has");  // a consistent header, another size
  expect_error(std::vector<uint8_t>(v1.begin(), v1.begin() + 100), "header is truncated");
  expect_error(patch(v1, 4, 3), "unsupported llama2.c checkpoint version 3");
  expect_error(patch(v1, 28, -32), "vocab_size -32 must be positive");
  std::vector<uint8_t> flag = v1;
  flag[36] = 2;
  expect_error(flag, "shared_classifier flag is 2");
  expect_error(patch(v2, 37, 0), "group size 0");
  expect_error(patch(v2, 37, -8), "group size -8");
  expect_error(patch(v2, 37, 5), "does not divide dim");
  expect_error(patch(v2, 37, 16), "but the file has");  // consistent header, wrong size
  expect_error(std::vector<uint8_t>(v2.begin(), v2.end() - 4), "but the file has");
  // A version-1 file read as version 2 (and the reverse) is caught by the size.
  expect_error(patch(v1, 4, 2), "group size 0");
  expect_error(patch(v2, 4, 1), "but the file has");
}

TEST(Llama2c, EveryTruncationAndHeaderCorruptionIsRejectedOrHarmless) {
  Model m = make_model(false, 4);
  for (const std::vector<uint8_t>& full : {write_v0(m), write_v1(m), write_v2(m, 4)}) {
    std::string path = test::temp_path("cut.bin");
    // The header region densely, the weights sparsely (each truncation is a file on disk).
    for (size_t n = 0; n < full.size(); n += n < 300 ? 7 : full.size() / 40) {
      test::write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + ptrdiff_t(n)));
      EXPECT_THROW(Checkpoint::open(path), Error) << n;
    }
    std::mt19937 rng(9);
    const size_t header = full[0] == 0x32 ? 256 : 28;
    for (int iter = 0; iter < 150; ++iter) {
      std::vector<uint8_t> b = full;
      b[rng() % header] = uint8_t(rng());
      test::write_bytes(path, b);
      try {
        Checkpoint c = Checkpoint::open(path);
        for (const std::string& name : c.names()) (void)c.weight_f32(name);
      } catch (const Error&) {
      }
    }
    fs::remove(path);
  }
}

}  // namespace
}  // namespace lmkit::llama2c
