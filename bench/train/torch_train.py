#!/usr/bin/env python3
"""PyTorch 1.13 side of the training benchmark (bench/train/run.sh).

A GPT-2 as nanoGPT's model.py writes it (fused c_attn, LayerNorm with bias, tanh GELU, tied
head; torch 1.13 has no scaled_dot_product_attention, so attention is the masked-softmax form
nanoGPT falls back to), trained with torch.optim.AdamW on the same llm.c token file, batches
read exactly as `lmkit train` reads them. Prints one JSON line with the median tokens/s of the
steps after the first 3 and the peak RSS.

Run with /usr/bin/python3 (Debian python3-torch), OMP_WAIT_POLICY=PASSIVE, and the same
OPENBLAS_CORETYPE setting as the lmkit side.
"""
import argparse, json, math, resource, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH, T):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)
        self.NH = NH
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        hs = C // self.NH
        q = q.view(B, T, self.NH, hs).transpose(1, 2)
        k = k.view(B, T, self.NH, hs).transpose(1, 2)
        v = v.view(B, T, self.NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, NH, C, V, T):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, NH, T) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    p = argparse.ArgumentParser()
    for a in ("layers", "heads", "dim", "vocab_size", "seq_len", "batch_size", "steps", "threads"):
        p.add_argument("--" + a.replace("_", "-"), type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--lr", type=float, default=3e-4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    header = np.fromfile(a.data, dtype=np.int32, count=256)
    assert header[0] == 20240520, "not an llm.c token file"
    tokens = np.memmap(a.data, dtype=np.uint16, mode="r", offset=1024, shape=(int(header[2]),))
    B, T = a.batch_size, a.seq_len
    n = len(tokens)
    model = GPT(a.layers, a.heads, a.dim, a.vocab_size, T)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    rates, losses = [], []
    for s in range(a.steps):
        t0 = time.perf_counter()
        starts = [((s * B + b) * T) % (n - T - 1) for b in range(B)]
        chunk = np.stack([np.asarray(tokens[i:i + T + 1], dtype=np.int64) for i in starts])
        x, y = torch.from_numpy(chunk[:, :-1]), torch.from_numpy(chunk[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        rates.append(B * T / (time.perf_counter() - t0))
    steady = sorted(rates[3:] or rates)
    m = len(steady)
    median = steady[m // 2] if m % 2 else 0.5 * (steady[m // 2 - 1] + steady[m // 2])
    print(json.dumps({"tokens_per_sec_median": median,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "loss_first": losses[0], "loss_last": losses[-1],
                      "params": sum(q.numel() for q in model.parameters())}))


if __name__ == "__main__":
    sys.exit(main())
