"""PyTorch twin of models/caduceus.c, written from ../shared/spec/caduceus.md
(§2.2-2.8) and norms.md, with the official HF state-dict names
(CaduceusForMaskedLM); checked against the semantics of caduceus@0060a6d
(modeling_caduceus.py, modeling_rcps.py) and mamba_ssm's Mamba/Block/
selective_scan_ref, without the Triton/CUDA kernels.

Run by `make golden`: writes testdata/golden/caduceus_{ps_fused_rmsnorm,
ps_unfused_derf,ph_derf}.safetensors in the format of hyenadna_*.safetensors
(param.*, golden.ids/targets/hidden/logits/loss, grad.*, golden.adamw_losses)
for a small model (d 24, 2 layers). Before writing, it asserts the facts the
spec claims: PS is RC-equivariant in both add-norm modes, unfused PS equals
concat[Ph(x), RC(Ph(rc x))] with the same tensors, fused PS is a different
function, and derfseq's doubled-batch formulation (../notes: strands
[ids; rc ids], fused = swap the strands' pre-norm sums each block) equals the
official module structure. It also checks float32 agrees with float64.

Other scripts import it: check_convert_caduceus.py builds these models, saves
them in the hub layout and runs scripts/convert_caduceus.py on them.
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (the project's minimal safetensors writer)
from hyenadna import make_norm  # noqa: E402  (the norm family of norms.md §0, one definition)

# spec §2.1: A7<->T10, C8<->G9, N and specials (and padded rows 12..15) to themselves
COMPLEMENT_MAP = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15]
MASK, PAD, N_ID = 3, 4, 11


def small_config(rcps, fused, norm):
    """The derfseq config JSON of ../notes/caduceus.md for the golden model."""
    return {"arch": "caduceus", "preset": "golden", "d_model": 24, "n_layer": 2, "vocab_size": 12,
            "pad_vocab_size_multiple": 8, "max_len": 64, "rcps": rcps, "fused_add_norm": fused, "norm": norm,
            "alpha_init": 0.5, "norm_epsilon": 1e-5, "d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 2,
            "dt_min": 0.001, "dt_max": 0.1, "dt_init_floor": 1e-4, "dt_scale": 1.0,
            "complement_map": COMPLEMENT_MAP, "init_embed_std": 0.02, "tokenizer": "caduceus"}


def rc_ids(ids):
    """rc(ids) = complement_map[flip_L(ids)] (spec §2.6)."""
    return torch.tensor(COMPLEMENT_MAP, dtype=torch.long)[ids.flip(-1)]


def RC(x):
    """Flip length and channels of a (..., L, C) tensor."""
    return x.flip(-2, -1)


# ---- Mamba v1 simple mixer (spec §2.2) -----------------------------------
class Mamba(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, e = cfg["d_model"], cfg["expand"] * cfg["d_model"]
        self.R, self.N = cfg["dt_rank"], cfg["d_state"]
        self.in_proj = nn.Linear(d, 2 * e, bias=False)                     # default kaiming-uniform(a=√5)
        self.conv1d = nn.Conv1d(e, e, cfg["d_conv"], groups=e, padding=cfg["d_conv"] - 1, bias=True)  # default
        self.x_proj = nn.Linear(e, self.R + 2 * self.N, bias=False)        # default kaiming-uniform
        self.dt_proj = nn.Linear(self.R, e, bias=True)
        with torch.no_grad():
            s = self.R ** -0.5 * cfg["dt_scale"]
            self.dt_proj.weight.uniform_(-s, s)
            lo, hi = math.log(cfg["dt_min"]), math.log(cfg["dt_max"])
            dt = torch.exp(torch.rand(e) * (hi - lo) + lo).clamp(min=cfg["dt_init_floor"])
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))     # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, self.N + 1, dtype=torch.float32)).repeat(e, 1))
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d, bias=False)   # re-drawn and rescaled in Caduceus.__init__

    def forward(self, h):                              # h [B, L, D] -> [B, L, D]
        L = h.shape[1]
        x, z = F.linear(h, self.in_proj.weight).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L]).transpose(1, 2)   # causal depthwise conv
        dt, Bm, Cm = F.linear(x, self.x_proj.weight).split([self.R, self.N, self.N], dim=-1)
        delta = F.softplus(F.linear(dt, self.dt_proj.weight) + self.dt_proj.bias)   # delta_bias, softplus in scan
        A = -torch.exp(self.A_log)
        s = x.new_zeros(x.shape[0], x.shape[2], self.N)
        ys = []
        for t in range(L):                             # selective_scan_ref
            dl = delta[:, t, :, None]
            s = torch.exp(dl * A) * s + dl * Bm[:, t, None, :] * x[:, t, :, None]
            ys.append((s * Cm[:, t, None, :]).sum(-1))
        y = (torch.stack(ys, 1) + x * self.D) * F.silu(z)
        return F.linear(y, self.out_proj.weight)


class BiMambaWrapper(nn.Module):
    """Strategy "add", in/out_proj tied (spec §2.3)."""
    def __init__(self, cfg):
        super().__init__()
        self.mamba_fwd = Mamba(cfg)
        self.mamba_rev = Mamba(cfg)
        self.mamba_rev.in_proj.weight = self.mamba_fwd.in_proj.weight
        self.mamba_rev.out_proj.weight = self.mamba_fwd.out_proj.weight

    def forward(self, h):
        return self.mamba_fwd(h) + self.mamba_rev(h.flip(1)).flip(1)


# ---- RCPS modules (spec §2.6, modeling_rcps.py) ---------------------------
class RCPSEmbedding(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(COMPLEMENT_MAP, dtype=torch.long))
        self.embedding = nn.Embedding(vocab, d)

    @property
    def weight(self):
        return self.embedding.weight

    def forward(self, ids):
        rc = self.complement_map[ids.flip(-1)]
        return torch.cat([self.embedding(ids), RC(self.embedding(rc))], dim=-1)


class RCPSWrapper(nn.Module):
    def __init__(self, submodule):
        super().__init__()
        self.submodule = submodule

    def forward(self, x):
        d = x.shape[-1] // 2
        return torch.cat([self.submodule(x[..., :d]), RC(self.submodule(RC(x[..., d:])))], dim=-1)


class RCPSAddNormWrapper(RCPSWrapper):
    """Unfused RCPS add+norm: one shared norm on each strand in its own frame."""
    def forward(self, x, residual=None):
        d = x.shape[-1] // 2
        if residual is None:
            s_f, s_r = x[..., :d], RC(x[..., d:])
        else:
            s_f = x[..., :d] + residual[..., :d]
            s_r = RC(x[..., d:]) + RC(residual[..., d:])
        normed = torch.cat([self.submodule(s_f), RC(self.submodule(s_r))], dim=-1)
        return normed, torch.cat([s_f, RC(s_r)], dim=-1)


def fused_rcps_add_norm(norm, x, residual):
    """RCPSMambaBlock's fused_add_norm path: the "fwd" stream is the SECOND
    half and the "rc" stream the first half flipped, so the halves swap every
    block (spec §2.6)."""
    d = x.shape[-1] // 2
    s = x if residual is None else x + residual
    a, b = norm(s[..., d:]), norm(RC(s[..., :d]))
    return torch.cat([a, RC(b)], dim=-1), torch.cat([s[..., d:], s[..., :d]], dim=-1)


class RCPSMambaBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fused = cfg["fused_add_norm"]
        self.mixer = RCPSWrapper(BiMambaWrapper(cfg))
        n = make_norm(cfg["norm"], cfg["d_model"], cfg["norm_epsilon"])
        self.norm = n if self.fused else RCPSAddNormWrapper(n)

    def forward(self, h, residual):
        h, residual = fused_rcps_add_norm(self.norm, h, residual) if self.fused else self.norm(h, residual)
        return self.mixer(h), residual


class Block(nn.Module):
    """mamba Block, mlp Identity: residual add, then norm, then mixer (spec §2.4)."""
    def __init__(self, cfg):
        super().__init__()
        self.mixer = BiMambaWrapper(cfg)
        self.norm = make_norm(cfg["norm"], cfg["d_model"], cfg["norm_epsilon"])

    def forward(self, h, residual):
        residual = h if residual is None else h + residual
        return self.mixer(self.norm(residual)), residual


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.word_embeddings = (RCPSEmbedding if cfg["rcps"] else nn.Embedding)(16, cfg["d_model"])


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg["fused_add_norm"] and cfg["norm"] not in ("rmsnorm", "layernorm"):
            raise ValueError("fused_add_norm needs RMSNorm or LayerNorm (norms.md §0.2)")
        self.rcps, self.fused = cfg["rcps"], cfg["fused_add_norm"]
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList([(RCPSMambaBlock if self.rcps else Block)(cfg) for _ in range(cfg["n_layer"])])
        n = make_norm(cfg["norm"], cfg["d_model"], cfg["norm_epsilon"])
        self.norm_f = RCPSAddNormWrapper(n) if self.rcps and not self.fused else n

    def forward(self, ids):
        h, residual = self.embeddings.word_embeddings(ids), None
        for layer in self.layers:
            h, residual = layer(h, residual)
        if not self.rcps:
            return self.norm_f(h + residual)
        if not self.fused:
            return self.norm_f(h, residual)[0]
        # the fused final norm keeps the normal order (fwd = first half); same math as the wrapper
        d = h.shape[-1] // 2
        s = h + residual
        return torch.cat([self.norm_f(s[..., :d]), RC(self.norm_f(RC(s[..., d:])))], dim=-1)


class RCPSLMHead(nn.Module):
    """Tied to the embedding; only the complement_map buffer is its own."""
    def __init__(self):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(COMPLEMENT_MAP, dtype=torch.long))

    def forward(self, x, w):
        d = x.shape[-1] // 2
        return F.linear(x[..., :d], w) + F.linear(x[..., d:].flip(-1), w[self.complement_map])


class Caduceus(nn.Module):
    """CaduceusForMaskedLM: caduceus.backbone.* plus the tied LM head."""
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.caduceus = nn.Module()
        self.caduceus.backbone = Backbone(cfg)
        if cfg["rcps"]:
            self.lm_head = RCPSLMHead()
        with torch.no_grad():   # _init_weights: embedding N(0, 0.02); out_proj re-drawn / sqrt(n_layer)
            self.embedding_weight().normal_(0, cfg["init_embed_std"])
            for m in self.modules():
                if isinstance(m, Mamba):
                    nn.init.kaiming_uniform_(m.out_proj.weight, a=math.sqrt(5))
                    m.out_proj.weight /= math.sqrt(cfg["n_layer"])

    def embedding_weight(self):
        return self.caduceus.backbone.embeddings.word_embeddings.weight

    def forward(self, ids):
        h = self.caduceus.backbone(ids)
        w = self.embedding_weight()
        return h, (self.lm_head(h, w) if self.cfg["rcps"] else F.linear(h, w))


def c_table(model):
    """The C parameter table: every backbone tensor under its official name,
    the aliases mamba_rev.{in,out}_proj.weight included; no buffers, no lm_head."""
    bufs = {n for n, _ in model.named_buffers()}
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k not in bufs}


def decays(name, p):
    """derfseq's weight-decay rule (../notes/caduceus.md): matrices except A_log."""
    return p.dim() >= 2 and not name.endswith("A_log")


def perturb(model, gen):
    """Every tensor away from its init value so no symmetry hides a bug; the
    Linear/conv weights keep the official random draw."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            u = lambda lo, hi: torch.rand(p.shape, generator=gen, dtype=p.dtype) * (hi - lo) + lo  # noqa: E731
            if ".norm" in name:
                p.add_(u(-0.2, 0.2))
            elif name.endswith("A_log"):
                p.add_(u(-0.3, 0.3))
            elif name.endswith(".D"):
                p.add_(u(-0.5, 0.5))
            elif name.endswith("dt_proj.bias"):
                p.add_(u(-0.5, 1.5))            # larger steps, so the scan's state matters
            elif "word_embeddings" in name:
                p.mul_(10.0)                    # std 0.2: Derf/DyT off their linear range at layer 0
            elif name.endswith("conv1d.bias"):
                p.add_(u(-0.1, 0.1))


def mlm_batch(gen, B=2, L=20):
    """An MLM-masked batch by the recipe of src/dataloaders/utils/mlm.py (p 0.15
    raised to 0.3 so 40 tokens select a few), with an N kept in the input and
    a [MASK] guaranteed; target 4 (PAD) = ignored."""
    seq = torch.randint(7, 12, (B, L), generator=gen)
    seq[0, 2], seq[1, 11] = N_ID, N_ID
    sel = torch.rand(B, L, generator=gen) < 0.3
    sel[0, 2], sel[1, 11] = False, False        # these N stay in the input, unselected
    sel[1, 5] = True
    tgt = torch.where(sel, seq, torch.full_like(seq, PAD))
    r = torch.rand(B, L, generator=gen)
    rand_ids = torch.randint(0, 12, (B, L), generator=gen)
    inp = seq.clone()
    inp[sel & (r < 0.8)] = MASK
    keep = sel & (r >= 0.8) & (r < 0.9)
    inp[keep] = rand_ids[keep]
    inp[1, 5] = MASK
    assert (inp == MASK).any() and (inp == N_ID).any() and (tgt != PAD).sum() >= 4
    return inp, tgt


def close(a, b):
    """test.h's CHECK_CLOSE measure, normwise: ‖a − b‖ / ‖b‖."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


# ---- checks of the spec's claims -----------------------------------------
def ph_tensors_of_ps(sd):
    """PS names -> the Ph model's names for the same tensors."""
    out = {}
    for k, v in sd.items():
        k = k.replace(".mixer.submodule.", ".mixer.").replace(".norm.submodule.", ".norm.")
        k = k.replace("norm_f.submodule.", "norm_f.").replace("word_embeddings.embedding.weight",
                                                               "word_embeddings.weight")
        out[k] = v
    return out


def load_tensors(model, tensors):
    """Copies named tensors into a model; every parameter must be covered."""
    sd = model.state_dict()
    missing = [k for k in c_table(model) if k not in tensors]
    assert not missing, missing
    with torch.no_grad():
        for k in c_table(model):
            sd[k].copy_(tensors[k])


def doubled_batch_ps(ph, ids, fused):
    """derfseq's formulation (../notes/caduceus.md): the D-wide stack on the
    strands [ids; rc(ids)]; fused additionally maps the pre-norm sums
    (s_A, s_B) -> (RC(s_B), RC(s_A)) before each block's norm (not norm_f)."""
    b = ph.caduceus.backbone
    B = ids.shape[0]
    h, r = b.embeddings.word_embeddings(torch.cat([ids, rc_ids(ids)])), None
    for layer in b.layers:
        s = h if r is None else h + r
        if fused:
            s = torch.cat([RC(s[B:]), RC(s[:B])])
        h, r = layer.mixer(layer.norm(s)), s
    out = b.norm_f(h + r)
    return torch.cat([out[:B], RC(out[B:])], dim=-1)


def check_spec_claims(model, ids):
    cfg = model.cfg
    with torch.no_grad():
        h, logits = model(ids)
        if cfg["rcps"]:
            h_rc, logits_rc = model(rc_ids(ids))
            assert close(h_rc, RC(h)) < 1e-12, "PS is not RC-equivariant"
            # logits(rc x)[l, v] = logits(x)[L-1-l, comp[v]]
            assert close(logits_rc, logits.flip(-2)[..., COMPLEMENT_MAP]) < 1e-12
            ph = Caduceus(dict(cfg, rcps=False, fused_add_norm=False)).double()
            load_tensors(ph, ph_tensors_of_ps(c_table(model)))
            assert close(doubled_batch_ps(ph, ids, cfg["fused_add_norm"]), h) < 1e-12, \
                "the doubled-batch formulation differs from the official structure"
            diff = float("nan")
            if cfg["fused_add_norm"]:   # the same tensors in the unfused model (Derf/DyT exist only unfused)
                other = Caduceus(dict(cfg, fused_add_norm=False)).double()
                load_tensors(other, {k.replace(".norm.", ".norm.submodule.").replace("norm_f.", "norm_f.submodule."): v
                                     for k, v in c_table(model).items()})
                diff = (other(ids)[0] - h).abs().max().item()
                assert diff > 1e-2 * h.abs().max().item(), f"fused == unfused (max diff {diff})"
                assert close(other(rc_ids(ids))[0], RC(other(ids)[0])) < 1e-12
            unfused_h = other(ids)[0] if cfg["fused_add_norm"] else h
            assert close(torch.cat([ph(ids)[0], RC(ph(rc_ids(ids))[0])], dim=-1), unfused_h) < 1e-12, \
                "unfused PS != concat[Ph(x), RC(Ph(rc x))]"
            print("  PS checks ok: RC-equivariant, doubled-batch form and unfused = concat[Ph(x), RC(Ph(rc x))]"
                  + (f", |fused - unfused| max {diff:.3g}" if cfg["fused_add_norm"] else ""))


def loss_of(logits, tgt):
    return F.cross_entropy(logits.reshape(-1, 16), tgt.reshape(-1), ignore_index=PAD)


def forward_backward(model, ids, tgt):
    model.zero_grad()
    hidden, logits = model(ids)
    loss = loss_of(logits, tgt)
    loss.backward()
    return hidden, logits, loss, {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def adamw_losses(model, ids, tgt):
    groups = [{"params": [p for n, p in model.named_parameters() if decays(n, p)], "weight_decay": 0.1},
              {"params": [p for n, p in model.named_parameters() if not decays(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = loss_of(model(ids)[1], tgt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def build(cfg, seed=0):
    """The official init (torch seed `seed`), then perturbed; float32."""
    torch.manual_seed(seed)
    model = Caduceus(cfg)
    perturb(model, torch.Generator().manual_seed(1234 + seed))
    return model


def run(cfg, path):
    model32 = build(cfg)
    ids, tgt = mlm_batch(torch.Generator().manual_seed(99))
    # The parameters are stored as float32 (what C loads); everything after is
    # float64, so the golden is the exact answer for those weights.
    model = copy.deepcopy(model32).double()
    out = {f"param.{k}": v.float() for k, v in c_table(model).items()}
    out["golden.ids"] = ids.to(torch.int32)
    out["golden.targets"] = tgt.to(torch.int32)
    check_spec_claims(model, ids)
    hidden, logits, loss, grads = forward_backward(model, ids, tgt)
    h32, l32, loss32, g32 = forward_backward(model32, ids, tgt)
    errs = dict({"hidden": close(h32, hidden), "logits": close(l32, logits), "loss": close(loss32, loss)},
                **{f"grad.{k}": close(g32[k], grads[k]) for k in grads})
    worst = max(errs.values())
    assert worst < 1e-5, f"float32 disagrees with float64: {max(errs, key=errs.get)} by {worst:.3g}"
    out["golden.hidden"] = hidden.detach().float()
    out["golden.logits"] = logits.detach().float()
    out["golden.loss"] = loss.detach().reshape(1).float()
    for k, g in grads.items():
        out[f"grad.{k}"] = g.float()
    losses = adamw_losses(model, ids, tgt)
    out["golden.adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    meta = {"derfseq.config": json.dumps(cfg), "generator": "test/reference/caduceus.py", "torch": torch.__version__}
    st.save(path, out, meta)
    print(f"{path}: hidden {list(hidden.shape)}, float32 vs float64 {worst:.2g}, "
          f"loss {losses[0]:.6f} -> {losses[-1]:.6f} after 5 AdamW steps")


GOLDENS = {"ps_fused_rmsnorm": (True, True, "rmsnorm"), "ps_unfused_derf": (True, False, "derf"),
           "ph_derf": (False, False, "derf")}


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden")
    for name, (rcps, fused, norm) in GOLDENS.items():
        run(small_config(rcps, fused, norm), os.path.join(root, f"caduceus_{name}.safetensors"))


if __name__ == "__main__":
    main()
