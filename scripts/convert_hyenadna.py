#!/usr/bin/python3
"""Converts an official HyenaDNA checkpoint to a derfseq safetensors file.

Reads the HF port's pytorch_model.bin or model.safetensors (names
hyena.backbone.*; F32, F16 or BF16), the standalone
model's state dict (backbone.*) or the Lightning weights.ckpt (model.backbone.*,
with mixer.layer./mlp.layer. when checkpoint_mixer was set), and writes every
tensor under the HF port's names plus the model config in the safetensors
metadata key "derfseq.config", which `derfseq info/eval/embed` read.

The config comes from the HF config.json next to the checkpoint when there is
one, else from the tensor shapes. It records the tokenizer rules the weights
were trained with, so `derfseq embed` applies them with no flag: "official-hf"
for the HF port (the LongSafari *-hf repositories: its tokenizer appends
[SEP]), "official" for the standalone and Lightning checkpoints (case kept,
N is N, no special tokens); --tokens overrides. The positional-feature buffers z, t and
deltas are copied when present (hyenadna.md §1.4); an untied lm_head.weight is
dropped (derfseq ties the LM head to the embedding, as the training code).

Needs Debian's python3-torch; derfseq itself never does.

    scripts/convert_hyenadna.py pytorch_model.bin hyenadna-tiny-1k.safetensors
    scripts/convert_hyenadna.py model.safetensors hyenadna-tiny-1k.safetensors
    scripts/convert_hyenadna.py --shift 0.0 weights.ckpt out.safetensors
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import st  # noqa: E402


def load_state_dict(path):
    if st.is_safetensors(path):   # HF model.safetensors: no pickle
        return st.load(path)[0]
    obj = torch.load(path, map_location="cpu")   # Lightning checkpoints are pickles: trusted files only
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        sys.exit(f"{path}: expected a state dict or a Lightning checkpoint")
    return obj


def hf_name(name):
    """Official names of all three layouts → the HF port's."""
    name = name.replace(".mixer.layer.", ".mixer.").replace(".mlp.layer.", ".mlp.")
    for prefix in ("model.backbone.", "backbone.", "hyena.backbone."):
        if name.startswith(prefix):
            return "hyena.backbone." + name[len(prefix):]
    return None   # heads (lm_head, score, decoder) and anything else


def infer_config(sd, hf_cfg, shift, tokenizer):
    emb = sd["hyena.backbone.embeddings.word_embeddings.weight"]
    layers = {int(m.group(1)) for k in sd for m in [re.match(r"hyena\.backbone\.layers\.(\d+)\.", k)] if m}
    z = sd.get("hyena.backbone.layers.0.mixer.filter_fn.pos_emb.z")
    f0 = sd["hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.0.weight"]
    fc1 = sd["hyena.backbone.layers.0.mlp.fc1.weight"]
    norm = "derf" if "hyena.backbone.ln_f.shift" in sd else "dyt" if "hyena.backbone.ln_f.alpha" in sd else \
        "layernorm" if "hyena.backbone.ln_f.bias" in sd else "rmsnorm"
    freq = sd.get("hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq")
    cfg = {"arch": "hyenadna", "preset": "converted", "d_model": emb.shape[1], "n_layer": len(layers),
           "d_inner": fc1.shape[0], "vocab_size": 12, "pad_vocab_size_multiple": 8,
           "l_max": z.shape[1] if z is not None else hf_cfg.get("max_seq_len", 1026),
           "emb_dim": f0.shape[1], "filter_order": f0.shape[0],
           "w": float(hf_cfg.get("activation_freq", 10)) if freq is None else 10.0,
           "modulation_shift": shift, "embed_dropout": float(hf_cfg.get("embed_dropout", 0.1)),
           "resid_dropout": float(hf_cfg.get("resid_dropout", 0.0)), "norm": norm, "alpha_init": 0.5,
           "layer_norm_epsilon": float(hf_cfg.get("layer_norm_epsilon", 1e-5)), "tokenizer": tokenizer}
    if emb.shape[0] != 16:
        sys.exit(f"embedding has {emb.shape[0]} rows, expected 16 (vocab 12 padded to a multiple of 8)")
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--config", help="HF config.json (default: beside the checkpoint, if present)")
    ap.add_argument("--shift", type=float, default=0.05,
                    help="ExponentialModulation shift: 0.05 reproduces the HF/standalone code (default), "
                         "0.0 the training code (pitfalls.md 1)")
    ap.add_argument("--tokens", choices=("official", "official-hf", "derfseq"),
                    help="tokenizer rules to record (default: official-hf for the HF port's names "
                         "hyena.backbone.*, official for the standalone and Lightning checkpoints)")
    a = ap.parse_args()
    raw = load_state_dict(a.checkpoint)
    sd = {}
    for k, v in raw.items():
        n = hf_name(k)
        if n is not None and torch.is_tensor(v):
            sd[n] = v.detach().float().contiguous()
    if "hyena.backbone.embeddings.word_embeddings.weight" not in sd:
        sys.exit(f"{a.checkpoint}: no backbone.embeddings.word_embeddings.weight: not a HyenaDNA checkpoint")
    cfg_path = a.config or os.path.join(os.path.dirname(os.path.abspath(a.checkpoint)), "config.json")
    hf_cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
    hf_port = any(k.startswith("hyena.backbone.") for k in raw)
    cfg = infer_config(sd, hf_cfg, a.shift, a.tokens or ("official-hf" if hf_port else "official"))
    # One Sin module is used three times; some exports keep only one key.
    for i in range(cfg["n_layer"]):
        p = f"hyena.backbone.layers.{i}.mixer.filter_fn.implicit_filter."
        for k in (3, 5):
            sd.setdefault(f"{p}{k}.freq", sd[f"{p}1.freq"])
    st.save(a.output, sd, {"derfseq.config": json.dumps(cfg), "converted_from": os.path.basename(a.checkpoint)})
    print(f"{a.output}: {len(sd)} tensors, {cfg['n_layer']} layers, d_model {cfg['d_model']}, "
          f"l_max {cfg['l_max']}, norm {cfg['norm']}, shift {cfg['modulation_shift']}, tokenizer {cfg['tokenizer']}")


if __name__ == "__main__":
    main()
