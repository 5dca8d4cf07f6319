// Reverse-mode automatic differentiation over lmkit's fused kernels.
//
// A Graph is recorded once per shape (the model code calls the op methods below), then
// allocate() plans memory: every activation and activation-gradient buffer is allocated
// once, 64-byte aligned, and reused by every later forward()/backward(). A training step
// therefore performs no heap allocation. Ops run in recording order forward and in reverse
// order backward (a tape, as in PyTorch's autograd engine, but static like a compiled
// graph). Parameters are leaves whose value and gradient tensors belong to the caller
// (gradients accumulate, so micro-batches add up until the caller zeroes them).
//
// Activation-gradient buffers are shared between nodes whose gradients are never alive at
// the same time (plan_gradients). Gradient buffers are written, not zeroed-then-added, by their first writer in a backward
// pass (GEMM beta = 0, copy instead of add); only kernels that can only accumulate get a
// zeroed buffer. This avoids a memset of every activation gradient per step.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lmkit/core/tensor.h"

namespace lmkit {

class Graph;

// A handle to a node of a Graph.
struct Var {
  int id = -1;
  bool defined() const { return id >= 0; }
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // ---- leaves ----
  // A parameter: value (any shape, f32 contiguous) and optional grad of the same shape.
  // Without a grad tensor it is a constant (no gradient computed).
  Var parameter(Tensor value, Tensor grad = Tensor());
  // An input buffer owned by the graph (e.g. token ids, I32); fill it via tensor(v).
  Var input(const Tensor::Shape& shape, DType dtype);

  // ---- ops (shapes: leading dims are flattened into rows N, last dim is channels) ----
  // ids (B,T) I32, wte (V,C), wpe (Tmax,C) optional -> (B,T,C).
  Var embedding(Var ids, Var wte, Var wpe = {});
  // x (...,K), w (N,K), b (N) optional -> (...,N).
  Var linear(Var x, Var w, Var b = {});
  // Over the last dim. b optional.
  Var layernorm(Var x, Var w, Var b, float eps);
  Var rmsnorm(Var x, Var w, float eps);
  // RMSNorm over groups of `group` channels of the last dim (Qwen3's per-head q/k norm):
  // x (...,H*hs), w (hs).
  Var rmsnorm_grouped(Var x, Var w, int64_t group, float eps);
  Var gelu(Var x);
  Var swiglu(Var gate, Var up);
  // x (B,T,H*hs); inv_freq has hs/2 entries and must outlive the graph.
  Var rope(Var x, int64_t n_heads, const float* inv_freq);
  // q (B,T,NH*hs), k/v (B,T,NKV*hs) -> (B,T,NH*hs), causal, scale 1/sqrt(hs).
  Var attention(Var q, Var k, Var v, int64_t n_head, int64_t n_kv_head);
  Var add(Var a, Var b);
  // Inverted dropout with probability p; the mask depends on set_seed() and the node.
  Var dropout(Var x, float p);
  // Mean cross-entropy of logits (N,V) against targets (N) I32 (ignored when < 0), a
  // scalar. Fused: its forward also writes dloss/dlogits into the logits buffer (the
  // logits values are consumed), so call it only when the loss is wanted.
  Var cross_entropy(Var logits, Var targets);

  // ---- execution ----
  // Allocates all buffers (call once after recording; recording more ops afterwards is an
  // error).
  void allocate();
  void forward();
  // Backpropagates from `loss` (a scalar produced by cross_entropy). Parameter grads
  // accumulate.
  void backward(Var loss);
  // Multiplies the loss gradient (e.g. 1/accumulation steps). Takes effect at the next
  // forward(), because cross_entropy computes its gradient during the forward pass.
  void set_loss_scale(float s) { loss_scale_ = s; }
  // Seed for dropout masks: the trainer sets it per micro-step so runs are reproducible.
  void set_seed(uint64_t seed) { seed_ = seed; }
  void set_training(bool training) { training_ = training; }

  Tensor& tensor(Var v);
  const Tensor& tensor(Var v) const;
  const Tensor& grad(Var v) const;
  Tensor::Shape shape(Var v) const;
  size_t activation_bytes() const { return activation_bytes_; }
  size_t num_nodes() const { return nodes_.size(); }

 private:
  struct Node {
    Tensor::Shape shape;
    DType dtype = DType::F32;
    Tensor value, grad;
    bool requires_grad = false;
    bool leaf = false;        // parameter or input: value/grad provided, not allocated here
    bool grad_alias = false;  // grad lives in value's buffer (logits under cross_entropy)
    bool grad_written = false;  // set during backward once a first writer filled grad
    std::function<void()> fwd, bwd;
    std::vector<int> inputs;    // node ids this node reads (for gradient liveness)
    std::vector<Tensor> saved;  // per-op saved statistics (mean/rstd, lse, losses)
    std::vector<Tensor::Shape> saved_shapes;
    std::string op;
  };
  // A node computed from `inputs` (undefined Vars are skipped); it requires a gradient when
  // any input does.
  Var add_node(std::string op, Tensor::Shape shape, std::vector<Var> inputs,
               DType dtype = DType::F32);
  void plan_gradients();
  Node& node(Var v) { return nodes_.at(size_t(v.id)); }
  bool needs_grad(Var v) const { return v.defined() && nodes_[size_t(v.id)].requires_grad; }
  int64_t rows(Var v) const;  // product of all dims but the last
  int64_t cols(Var v) const;  // last dim
  float* val(Var v) { return node(v).value.data<float>(); }
  // The gradient buffer of v for a writer: returns it and tells whether the writer must
  // accumulate (true) or may overwrite (false).
  float* grad_out(Var v, bool* accumulate);
  // The gradient buffer of v, zeroed if no one wrote it yet (for accumulate-only kernels).
  float* grad_acc(Var v);
  float* grad_in(Var v);  // the gradient arriving at v's own backward (zero if never written)

  std::vector<Node> nodes_;
  bool allocated_ = false;
  bool training_ = true;
  uint64_t seed_ = 0;
  float loss_scale_ = 1.0f;
  size_t activation_bytes_ = 0;
};

}  // namespace lmkit
