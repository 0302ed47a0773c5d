"""PyTorch twin of models/hyenadna.c, written from ../shared/spec/hyenadna.md
(§1.2-1.6) and norms.md, with the official state-dict names (HF port).

Run by `make golden`: writes testdata/golden/hyenadna_{layernorm,derf}.safetensors
holding a small model's parameters, a batch, the hidden states, logits, loss,
every parameter's gradient and the losses of 5 AdamW steps. The C test
(test/test_golden_hyenadna.c) loads the parameters and must reproduce the
rest at ~1e-4 relative.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (the project's minimal safetensors writer)


# ---- norm family (norms.md §0) -------------------------------------------
class Derf(nn.Module):
    def __init__(self, c, alpha=0.5):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), alpha))
        self.shift = nn.Parameter(torch.zeros(1))
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias


class DyT(nn.Module):
    def __init__(self, c, alpha=0.5):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), alpha))
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x) + self.bias


class RMSNorm(nn.Module):
    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind, c, eps):
    return {"layernorm": lambda: nn.LayerNorm(c, eps=eps), "derf": lambda: Derf(c),
            "dyt": lambda: DyT(c), "rmsnorm": lambda: RMSNorm(c, eps)}[kind]()


# ---- Hyena operator (hyenadna.md §1.3-1.4) --------------------------------
class Sin(nn.Module):
    def __init__(self, dim, w):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class PositionalEmbedding(nn.Module):
    def __init__(self, emb_dim, seq_len):
        super().__init__()
        t = torch.linspace(0, 1, seq_len)[None, :, None]
        bands = (emb_dim - 1) // 2
        t_rescaled = torch.linspace(0, seq_len - 1, seq_len)[None, :, None]
        w = 2 * math.pi * t_rescaled / seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * f * w)
        self.register_buffer("z", torch.cat([t, z.real, z.imag], dim=-1))
        self.register_buffer("t", t)


class ExponentialModulation(nn.Module):
    def __init__(self, d, shift):
        super().__init__()
        self.shift = shift
        deltas = torch.linspace(math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, d)[None, None]
        self.register_buffer("deltas", deltas)

    def forward(self, t, x):
        return x * (torch.exp(-t * self.deltas.abs()) + self.shift)


class HyenaFilter(nn.Module):
    def __init__(self, d, emb_dim, order, seq_len, w, shift):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(d))
        act = Sin(order, w)   # one module, used three times: one shared freq
        self.pos_emb = PositionalEmbedding(emb_dim, seq_len)
        self.implicit_filter = nn.Sequential(nn.Linear(emb_dim, order), act, nn.Linear(order, order), act,
                                             nn.Linear(order, order), act, nn.Linear(order, d, bias=False))
        self.modulation = ExponentialModulation(d, shift)

    def filter(self, L):
        z, t = self.pos_emb.z[:, :L], self.pos_emb.t[:, :L]
        return self.modulation(t, self.implicit_filter(z))[0]   # [L, d]


def fftconv(u, k, D):
    L = u.shape[-1]
    n = 2 * L
    k_f = torch.fft.rfft(k, n=n) / n
    u_f = torch.fft.rfft(u, n=n)
    y = torch.fft.irfft(u_f * k_f, n=n, norm="forward")[..., :L]
    return y + u * D.unsqueeze(-1)


class HyenaOperator(nn.Module):
    def __init__(self, d, l_max, cfg):
        super().__init__()
        self.d = d
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.short_filter = nn.Conv1d(3 * d, 3 * d, 3, padding=2, groups=3 * d)
        self.filter_fn = HyenaFilter(d, cfg["emb_dim"], cfg["filter_order"], l_max, cfg["w"],
                                     cfg["modulation_shift"])

    def forward(self, u):
        L = u.size(-2)
        u = self.in_proj(u).transpose(1, 2)
        uc = self.short_filter(u)[..., :L]
        x0, x1, v = uc.split(self.d, dim=1)
        k = self.filter_fn.filter(L).transpose(0, 1)          # [d, L]
        v = fftconv(v * x1, k, self.filter_fn.bias)
        return self.out_proj((v * x0).transpose(1, 2))


class Mlp(nn.Module):
    def __init__(self, d, d_inner):
        super().__init__()
        self.fc1 = nn.Linear(d, d_inner)
        self.fc2 = nn.Linear(d_inner, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.mixer = HyenaOperator(d, cfg["l_max"], cfg)
        self.norm1 = make_norm(cfg["norm"], d, cfg["layer_norm_epsilon"])
        self.norm2 = make_norm(cfg["norm"], d, cfg["layer_norm_epsilon"])
        self.mlp = Mlp(d, cfg["d_inner"])

    def forward(self, x):   # x ← x + Mixer(N1(x)); x ← x + MLP(N2(x))   (§1.2)
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Embeddings(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(16, cfg["d_model"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = make_norm(cfg["norm"], cfg["d_model"], cfg["layer_norm_epsilon"])


class HyenaDNA(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.hyena = nn.Module()
        self.hyena.backbone = Backbone(cfg)

    def forward(self, ids):
        b = self.hyena.backbone
        x = b.embeddings.word_embeddings(ids)
        for layer in b.layers:
            x = layer(x)
        h = b.ln_f(x)
        return h, h @ b.embeddings.word_embeddings.weight.t()   # tied LM head


def decays(name, p):
    """derfseq's rule (models/hyenadna.c): matrices decay; biases, norms and
    every implicit-filter tensor (official filter wd = 0) do not."""
    return p.dim() >= 2 and "filter_fn" not in name and ".norm" not in name and "ln_f" not in name


def perturb(model, gen):
    """Weights of size ~1/sqrt(fan_in) and norms off their init, so every
    gradient path carries signal well above float rounding."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".freq" in name:
                continue
            if "norm" in name or "ln_f" in name:
                p.add_(torch.rand(p.shape, generator=gen) * 0.4 - 0.2)
            elif "implicit_filter" in name:
                # near the official N(0, 0.02): three sin(10·x) layers with
                # larger weights make the filter chaotic, and any two float
                # implementations disagree at 1e-3
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * 0.1)
            elif p.dim() >= 2:
                a = 1.0 / math.sqrt(p[0].numel())
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * a)


def state_dict_with_aliases(model):
    """The official state dict repeats the shared freq as .1/.3/.5."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def run(norm, path):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    cfg = {"arch": "hyenadna", "preset": "golden", "d_model": 32, "n_layer": 2, "d_inner": 128,
           "vocab_size": 12, "pad_vocab_size_multiple": 8, "l_max": 64, "emb_dim": 5, "filter_order": 16,
           "w": 10.0, "modulation_shift": 0.0, "embed_dropout": 0.0, "resid_dropout": 0.0, "norm": norm,
           "alpha_init": 0.5, "layer_norm_epsilon": 1e-5}
    model = HyenaDNA(cfg)
    perturb(model, gen)
    # The parameters are stored as float32 (what C loads); everything after
    # is computed in float64, so the golden is the exact answer for those
    # weights and the C test measures its own float32 error against it.
    model = model.double()
    B, L = 2, 40
    ids = torch.randint(7, 12, (B, L + 1), generator=gen)
    ids[0, 5] = 4                                   # a pad inside, ignored by the loss
    inp, tgt = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    out = {f"param.{k}": v.float() for k, v in state_dict_with_aliases(model).items()}
    out["golden.ids"] = inp.to(torch.int32)
    out["golden.targets"] = tgt.to(torch.int32)

    hidden, logits = model(inp)
    loss = F.cross_entropy(logits.reshape(-1, 16), tgt.reshape(-1), ignore_index=4)
    loss.backward()
    out["golden.hidden"] = hidden.detach().float()
    out["golden.logits"] = logits.detach().float()
    out["golden.loss"] = loss.detach().reshape(1).float()
    for k, p in model.named_parameters():
        out[f"grad.{k}"] = p.grad.detach().float()

    groups = [{"params": [p for n, p in model.named_parameters() if decays(n, p)], "weight_decay": 0.1},
              {"params": [p for n, p in model.named_parameters() if not decays(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        _, logits = model(inp)
        loss = F.cross_entropy(logits.reshape(-1, 16), tgt.reshape(-1), ignore_index=4)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out["golden.adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    meta = {"derfseq.config": json.dumps(cfg), "generator": "test/reference/hyenadna.py",
            "torch": torch.__version__}
    st.save(path, out, meta)
    print(f"{path}: loss {losses[0]:.6f} -> {losses[-1]:.6f} after 5 AdamW steps")


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden")
    for norm in ("layernorm", "derf"):
        run(norm, os.path.join(root, f"hyenadna_{norm}.safetensors"))


if __name__ == "__main__":
    main()
