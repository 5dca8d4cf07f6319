// llama2.c checkpoints (karpathy/llama2.c export.py legacy_export / version1_export /
// version2_export; run.c and runq.c memory_map_weights). See llama2c.h for the layouts.
#include "lmkit/io/llama2c.h"

#include <cstring>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"

namespace lmkit::llama2c {

int64_t GroupQ8::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor GroupQ8::dequantize() const {
  check(group_size > 0, "GroupQ8: group size {} must be positive", group_size);
  Tensor out = Tensor::zeros(shape, DType::F32);
  float* y = out.data<float>();
  const int64_t n = numel();
  // export.py quantize_q80: fp32 = int8 * scale of the element's group.
  for (int64_t i = 0; i < n; ++i) y[i] = float(q[i]) * scales[i / group_size];
  return out;
}

namespace {

// The 7 int32 model parameters of every version's header (export.py: p.dim, hidden_dim,
// p.n_layers, p.n_heads, n_kv_heads, p.vocab_size, p.max_seq_len).
struct Params {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};
static_assert(sizeof(Params) == 28);

// Row permutation taking llama2.c's interleaved RoPE pairs to lmkit's rotate_half pairs
// (HF convert_llama_weights_to_hf.py `permute`): within each head of hs rows, new row
// j*hs/2 + i holds old row 2i + j. Returns old_row_of[new_row] for n_heads * hs rows.
std::vector<int64_t> rope_row_order(int64_t n_heads, int64_t hs) {
  std::vector<int64_t> order(size_t(n_heads * hs));
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < hs / 2; ++i)
        order[size_t(h * hs + j * hs / 2 + i)] = h * hs + 2 * i + j;
  return order;
}

}  // namespace

class Loader {
 public:
  explicit Loader(Checkpoint& c) : c_(c), m_(*c.map_) {}

  void run() {
    const std::string& path = c_.path_;
    const uint64_t size = m_.size();
    uint32_t magic = 0;
    if (size >= 4) std::memcpy(&magic, m_.data(), 4);
    Params p{};
    bool shared = false;
    uint64_t header = 0;
    if (magic == kMagic) {
      // export.py version1_export / version2_export: 256-byte header.
      if (size < 256)
        fail("'{}': llama2.c checkpoint header is truncated ({} of 256 bytes)", path, size);
      int32_t version;
      std::memcpy(&version, m_.data() + 4, 4);
      if (version != 1 && version != 2)
        fail("'{}': unsupported llama2.c checkpoint version {} (0, 1 and 2 are supported)",
             path, version);
      c_.version_ = version;
      std::memcpy(&p, m_.data() + 8, sizeof p);
      uint8_t flag = m_.data()[36];
      if (flag > 1) fail("'{}': shared_classifier flag is {} (must be 0 or 1)", path, flag);
      shared = flag == 1;
      if (version == 2) {
        int32_t gs;
        std::memcpy(&gs, m_.data() + 37, 4);
        if (gs <= 0) fail("'{}': group size {} must be positive", path, gs);
        c_.group_size_ = gs;
      }
      if (p.vocab_size <= 0)
        fail("'{}': vocab_size {} must be positive in a version-{} checkpoint", path,
             p.vocab_size, version);
      header = 256;
    } else {
      // export.py legacy_export (run.c): a bare 7-int32 header; negative vocab_size means
      // an unshared classifier.
      if (size < sizeof p)
        fail("'{}': too short for a llama2.c checkpoint ({} bytes, the header alone is 28)",
             path, size);
      c_.version_ = 0;
      std::memcpy(&p, m_.data(), sizeof p);
      if (p.vocab_size == 0) fail("'{}': vocab_size is 0", path);
      shared = p.vocab_size > 0;
      if (p.vocab_size < 0) {
        if (p.vocab_size == INT32_MIN) fail("'{}': vocab_size {} is out of range", path, p.vocab_size);
        p.vocab_size = -p.vocab_size;
      }
      header = sizeof p;
    }
    make_config(p, shared);
    check_size(header, size);
    off_ = header;
    map_weights();
  }

 private:
  void make_config(const Params& p, bool shared) {
    const std::string& path = c_.path_;
    if (p.n_heads <= 0 || p.dim <= 0 || p.dim % p.n_heads != 0)
      fail("'{}': dim {} is not a positive multiple of n_heads {}", path, p.dim, p.n_heads);
    ModelConfig cfg = ModelConfig::llama(p.n_layers, p.n_heads, p.n_kv_heads, p.dim,
                                         p.hidden_dim, p.vocab_size, p.seq_len);
    cfg.tie_embeddings = shared;
    cfg.norm_eps = 1e-5;       // llama2.c model.py ModelArgs.norm_eps / run.c rmsnorm
    cfg.rope_theta = 10000.0;  // model.py precompute_freqs_cis / run.c
    cfg.bos_token_id = 1;      // run.c: BOS = 1
    cfg.eos_token_id = 2;
    try {
      cfg.validate();
    } catch (const Error& e) {
      fail("'{}': bad llama2.c header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, "
           "n_kv_heads {}, vocab_size {}, seq_len {}): {}",
           path, p.dim, p.hidden_dim, p.n_layers, p.n_heads, p.n_kv_heads, p.vocab_size,
           p.seq_len, e.what());
    }
    if (c_.version_ == 2 && cfg.dim % c_.group_size_ != 0)
      fail("'{}': group size {} does not divide dim {}", path, c_.group_size_, cfg.dim);
    c_.config_ = cfg;
  }

  // Elements of each weight (ModelConfig::validate bounds them, so nothing overflows).
  uint64_t C() const { return uint64_t(c_.config_.dim); }
  uint64_t H() const { return uint64_t(c_.config_.hidden_dim); }
  uint64_t L() const { return uint64_t(c_.config_.n_layer); }
  uint64_t V() const { return uint64_t(c_.config_.vocab_size); }
  uint64_t KV() const { return uint64_t(c_.config_.n_kv_head * c_.config_.head_dim); }
  uint64_t HS() const { return uint64_t(c_.config_.head_dim); }

  // The matrices in file order, one entry per layer: elements each.
  std::vector<uint64_t> matrices() const {
    std::vector<uint64_t> m = {V() * C()};
    for (uint64_t n : {C() * C(), KV() * C(), KV() * C(), C() * C(), H() * C(), C() * H(), H() * C()})
      for (uint64_t l = 0; l < L(); ++l) m.push_back(n);
    if (!c_.config_.tie_embeddings) m.push_back(V() * C());
    return m;
  }

  void check_size(uint64_t header, uint64_t size) {
    const std::string& path = c_.path_;
    const uint64_t norms = 2 * L() * C() + C();
    uint64_t want = header;
    if (c_.version_ == 2) {
      want += 4 * norms;
      const uint64_t gs = uint64_t(c_.group_size_);
      for (uint64_t n : matrices()) {
        if (n % gs != 0)
          fail("'{}': a weight of {} elements is not a whole number of groups of {}", path, n,
               gs);
        want += n + 4 * (n / gs);
      }
    } else {
      uint64_t floats = norms;
      for (uint64_t n : matrices()) floats += n;
      if (c_.version_ == 0) floats += uint64_t(c_.config_.max_seq_len) * HS();  // freq_cis
      want += 4 * floats;
    }
    if (size != want)
      fail("'{}': a version-{} llama2.c checkpoint with dim {}, hidden_dim {}, n_layers {}, "
           "n_heads {}, n_kv_heads {}, vocab_size {}, seq_len {}{} is {} bytes, but the file "
           "has {}", path, c_.version_, C(), H(), L(), c_.config_.n_head, c_.config_.n_kv_head,
           V(), c_.config_.max_seq_len,
           c_.version_ == 2 ? fmt::format(", group size {}", c_.group_size_) : std::string(),
           want, size);
  }

  static std::string layer_name(uint64_t l, const char* what) {
    return fmt::format("layers.{}.{}.weight", l, what);
  }

  // fp32 tensors at the cursor: `count` consecutive weights of `shape`.
  void fp32(const std::vector<std::string>& names, const Tensor::Shape& shape, bool permute = false) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= uint64_t(d);
    for (const std::string& name : names) {
      Tensor t = Tensor::view_of(c_.map_, size_t(off_), shape, DType::F32);
      if (permute) t = permute_rows(t);
      c_.fp32_.emplace(name, std::move(t));
      off_ += 4 * n;
    }
  }

  // int8 values then fp32 scales, for each of `names` (runq.c init_quantized_tensors).
  void q8(const std::vector<std::string>& names, const Tensor::Shape& shape, bool permute = false) {
    const uint64_t n = uint64_t(shape[0]) * uint64_t(shape[1]);
    const uint64_t gs = uint64_t(c_.group_size_);
    for (const std::string& name : names) {
      GroupQ8 g;
      g.shape = shape;
      g.group_size = c_.group_size_;
      const uint8_t* qp = m_.data() + off_;
      const uint8_t* sp = qp + n;
      if (permute || reinterpret_cast<uintptr_t>(sp) % alignof(float) != 0) {
        // A private copy: rows permuted for RoPE (q, k) and/or scales realigned.
        auto buf = std::shared_ptr<float[]>(new float[n / gs + (n + 3) / 4]);
        auto* s = buf.get();
        auto* q = reinterpret_cast<int8_t*>(buf.get() + n / gs);
        if (permute) {
          const uint64_t cols = uint64_t(shape[1]), per_row = cols / gs;
          std::vector<int64_t> order = rope_row_order(shape[0] / c_.config_.head_dim, c_.config_.head_dim);
          for (uint64_t r = 0; r < uint64_t(shape[0]); ++r) {
            const uint64_t src = uint64_t(order[r]);
            std::memcpy(q + r * cols, qp + src * cols, cols);
            std::memcpy(s + r * per_row, sp + 4 * src * per_row, 4 * per_row);
          }
        } else {
          std::memcpy(q, qp, n);
          std::memcpy(s, sp, 4 * (n / gs));
        }
        g.q = q;
        g.scales = s;
        g.owner = std::shared_ptr<const void>(buf, buf.get());
      } else {
        g.q = reinterpret_cast<const int8_t*>(qp);
        g.scales = reinterpret_cast<const float*>(sp);
        g.owner = c_.map_;
      }
      c_.q8_.emplace(name, std::move(g));
      off_ += n + 4 * (n / gs);
    }
  }

  Tensor permute_rows(const Tensor& t) const {
    const int64_t rows = t.size(0), cols = t.size(1);
    std::vector<int64_t> order = rope_row_order(rows / c_.config_.head_dim, c_.config_.head_dim);
    Tensor out = Tensor::zeros({rows, cols}, DType::F32);
    const float* src = t.data<float>();
    float* dst = out.data<float>();
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * cols, src + order[size_t(r)] * cols, size_t(cols) * 4);
    return out;
  }

  std::vector<std::string> per_layer(const char* what) const {
    std::vector<std::string> v;
    for (uint64_t l = 0; l < L(); ++l) v.push_back(layer_name(l, what));
    return v;
  }

  void map_weights() {
    const int64_t c = int64_t(C()), h = int64_t(H()), v = int64_t(V()), kv = int64_t(KV());
    const bool shared = c_.config_.tie_embeddings;
    if (c_.version_ == 0) {
      // run.c memory_map_weights order.
      fp32({"embed.weight"}, {v, c});
      fp32(per_layer("attn_norm"), {c});
      fp32(per_layer("attn.q"), {c, c}, true);
      fp32(per_layer("attn.k"), {kv, c}, true);
      fp32(per_layer("attn.v"), {kv, c});
      fp32(per_layer("attn.o"), {c, c});
      fp32(per_layer("mlp_norm"), {c});
      fp32(per_layer("mlp.gate"), {h, c});  // w1
      fp32(per_layer("mlp.down"), {c, h});  // w2
      fp32(per_layer("mlp.up"), {h, c});    // w3
      fp32({"final_norm.weight"}, {c});
      off_ += 4 * uint64_t(c_.config_.max_seq_len) * HS();  // freq_cis_real, freq_cis_imag
      if (!shared) fp32({"lm_head.weight"}, {v, c});
    } else {
      // version1_export / version2_export: the norms first, in fp32.
      fp32(per_layer("attn_norm"), {c});
      fp32(per_layer("mlp_norm"), {c});
      fp32({"final_norm.weight"}, {c});
      auto mat = [&](const std::vector<std::string>& names, const Tensor::Shape& shape,
                     bool permute = false) {
        if (c_.version_ == 1) fp32(names, shape, permute);
        else q8(names, shape, permute);
      };
      mat({"embed.weight"}, {v, c});
      mat(per_layer("attn.q"), {c, c}, true);
      mat(per_layer("attn.k"), {kv, c}, true);
      mat(per_layer("attn.v"), {kv, c});
      mat(per_layer("attn.o"), {c, c});
      mat(per_layer("mlp.gate"), {h, c});
      mat(per_layer("mlp.down"), {c, h});
      mat(per_layer("mlp.up"), {h, c});
      if (!shared) mat({"lm_head.weight"}, {v, c});
    }
    check(off_ == m_.size(), "'{}': internal error: mapped {} of {} bytes", c_.path_, off_,
          m_.size());
    // Names in lmkit's parameter order (param_names.md).
    c_.names_.push_back("embed.weight");
    for (uint64_t l = 0; l < L(); ++l)
      for (const char* w : {"attn_norm", "attn.q", "attn.k", "attn.v", "attn.o", "mlp_norm",
                            "mlp.gate", "mlp.up", "mlp.down"})
        c_.names_.push_back(layer_name(l, w));
    c_.names_.push_back("final_norm.weight");
    if (!shared) c_.names_.push_back("lm_head.weight");
  }

  Checkpoint& c_;
  const MappedFile& m_;
  uint64_t off_ = 0;
};

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.path_ = path;
  c.map_ = MappedFile::open(path);
  Loader(c).run();
  return c;
}

bool Checkpoint::has(std::string_view name) const {
  std::string n(name);
  return fp32_.count(n) || q8_.count(n);
}

bool Checkpoint::is_quantized(std::string_view name) const {
  check(has(name), "'{}': no weight named '{}'", path_, name);
  return q8_.count(std::string(name)) > 0;
}

const Tensor& Checkpoint::tensor(std::string_view name) const {
  auto it = fp32_.find(std::string(name));
  if (it == fp32_.end()) {
    if (q8_.count(std::string(name)))
      fail("'{}': weight '{}' is int8 group-quantized (use quantized() or weight_f32())", path_,
           name);
    fail("'{}': no weight named '{}'", path_, name);
  }
  return it->second;
}

const GroupQ8& Checkpoint::quantized(std::string_view name) const {
  auto it = q8_.find(std::string(name));
  if (it == q8_.end()) {
    if (fp32_.count(std::string(name)))
      fail("'{}': weight '{}' is fp32, not quantized (use tensor())", path_, name);
    fail("'{}': no weight named '{}'", path_, name);
  }
  return it->second;
}

Tensor Checkpoint::weight_f32(std::string_view name) const {
  return is_quantized(name) ? quantized(name).dequantize() : tensor(name);
}

}  // namespace lmkit::llama2c
