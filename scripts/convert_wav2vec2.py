#!/usr/bin/python3
"""Converts an official wav2vec 2.0 checkpoint (HF or fairseq) to a derfseq safetensors file.

Reads a Hugging Face checkpoint directory (config.json with pytorch_model.bin
or model.safetensors; Wav2Vec2ForPreTraining, a bare Wav2Vec2Model or
Wav2Vec2ForCTC) or a fairseq checkpoint (.pt holding "cfg" or "args" and
"model": a pretraining Wav2Vec2Model or a fine-tuned Wav2VecCtc), and writes
every tensor under the HF names of Wav2Vec2ForPreTraining (spec wav2vec2.md
§3.9: `wav2vec2.` prefix on the encoder parts, `quantizer.*`, `project_hid.*`,
`project_q.*`, `lm_head.*` without), the pos conv's weight norm as
weight_g/weight_v, plus the model config (../notes/wav2vec2.md keys) in the
safetensors metadata key "derfseq.config".

normalize_audio (zero-mean unit-variance audio per utterance before the conv
stack) is what the checkpoint's own pipeline does, so `derfseq embed` gives the
official numbers without a flag: HF: preprocessor_config.json's do_normalize
when it is beside config.json; fairseq: task.normalize; otherwise true for
"layer" feature-extractor models and false for "group" ones (how both were
pretrained). --normalize-audio overrides it. The metadata key
"derfseq.normalize_audio_source" says where it came from.

A CTC checkpoint (lm_head present) gets its vocabulary recorded in the config
as "vocab": the token names in id order. HF: vocab.json in the model directory
(with added_tokens.json beside it, when there is one, as HF's tokenizer adds
those ids); fairseq: dict.ltr.txt beside the .pt (fairseq's Dictionary: <s>
<pad> </s> <unk>, then one token per line; written with the HF conversion's
names, <pad> 0 <s> 1, since row 0 is the CTC blank either way, spec §3.8); or
--vocab FILE (a .json is read as vocab.json, anything else as dict.ltr.txt).
A vocabulary whose size is not lm_head's rows, or with a token that is not one
character or a <special>/[special] name (a newline, say), is refused. Without
a vocabulary file a 32-row lm_head gets no "vocab": derfseq's built-in
wav2vec2-base-960h vocabulary (said on stderr); other sizes are refused.

A missing masked_spec_embed (HF drops it when mask_time_prob and
mask_feature_prob are 0) is filled with its init, U(0, 1) from seed 0, and
named in the metadata key "derfseq.filled". Unknown or missing tensors, wrong
shapes and config values the tensors contradict are refused with one line.

Needs Debian's python3-torch; derfseq itself never does.

    scripts/convert_wav2vec2.py wav2vec2-base/ wav2vec2-base.safetensors
    scripts/convert_wav2vec2.py wav2vec_small.pt wav2vec2-base.safetensors
    scripts/convert_wav2vec2.py --vocab dict.ltr.txt wav2vec_small_960h.pt wav2vec2-base-960h.safetensors
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import st  # noqa: E402

W = "wav2vec2."
NORM_KINDS = {("bias", "weight"): "layernorm", ("alpha", "bias", "weight"): "dyt",
              ("alpha", "bias", "shift", "weight"): "derf", ("weight",): "rmsnorm"}
# HF Wav2Vec2Config defaults (transformers configuration_wav2vec2.py), for keys a config.json leaves out
HF_DEFAULTS = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
               "hidden_act": "gelu", "hidden_dropout": 0.1, "activation_dropout": 0.1, "attention_dropout": 0.1,
               "feat_proj_dropout": 0.0, "feat_quantizer_dropout": 0.0, "layerdrop": 0.1, "layer_norm_eps": 1e-5,
               "feat_extract_norm": "group", "feat_extract_activation": "gelu", "conv_dim": [512] * 7,
               "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_bias": False,
               "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": False,
               "mask_time_prob": 0.05, "mask_time_length": 10, "mask_time_min_masks": 2,
               "num_codevectors_per_group": 320, "num_codevector_groups": 2, "contrastive_logits_temperature": 0.1,
               "num_negatives": 100, "codevector_dim": 256, "proj_codevector_dim": 256, "diversity_loss_weight": 0.1,
               "vocab_size": 32}
PRESETS = {(768, 12, 3072, "group", False): "wav2vec2-base", (1024, 24, 4096, "layer", True): "wav2vec2-large-lv60"}


class ConvertError(Exception):
    pass


# ---- reading ------------------------------------------------------------------
def read_json(path):
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"{path}: not a readable JSON file ({e})")
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: expected a JSON object")
    return obj


def load_pickle(path):
    try:
        return torch.load(path, map_location="cpu")   # pickles: trusted files only
    except Exception as e:  # noqa: BLE001  (torch raises many kinds)
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})")


def load_safetensors(path):
    try:
        return st.load(path)[0]
    except KeyError as e:
        raise ConvertError(f"{path}: tensor dtype {e} is not supported (F32, F64, I32, I64)")
    except (ValueError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{path}: not a readable safetensors file ({e})")


def find_source(src):
    """-> ("hf", weights path, config.json path) or ("fairseq", path, None)."""
    if os.path.isdir(src):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.exists(os.path.join(src, name)):
                return "hf", os.path.join(src, name), os.path.join(src, "config.json")
        raise ConvertError(f"{src}: no model.safetensors or pytorch_model.bin in this directory")
    if not os.path.exists(src):
        raise ConvertError(f"{src}: no such file or directory")
    beside = os.path.join(os.path.dirname(os.path.abspath(src)), "config.json")
    if src.endswith(".safetensors"):
        return "hf", src, beside
    obj = load_pickle(src)
    if isinstance(obj, dict) and "model" in obj and ("cfg" in obj or "args" in obj):
        return "fairseq", src, obj
    return "hf", src, beside


def tensors_of(path, obj=None):
    if path.endswith(".safetensors"):
        return load_safetensors(path)
    obj = load_pickle(path) if obj is None else obj
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ConvertError(f"{path}: expected a state dict (name -> tensor)")
    bad = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if bad:
        raise ConvertError(f"{path}: entry {bad[0]} is not a tensor")
    return dict(obj)


# ---- the CTC vocabulary (spec §3.8) ---------------------------------------------
# fairseq's Dictionary starts <s> <pad> </s> <unk>; the HF conversion names rows 0 and 1 <pad> and <s>
FAIRSEQ_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
BUILTIN_VOCAB_SIZE = 32        # lib/io/char_vocab.h: facebook/wav2vec2-base-960h
VOCAB_BYTES = 16384            # models/wav2vec2.h DS_W2V_VOCAB_BYTES: the '\n'-joined names


def read_hf_vocab(path):
    """vocab.json {token: id} (+ added_tokens.json beside it) -> tokens in id order."""
    ids = {}
    for p in (path, os.path.join(os.path.dirname(os.path.abspath(path)), "added_tokens.json")):
        if p != path and not os.path.exists(p):
            continue
        for tok, i in read_json(p).items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ConvertError(f"{p}: token {tok!r} has id {i!r}, expected an integer >= 0")
            if i in ids and ids[i] != tok:
                raise ConvertError(f"{p}: id {i} is both {ids[i]!r} and {tok!r}")
            ids[i] = tok
    missing = [i for i in range(len(ids)) if i not in ids]
    if missing:
        raise ConvertError(f"{path}: ids are not 0..{len(ids) - 1}: {missing[0]} is missing")
    return [ids[i] for i in range(len(ids))]


def read_fairseq_dict(path):
    """fairseq Dictionary.add_from_file: "TOKEN COUNT [#fairseq:overwrite]" lines after the 4 specials."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path}: not a readable dictionary ({e})")
    if lines and lines[-1] == "":
        lines.pop()
    tokens = list(FAIRSEQ_SPECIALS)
    for n, line in enumerate(lines, 1):
        parts = line.rstrip().rsplit(" ", 1)
        if len(parts) == 2 and parts[1] == "#fairseq:overwrite":
            parts = parts[0].rsplit(" ", 1)
        if len(parts) != 2 or not parts[0] or not re.fullmatch(r"-?\d+", parts[1]):
            raise ConvertError(f"{path}:{n}: expected a line 'TOKEN COUNT', got {line!r}")
        tokens.append(parts[0])
    return tokens


def check_vocab(path, tokens, rows):
    """The rules derfseq's config applies (lib/io/char_vocab.h), and one token per lm_head row."""
    if len(tokens) != rows:
        raise ConvertError(f"{path}: {len(tokens)} tokens, but lm_head.weight has {rows} rows (one per token)")
    seen = {}
    for i, t in enumerate(tokens):
        if not isinstance(t, str) or "\n" in t or "\r" in t:
            raise ConvertError(f"{path}: token {i} {t!r} contains a line break")
        special = len(t) >= 2 and ((t[0] == "<" and t[-1] == ">") or (t[0] == "[" and t[-1] == "]"))
        if not special and len(t) != 1:
            raise ConvertError(f"{path}: token {i} {t!r}: expected one character or a <special> token")
        if t in seen:
            raise ConvertError(f"{path}: token {t!r} is both id {seen[t]} and id {i}")
        seen[t] = i
    if "|" not in seen:
        raise ConvertError(f"{path}: no word delimiter token '|'")
    if len("\n".join(tokens).encode()) + 2 > VOCAB_BYTES:
        raise ConvertError(f"{path}: the token names take more than derfseq's {VOCAB_BYTES} bytes")


def find_vocab(kind, path, cfg_path, vocab_arg, rows):
    """-> (tokens or None for the built-in vocabulary, where they came from)."""
    if vocab_arg is not None:
        if not os.path.exists(vocab_arg):
            raise ConvertError(f"{vocab_arg}: no such vocabulary file (--vocab)")
        vpath = vocab_arg
    else:
        here = os.path.dirname(os.path.abspath(cfg_path if kind == "hf" else path))
        vpath = os.path.join(here, "vocab.json" if kind == "hf" else "dict.ltr.txt")
        if not os.path.exists(vpath):
            if rows != BUILTIN_VOCAB_SIZE:
                raise ConvertError(f"{path}: lm_head.weight has {rows} rows, but there is no {vpath} for its "
                                   f"vocabulary (the built-in one has {BUILTIN_VOCAB_SIZE}): give it with --vocab FILE")
            print(f"convert_wav2vec2.py: no {vpath}: the config gets no \"vocab\", so derfseq uses its built-in "
                  f"wav2vec2-base-960h vocabulary for this 32-row lm_head (--vocab FILE records another)",
                  file=sys.stderr)
            return None, "built-in wav2vec2-base-960h"
    tokens = read_hf_vocab(vpath) if vpath.endswith(".json") else read_fairseq_dict(vpath)
    check_vocab(vpath, tokens, rows)
    return tokens, vpath


# ---- names --------------------------------------------------------------------
def hf_names(path, sd):
    """HF layouts -> derfseq names: bare Wav2Vec2Model keys get the wav2vec2. prefix; the
    parametrizations form of the weight norm becomes weight_g/weight_v."""
    bare = ("feature_extractor.", "feature_projection.", "encoder.", "masked_spec_embed")
    out = {}
    for k, v in sd.items():
        n = W + k if k.startswith(bare) else k
        n = n.replace("pos_conv_embed.conv.parametrizations.weight.original0", "pos_conv_embed.conv.weight_g")
        n = n.replace("pos_conv_embed.conv.parametrizations.weight.original1", "pos_conv_embed.conv.weight_v")
        if n in out:
            raise ConvertError(f"{path}: tensor {k}: a second copy of {n}")
        out[n] = v
    return out


FAIRSEQ_LAYER = [("self_attn.q_proj.", "attention.q_proj."), ("self_attn.k_proj.", "attention.k_proj."),
                 ("self_attn.v_proj.", "attention.v_proj."), ("self_attn.out_proj.", "attention.out_proj."),
                 ("self_attn_layer_norm.", "layer_norm."), ("fc1.", "feed_forward.intermediate_dense."),
                 ("fc2.", "feed_forward.output_dense."), ("final_layer_norm.", "final_layer_norm.")]


def fairseq_name(k):
    """One fairseq name -> the HF name (spec §3.9 mapping), or None if unknown."""
    if k.startswith("w2v_encoder.proj."):
        return "lm_head." + k[len("w2v_encoder.proj."):]
    k = k[len("w2v_encoder.w2v_model."):] if k.startswith("w2v_encoder.w2v_model.") else k
    m = re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.(0|2|2\.1)\.(weight|bias)", k)
    if m:
        part = "conv" if m.group(2) == "0" else "layer_norm"
        return f"{W}feature_extractor.conv_layers.{m.group(1)}.{part}.{m.group(3)}"
    m = re.fullmatch(r"encoder\.pos_conv\.0\.(weight_g|weight_v|bias|parametrizations\.weight\.original[01])", k)
    if m:
        t = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
        return f"{W}encoder.pos_conv_embed.conv.{t.get(m.group(1), m.group(1))}"
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", k)
    if m:
        for a, b in FAIRSEQ_LAYER:
            if m.group(2).startswith(a):
                return f"{W}encoder.layers.{m.group(1)}.{b}{m.group(2)[len(a):]}"
        return None
    m = re.fullmatch(r"encoder\.layer_norm\.(\w+)", k)
    if m:
        return f"{W}encoder.layer_norm.{m.group(1)}"
    fixed = {"layer_norm.weight": W + "feature_projection.layer_norm.weight",
             "layer_norm.bias": W + "feature_projection.layer_norm.bias",
             "post_extract_proj.weight": W + "feature_projection.projection.weight",
             "post_extract_proj.bias": W + "feature_projection.projection.bias",
             "mask_emb": W + "masked_spec_embed", "quantizer.vars": "quantizer.codevectors",
             "quantizer.weight_proj.weight": "quantizer.weight_proj.weight",
             "quantizer.weight_proj.bias": "quantizer.weight_proj.bias",
             "project_q.weight": "project_q.weight", "project_q.bias": "project_q.bias",
             "final_proj.weight": "project_hid.weight", "final_proj.bias": "project_hid.bias"}
    return fixed.get(k)


def fairseq_names(path, sd):
    out = {}
    for k, v in sd.items():
        n = fairseq_name(k)
        if n is None:
            raise ConvertError(f"{path}: tensor {k} is not part of a fairseq wav2vec 2.0 model")
        if n in out:
            raise ConvertError(f"{path}: tensor {k}: a second copy of {n}")
        out[n] = v
    return out


# ---- configs ------------------------------------------------------------------
def get(obj, key, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def fairseq_config(path, ckpt):
    """The fairseq model/task/criterion config (cfg dict or old argparse args) -> HF-style keys."""
    cfg = ckpt.get("cfg")
    model = get(cfg, "model") if cfg is not None else ckpt.get("args")
    task = get(cfg, "task") if cfg is not None else ckpt.get("args")
    crit = get(cfg, "criterion") if cfg is not None else ckpt.get("args")
    if get(model, "w2v_args") is not None:   # fine-tuned: the pretraining config is inside
        w2v = get(model, "w2v_args")
        model, task = get(w2v, "model", w2v), get(w2v, "task", get(w2v, "task", task))
    if model is None:
        raise ConvertError(f"{path}: no model config under cfg.model or args")
    layers = get(model, "conv_feature_layers", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]")
    try:
        conv = eval(layers, {"__builtins__": {}}, {}) if isinstance(layers, str) else list(layers)  # noqa: S307
        conv = [tuple(int(x) for x in c) for c in conv]
    except Exception:  # noqa: BLE001
        raise ConvertError(f"{path}: conv_feature_layers {layers!r} is not a list of (dim, kernel, stride)")
    mode = get(model, "extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        raise ConvertError(f"{path}: extractor_mode {mode!r} is not supported (default, layer_norm)")
    for key in ("activation_fn",):
        if get(model, key, "gelu") != "gelu":
            raise ConvertError(f"{path}: {key} {get(model, key)!r} is not supported (gelu)")
    embed = int(get(model, "encoder_embed_dim", 768))
    final = int(get(model, "final_dim", 0)) or embed
    latent = int(get(model, "latent_dim", 0)) or final
    temp = get(model, "latent_temp", (2.0, 0.5, 0.999995))
    if isinstance(temp, str):
        temp = eval(temp, {"__builtins__": {}}, {})  # noqa: S307
    lw = get(crit, "loss_weights", None)
    if isinstance(lw, str):
        lw = eval(lw, {"__builtins__": {}}, {})  # noqa: S307
    hf = {"hidden_size": embed, "num_hidden_layers": int(get(model, "encoder_layers", 12)),
          "num_attention_heads": int(get(model, "encoder_attention_heads", 12)),
          "intermediate_size": int(get(model, "encoder_ffn_embed_dim", 3072)),
          "conv_dim": [c[0] for c in conv], "conv_kernel": [c[1] for c in conv], "conv_stride": [c[2] for c in conv],
          "conv_bias": bool(get(model, "conv_bias", False)),
          "feat_extract_norm": "layer" if mode == "layer_norm" else "group",
          "do_stable_layer_norm": bool(get(model, "layer_norm_first", False)),
          "num_conv_pos_embeddings": int(get(model, "conv_pos", 128)),
          "num_conv_pos_embedding_groups": int(get(model, "conv_pos_groups", 16)), "layer_norm_eps": 1e-5,
          "hidden_dropout": float(get(model, "dropout", 0.1)),
          "attention_dropout": float(get(model, "attention_dropout", 0.1)),
          "activation_dropout": float(get(model, "activation_dropout", 0.0)),
          "feat_proj_dropout": float(get(model, "dropout_input", 0.0)),
          "feat_quantizer_dropout": float(get(model, "dropout_features", 0.0)),
          "layerdrop": float(get(model, "encoder_layerdrop", 0.0)),
          "mask_time_prob": float(get(model, "mask_prob", 0.65)), "mask_time_length": int(get(model, "mask_length", 10)),
          "mask_time_min_masks": 2, "num_codevectors_per_group": int(get(model, "latent_vars", 320)),
          "num_codevector_groups": int(get(model, "latent_groups", 2)), "codevector_dim": latent,
          "proj_codevector_dim": final, "num_negatives": int(get(model, "num_negatives", 100)),
          "contrastive_logits_temperature": float(get(model, "logit_temp", 0.1)),
          "feature_grad_mult": float(get(model, "feature_grad_mult", 0.1)),
          "gumbel_temperature": [float(x) for x in temp]}
    if lw is not None:
        lw = list(lw) + [0.0] * (2 - len(lw))
        hf["diversity_loss_weight"], hf["feature_penalty_weight"] = float(lw[0]), float(lw[1])
    normalize = get(task, "normalize", None)
    return hf, (None if normalize is None else bool(normalize))


def pretraining_defaults(mode):
    """fairseq's Base (group) / Large (layer) pretraining values a HF config does not hold (spec §3.6-3.7)."""
    if mode == "layer":
        return {"feature_grad_mult": 1.0, "feature_penalty_weight": 0.0, "gumbel_temperature": [2.0, 0.1, 0.999995]}
    return {"feature_grad_mult": 0.1, "feature_penalty_weight": 10.0, "gumbel_temperature": [2.0, 0.5, 0.999995]}


# ---- checks -------------------------------------------------------------------
def norm_kind(path, sd, prefix):
    names = tuple(sorted(k[len(prefix):] for k in sd if k.startswith(prefix) and "." not in k[len(prefix):]))
    if names not in NORM_KINDS or NORM_KINDS[names] == "rmsnorm":
        raise ConvertError(f"{path}: tensors {prefix}*: {list(names)} is not a norm's set of tensors "
                           "(layernorm: weight, bias; dyt: alpha, weight, bias; derf: alpha, shift, weight, bias)")
    return NORM_KINDS[names]


def expected_shapes(c, norm, heads):
    """{name: shape} of the derfseq table for config c; heads: set of "pretraining", "ctc"."""
    s, cin = {}, 1
    for i, (d, k) in enumerate(zip(c["conv_dim"], c["conv_kernel"])):
        s[f"{W}feature_extractor.conv_layers.{i}.conv.weight"] = [d, cin, k]
        if c["conv_bias"]:
            s[f"{W}feature_extractor.conv_layers.{i}.conv.bias"] = [d]
        if c["feat_extract_norm"] == "layer" or i == 0:
            s[f"{W}feature_extractor.conv_layers.{i}.layer_norm.weight"] = [d]
            s[f"{W}feature_extractor.conv_layers.{i}.layer_norm.bias"] = [d]
        cin = d
    C, H, I, K = c["conv_dim"][-1], c["hidden_size"], c["intermediate_size"], c["num_conv_pos_embeddings"]
    s[W + "feature_projection.layer_norm.weight"] = [C]
    s[W + "feature_projection.layer_norm.bias"] = [C]
    s[W + "feature_projection.projection.weight"] = [H, C]
    s[W + "feature_projection.projection.bias"] = [H]
    s[W + "masked_spec_embed"] = [H]
    s[W + "encoder.pos_conv_embed.conv.weight_g"] = [1, 1, K]
    s[W + "encoder.pos_conv_embed.conv.weight_v"] = [H, H // c["num_conv_pos_embedding_groups"], K]
    s[W + "encoder.pos_conv_embed.conv.bias"] = [H]
    nshape = {"weight": [H], "bias": [H], "alpha": [1], "shift": [1]}
    nnames = next(k for k, v in NORM_KINDS.items() if v == norm)
    for t in nnames:
        s[f"{W}encoder.layer_norm.{t}"] = nshape[t]
    for i in range(c["num_hidden_layers"]):
        p = f"{W}encoder.layers.{i}."
        for a in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s[f"{p}attention.{a}.weight"], s[f"{p}attention.{a}.bias"] = [H, H], [H]
        s[p + "feed_forward.intermediate_dense.weight"], s[p + "feed_forward.intermediate_dense.bias"] = [I, H], [I]
        s[p + "feed_forward.output_dense.weight"], s[p + "feed_forward.output_dense.bias"] = [H, I], [H]
        for ln in ("layer_norm", "final_layer_norm"):
            for t in nnames:
                s[f"{p}{ln}.{t}"] = nshape[t]
    if "pretraining" in heads:
        G, V, D, P = (c["num_codevector_groups"], c["num_codevectors_per_group"], c["codevector_dim"],
                      c["proj_codevector_dim"])
        s["quantizer.codevectors"] = [1, G * V, D // G]
        s["quantizer.weight_proj.weight"], s["quantizer.weight_proj.bias"] = [G * V, C], [G * V]
        s["project_hid.weight"], s["project_hid.bias"] = [P, H], [P]
        s["project_q.weight"], s["project_q.bias"] = [P, D], [P]
    if "ctc" in heads:
        s["lm_head.weight"], s["lm_head.bias"] = [c["vocab_size"], H], [c["vocab_size"]]
    return s


def shape_of(sd, name, dim):
    t = sd.get(name)
    return None if t is None or t.dim() <= dim else int(t.shape[dim])


def cross_check(path, cfg_path, c, sd):
    """Config values the tensors can tell: a contradiction names the config key and the tensor."""
    def want(key, got, name):
        if got is not None and c[key] != got:
            raise ConvertError(f"{cfg_path}: {key} is {c[key]!r} but tensor {name} of {path} says {got!r}")
    n_conv = sorted({int(m.group(1)) for k in sd
                     for m in [re.match(re.escape(W) + r"feature_extractor\.conv_layers\.(\d+)\.", k)] if m})
    layers = sorted({int(m.group(1)) for k in sd for m in [re.match(re.escape(W) + r"encoder\.layers\.(\d+)\.", k)] if m})
    if n_conv != list(range(len(n_conv))) or layers != list(range(len(layers))):
        raise ConvertError(f"{path}: conv layers {n_conv} / encoder layers {layers} are not numbered 0..n-1")
    if len(n_conv) != len(c["conv_dim"]):
        raise ConvertError(f"{cfg_path}: conv_dim has {len(c['conv_dim'])} layers but {path} holds {len(n_conv)}")
    want("num_hidden_layers", len(layers), f"{W}encoder.layers.*")
    for i in n_conv:
        name = f"{W}feature_extractor.conv_layers.{i}.conv.weight"
        if c["conv_dim"][i] != shape_of(sd, name, 0) or c["conv_kernel"][i] != shape_of(sd, name, 2):
            raise ConvertError(f"{cfg_path}: conv_dim/conv_kernel[{i}] are {c['conv_dim'][i]}/{c['conv_kernel'][i]} "
                               f"but tensor {name} of {path} has shape {list(sd[name].shape) if name in sd else None}")
    want("conv_bias", f"{W}feature_extractor.conv_layers.0.conv.bias" in sd,
         f"{W}feature_extractor.conv_layers.0.conv.bias")
    want("feat_extract_norm", "layer" if f"{W}feature_extractor.conv_layers.1.layer_norm.weight" in sd else "group",
         f"{W}feature_extractor.conv_layers.1.layer_norm.weight")
    want("hidden_size", shape_of(sd, W + "feature_projection.projection.weight", 0),
         W + "feature_projection.projection.weight")
    want("intermediate_size", shape_of(sd, W + "encoder.layers.0.feed_forward.intermediate_dense.weight", 0),
         W + "encoder.layers.0.feed_forward.intermediate_dense.weight")
    v = W + "encoder.pos_conv_embed.conv.weight_v"
    want("num_conv_pos_embeddings", shape_of(sd, v, 2), v)
    if shape_of(sd, v, 1):
        want("num_conv_pos_embedding_groups", c["hidden_size"] // shape_of(sd, v, 1), v)
    if c["hidden_size"] % c["num_attention_heads"]:
        raise ConvertError(f"{cfg_path}: hidden_size {c['hidden_size']} is not a multiple of num_attention_heads "
                           f"{c['num_attention_heads']}")
    if "quantizer.weight_proj.weight" in sd:
        gv = shape_of(sd, "quantizer.weight_proj.weight", 0)
        if gv != c["num_codevector_groups"] * c["num_codevectors_per_group"]:
            raise ConvertError(f"{cfg_path}: num_codevector_groups × num_codevectors_per_group is "
                               f"{c['num_codevector_groups']}×{c['num_codevectors_per_group']} but tensor "
                               f"quantizer.weight_proj.weight of {path} has {gv} rows")
        want("proj_codevector_dim", shape_of(sd, "project_q.weight", 0), "project_q.weight")
        want("codevector_dim", shape_of(sd, "project_q.weight", 1), "project_q.weight")
    if "lm_head.weight" in sd:
        want("vocab_size", shape_of(sd, "lm_head.weight", 0), "lm_head.weight")


def derfseq_config(c, norm, heads, vocab=None):
    key = (c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["feat_extract_norm"],
           c["do_stable_layer_norm"])
    out = {"arch": "wav2vec2", "preset": PRESETS.get(key, "custom") if norm == "layernorm" else "custom"}
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "conv_dim",
              "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "do_stable_layer_norm",
              "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "layer_norm_eps", "hidden_dropout",
              "attention_dropout", "activation_dropout", "feat_proj_dropout", "feat_quantizer_dropout", "layerdrop",
              "mask_time_prob", "mask_time_length", "mask_time_min_masks", "num_codevectors_per_group",
              "num_codevector_groups", "codevector_dim", "proj_codevector_dim", "num_negatives",
              "contrastive_logits_temperature", "diversity_loss_weight", "feature_grad_mult",
              "feature_penalty_weight", "gumbel_temperature"):
        out[k] = c[k]
    out.update(norm=norm, alpha_init=0.5, normalize_audio=c["normalize_audio"], vocab_size=c["vocab_size"],
               pretraining_head="pretraining" in heads, ctc_head="ctc" in heads)
    if vocab is not None:
        out["vocab"] = list(vocab)
    return out


INT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_conv_pos_embeddings",
            "num_conv_pos_embedding_groups", "mask_time_length", "mask_time_min_masks", "num_codevectors_per_group",
            "num_codevector_groups", "codevector_dim", "proj_codevector_dim", "num_negatives", "vocab_size")
FLOAT_KEYS = ("layer_norm_eps", "hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout",
              "feat_quantizer_dropout", "layerdrop", "mask_time_prob", "contrastive_logits_temperature",
              "diversity_loss_weight", "feature_grad_mult", "feature_penalty_weight")


def typed(cfg_path, c):
    key = None
    try:
        for key in INT_KEYS:
            if isinstance(c[key], bool) or int(c[key]) != c[key] or int(c[key]) <= 0:
                raise ValueError
            c[key] = int(c[key])
        for key in FLOAT_KEYS:
            c[key] = float(c[key])
        for key in ("conv_dim", "conv_kernel", "conv_stride", "gumbel_temperature"):
            c[key] = [(float if key == "gumbel_temperature" else int)(x) for x in c[key]]
    except (TypeError, ValueError):
        raise ConvertError(f"{cfg_path}: {key} {c.get(key)!r} is not a valid value")
    if not (len(c["conv_dim"]) == len(c["conv_kernel"]) == len(c["conv_stride"])) or len(c["gumbel_temperature"]) != 3:
        raise ConvertError(f"{cfg_path}: conv_dim, conv_kernel and conv_stride differ in length, or "
                           "gumbel_temperature is not [max, min, decay]")
    return c


def convert(src, normalize_override=None, vocab_arg=None):
    """Returns ({name: float32 tensor}, derfseq config, metadata extras); raises ConvertError."""
    kind, path, extra = find_source(src)
    if kind == "fairseq":
        ckpt = extra
        cfg_path = path
        model = ckpt["model"]
        if not isinstance(model, dict):
            raise ConvertError(f"{path}: 'model' is not a state dict")
        sd = fairseq_names(path, tensors_of(path, model))
        c, normalize = fairseq_config(path, ckpt)
        c = dict(HF_DEFAULTS, **pretraining_defaults(c["feat_extract_norm"]))
        c.update(fairseq_config(path, ckpt)[0])
        if "lm_head.weight" in sd:
            c["vocab_size"] = int(sd["lm_head.weight"].shape[0])
        src_norm = "fairseq task.normalize" if normalize is not None else None
    else:
        cfg_path = extra
        if not os.path.exists(cfg_path):
            raise ConvertError(f"{cfg_path}: missing (a HF checkpoint needs its config.json beside the weights)")
        hf = read_json(cfg_path)
        if hf.get("model_type", "wav2vec2") != "wav2vec2":
            raise ConvertError(f"{cfg_path}: model_type {hf['model_type']!r} is not wav2vec2")
        for key in ("hidden_act", "feat_extract_activation"):
            if hf.get(key, "gelu") != "gelu":
                raise ConvertError(f"{cfg_path}: {key} {hf[key]!r} is not supported (gelu)")
        if hf.get("add_adapter"):
            raise ConvertError(f"{cfg_path}: add_adapter true is not supported (no adapter layers in derfseq)")
        if hf.get("feat_extract_norm", "group") not in ("group", "layer"):
            raise ConvertError(f"{cfg_path}: feat_extract_norm {hf['feat_extract_norm']!r} is not group or layer")
        mode = hf.get("feat_extract_norm", "group")
        c = dict(HF_DEFAULTS, **pretraining_defaults(mode))
        c.update({k: hf[k] for k in list(HF_DEFAULTS) + ["feature_grad_mult", "feature_penalty_weight",
                                                         "gumbel_temperature"] if k in hf})
        sd = hf_names(path, tensors_of(path))
        normalize, src_norm = None, None
        pre = os.path.join(os.path.dirname(os.path.abspath(cfg_path)), "preprocessor_config.json")
        if os.path.exists(pre):
            p = read_json(pre)
            if "do_normalize" in p:
                normalize, src_norm = bool(p["do_normalize"]), "preprocessor_config.json do_normalize"
    c = typed(cfg_path, c)
    if normalize_override is not None:
        normalize, src_norm = normalize_override, "--normalize-audio"
    elif normalize is None:
        normalize, src_norm = c["feat_extract_norm"] == "layer", f"feat_extract_norm {c['feat_extract_norm']}"
    c["normalize_audio"] = normalize

    cross_check(path, cfg_path, c, sd)
    kinds = {norm_kind(path, sd, f"{W}encoder.layer_norm.")}
    for i in range(c["num_hidden_layers"]):
        for ln in ("layer_norm", "final_layer_norm"):
            kinds.add(norm_kind(path, sd, f"{W}encoder.layers.{i}.{ln}."))
    if len(kinds) != 1:
        raise ConvertError(f"{path}: the encoder norms are of different kinds: {sorted(kinds)}")
    norm = kinds.pop()
    for p in [f"{W}feature_projection.layer_norm."] + [f"{W}feature_extractor.conv_layers.{i}.layer_norm."
                                                       for i in range(len(c["conv_dim"]))]:
        if any(k.startswith(p) for k in sd) and norm_kind(path, sd, p) != "layernorm":
            raise ConvertError(f"{path}: tensors {p}*: the feature/conv norms are LayerNorm/GroupNorm in derfseq")
    heads = set()
    pre_names = ("quantizer.", "project_hid.", "project_q.")
    if any(k.startswith(pre_names) for k in sd):
        heads.add("pretraining")
    if any(k.startswith("lm_head.") for k in sd):
        heads.add("ctc")
    vocab, vocab_src = None, None
    if "ctc" in heads:
        vocab, vocab_src = find_vocab(kind, path, cfg_path, vocab_arg, int(sd["lm_head.weight"].shape[0]))
    elif vocab_arg is not None:
        raise ConvertError(f"{path}: --vocab {vocab_arg}: this checkpoint has no CTC head (lm_head) to name the rows of")
    shapes = expected_shapes(c, norm, heads)
    filled = []
    if W + "masked_spec_embed" not in sd:
        sd[W + "masked_spec_embed"] = torch.rand(c["hidden_size"], generator=torch.Generator().manual_seed(0))
        filled.append(W + "masked_spec_embed")
    for k in sd:
        if k not in shapes:
            raise ConvertError(f"{path}: tensor {k} is not part of this wav2vec 2.0 model (config {cfg_path})")
    out = {}
    for k, shape in shapes.items():
        if k not in sd:
            raise ConvertError(f"{path}: tensor {k} is missing")
        if list(sd[k].shape) != shape:
            raise ConvertError(f"{path}: tensor {k}: shape {list(sd[k].shape)}, expected {shape}")
        if not sd[k].is_floating_point():
            raise ConvertError(f"{path}: tensor {k}: dtype {sd[k].dtype}, expected floating point")
        out[k] = sd[k].detach().float().contiguous().clone()
    extras = {"derfseq.normalize_audio_source": src_norm, "derfseq.heads": ",".join(sorted(heads)) or "none",
              "converted_from": f"{kind} {os.path.basename(os.path.normpath(src))}"}
    if filled:
        extras["derfseq.filled"] = ",".join(filled)
    if vocab_src is not None:
        extras["derfseq.vocab_source"] = vocab_src
    return out, derfseq_config(c, norm, heads, vocab), extras


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a HF checkpoint directory (or its weights file) or a fairseq .pt")
    ap.add_argument("output", help="the derfseq .safetensors file to write")
    ap.add_argument("--normalize-audio", choices=("true", "false"),
                    help="override the checkpoint's audio normalisation (default: as the checkpoint's pipeline)")
    ap.add_argument("--vocab", metavar="FILE",
                    help="a CTC checkpoint's vocabulary: HF vocab.json or fairseq dict.ltr.txt (default: the one "
                         "beside the checkpoint)")
    a = ap.parse_args()
    if os.path.exists(a.output) and os.path.exists(a.checkpoint) and os.path.samefile(a.output, a.checkpoint):
        sys.exit(f"convert_wav2vec2.py: {a.output}: refusing to overwrite the input")
    try:
        over = None if a.normalize_audio is None else a.normalize_audio == "true"
        tensors, cfg, extras = convert(a.checkpoint, over, a.vocab)
    except ConvertError as e:
        sys.exit(f"convert_wav2vec2.py: {e}")
    st.save(a.output, tensors, dict({"derfseq.config": json.dumps(cfg)}, **extras))
    print(f"{a.output}: {len(tensors)} tensors, {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
          f"{'pre-LN' if cfg['do_stable_layer_norm'] else 'post-LN'}, {cfg['feat_extract_norm']} conv norm, "
          f"norm {cfg['norm']}, heads {extras['derfseq.heads']}, normalize_audio {cfg['normalize_audio']} "
          f"({extras['derfseq.normalize_audio_source']}), preset {cfg['preset']}"
          + (f", vocab {cfg['vocab_size']} tokens ({extras['derfseq.vocab_source']})"
             if "derfseq.vocab_source" in extras else ""))


if __name__ == "__main__":
    main()
