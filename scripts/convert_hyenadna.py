#!/usr/bin/python3
"""Converts an official HyenaDNA checkpoint to a derfseq safetensors file.

Reads the HF port's model.safetensors or pytorch_model.bin (names hyena.backbone.*), the standalone
model's state dict (backbone.*) or the Lightning weights.ckpt (model.backbone.*,
with mixer.layer./mlp.layer. when checkpoint_mixer was set), and writes every
tensor under the HF port's names plus the model config in the safetensors
metadata key "derfseq.config", which `derfseq info/eval/embed` read.

The config comes from the HF config.json next to the checkpoint when there is
one, else from the tensor shapes. The positional-feature buffers z, t and
deltas are copied when present (hyenadna.md §1.4); an untied lm_head.weight is
dropped (derfseq ties the LM head to the embedding, as the training code).

The tokenizer rule the weights expect is recorded in the config ("tokenizer"),
so `derfseq embed` needs no --tokens: "official-hf" (the -hf tokenizer appends
[SEP]) for the HF port's names, "official" (no special tokens) for the
standalone and Lightning layouts; --tokenizer overrides.

The HF port's model.safetensors is read with the standard library alone; a
pytorch_model.bin, state dict or weights.ckpt (pickles) needs Debian's
python3-torch. derfseq itself never does.

    scripts/convert_hyenadna.py model.safetensors hyenadna-tiny-1k.safetensors
    scripts/convert_hyenadna.py pytorch_model.bin hyenadna-tiny-1k.safetensors
    scripts/convert_hyenadna.py --shift 0.0 weights.ckpt out.safetensors
"""
import argparse
import array
import json
import os
import re
import struct
import sys

# A tensor is (shape, array('f') of float32 values in C order).
LITTLE = sys.byteorder == "little"


def st_floats(raw, dtype, path, name):
    """Little-endian F32/F16/BF16/F64 bytes as array('f')."""
    if dtype in ("F32", "F64"):
        a = array.array("f" if dtype == "F32" else "d")
        a.frombytes(raw)
        if not LITTLE:
            a.byteswap()
        return a if dtype == "F32" else array.array("f", a)
    if dtype == "F16":
        return array.array("f", struct.unpack(f"<{len(raw) // 2}e", raw))
    if dtype == "BF16":
        h = array.array("H")
        h.frombytes(raw)
        if not LITTLE:
            h.byteswap()
        w = array.array("I", (x << 16 for x in h))
        out = array.array("f")
        out.frombytes(w.tobytes())
        return out
    sys.exit(f"{path}: tensor '{name}' has dtype {dtype}, expected F32, F16, BF16 or F64")


def load_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0] if len(buf) >= 8 else 0
    if len(buf) < 8 or n > len(buf) - 8 or buf[8:9] != b"{":
        sys.exit(f"{path}: not a safetensors file")
    header, data = json.loads(buf[8:8 + n]), buf[8 + n:]
    header.pop("__metadata__", None)
    return {k: (tuple(e["shape"]), st_floats(data[e["data_offsets"][0]:e["data_offsets"][1]], e["dtype"], path, k))
            for k, e in header.items()}


def load_pickle(path):
    import torch   # only for pickled checkpoints
    obj = torch.load(path, map_location="cpu")   # Lightning checkpoints are pickles: trusted files only
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        sys.exit(f"{path}: expected a state dict or a Lightning checkpoint")
    out = {}
    for k, v in obj.items():
        if torch.is_tensor(v):
            a = array.array("f")
            a.frombytes(v.detach().float().contiguous().numpy().tobytes())
            out[k] = (tuple(v.shape), a)
    return out


def load_state_dict(path):
    with open(path, "rb") as f:
        head = f.read(9)
    is_st = len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < (100 << 20)
    return load_safetensors(path) if is_st else load_pickle(path)


def save_safetensors(path, sd, metadata):
    """{name: (shape, array('f'))} as F32 safetensors, atomically."""
    header, off = {}, 0
    for name, (shape, a) in sd.items():
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + 4 * len(a)]}
        off += 4 * len(a)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, a in sd.values():
            if not LITTLE:
                a = array.array("f", a)
                a.byteswap()
            f.write(a.tobytes())
    os.replace(path + ".tmp", path)


def hf_name(name):
    """Official names of all three layouts → the HF port's."""
    name = name.replace(".mixer.layer.", ".mixer.").replace(".mlp.layer.", ".mlp.")
    for prefix in ("model.backbone.", "backbone.", "hyena.backbone."):
        if name.startswith(prefix):
            return "hyena.backbone." + name[len(prefix):]
    return None   # heads (lm_head, score, decoder) and anything else


def infer_config(tensors, hf_cfg, shift, tokenizer):
    sd = {k: shape for k, (shape, _) in tensors.items()}
    emb = sd["hyena.backbone.embeddings.word_embeddings.weight"]
    layers = {int(m.group(1)) for k in sd for m in [re.match(r"hyena\.backbone\.layers\.(\d+)\.", k)] if m}
    z = sd.get("hyena.backbone.layers.0.mixer.filter_fn.pos_emb.z")
    f0 = sd["hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.0.weight"]
    fc1 = sd["hyena.backbone.layers.0.mlp.fc1.weight"]
    norm = "derf" if "hyena.backbone.ln_f.shift" in sd else "dyt" if "hyena.backbone.ln_f.alpha" in sd else \
        "layernorm" if "hyena.backbone.ln_f.bias" in sd else "rmsnorm"
    freq = sd.get("hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq")
    cfg = {"arch": "hyenadna", "preset": "converted", "d_model": emb[1], "n_layer": len(layers),
           "d_inner": fc1[0], "vocab_size": 12, "pad_vocab_size_multiple": 8,
           "l_max": z[1] if z is not None else hf_cfg.get("max_seq_len", 1026),
           "emb_dim": f0[1], "filter_order": f0[0],
           "w": float(hf_cfg.get("activation_freq", 10)) if freq is None else 10.0,
           "modulation_shift": shift, "embed_dropout": float(hf_cfg.get("embed_dropout", 0.1)),
           "resid_dropout": float(hf_cfg.get("resid_dropout", 0.0)), "norm": norm, "alpha_init": 0.5,
           "layer_norm_epsilon": float(hf_cfg.get("layer_norm_epsilon", 1e-5)), "tokenizer": tokenizer}
    if emb[0] != 16:
        sys.exit(f"embedding has {emb[0]} rows, expected 16 (vocab 12 padded to a multiple of 8)")
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--config", help="HF config.json (default: beside the checkpoint, if present)")
    ap.add_argument("--shift", type=float, default=0.05,
                    help="ExponentialModulation shift: 0.05 reproduces the HF/standalone code (default), "
                         "0.0 the training code (pitfalls.md 1)")
    ap.add_argument("--tokenizer", choices=["official", "official-hf", "derfseq"],
                    help="tokenizer rule to record (default: official-hf for the HF port's names "
                         "hyena.backbone.*, official for the standalone and Lightning layouts)")
    a = ap.parse_args()
    raw = load_state_dict(a.checkpoint)
    sd = {}
    for k, v in raw.items():
        n = hf_name(k)
        if n is not None:
            sd[n] = v
    if "hyena.backbone.embeddings.word_embeddings.weight" not in sd:
        sys.exit(f"{a.checkpoint}: no backbone.embeddings.word_embeddings.weight: not a HyenaDNA checkpoint")
    hf_layout = any(k.startswith("hyena.backbone.") for k in raw)
    tokenizer = a.tokenizer or ("official-hf" if hf_layout else "official")
    cfg_path = a.config or os.path.join(os.path.dirname(os.path.abspath(a.checkpoint)), "config.json")
    hf_cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
    cfg = infer_config(sd, hf_cfg, a.shift, tokenizer)
    # One Sin module is used three times; some exports keep only one key.
    for i in range(cfg["n_layer"]):
        p = f"hyena.backbone.layers.{i}.mixer.filter_fn.implicit_filter."
        for k in (3, 5):
            sd.setdefault(f"{p}{k}.freq", sd[f"{p}1.freq"])
    save_safetensors(a.output, sd, {"derfseq.config": json.dumps(cfg), "converted_from": os.path.basename(a.checkpoint)})
    print(f"{a.output}: {len(sd)} tensors, {cfg['n_layer']} layers, d_model {cfg['d_model']}, "
          f"l_max {cfg['l_max']}, norm {cfg['norm']}, shift {cfg['modulation_shift']}, tokenizer {tokenizer}")


if __name__ == "__main__":
    main()
