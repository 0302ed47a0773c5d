"""Checks scripts/convert_caduceus.py on the twin's models saved in the official
HF layout, and writes the converted-checkpoint fixture for the C tests.

The HF layout (what transformers' save_pretrained writes for
CaduceusForMaskedLM, spec caduceus.md §2.8): each tied tensor stored once
under its first name in state-dict order (no mamba_rev.in_proj.weight, no
mamba_rev.out_proj.weight, no lm_head weight), both complement_map buffers
kept for PS, and config.json with the hub keys of §2.7. Each case converts
with the script as a user would run it and checks the tensors are the twin's,
bit for bit, and the config is the twin's; each bad input must give one line
on stderr naming the file and the tensor, exit 1 and no output file.

Run by `make golden`; writes testdata/caduceus_tiny_ps.safetensors (a
converted PS fused-RMSNorm model, d 24, 2 layers) and
testdata/golden/caduceus_tiny_ps_hidden.safetensors (a plain ACGTN sequence's
ids and the twin's hidden states for it, with and without [SEP]).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import st  # noqa: E402
import caduceus as twin  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "convert_caduceus.py")
SEQUENCE = "ACGTTGCANNACGTAGGCTTAACGNTTGCAGTCAGTA"   # 37 bases, N inside; not a multiple of 16
TOKEN = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}
SEP = 1


def hf_state_dict(model):
    """save_pretrained's view: tied tensors once (first name in state-dict order), buffers kept."""
    out, seen = {}, set()
    for k, v in model.state_dict().items():
        key = (v.data_ptr(), v.dtype, tuple(v.shape))
        if key in seen:
            continue
        seen.add(key)
        out[k] = v.detach().clone()
    if model.cfg["rcps"]:   # the hub file holds the LM head's buffer (its tied weight is dropped)
        assert "lm_head.complement_map" in out
    dropped = set(model.state_dict()) - set(out)
    assert all("mamba_rev.in_proj" in k or "mamba_rev.out_proj" in k for k in dropped), dropped
    assert len(dropped) == 2 * model.cfg["n_layer"], dropped
    return out


def hub_config(cfg):
    """config.json with the hub keys of spec §2.7 (after the model padded vocab 12 -> 16)."""
    return {"_name_or_path": "kuleshov-group/caduceus-test", "architectures": ["CaduceusForMaskedLM"],
            "auto_map": {"AutoConfig": "configuration_caduceus.CaduceusConfig",
                         "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM"},
            "bidirectional": True, "bidirectional_strategy": "add", "bidirectional_weight_tie": True,
            "complement_map": {str(i): v for i, v in enumerate(twin.COMPLEMENT_MAP)},
            "d_model": cfg["d_model"], "fused_add_norm": cfg["fused_add_norm"],
            "initializer_cfg": {"initializer_range": 0.02, "n_residuals_per_layer": 1, "rescale_prenorm_residual": True},
            "model_type": "caduceus", "n_layer": cfg["n_layer"], "norm_epsilon": 1e-5, "pad_vocab_size_multiple": 8,
            "rcps": cfg["rcps"], "residual_in_fp32": False, "rms_norm": cfg["norm"] != "layernorm",
            "ssm_cfg": {"bias": False, "conv_bias": True, "d_conv": 4, "d_state": 16, "dt_init": "random",
                        "dt_init_floor": 0.0001, "dt_max": 0.1, "dt_min": 0.001, "dt_rank": "auto", "dt_scale": 1.0,
                        "expand": 2, "use_fast_path": True},
            "torch_dtype": "float32", "transformers_version": "4.38.1", "vocab_size": 16}


def save_hf(model, folder, fmt="bin", sd=None, cfg=None):
    os.makedirs(folder, exist_ok=True)
    sd = hf_state_dict(model) if sd is None else sd
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hub_config(model.cfg) if cfg is None else cfg, f, indent=2)
    if fmt == "bin":
        path = os.path.join(folder, "pytorch_model.bin")
        torch.save(sd, path)
    elif fmt == "ckpt":   # Lightning: {"state_dict": {"model." + name: ...}}
        path = os.path.join(folder, "last.ckpt")
        torch.save({"state_dict": {"model." + k: v for k, v in sd.items()}, "epoch": 3}, path)
    else:
        path = os.path.join(folder, "model.safetensors")
        st.save(path, sd, {"format": "pt"})
    return path


def convert(src, dst, *extra):
    return subprocess.run([sys.executable, SCRIPT, *extra, src, dst], capture_output=True, text=True)


def check_converted(model, src, dst, want_preset="custom", want_max_len=1024, extra=()):
    r = convert(src, dst, *extra)
    assert r.returncode == 0, r.stderr
    tensors, meta = st.load(dst)
    want = twin.c_table(model)
    assert set(tensors) == set(want), (set(tensors) ^ set(want))
    for k, v in want.items():
        assert tensors[k].dtype == torch.float32 and torch.equal(tensors[k], v.float()), k
    cfg = json.loads(meta["derfseq.config"])
    exp = dict(model.cfg, preset=want_preset, max_len=want_max_len)
    assert cfg == exp, {k: (cfg.get(k), exp.get(k)) for k in set(cfg) | set(exp) if cfg.get(k) != exp.get(k)}
    print(f"  ok {os.path.relpath(src, os.path.dirname(os.path.dirname(src)))}: {r.stdout.strip()}")
    return tensors, meta


def check_refused(src, dst, *needles, extra=()):
    r = convert(src, dst, *extra)
    err = r.stderr.strip()
    assert r.returncode == 1, (r.returncode, err)
    assert "\n" not in err and err.startswith("convert_caduceus.py: "), err
    for n in needles:
        assert n in err, (n, err)
    assert not os.path.exists(dst), dst
    print(f"  refused: {err}")


def hidden_of(model, ids):
    with torch.no_grad():
        return model.double()(ids)[0].float()


def main():
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="check_convert_caduceus.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp)


def run(tmp):
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    ps = twin.build(twin.small_config(True, True, "rmsnorm"), seed=5)
    ph = twin.build(twin.small_config(False, True, "rmsnorm"), seed=6)
    ps_derf = twin.build(twin.small_config(True, False, "derf"), seed=7)
    ph_ln = twin.build(twin.small_config(False, False, "layernorm"), seed=8)
    for m in (ps, ph, ps_derf, ph_ln):
        m.cfg["max_len"] = 1024   # what the converter infers without a max_length key or a 1k/131k name

    # the four layouts a user has: .bin, model.safetensors, a Lightning .ckpt with --config
    ps_bin = save_hf(ps, out("ps"))
    tensors, meta = check_converted(ps, ps_bin, out("ps.safetensors"))
    check_converted(ph, save_hf(ph, out("ph"), fmt="safetensors"), out("ph.safetensors"))
    ckpt = save_hf(ps_derf, out("psderf"), fmt="ckpt")
    shutil.move(os.path.join(out("psderf"), "config.json"), out("psderf.json"))
    check_converted(ps_derf, ckpt, out("psderf.safetensors"), extra=("--config", out("psderf.json")))
    sd = hf_state_dict(ph_ln)
    sd["lm_head.weight"] = sd["caduceus.backbone.embeddings.word_embeddings.weight"].clone()  # a tied head, stored
    check_converted(ph_ln, save_hf(ph_ln, out("phln"), sd=sd), out("phln.safetensors"))
    # the published shape: preset and max_len from the hub folder name
    ps1k = twin.build(dict(twin.small_config(True, True, "rmsnorm"), d_model=118, n_layer=4, dt_rank=8), seed=9)
    ps1k.cfg["max_len"] = 1024
    d1k = out("caduceus-ps_seqlen-1k_d_model-118_n_layer-4_lr-8e-3")
    check_converted(ps1k, save_hf(ps1k, d1k), out("ps1k.safetensors"), want_preset="caduceus-ps-1k")
    cfg = hub_config(ps1k.cfg)
    cfg["model_max_length"] = 512
    d512 = out("caduceus-ps_seqlen-1k_other")
    check_converted(ps1k, save_hf(ps1k, d512, cfg=cfg), out("ps512.safetensors"), want_max_len=512)

    # bad inputs: one line naming the file and the tensor, exit 1, no output
    emb = "caduceus.backbone.embeddings.word_embeddings.embedding.weight"
    sd = hf_state_dict(ps)
    sd["lm_head.lm_head.weight"] = sd[emb] + 1
    check_refused(save_hf(ps, out("bad_head"), sd=sd), out("x.safetensors"), "bad_head", "lm_head.lm_head.weight")
    sd = hf_state_dict(ps)
    sd["lm_head.complement_map"] = torch.arange(16)
    check_refused(save_hf(ps, out("bad_cm"), sd=sd), out("x.safetensors"), "bad_cm", "lm_head.complement_map")
    sd = hf_state_dict(ps)
    name = "caduceus.backbone.layers.1.mixer.submodule.mamba_rev.x_proj.weight"
    del sd[name]
    check_refused(save_hf(ps, out("missing"), sd=sd), out("x.safetensors"), "missing", name)
    sd = hf_state_dict(ps)
    rev = "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.in_proj.weight"
    sd[rev] = sd[rev.replace("mamba_rev", "mamba_fwd")] * 2
    check_refused(save_hf(ps, out("untied"), sd=sd), out("x.safetensors"), "untied", rev)
    sd = hf_state_dict(ps)
    name = "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.dt_proj.bias"
    sd[name] = sd[name][:-1]
    check_refused(save_hf(ps, out("shape"), sd=sd), out("x.safetensors"), "shape", name, "[47]")
    cfg = hub_config(ps.cfg)
    cfg["n_layer"] = 3
    check_refused(save_hf(ps, out("cfg_layers"), cfg=cfg), out("x.safetensors"), "cfg_layers/config.json", "n_layer")
    cfg = hub_config(ps.cfg)
    cfg["fused_add_norm"] = False
    check_refused(save_hf(ps, out("cfg_fused"), cfg=cfg), out("x.safetensors"), "cfg_fused/config.json",
                  "fused_add_norm")
    cfg = hub_config(ps.cfg)
    cfg["complement_map"]["7"] = 7
    check_refused(save_hf(ps, out("cfg_cm"), cfg=cfg), out("x.safetensors"), "cfg_cm/config.json", "complement_map")
    with open(out("junk.bin"), "wb") as f:
        f.write(b"not a checkpoint")
    check_refused(out("junk.bin"), out("x.safetensors"), "junk.bin")

    # the fixture for the C tests: the converted PS file and the twin's hidden states for a sequence
    fixture = os.path.join(ROOT, "testdata", "caduceus_tiny_ps.safetensors")
    conv = twin.Caduceus(dict(json.loads(meta["derfseq.config"])))
    twin.load_tensors(conv, tensors)   # the converted tensors, in a fresh twin
    ids = torch.tensor([[TOKEN[c] for c in SEQUENCE.upper()]])
    ids_sep = torch.cat([ids, torch.tensor([[SEP]])], dim=1)
    h, h_sep = hidden_of(conv, ids), hidden_of(conv, ids_sep)
    assert torch.equal(h, hidden_of(ps, ids))
    st.save(fixture, tensors, {"derfseq.config": meta["derfseq.config"], "converted_from": "pytorch_model.bin",
                               "generator": "test/reference/check_convert_caduceus.py"})
    golden = os.path.join(ROOT, "testdata", "golden", "caduceus_tiny_ps_hidden.safetensors")
    st.save(golden, {"golden.ids": ids.to(torch.int32), "golden.hidden": h,
                     "golden.ids_sep": ids_sep.to(torch.int32), "golden.hidden_sep": h_sep},
            {"sequence": SEQUENCE, "checkpoint": "testdata/caduceus_tiny_ps.safetensors",
             "generator": "test/reference/check_convert_caduceus.py", "torch": torch.__version__})
    print(f"{os.path.normpath(fixture)}, {os.path.normpath(golden)}: hidden {list(h.shape)} for {SEQUENCE}")


if __name__ == "__main__":
    main()
