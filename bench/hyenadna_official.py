"""The official HyenaDNA model code's training step and inference, for
`make bench`: the ratio derfseq / official PyTorch CPU code (issue 14).

The official code is not part of derfseq (and is never copied into it): point
BENCH_HYENADNA_OFFICIAL (or argv[1]) at `standalone_hyenadna.py` from a
checkout of github.com/HazyResearch/hyena-dna. It is run as published, with
the official Derf patch applied the way `DNA model/dynamic_erf.patch` of
zlab-princeton/Derf does it: every nn.LayerNorm (norm1, norm2 of each block
and ln_f) becomes y = weight * erf(alpha * x + shift) + bias with alpha 0.5,
shift 0, weight 1, bias 0. `--norm layernorm` keeps the LayerNorms.

The official file imports einops, torchvision and transformers at the top;
Debian has none of the three for PyTorch 1.13 (python3-torchvision 0.14 is
installable). Only `einops.rearrange` (on five fixed patterns) and
`torchvision.ops.StochasticDepth` (with p = 0, the identity) are used by the
Hyena LM path, and the tokenizer base classes only by CharacterTokenizer,
which this bench does not use: where a module is missing, a stand-in is
registered for exactly those names, so the model code itself runs unchanged.

Same shapes, threads and batch as bench/bench_models.c: B 8 x 1024 random
tokens over ACGT, a training step is the forward (embedding dropout 0.1 as
the official config), the tied LM head (logits = h @ E^T, as the official
ConvLMHeadModel ties it), cross-entropy, zero_grad, backward, gradient
clipping at 1 and AdamW (lr 6e-4); inference is the backbone's forward under
no_grad in eval mode (derfseq: encode without a head).

`--weights CKPT.safetensors` loads a derfseq HyenaDNA checkpoint into the
official model first (its tensor names are the official ones under a
`hyena.` prefix; every tensor of the official model must be there), so the
two codes are timed on the same trained weights; the line's label is then
`--label` (default `trained`). PyTorch keeps its default of not flushing
denormals; `--flush-denormal` calls torch.set_flush_denormal(True).

Usage: hyenadna_official.py [PATH/standalone_hyenadna.py] [--norm derf|layernorm]
                            [--weights CKPT --label NAME] [--flush-denormal] [PRESET]
Prints one `official PRESET ... train X tok/s infer Y tok/s peak RSS Z GB`
line per preset, as the derfseq and twin lines, for bench/run.sh's ratios."""
import importlib.util
import json
import struct
import os
import re
import resource
import sys
import time
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"hyenadna-tiny-1k": (128, 2, 1026), "hyenadna-small-32k": (256, 4, 32770)}


def _rearrange(x, pattern, **sizes):
    """einops.rearrange for the patterns of the Hyena path: axis names and
    one level of parentheses, no ellipsis."""
    lhs, rhs = (s.strip() for s in pattern.split("->"))

    def groups(side):
        return [g.strip("()").split() for g in re.findall(r"\([^)]*\)|\S+", side)]
    lg, rg = groups(lhs), groups(rhs)
    if len(lg) != x.dim():
        raise ValueError(f"rearrange stand-in: {pattern!r} on a {x.dim()}-d tensor")
    dims = dict(sizes)
    flat = []
    for g, n in zip(lg, x.shape):
        unknown = [a for a in g if a not in dims]
        known = 1
        for a in g:
            if a in dims:
                known *= dims[a]
        if len(unknown) > 1:
            raise ValueError(f"rearrange stand-in: cannot split {g} in {pattern!r}")
        if unknown:
            dims[unknown[0]] = n // known
        flat += g
    x = x.reshape([dims[a] for a in flat])
    order = [a for g in rg for a in g]
    x = x.permute([flat.index(a) for a in order])
    shape = []
    for g in rg:
        n = 1
        for a in g:
            n *= dims[a]
        shape.append(n)
    return x.reshape(shape)


class _StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, mode 'row' (the official blocks' only use)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


def _stand_ins():
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules["einops"] = types.SimpleNamespace(rearrange=_rearrange)
    try:
        import torchvision.ops  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        tv.ops = types.SimpleNamespace(StochasticDepth=_StochasticDepth)
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, tv.ops
    try:
        import transformers.tokenization_utils  # noqa: F401
    except ImportError:
        tu = types.SimpleNamespace(AddedToken=lambda *a, **k: None, PreTrainedTokenizer=object)
        sys.modules["transformers"] = types.SimpleNamespace(tokenization_utils=tu)
        sys.modules["transformers.tokenization_utils"] = tu


class Derf(nn.Module):
    """The official Derf (Dynamic_erf) with its parameter names."""

    def __init__(self, shape, alpha=0.5, shift=0.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1) * alpha)
        self.shift = nn.Parameter(torch.ones(1) * shift)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias


def ln_to_derf(module):
    """As the official patch: every nn.LayerNorm, recursively, becomes Derf."""
    if isinstance(module, nn.LayerNorm):
        return Derf(module.normalized_shape)
    for name, child in module.named_children():
        module.add_module(name, ln_to_derf(child))
    return module


def load_official(path):
    _stand_ins()
    spec = importlib.util.spec_from_file_location("standalone_hyenadna", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(mod, preset, norm):
    d, n, l_max = PRESETS[preset]
    layer = {"_name_": "hyena", "emb_dim": 5, "filter_order": 64, "local_order": 3, "l_max": l_max,
             "modulate": True, "w": 10, "lr": 6e-4, "wd": 0.0, "lr_pos_emb": 0.0}
    torch.manual_seed(1)
    model = mod.HyenaDNAModel(d_model=d, n_layer=n, d_inner=4 * d, vocab_size=12, layer=layer,
                              pad_vocab_size_multiple=8, embed_dropout=0.1, resid_dropout=0.0,
                              layer_norm_epsilon=1e-5, use_head=False)
    if norm == "derf":
        model = ln_to_derf(model)
    return model


def read_safetensors(path):
    """({name: float32 tensor}, metadata) of a safetensors file (F32 tensors
    only, as derfseq writes them), read with the standard library and
    torch.frombuffer."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    meta = header.get("__metadata__", {})
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit(f"hyenadna_official.py: {path}: tensor {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(t["shape"])
    return out, meta


def load_weights(model, path):
    tensors, meta = read_safetensors(path)
    state = {k[len("hyena."):]: v for k, v in tensors.items() if k.startswith("hyena.")}
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    if missing:
        sys.exit(f"hyenadna_official.py: {path}: no tensor for {missing[0]} (and {len(missing) - 1} more)")
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            sys.exit(f"hyenadna_official.py: {path}: {k} is {list(state[k].shape)}, expected {list(v.shape)}")
    model.load_state_dict({k: state[k] for k in want})
    # derfseq trains with the training code's ExponentialModulation shift
    # (0.0); the standalone file's default is 0.05: use the checkpoint's.
    shift = json.loads(meta.get("derfseq.config", "{}")).get("modulation_shift", 0.0)
    for m in model.modules():
        if type(m).__name__ == "ExponentialModulation":
            m.shift = shift


def bench(mod, preset, norm, B=8, L=1024, train_steps=5, infer_steps=10, weights=None, label=None):
    model = build(mod, preset, norm)
    if weights:
        load_weights(model, weights)
    emb = model.backbone.embeddings.word_embeddings.weight
    ids = torch.randint(7, 11, (B, L + 1))
    inp, tgt = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4)
    model.train()
    for s in range(train_steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        h = model(inp)
        logits = h @ emb.t()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    train = B * L * train_steps / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(inp)
        t0 = time.perf_counter()
        for _ in range(infer_steps):
            model(inp)
        infer = B * L * infer_steps / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576.0
    name = label or preset
    print(f"official {name:<20} B{B} x {L}  train {train:8.0f} tok/s  infer {infer:8.0f} tok/s  "
          f"peak RSS {rss:.2f} GB  (loss {loss.item():.3f}, {norm}, {os.path.basename(mod.__file__)})", flush=True)


def main(argv):
    norm, only, path = "derf", None, os.environ.get("BENCH_HYENADNA_OFFICIAL", "")
    weights, label, flush = None, None, False
    i = 0
    while i < len(argv):
        if argv[i] in ("--norm", "--weights", "--label") and i + 1 < len(argv):
            if argv[i] == "--norm":
                norm = argv[i + 1]
            elif argv[i] == "--weights":
                weights = argv[i + 1]
            else:
                label = argv[i + 1]
            i += 2
            continue
        if argv[i] == "--flush-denormal":
            flush, i = True, i + 1
            continue
        if argv[i].endswith(".py"):
            path = argv[i]
        else:
            only = argv[i]
        i += 1
    if os.path.isdir(path):
        path = os.path.join(path, "standalone_hyenadna.py")
    if not path or not os.path.isfile(path):
        print("official HyenaDNA code skipped: set BENCH_HYENADNA_OFFICIAL to standalone_hyenadna.py "
              "of a github.com/HazyResearch/hyena-dna checkout")
        return 0
    if norm not in ("derf", "layernorm"):
        sys.exit(f"hyenadna_official.py: --norm {norm}: expected derf or layernorm")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if flush and not torch.set_flush_denormal(True):
        sys.exit("hyenadna_official.py: --flush-denormal: this CPU has no flush-to-zero mode for PyTorch")
    if weights and not only:
        sys.exit("hyenadna_official.py: --weights needs the checkpoint's PRESET")
    if weights and not label:
        label = "trained"
    mod = load_official(path)
    for p in PRESETS:
        if not only or only == p:
            bench(mod, p, norm, train_steps=5 if "tiny" in p else 3, infer_steps=10 if "tiny" in p else 5,
                  weights=weights, label=label)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
