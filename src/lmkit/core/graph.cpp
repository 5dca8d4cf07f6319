#include "lmkit/core/graph.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <map>

#include "lmkit/core/attention.h"
#include "lmkit/core/error.h"
#include "lmkit/core/gemm.h"
#include "lmkit/core/kernels.h"

namespace lmkit {

namespace k = kernels;

Var Graph::add_node(std::string op, Tensor::Shape shape, std::vector<Var> inputs, DType dtype) {
  check(!allocated_, "graph: op '{}' recorded after allocate()", op);
  Node n;
  n.op = std::move(op);
  n.shape = std::move(shape);
  n.dtype = dtype;
  for (Var in : inputs) {
    if (!in.defined()) continue;
    n.inputs.push_back(in.id);
    n.requires_grad = n.requires_grad || needs_grad(in);
  }
  nodes_.push_back(std::move(n));
  return Var{int(nodes_.size()) - 1};
}

Var Graph::parameter(Tensor value, Tensor grad) {
  check(value.dtype() == DType::F32 && value.is_contiguous(),
        "graph: parameters must be contiguous f32 (got {} {})", dtype_name(value.dtype()),
        value.shape_str());
  if (grad.defined())
    check(grad.shape() == value.shape() && grad.dtype() == DType::F32 && grad.is_contiguous(),
          "graph: parameter gradient shape {} does not match {}", grad.shape_str(),
          value.shape_str());
  Var v = add_node("parameter", value.shape(), {});
  Node& n = node(v);
  n.requires_grad = grad.defined();
  n.leaf = true;
  n.value = std::move(value);
  n.grad = std::move(grad);
  return v;
}

Var Graph::input(const Tensor::Shape& shape, DType dtype) {
  Var v = add_node("input", shape, {}, dtype);
  node(v).leaf = true;
  node(v).value = Tensor::zeros(shape, dtype);
  return v;
}

Tensor& Graph::tensor(Var v) { return node(v).value; }
const Tensor& Graph::tensor(Var v) const { return nodes_.at(size_t(v.id)).value; }
const Tensor& Graph::grad(Var v) const { return nodes_.at(size_t(v.id)).grad; }
Tensor::Shape Graph::shape(Var v) const { return nodes_.at(size_t(v.id)).shape; }

int64_t Graph::rows(Var v) const {
  const auto& s = nodes_.at(size_t(v.id)).shape;
  int64_t r = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
  return r;
}

int64_t Graph::cols(Var v) const { return nodes_.at(size_t(v.id)).shape.back(); }

float* Graph::grad_out(Var v, bool* accumulate) {
  Node& n = node(v);
  if (n.leaf || n.grad_written) {
    *accumulate = true;
  } else {
    *accumulate = false;
    n.grad_written = true;
  }
  return n.grad.data<float>();
}

float* Graph::grad_acc(Var v) {
  Node& n = node(v);
  float* g = n.grad.data<float>();
  if (!n.leaf && !n.grad_written) {
    std::memset(g, 0, n.grad.nbytes());
    n.grad_written = true;
  }
  return g;
}

float* Graph::grad_in(Var v) { return grad_acc(v); }

namespace {
int64_t numel_of(const Tensor::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
}  // namespace

Var Graph::embedding(Var ids, Var wte, Var wpe) {
  auto is = shape(ids), ws = shape(wte);
  check(is.size() == 2 && ws.size() == 2, "embedding: ids must be (B,T) and wte (V,C)");
  int64_t B = is[0], T = is[1], V = ws[0], C = ws[1];
  if (wpe.defined()) {
    auto ps = shape(wpe);
    check(ps.size() == 2 && ps[1] == C && ps[0] >= T,
          "embedding: position table {} too small for T={}", ps[0], T);
  }
  Var out = add_node("embedding", {B, T, C}, {wte, wpe});
  node(out).fwd = [=, this] {
    const int32_t* id = node(ids).value.data<int32_t>();
    for (int64_t i = 0; i < B * T; ++i)
      check(id[i] >= 0 && id[i] < V, "token id {} at position {} is outside the vocabulary (0..{})",
            id[i], i, V - 1);
    k::embedding_forward(val(out), id, node(wte).value.data<float>(),
                         wpe.defined() ? node(wpe).value.data<float>() : nullptr, B, T, C);
  };
  node(out).bwd = [=, this] {
    k::embedding_backward(needs_grad(wte) ? grad_acc(wte) : nullptr,
                          needs_grad(wpe) ? grad_acc(wpe) : nullptr, grad_in(out),
                          node(ids).value.data<int32_t>(), B, T, C);
  };
  return out;
}

Var Graph::linear(Var x, Var w, Var b) {
  auto xs = shape(x), wsh = shape(w);
  check(wsh.size() == 2 && xs.back() == wsh[1], "linear: x {} does not match weight ({}, {})",
        xs.back(), wsh[0], wsh[1]);
  int64_t K = wsh[1], N = wsh[0], M = rows(x);
  if (b.defined()) check(shape(b) == Tensor::Shape{N}, "linear: bias must be ({})", N);
  auto os = xs;
  os.back() = N;
  Var out = add_node("linear", os, {x, w, b});
  node(out).fwd = [=, this] {
    linear_forward(val(out), node(x).value.data<float>(), node(w).value.data<float>(),
                   b.defined() ? node(b).value.data<float>() : nullptr, M, K, N);
  };
  node(out).bwd = [=, this] {
    bool acc = false;
    float* dx = needs_grad(x) ? grad_out(x, &acc) : nullptr;
    linear_backward(dx, needs_grad(w) ? grad_acc(w) : nullptr,
                    needs_grad(b) ? grad_acc(b) : nullptr, grad_in(out),
                    node(x).value.data<float>(), node(w).value.data<float>(), M, K, N, acc);
  };
  return out;
}

Var Graph::layernorm(Var x, Var w, Var b, float eps) {
  int64_t N = rows(x), C = cols(x);
  check(shape(w) == Tensor::Shape{C}, "layernorm: weight must be ({})", C);
  Var out = add_node("layernorm", shape(x), {x, w, b});
  Node& n = node(out);
  n.saved_shapes = {{N}, {N}};
  n.fwd = [=, this] {
    Node& o = node(out);
    k::layernorm_forward(val(out), o.saved[0].data<float>(), o.saved[1].data<float>(),
                         node(x).value.data<float>(), node(w).value.data<float>(),
                         b.defined() ? node(b).value.data<float>() : nullptr, N, C, eps);
  };
  n.bwd = [=, this] {
    Node& o = node(out);
    check(needs_grad(w) && (!b.defined() || needs_grad(b)),
          "layernorm backward needs gradients for its weight and bias");
    k::layernorm_backward(needs_grad(x) ? grad_acc(x) : nullptr, grad_acc(w),
                          b.defined() ? grad_acc(b) : nullptr, grad_in(out),
                          node(x).value.data<float>(), node(w).value.data<float>(),
                          o.saved[0].data<float>(), o.saved[1].data<float>(), N, C);
  };
  return out;
}

Var Graph::rmsnorm_grouped(Var x, Var w, int64_t group, float eps) {
  int64_t total = rows(x) * cols(x);
  check(group > 0 && cols(x) % group == 0, "rmsnorm: group {} does not divide {}", group,
        cols(x));
  check(shape(w) == Tensor::Shape{group}, "rmsnorm: weight must be ({})", group);
  int64_t N = total / group, C = group;
  Var out = add_node("rmsnorm", shape(x), {x, w});
  Node& n = node(out);
  n.saved_shapes = {{N}};
  n.fwd = [=, this] {
    k::rmsnorm_forward(val(out), node(out).saved[0].data<float>(), node(x).value.data<float>(),
                       node(w).value.data<float>(), N, C, eps);
  };
  n.bwd = [=, this] {
    check(needs_grad(w), "rmsnorm backward needs a gradient for its weight");
    k::rmsnorm_backward(needs_grad(x) ? grad_acc(x) : nullptr, grad_acc(w), grad_in(out),
                        node(x).value.data<float>(), node(w).value.data<float>(),
                        node(out).saved[0].data<float>(), N, C);
  };
  return out;
}

Var Graph::rmsnorm(Var x, Var w, float eps) { return rmsnorm_grouped(x, w, cols(x), eps); }

Var Graph::gelu(Var x) {
  int64_t n = numel_of(shape(x));
  Var out = add_node("gelu", shape(x), {x});
  node(out).fwd = [=, this] { k::gelu_forward(val(out), node(x).value.data<float>(), n); };
  node(out).bwd = [=, this] {
    k::gelu_backward(grad_acc(x), node(x).value.data<float>(), grad_in(out), n);
  };
  return out;
}

Var Graph::swiglu(Var gate, Var up) {
  check(shape(gate) == shape(up), "swiglu: gate and up shapes differ");
  int64_t n = numel_of(shape(gate));
  Var out = add_node("swiglu", shape(gate), {gate, up});
  node(out).fwd = [=, this] {
    k::swiglu_forward(val(out), node(gate).value.data<float>(), node(up).value.data<float>(), n);
  };
  node(out).bwd = [=, this] {
    k::swiglu_backward(grad_acc(gate), grad_acc(up), node(gate).value.data<float>(),
                       node(up).value.data<float>(), grad_in(out), n);
  };
  return out;
}

Var Graph::rope(Var x, int64_t n_heads, const float* inv_freq) {
  auto s = shape(x);
  check(s.size() == 3 && s[2] % n_heads == 0 && (s[2] / n_heads) % 2 == 0,
        "rope: x must be (B,T,H*hs) with even hs");
  int64_t B = s[0], T = s[1], H = n_heads, hs = s[2] / n_heads, n = numel_of(s);
  Var out = add_node("rope", s, {x});
  node(out).fwd = [=, this] {
    float* o = val(out);
    std::memcpy(o, node(x).value.data<float>(), size_t(n) * 4);
    k::rope_forward(o, B, T, H, hs, inv_freq, 0);
  };
  node(out).bwd = [=, this] {
    bool acc = false;
    float* dx = grad_out(x, &acc);
    const float* dout = grad_in(out);
    if (!acc) {
      std::memcpy(dx, dout, size_t(n) * 4);
      k::rope_backward(dx, B, T, H, hs, inv_freq, 0);
    } else {
      // Rotate back in the (no longer needed) incoming gradient buffer, then add.
      float* d = node(out).grad.data<float>();
      k::rope_backward(d, B, T, H, hs, inv_freq, 0);
      k::add_inplace(dx, d, n);
    }
  };
  return out;
}

Var Graph::attention(Var q, Var kk, Var v, int64_t n_head, int64_t n_kv_head) {
  auto qs = shape(q), ks = shape(kk);
  check(qs.size() == 3 && ks.size() == 3 && shape(v) == ks && qs[0] == ks[0] && qs[1] == ks[1],
        "attention: q (B,T,NH*hs) and k, v (B,T,NKV*hs) shapes do not match");
  check(n_kv_head > 0 && n_head % n_kv_head == 0, "attention: {} kv heads for {} heads",
        n_kv_head, n_head);
  int64_t B = qs[0], T = qs[1], hs = qs[2] / n_head;
  check(hs * n_head == qs[2] && hs * n_kv_head == ks[2], "attention: head sizes do not match");
  float scale = 1.0f / std::sqrt(float(hs));
  Var out = add_node("attention", qs, {q, kk, v});
  node(out).saved_shapes = {{B, n_head, T}};
  // QK^T and PV over the causal triangle: 2 * (2*hs) per (query, key) pair and head.
  double fwd_flops = 4.0 * double(hs) * double(n_head) * double(B) * double(T) * double(T + 1) / 2;
  node(out).fwd = [=, this] {
    add_attention_flops(fwd_flops);
    k::attention_forward(val(out), node(out).saved[0].data<float>(), node(q).value.data<float>(),
                         node(kk).value.data<float>(), node(v).value.data<float>(), B, T, n_head,
                         n_kv_head, hs, scale);
  };
  node(out).bwd = [=, this] {
    add_attention_flops(2 * fwd_flops);
    k::attention_backward(grad_acc(q), grad_acc(kk), grad_acc(v), grad_in(out), val(out),
                          node(out).saved[0].data<float>(), node(q).value.data<float>(),
                          node(kk).value.data<float>(), node(v).value.data<float>(), B, T, n_head,
                          n_kv_head, hs, scale);
  };
  return out;
}

Var Graph::add(Var a, Var b) {
  check(shape(a) == shape(b), "add: shapes differ");
  int64_t n = numel_of(shape(a));
  Var out = add_node("add", shape(a), {a, b});
  node(out).fwd = [=, this] {
    k::add(val(out), node(a).value.data<float>(), node(b).value.data<float>(), n);
  };
  node(out).bwd = [=, this] {
    const float* d = grad_in(out);
    for (Var in : {a, b}) {
      if (!needs_grad(in)) continue;
      bool acc = false;
      float* g = grad_out(in, &acc);
      if (acc)
        k::add_inplace(g, d, n);
      else
        std::memcpy(g, d, size_t(n) * 4);
    }
  };
  return out;
}

Var Graph::dropout(Var x, float p) {
  check(p >= 0 && p < 1, "dropout probability {} is outside [0, 1)", p);
  if (p == 0) return x;
  int64_t n = numel_of(shape(x));
  Var out = add_node("dropout", shape(x), {x});
  int id = out.id;
  // Each dropout node draws an independent mask: mix the node id into the seed.
  auto node_seed = [this, id] { return seed_ * 0x9E3779B97F4A7C15ull + uint64_t(id) * 0xD1B54A32D192ED03ull; };
  node(out).fwd = [=, this] {
    if (training_)
      k::dropout_forward(val(out), node(x).value.data<float>(), n, p, node_seed());
    else
      std::memcpy(val(out), node(x).value.data<float>(), size_t(n) * 4);
  };
  node(out).bwd = [=, this] {
    check(training_, "dropout backward outside training mode");
    k::dropout_backward(grad_acc(x), grad_in(out), n, p, node_seed());
  };
  return out;
}

Var Graph::cross_entropy(Var logits, Var targets) {
  int64_t N = rows(logits), V = cols(logits);
  check(numel_of(shape(targets)) == N && node(targets).dtype == DType::I32,
        "cross_entropy: targets must be {} int32 values", N);
  Var out = add_node("cross_entropy", {1}, {logits});
  node(out).saved_shapes = {{N}};
  if (needs_grad(logits)) node(logits).grad_alias = true;
  node(out).fwd = [=, this] {
    const int32_t* t = node(targets).value.data<int32_t>();
    int64_t valid = 0;
    for (int64_t i = 0; i < N; ++i) {
      check(t[i] < V, "target id {} at position {} is outside the vocabulary (0..{})", t[i], i,
            V - 1);
      valid += t[i] >= 0;
    }
    float* losses = node(out).saved[0].data<float>();
    float scale = valid > 0 ? loss_scale_ / float(valid) : 0.0f;
    k::cross_entropy_forward_backward(losses, val(logits), t, N, V, scale);
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += losses[i];
    val(out)[0] = valid > 0 ? float(sum / double(valid)) : 0.0f;
  };
  node(out).bwd = [] {};  // dlogits was written by the fused forward
  return out;
}

void Graph::allocate() {
  check(!allocated_, "graph: allocate() called twice");
  activation_bytes_ = 0;
  for (Node& n : nodes_) {
    if (n.leaf) continue;
    n.value = Tensor::zeros(n.shape, n.dtype);
    activation_bytes_ += n.value.nbytes();
    if (n.requires_grad && n.grad_alias) n.grad = n.value;
    for (auto& s : n.saved_shapes) {
      n.saved.push_back(Tensor::zeros(s, DType::F32));
      activation_bytes_ += n.saved.back().nbytes();
    }
  }
  plan_gradients();
  allocated_ = true;
}

// Activation gradients share buffers. Backward runs nodes in reverse order, so in backward
// time t(i) = (n-1-i) the gradient of node i is live from the backward of its last consumer
// (the first writer) through its own backward. Intervals are packed greedily (interval
// graph colouring by start time, best-fitting free buffer), which keeps only the gradients
// of the current layer or so alive instead of one per activation.
void Graph::plan_gradients() {
  const int n = int(nodes_.size());
  std::vector<int> last_consumer(size_t(n), -1);
  for (int i = 0; i < n; ++i)
    for (int in : nodes_[size_t(i)].inputs) last_consumer[size_t(in)] = std::max(last_consumer[size_t(in)], i);
  struct Interval {
    int node, start, end;
    int64_t numel;
  };
  std::vector<Interval> iv;
  for (int i = 0; i < n; ++i) {
    const Node& nd = nodes_[size_t(i)];
    if (nd.leaf || !nd.requires_grad || nd.grad_alias) continue;
    int end = n - 1 - i;
    int start = last_consumer[size_t(i)] >= 0 ? n - 1 - last_consumer[size_t(i)] : end;
    iv.push_back({i, start, end, nd.value.numel()});
  }
  std::sort(iv.begin(), iv.end(), [](const Interval& a, const Interval& b) {
    return a.start < b.start || (a.start == b.start && a.node < b.node);
  });
  std::multimap<int64_t, Tensor> free;                  // numel -> 1-D buffer
  std::vector<std::pair<int, Tensor>> active;           // (end, buffer)
  for (const Interval& v : iv) {
    // A buffer is free once its owner's own backward (time `end`) is strictly past.
    for (size_t k = 0; k < active.size();) {
      if (active[k].first < v.start) {
        free.emplace(active[k].second.numel(), active[k].second);
        active[k] = active.back();
        active.pop_back();
      } else {
        ++k;
      }
    }
    Tensor buf;
    if (auto it = free.lower_bound(v.numel); it != free.end()) {
      buf = it->second;
      free.erase(it);
    } else {
      buf = Tensor::zeros({v.numel});
      activation_bytes_ += buf.nbytes();
    }
    Node& nd = nodes_[size_t(v.node)];
    nd.grad = buf.slice(0, 0, v.numel).reshape(nd.shape);
    active.emplace_back(v.end, buf);
  }
}

void Graph::forward() {
  check(allocated_, "graph: forward() before allocate()");
  for (Node& n : nodes_)
    if (n.fwd) n.fwd();
}

void Graph::backward(Var loss) {
  check(allocated_, "graph: backward() before allocate()");
  check(node(loss).op == "cross_entropy", "graph: backward() must start from a cross_entropy loss");
  for (Node& n : nodes_) n.grad_written = n.grad_alias;
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    if (!n.leaf && n.requires_grad && n.bwd) n.bwd();
  }
}

}  // namespace lmkit
