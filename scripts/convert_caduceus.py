#!/usr/bin/python3
"""Converts an official Caduceus checkpoint (HF CaduceusForMaskedLM) to a derfseq safetensors file.

Reads pytorch_model.bin / a Lightning .ckpt (torch.load; keys may carry the
Lightning `model.` prefix) or model.safetensors, with the HF config.json beside
it (or --config), and writes every backbone tensor under the official names of
the C parameter table (../shared/spec/caduceus.md §2.8) plus the model config in
the safetensors metadata key "derfseq.config".

HF files store each tied tensor once, so the aliases mamba_rev.in_proj.weight
and mamba_rev.out_proj.weight are re-tied (copies of mamba_fwd's); the LM head
is dropped (derfseq ties it to the embedding: a stored lm_head must equal it);
the complement_map buffers must be the standard map. Ph/PS, fused/unfused and
the norm kind are read from the tensor names and cross-checked with config.json.

Needs Debian's python3-torch; derfseq itself never does.

    scripts/convert_caduceus.py caduceus-ps_seqlen-131k_d_model-256_n_layer-16/model.safetensors ps-131k.safetensors
    scripts/convert_caduceus.py --config config.json last.ckpt out.safetensors
"""
import argparse
import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import st  # noqa: E402

COMPLEMENT_MAP = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15]
BB = "caduceus.backbone."
NORM_KINDS = {("weight",): "rmsnorm", ("bias", "weight"): "layernorm", ("alpha", "bias", "weight"): "dyt",
              ("alpha", "bias", "shift", "weight"): "derf"}
MAMBA = ("A_log", "D", "in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
         "dt_proj.bias", "out_proj.weight")
PRESETS = {(118, 4, 1024): "1k", (256, 16, 131072): "131k"}


class ConvertError(Exception):
    pass


def load_state_dict(path):
    if path.endswith(".safetensors"):
        try:
            return st.load(path)[0]
        except KeyError as e:
            raise ConvertError(f"{path}: tensor dtype {e} is not supported (F32, F64, I32, I64)")
        except (ValueError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConvertError(f"{path}: not a readable safetensors file ({e})")
    try:
        obj = torch.load(path, map_location="cpu")   # pickles: trusted files only
    except Exception as e:  # noqa: BLE001  (torch raises many kinds)
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})")
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: expected a state dict or a Lightning checkpoint")
    return {k: v for k, v in obj.items() if torch.is_tensor(v)}


def strip_prefix(raw):
    """Lightning checkpoints prefix the model's keys with `model.` (its encoder/decoder keys are not ours)."""
    if any(k.startswith("model.caduceus.") for k in raw):
        return {k[len("model."):]: v for k, v in raw.items() if k.startswith("model.")}
    return raw


def check_complement(path, name, t):
    if list(t.shape) != [16] or t.long().tolist() != COMPLEMENT_MAP:
        raise ConvertError(f"{path}: tensor {name}: complement map {t.tolist()} is not the standard "
                           f"{COMPLEMENT_MAP} (A<->T, C<->G, others to themselves)")


def hf_complement_map(path, cm):
    """config.json's complement_map (dict with string keys, 12 or 16 entries) -> list of 16."""
    try:
        m = {int(k): int(v) for k, v in cm.items()}
    except (AttributeError, TypeError, ValueError):
        raise ConvertError(f"{path}: complement_map is not an object of id -> id")
    out = [m.get(i, i) for i in range(16)]
    if out != COMPLEMENT_MAP or any(i >= 16 for i in m):
        raise ConvertError(f"{path}: complement_map {cm} is not the standard map")


def infer_layout(path, sd):
    """(rcps, fused, norm kind, n_layer) from the tensor names alone."""
    ps_emb = BB + "embeddings.word_embeddings.embedding.weight" in sd
    ph_emb = BB + "embeddings.word_embeddings.weight" in sd
    if ps_emb == ph_emb:
        raise ConvertError(f"{path}: expected exactly one of tensors {BB}embeddings.word_embeddings.embedding.weight "
                           f"(PS) or {BB}embeddings.word_embeddings.weight (Ph): not a Caduceus checkpoint")
    rcps = ps_emb
    layers = sorted({int(m.group(1)) for k in sd for m in [re.match(re.escape(BB) + r"layers\.(\d+)\.", k)] if m})
    if not layers or layers != list(range(len(layers))):
        raise ConvertError(f"{path}: layer indices {layers} are not 0..n-1")
    for k in sd:   # the embedding's name and the mixers' must tell the same
        if (rcps and ".mixer." in k and ".mixer.submodule." not in k) or (not rcps and "submodule" in k):
            raise ConvertError(f"{path}: tensor {k}: a {'Ph' if rcps else 'PS'} name, but the embedding "
                               f"{'word_embeddings.embedding.weight' if rcps else 'word_embeddings.weight'} "
                               f"says {'PS' if rcps else 'Ph'}")
    fused = not any(".norm.submodule." in k or "norm_f.submodule." in k for k in sd)
    kinds = {}
    for i in list(layers) + ["f"]:
        p = BB + (f"layers.{i}.norm." if i != "f" else "norm_f.") + ("" if fused or not rcps else "submodule.")
        names = tuple(sorted(k[len(p):] for k in sd if k.startswith(p)))
        if names not in NORM_KINDS:
            raise ConvertError(f"{path}: tensors {p}*: {list(names)} is not a norm's set of tensors "
                               "(rmsnorm: weight; layernorm: weight, bias; dyt: alpha, weight, bias; "
                               "derf: alpha, shift, weight, bias)")
        kinds[p] = NORM_KINDS[names]
    if len(set(kinds.values())) != 1:
        raise ConvertError(f"{path}: the norms differ between layers: {kinds}")
    norm = next(iter(kinds.values()))
    if rcps and fused and norm not in ("rmsnorm", "layernorm"):
        raise ConvertError(f"{path}: tensor {next(iter(kinds))}alpha: a {norm} norm outside the RCPS add-norm "
                           "wrapper (fused add-norm exists only for RMSNorm/LayerNorm)")
    return rcps, fused, norm, len(layers)


def expected_shapes(rcps, n_layer, norm, fused, D, E, R, N, K):
    shapes = {BB + ("embeddings.word_embeddings.embedding.weight" if rcps else "embeddings.word_embeddings.weight"):
              [16, D]}
    mix = ".mixer.submodule." if rcps else ".mixer."
    per = {"A_log": [E, N], "D": [E], "in_proj.weight": [2 * E, D], "conv1d.weight": [E, 1, K], "conv1d.bias": [E],
           "x_proj.weight": [R + 2 * N, E], "dt_proj.weight": [E, R], "dt_proj.bias": [E], "out_proj.weight": [D, E]}
    nshape = {"weight": [D], "bias": [D], "alpha": [1], "shift": [1]}
    nnames = next(k for k, v in NORM_KINDS.items() if v == norm)
    sub = "submodule." if rcps and not fused else ""
    for i in range(n_layer):
        for d in ("mamba_fwd", "mamba_rev"):
            for t in MAMBA:
                shapes[f"{BB}layers.{i}{mix}{d}.{t}"] = per[t]
        for t in nnames:
            shapes[f"{BB}layers.{i}.norm.{sub}{t}"] = nshape[t]
    for t in nnames:
        shapes[f"{BB}norm_f.{sub}{t}"] = nshape[t]
    return shapes


def cross_check(path, cfg_path, hf, rcps, fused, norm, D, n_layer, E, R, N, K):
    def want(key, value, what):
        if key in hf and hf[key] != value:
            raise ConvertError(f"{cfg_path}: {key} is {hf[key]!r} but the tensors of {path} say {value!r} ({what})")
    want("rcps", rcps, "PS names: word_embeddings.embedding.weight, .mixer.submodule.")
    want("d_model", D, "embedding width")
    want("n_layer", n_layer, "layers.{i} count")
    if rcps:
        want("fused_add_norm", fused, "fused PS: layers.{i}.norm.weight; unfused: layers.{i}.norm.submodule.*")
    elif hf.get("fused_add_norm") and norm not in ("rmsnorm", "layernorm"):
        raise ConvertError(f"{cfg_path}: fused_add_norm is true but the tensors of {path} hold a {norm} norm "
                           "(fused add-norm exists only for RMSNorm/LayerNorm)")
    if "rms_norm" in hf:   # Derf/DyT replace the norm module of either kind; the config keeps rms_norm
        if (norm == "rmsnorm" and not hf["rms_norm"]) or (norm == "layernorm" and hf["rms_norm"]):
            raise ConvertError(f"{cfg_path}: rms_norm is {hf['rms_norm']} but the norms of {path} are {norm}")
    for key, value in (("bidirectional", True), ("bidirectional_strategy", "add"), ("bidirectional_weight_tie", True)):
        if key in hf and hf[key] != value:
            raise ConvertError(f"{cfg_path}: {key} {hf[key]!r} is not supported (only {value!r} exists in derfseq)")
    if "vocab_size" in hf and hf["vocab_size"] not in (12, 16):
        raise ConvertError(f"{cfg_path}: vocab_size {hf['vocab_size']} is not the DNA vocabulary (12, padded to 16)")
    ssm = hf.get("ssm_cfg") or {}
    r_cfg = ssm.get("dt_rank", "auto")
    r_cfg = math.ceil(D / 16) if r_cfg == "auto" else r_cfg
    for key, value, got in (("d_state", 16, N), ("d_conv", 4, K), ("expand", 2, E // D), ("dt_rank", r_cfg, R)):
        cfg_value = r_cfg if key == "dt_rank" else ssm.get(key, value)
        if got != cfg_value:
            raise ConvertError(f"{cfg_path}: ssm_cfg.{key} is {ssm.get(key, value)!r} (= {cfg_value}) but the "
                               f"tensors of {path} say {got}")
    for key, value in (("bias", False), ("conv_bias", True)):
        if ssm.get(key, value) != value:
            raise ConvertError(f"{cfg_path}: ssm_cfg.{key} {ssm[key]!r} is not supported (official Caduceus: {value})")
    if "complement_map" in hf and hf["complement_map"] is not None:
        hf_complement_map(cfg_path, hf["complement_map"])


def max_len_of(ckpt, hf, D, n_layer):
    for key in ("max_length", "model_max_length", "max_len"):
        if isinstance(hf.get(key), int) and hf[key] > 0:
            return hf[key]
    name = os.path.abspath(ckpt).lower()
    if re.search(r"131k", name):
        return 131072
    if re.search(r"(?<![0-9])1k", name):
        return 1024
    return 131072 if (D, n_layer) == (256, 16) else 1024


def convert(ckpt, cfg_path=None):
    """Returns ({name: float32 tensor}, derfseq config dict); raises ConvertError."""
    sd = strip_prefix(load_state_dict(ckpt))
    cfg_path = cfg_path or os.path.join(os.path.dirname(os.path.abspath(ckpt)), "config.json")
    hf = {}
    if os.path.exists(cfg_path):
        try:
            with open(cfg_path) as f:
                hf = json.load(f)
        except (OSError, ValueError) as e:
            raise ConvertError(f"{cfg_path}: not a readable JSON file ({e})")
        if not isinstance(hf, dict):
            raise ConvertError(f"{cfg_path}: expected a JSON object")
    rcps, fused, norm, n_layer = infer_layout(ckpt, sd)
    emb_name = BB + ("embeddings.word_embeddings.embedding.weight" if rcps else "embeddings.word_embeddings.weight")
    emb = sd[emb_name]
    if emb.dim() != 2 or emb.shape[0] != 16:
        raise ConvertError(f"{ckpt}: tensor {emb_name}: shape {list(emb.shape)}, expected [16, d_model] "
                           "(vocab 12 padded to a multiple of 8)")
    out = {}
    # LM head and complement maps: checked, then dropped
    for k in [k for k in sd if not k.startswith(BB)]:
        t = sd.pop(k)
        if k in ("lm_head.lm_head.weight", "lm_head.weight"):
            if list(t.shape) != list(emb.shape) or not torch.equal(t.float(), emb.float()):
                raise ConvertError(f"{ckpt}: tensor {k}: an LM head not tied to {emb_name} (derfseq ties them)")
        elif k == "lm_head.complement_map":
            check_complement(ckpt, k, t)
        # other heads (score.*, decoder) are not part of the backbone
    cm_name = BB + "embeddings.word_embeddings.complement_map"
    if cm_name in sd:
        if not rcps:
            raise ConvertError(f"{ckpt}: tensor {cm_name}: a complement map in a Ph checkpoint")
        check_complement(ckpt, cm_name, sd.pop(cm_name))
    mix = ".mixer.submodule." if rcps else ".mixer."
    # re-tie: HF files store each tied tensor once (under mamba_fwd)
    for i in range(n_layer):
        for t in ("in_proj.weight", "out_proj.weight"):
            fwd, rev = f"{BB}layers.{i}{mix}mamba_fwd.{t}", f"{BB}layers.{i}{mix}mamba_rev.{t}"
            if fwd not in sd:
                raise ConvertError(f"{ckpt}: tensor {fwd} is missing")
            if rev in sd and (sd[rev].shape != sd[fwd].shape or not torch.equal(sd[rev], sd[fwd])):
                raise ConvertError(f"{ckpt}: tensor {rev}: differs from {fwd} (derfseq ties the BiMamba projections)")
            sd[rev] = sd[fwd]
    a = sd.get(f"{BB}layers.0{mix}mamba_fwd.A_log")
    c = sd.get(f"{BB}layers.0{mix}mamba_fwd.conv1d.weight")
    dt = sd.get(f"{BB}layers.0{mix}mamba_fwd.dt_proj.weight")
    for name, t, nd in (("A_log", a, 2), ("conv1d.weight", c, 3), ("dt_proj.weight", dt, 2)):
        if t is None or t.dim() != nd:
            raise ConvertError(f"{ckpt}: tensor {BB}layers.0{mix}mamba_fwd.{name} is missing or not {nd}-D")
    D, (E, N), K, R = emb.shape[1], a.shape, c.shape[2], dt.shape[1]
    if E != 2 * D:
        raise ConvertError(f"{ckpt}: tensor {BB}layers.0{mix}mamba_fwd.A_log: {E} channels, expected "
                           f"2·d_model = {2 * D} (expand 2)")
    shapes = expected_shapes(rcps, n_layer, norm, fused, D, E, R, N, K)
    for k in sd:
        if k not in shapes:
            raise ConvertError(f"{ckpt}: tensor {k} is not part of a {'PS' if rcps else 'Ph'} Caduceus backbone")
    for k, shape in shapes.items():
        if k not in sd:
            raise ConvertError(f"{ckpt}: tensor {k} is missing")
        if list(sd[k].shape) != shape:
            raise ConvertError(f"{ckpt}: tensor {k}: shape {list(sd[k].shape)}, expected {shape}")
        if not sd[k].is_floating_point():
            raise ConvertError(f"{ckpt}: tensor {k}: dtype {sd[k].dtype}, expected floating point")
        out[k] = sd[k].detach().float().contiguous().clone()
    cross_check(ckpt, cfg_path, hf, rcps, fused, norm, D, n_layer, E, R, N, K)
    ssm = hf.get("ssm_cfg") or {}
    max_len = max_len_of(ckpt, hf, D, n_layer)
    tag = PRESETS.get((D, n_layer, max_len))
    cfg = {"arch": "caduceus", "preset": f"caduceus-{'ps' if rcps else 'ph'}-{tag}" if tag else "custom",
           "d_model": D, "n_layer": n_layer, "vocab_size": 12, "pad_vocab_size_multiple": 8, "max_len": max_len,
           "rcps": rcps,   # Ph: fused == unfused; kept as config.json says where the norm allows it
           "fused_add_norm": bool(fused if rcps else (hf.get("fused_add_norm", False) and norm in ("rmsnorm", "layernorm"))),
           "norm": norm, "alpha_init": 0.5, "norm_epsilon": float(hf.get("norm_epsilon", 1e-5)),
           "d_state": N, "d_conv": K, "expand": E // D, "dt_rank": R,
           "dt_min": float(ssm.get("dt_min", 0.001)), "dt_max": float(ssm.get("dt_max", 0.1)),
           "dt_init_floor": float(ssm.get("dt_init_floor", 1e-4)), "dt_scale": float(ssm.get("dt_scale", 1.0)),
           "complement_map": COMPLEMENT_MAP,
           "init_embed_std": float((hf.get("initializer_cfg") or {}).get("initializer_range", 0.02)),
           "tokenizer": "caduceus"}
    return out, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="pytorch_model.bin, a Lightning .ckpt or model.safetensors")
    ap.add_argument("output", help="the derfseq .safetensors file to write")
    ap.add_argument("--config", help="HF config.json (default: beside the checkpoint, if present)")
    a = ap.parse_args()
    if os.path.abspath(a.output) == os.path.abspath(a.checkpoint):
        sys.exit(f"convert_caduceus.py: {a.output}: refusing to overwrite the input")
    try:
        tensors, cfg = convert(a.checkpoint, a.config)
    except ConvertError as e:
        sys.exit(f"convert_caduceus.py: {e}")
    st.save(a.output, tensors, {"derfseq.config": json.dumps(cfg), "converted_from": os.path.basename(a.checkpoint)})
    print(f"{a.output}: {len(tensors)} tensors, {'PS' if cfg['rcps'] else 'Ph'}"
          f"{' fused' if cfg['fused_add_norm'] else ''}, {cfg['n_layer']} layers, d_model {cfg['d_model']}, "
          f"norm {cfg['norm']}, max_len {cfg['max_len']}, preset {cfg['preset']}")


if __name__ == "__main__":
    main()
