"""Checks scripts/convert_wav2vec2.py on the twin's models saved in the official
layouts, and writes the converted-checkpoint fixture for the C tests.

Layouts (spec wav2vec2.md §3.9): HF Wav2Vec2ForPreTraining (config.json +
pytorch_model.bin), a bare HF Wav2Vec2Model (no prefix, no pretraining heads;
model.safetensors with torch's newer parametrizations.weight.original0/1 names
for the weight norm), HF Wav2Vec2ForCTC (lm_head, no masked_spec_embed: the
converter fills it), a fairseq pretraining checkpoint (.pt with cfg + model,
fairseq names, a Derf pre-LN layer-mode model) and a fairseq fine-tuned
Wav2VecCtc (w2v_encoder.w2v_model.*, w2v_encoder.proj, cfg.model.w2v_args).
Each conversion runs the script as a user would and checks the tensors are the
twin's, bit for bit, and the config is the twin's; each bad input must give one
line on stderr naming the file and the tensor or key, exit 1 and no output file.
A CTC checkpoint's vocabulary (HF vocab.json + added_tokens.json, fairseq
dict.ltr.txt beside the .pt, --vocab FILE) must land in the config as "vocab",
token names in id order; without one a 32-row lm_head gets no "vocab" and a
note on stderr; a vocabulary of the wrong size, a token with a line break or
of several characters, an id gap, no "|", a bad dict line are refused.

Run by `make golden`; writes testdata/wav2vec2_tiny.safetensors (a converted
Base-layout model: group mode, post-LN, LayerNorm, conv dim 16, hidden 32, 2
layers; preprocessor_config.json do_normalize true, so normalize_audio true),
testdata/golden/wav2vec2_tiny_hidden.safetensors (the twin's eval hidden
states for two utterances) and the same utterances as 16-bit PCM WAV files
testdata/wav2vec2_tiny_{a,b}.wav (the audio is int16/32768, so the WAV files
hold exactly golden.audio).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import st  # noqa: E402
import wav2vec2 as twin  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "convert_wav2vec2.py")
W = "wav2vec2."


def hub_config(cfg, arch="Wav2Vec2ForPreTraining"):
    """config.json with the HF Wav2Vec2Config keys of spec §3.9 (no derfseq-only keys)."""
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "conv_dim",
            "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "do_stable_layer_norm",
            "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "layer_norm_eps", "hidden_dropout",
            "attention_dropout", "activation_dropout", "feat_proj_dropout", "feat_quantizer_dropout", "layerdrop",
            "mask_time_prob", "mask_time_length", "mask_time_min_masks", "num_codevectors_per_group",
            "num_codevector_groups", "codevector_dim", "proj_codevector_dim", "num_negatives",
            "contrastive_logits_temperature", "diversity_loss_weight", "vocab_size")
    hf = {k: cfg[k] for k in keys}
    hf.update({"architectures": [arch], "model_type": "wav2vec2", "hidden_act": "gelu",
               "feat_extract_activation": "gelu", "apply_spec_augment": True, "final_dropout": 0.0,
               "ctc_loss_reduction": "sum", "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
               "initializer_range": 0.02, "mask_feature_prob": 0.0, "transformers_version": "4.30.0"})
    return hf


def save_hf(folder, sd, hf, fmt="bin", do_normalize=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf, f, indent=2)
    if do_normalize is not None:
        with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
            json.dump({"do_normalize": do_normalize, "feature_extractor_type": "Wav2Vec2FeatureExtractor",
                       "feature_size": 1, "padding_side": "right", "padding_value": 0.0,
                       "return_attention_mask": False, "sampling_rate": 16000}, f, indent=2)
    if fmt == "bin":
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    else:
        st.save(os.path.join(folder, "model.safetensors"), sd, {"format": "pt"})
    return folder


def fairseq_name(k, layer_mode):
    """HF name -> fairseq name (the inverse of spec §3.9's mapping)."""
    rules = [("wav2vec2.feature_projection.layer_norm.", "layer_norm."),
             ("wav2vec2.feature_projection.projection.", "post_extract_proj."),
             ("wav2vec2.masked_spec_embed", "mask_emb"), ("wav2vec2.encoder.pos_conv_embed.conv.", "encoder.pos_conv.0."),
             ("wav2vec2.encoder.layer_norm.", "encoder.layer_norm."), ("quantizer.codevectors", "quantizer.vars"),
             ("project_hid.", "final_proj."), ("quantizer.", "quantizer."), ("project_q.", "project_q.")]
    if k.startswith(W + "feature_extractor.conv_layers."):
        i, part, t = k[len(W + "feature_extractor.conv_layers."):].split(".")
        return f"feature_extractor.conv_layers.{i}." + ("0" if part == "conv" else ("2.1" if layer_mode else "2")) + "." + t
    if k.startswith(W + "encoder.layers."):
        rest = k[len(W + "encoder.layers."):]
        i, rest = rest.split(".", 1)
        for a, b in (("attention.", "self_attn."), ("layer_norm.", "self_attn_layer_norm."),
                     ("feed_forward.intermediate_dense.", "fc1."), ("feed_forward.output_dense.", "fc2."),
                     ("final_layer_norm.", "final_layer_norm.")):
            if rest.startswith(a):
                return f"encoder.layers.{i}.{b}{rest[len(a):]}"
    for a, b in rules:
        if k.startswith(a):
            return b + k[len(a):]
    raise KeyError(k)


def fairseq_model_cfg(cfg):
    conv = " + ".join(f"[({d}, {k}, {s})]" for d, k, s in zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"]))
    return {"_name": "wav2vec2", "extractor_mode": "layer_norm" if cfg["feat_extract_norm"] == "layer" else "default",
            "conv_feature_layers": conv, "conv_bias": cfg["conv_bias"], "encoder_embed_dim": cfg["hidden_size"],
            "encoder_layers": cfg["num_hidden_layers"], "encoder_attention_heads": cfg["num_attention_heads"],
            "encoder_ffn_embed_dim": cfg["intermediate_size"], "layer_norm_first": cfg["do_stable_layer_norm"],
            "conv_pos": cfg["num_conv_pos_embeddings"], "conv_pos_groups": cfg["num_conv_pos_embedding_groups"],
            "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "dropout_input": 0.0,
            "dropout_features": 0.0, "encoder_layerdrop": 0.0, "mask_prob": cfg["mask_time_prob"],
            "mask_length": cfg["mask_time_length"], "latent_vars": cfg["num_codevectors_per_group"],
            "latent_groups": cfg["num_codevector_groups"], "latent_dim": cfg["codevector_dim"],
            "final_dim": cfg["proj_codevector_dim"], "num_negatives": cfg["num_negatives"],
            "logit_temp": cfg["contrastive_logits_temperature"], "feature_grad_mult": cfg["feature_grad_mult"],
            "latent_temp": list(cfg["gumbel_temperature"]), "activation_fn": "gelu"}


def convert(src, dst, *extra):
    return subprocess.run([sys.executable, SCRIPT, *extra, src, dst], capture_output=True, text=True)


def check_converted(want, want_cfg, src, dst, extra=(), stderr_has=None):
    r = convert(src, dst, *extra)
    assert r.returncode == 0, r.stderr
    if stderr_has is not None:
        assert stderr_has in r.stderr and "\n" not in r.stderr.strip(), r.stderr
    else:
        assert r.stderr == "", r.stderr
    tensors, meta = st.load(dst)
    assert set(tensors) == set(want), (set(tensors) ^ set(want))
    for k, v in want.items():
        assert tensors[k].dtype == torch.float32 and torch.equal(tensors[k], v.float()), k
    cfg = json.loads(meta["derfseq.config"])
    # which heads the file holds is part of its config (the C model registers exactly those)
    want_cfg = dict(want_cfg, pretraining_head=any(k.startswith("quantizer.") for k in want),
                    ctc_head=any(k.startswith("lm_head.") for k in want))
    assert cfg == want_cfg, {k: (cfg.get(k), want_cfg.get(k)) for k in set(cfg) | set(want_cfg)
                             if cfg.get(k) != want_cfg.get(k)}
    print(f"  ok {os.path.basename(os.path.normpath(src))}: {r.stdout.strip()}")
    return tensors, meta


def check_refused(src, dst, *needles, extra=()):
    r = convert(src, dst, *extra)
    err = r.stderr.strip()
    assert r.returncode == 1, (r.returncode, err)
    assert "\n" not in err and err.startswith("convert_wav2vec2.py: "), err
    for n in needles:
        assert n in err, (n, err)
    assert not os.path.exists(dst), dst
    print(f"  refused: {err}")


# facebook/wav2vec2-base-960h's vocab.json in id order (spec §3.8)
W2V2_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")


def write_vocab_json(folder, tokens, name="vocab.json"):
    with open(os.path.join(folder, name), "w") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f)


def check_vocabularies(out, base_cfg, conv_cfg, ctc, want_ctc):
    """A CTC checkpoint's vocabulary becomes the config's "vocab" (token names in id order): HF
    vocab.json (+ added_tokens.json), --vocab FILE; bad vocabularies are refused with one line."""
    hf = dict(hub_config(base_cfg, "Wav2Vec2ForCTC"), mask_time_prob=0.0)
    want_cfg = dict(conv_cfg, normalize_audio=False, mask_time_prob=0.0)
    # a vocab.json in the model directory: a lower-case alphabet in its own order, ids not in file order
    lower = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("etaonihsrdlumwcfgypbvk'xjqz")
    folder = save_hf(out("ctc-vocab"), ctc, hf)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(dict(reversed([(t, i) for i, t in enumerate(lower)])), f)
    _, m = check_converted(want_ctc, dict(want_cfg, vocab=lower), folder, out("ctc_vocab.safetensors"))
    assert m["derfseq.vocab_source"].endswith("ctc-vocab/vocab.json"), m
    # --vocab overrides it; a dict.ltr.txt given that way is read as fairseq's
    os.makedirs(out("vocabs"))   # not beside the fairseq .pt files of the tests that follow
    with open(out("vocabs/dict.ltr.txt"), "w") as f:
        f.write("".join(f"{t} {i + 1}\n" for i, t in enumerate(W2V2_VOCAB[4:-1])) + "Z 1 #fairseq:overwrite\n")
    check_converted(want_ctc, dict(want_cfg, vocab=W2V2_VOCAB), folder, out("ctc_vocab2.safetensors"),
                    extra=("--vocab", out("vocabs/dict.ltr.txt")))
    # 34 rows: vocab.json + added_tokens.json (HF's tokenizer appends those ids), vocab_size from lm_head
    g = torch.Generator().manual_seed(4)
    big = dict(ctc, **{"lm_head.weight": torch.randn(34, 32, generator=g), "lm_head.bias": torch.randn(34, generator=g)})
    folder = save_hf(out("ctc-added"), big, dict(hf, vocab_size=34))
    write_vocab_json(folder, W2V2_VOCAB)
    with open(os.path.join(folder, "added_tokens.json"), "w") as f:
        json.dump({"<bos>": 32, "<eos>": 33}, f)
    want_big = dict(want_ctc, **{"lm_head.weight": big["lm_head.weight"], "lm_head.bias": big["lm_head.bias"]})
    check_converted(want_big, dict(want_cfg, vocab_size=34, vocab=W2V2_VOCAB + ["<bos>", "<eos>"]), folder,
                    out("ctc_added.safetensors"))

    # refusals: one line naming the file, exit 1, no output
    folder = save_hf(out("ctc-short"), ctc, hf)
    write_vocab_json(folder, W2V2_VOCAB[:31])
    check_refused(folder, out("x.safetensors"), "ctc-short/vocab.json", "31 tokens", "lm_head.weight", "32 rows")
    folder = save_hf(out("ctc-newline"), ctc, hf)
    write_vocab_json(folder, W2V2_VOCAB[:20] + ["A\nB"] + W2V2_VOCAB[21:])
    check_refused(folder, out("x.safetensors"), "ctc-newline/vocab.json", "token 20", "line break")
    folder = save_hf(out("ctc-word"), ctc, hf)
    write_vocab_json(folder, W2V2_VOCAB[:20] + ["TH"] + W2V2_VOCAB[21:])
    check_refused(folder, out("x.safetensors"), "ctc-word/vocab.json", "token 20 'TH'", "one character")
    folder = save_hf(out("ctc-gap"), ctc, hf)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump({t: (i if i < 10 else i + 1) for i, t in enumerate(W2V2_VOCAB)}, f)
    check_refused(folder, out("x.safetensors"), "ctc-gap/vocab.json", "10 is missing")
    folder = save_hf(out("ctc-nodelim"), ctc, hf)
    write_vocab_json(folder, [t if t != "|" else "#" for t in W2V2_VOCAB])
    check_refused(folder, out("x.safetensors"), "ctc-nodelim/vocab.json", "'|'")
    g = torch.Generator().manual_seed(5)
    wide = dict(ctc, **{"lm_head.weight": torch.randn(40, 32, generator=g), "lm_head.bias": torch.randn(40, generator=g)})
    check_refused(save_hf(out("ctc-40"), wide, dict(hf, vocab_size=40)), out("x.safetensors"), "40 rows",
                  "ctc-40/vocab.json", "--vocab")
    with open(out("bad_dict.txt"), "w") as f:
        f.write("| 10\nE 9\nT\n")
    check_refused(out("w2v-ctc"), out("x.safetensors"), "bad_dict.txt:3", "TOKEN COUNT", extra=("--vocab", out("bad_dict.txt")))
    check_refused(out("w2v-ctc"), out("x.safetensors"), "nowhere.json", "--vocab", extra=("--vocab", out("nowhere.json")))
    check_refused(out("w2v-base"), out("x.safetensors"), "no CTC head", extra=("--vocab", out("vocabs/dict.ltr.txt")))


def pcm16(gen, lengths):
    """Audio exactly representable in 16-bit PCM: the twin's sines + noise rounded to k/32768."""
    a = twin.make_audio(gen, lengths)
    return (a * 32768).round().clamp(-32768, 32767) / 32768


def write_wav(path, x):
    with wave.open(path + ".tmp", "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((x * 32768).round().to(torch.int16).numpy().astype("<i2").tobytes())
    os.replace(path + ".tmp", path)


def main():
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="check_convert_wav2vec2.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp)


def run(tmp):
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    base_cfg = twin.small_config("layernorm", stable=False, feat_norm="group", conv_bias=False)
    base = twin.build(base_cfg, seed=5)
    sd = twin.param_table(base)
    conv_cfg = dict(base_cfg, preset="custom")   # group mode: fairseq Base's feature_grad_mult 0.1, pen 10

    # HF Wav2Vec2ForPreTraining, .bin; preprocessor_config.json do_normalize true (as the hub's wav2vec2-base)
    tensors, meta = check_converted(sd, dict(conv_cfg, normalize_audio=True),
                                    save_hf(out("w2v-base"), sd, hub_config(base_cfg), do_normalize=True),
                                    out("base.safetensors"))
    assert meta["derfseq.normalize_audio_source"] == "preprocessor_config.json do_normalize", meta
    # bare Wav2Vec2Model in model.safetensors, parametrizations names, no preprocessor config (group: no normalize)
    bare = {k[len(W):]: v for k, v in sd.items() if k.startswith(W)}
    for a, b in (("weight_g", "parametrizations.weight.original0"), ("weight_v", "parametrizations.weight.original1")):
        bare[f"encoder.pos_conv_embed.conv.{b}"] = bare.pop(f"encoder.pos_conv_embed.conv.{a}")
    want = {k: v for k, v in sd.items() if k.startswith(W)}
    check_converted(want, dict(conv_cfg, normalize_audio=False),
                    save_hf(out("w2v-bare"), bare, hub_config(base_cfg, "Wav2Vec2Model"), fmt="safetensors"),
                    out("bare.safetensors"))
    # Wav2Vec2ForCTC: lm_head, masked_spec_embed absent (mask_time_prob 0 in HF) -> filled with U(0,1) seed 0
    ctc = dict(want)
    g = torch.Generator().manual_seed(3)
    ctc["lm_head.weight"], ctc["lm_head.bias"] = torch.randn(32, 32, generator=g), torch.randn(32, generator=g)
    del ctc[W + "masked_spec_embed"]
    want_ctc = dict(ctc, **{W + "masked_spec_embed": torch.rand(32, generator=torch.Generator().manual_seed(0))})
    # no vocab.json and 32 rows: no "vocab" in the config (the built-in vocabulary), said on stderr
    _, m = check_converted(want_ctc, dict(conv_cfg, normalize_audio=False, mask_time_prob=0.0),
                           save_hf(out("w2v-ctc"), ctc, dict(hub_config(base_cfg, "Wav2Vec2ForCTC"),
                                                             mask_time_prob=0.0)), out("ctc.safetensors"),
                           stderr_has="built-in wav2vec2-base-960h vocabulary")
    assert m["derfseq.filled"] == W + "masked_spec_embed" and m["derfseq.heads"] == "ctc", m
    assert m["derfseq.vocab_source"] == "built-in wav2vec2-base-960h", m
    check_converted(want_ctc, dict(conv_cfg, normalize_audio=True, mask_time_prob=0.0), out("w2v-ctc"),
                    out("ctc2.safetensors"), extra=("--normalize-audio", "true"), stderr_has="built-in")
    check_vocabularies(out, base_cfg, conv_cfg, ctc, want_ctc)

    # fairseq pretraining checkpoint: a Derf pre-LN layer-mode model (the official Derf names)
    derf_cfg = twin.small_config("derf", stable=True, feat_norm="layer", conv_bias=True, normalize=True)
    derf = twin.build(derf_cfg, seed=6)
    dsd = twin.param_table(derf)
    fs = {"cfg": {"model": fairseq_model_cfg(derf_cfg), "task": {"_name": "audio_pretraining", "normalize": True},
                  "criterion": {"_name": "wav2vec", "loss_weights": [0.1, 10.0]}},
          "model": {fairseq_name(k, True): v for k, v in dsd.items()}, "optimizer_history": []}
    torch.save(fs, out("derf_small.pt"))
    _, m = check_converted(dsd, dict(derf_cfg, preset="custom"), out("derf_small.pt"), out("derf.safetensors"))
    assert m["derfseq.normalize_audio_source"] == "fairseq task.normalize", m
    # the old fairseq layout (wav2vec_small.pt): an argparse Namespace in "args", loss_weights as a string
    args = argparse.Namespace(**fairseq_model_cfg(base_cfg), normalize=False, loss_weights="[0.1, 10]")
    torch.save({"args": args, "model": {fairseq_name(k, False): v for k, v in sd.items()}}, out("old_small.pt"))
    check_converted(sd, dict(conv_cfg, normalize_audio=False), out("old_small.pt"), out("old.safetensors"))
    # fairseq fine-tuned Wav2VecCtc: pretraining heads removed, proj -> lm_head, config in w2v_args
    fctc = {"w2v_encoder.w2v_model." + fairseq_name(k, False): v for k, v in sd.items() if k.startswith(W)}
    fctc["w2v_encoder.proj.weight"], fctc["w2v_encoder.proj.bias"] = ctc["lm_head.weight"], ctc["lm_head.bias"]
    torch.save({"cfg": {"model": {"_name": "wav2vec_ctc", "w2v_args": {
        "model": fairseq_model_cfg(base_cfg), "task": {"normalize": False},
        "criterion": {"loss_weights": [0.1, 10.0]}}}, "task": {"_name": "audio_finetuning", "normalize": False}},
        "model": fctc}, out("ctc_small.pt"))
    want_fctc = dict(want, **{"lm_head.weight": ctc["lm_head.weight"], "lm_head.bias": ctc["lm_head.bias"]})
    check_converted(want_fctc, dict(conv_cfg, normalize_audio=False), out("ctc_small.pt"), out("fctc.safetensors"),
                    stderr_has="dict.ltr.txt")
    # fine-tuned with its dict.ltr.txt beside it: fairseq's Dictionary ids, HF's names for rows 0 and 1
    os.makedirs(out("fs_dict"))
    shutil.copy(out("ctc_small.pt"), out("fs_dict/ctc_small.pt"))
    letters = W2V2_VOCAB[4:]
    with open(out("fs_dict/dict.ltr.txt"), "w") as f:
        f.write("".join(f"{t} {1000 - i}\n" for i, t in enumerate(letters)))
    _, m = check_converted(want_fctc, dict(conv_cfg, normalize_audio=False, vocab=W2V2_VOCAB),
                           out("fs_dict/ctc_small.pt"), out("fctc_dict.safetensors"))
    assert m["derfseq.vocab_source"].endswith("fs_dict/dict.ltr.txt"), m

    # bad inputs: one line naming the file and the tensor or key, exit 1, no output
    hf = hub_config(base_cfg)
    bad = dict(sd)
    name = W + "encoder.layers.1.feed_forward.output_dense.bias"
    del bad[name]
    check_refused(save_hf(out("missing"), bad, hf), out("x.safetensors"), "missing", name)
    bad = dict(sd, **{"wav2vec2.adapter.proj.weight": torch.zeros(2, 2)})
    check_refused(save_hf(out("unknown"), bad, hf), out("x.safetensors"), "unknown", "wav2vec2.adapter.proj.weight")
    bad = dict(sd)
    name = W + "encoder.layers.0.attention.v_proj.bias"
    bad[name] = bad[name][:-1]
    check_refused(save_hf(out("shape"), bad, hf), out("x.safetensors"), "shape", name, "[31]")
    check_refused(save_hf(out("cfg_layers"), sd, dict(hf, num_hidden_layers=3)), out("x.safetensors"),
                  "cfg_layers/config.json", "num_hidden_layers")
    check_refused(save_hf(out("cfg_groups"), sd, dict(hf, num_conv_pos_embedding_groups=2)), out("x.safetensors"),
                  "cfg_groups/config.json", "num_conv_pos_embedding_groups")
    check_refused(save_hf(out("cfg_act"), sd, dict(hf, hidden_act="relu")), out("x.safetensors"),
                  "cfg_act/config.json", "hidden_act")
    save_hf(out("nocfg"), sd, hf)
    os.remove(os.path.join(out("nocfg"), "config.json"))
    check_refused(out("nocfg"), out("x.safetensors"), "nocfg/config.json")
    bad = dict(fs, model=dict(fs["model"], **{"encoder.layers.0.self_attn.in_proj.weight": torch.zeros(3)}))
    torch.save(bad, out("bad_fairseq.pt"))
    check_refused(out("bad_fairseq.pt"), out("x.safetensors"), "bad_fairseq.pt", "encoder.layers.0.self_attn.in_proj")
    with open(out("junk.pt"), "wb") as f:
        f.write(b"not a checkpoint")
    check_refused(out("junk.pt"), out("x.safetensors"), "junk.pt")

    # the fixture for the C tests: the converted Base file and the twin's hidden states for two utterances
    fixture = os.path.join(ROOT, "testdata", "wav2vec2_tiny.safetensors")
    conv_model = twin.Wav2Vec2ForPreTraining(json.loads(meta["derfseq.config"]))
    conv_model.load_state_dict(tensors)            # the converted tensors, in a fresh twin (strict)
    gen = torch.Generator().manual_seed(77)
    lengths = (4000, 3300)
    audio = pcm16(gen, lengths)
    n = torch.tensor(lengths)
    with torch.no_grad():
        h, lens = conv_model.double().wav2vec2(audio.double(), n)
        orig = twin.Wav2Vec2ForPreTraining(dict(base_cfg, normalize_audio=True)).double()
        orig.load_state_dict(sd)
        h_orig, _ = orig.wav2vec2(audio.double(), n)
    assert torch.equal(h, h_orig)
    st.save(fixture, tensors, {"derfseq.config": meta["derfseq.config"], "converted_from": "pytorch_model.bin",
                               "derfseq.normalize_audio_source": meta["derfseq.normalize_audio_source"],
                               "derfseq.heads": meta["derfseq.heads"],
                               "generator": "test/reference/check_convert_wav2vec2.py"})
    golden = os.path.join(ROOT, "testdata", "golden", "wav2vec2_tiny_hidden.safetensors")
    st.save(golden, {"golden.audio": audio, "golden.n_samples": n.to(torch.int32),
                     "golden.lens": lens.to(torch.int32), "golden.hidden": h.float()},
            {"checkpoint": "testdata/wav2vec2_tiny.safetensors", "wav": "testdata/wav2vec2_tiny_a.wav,testdata/wav2vec2_tiny_b.wav",
             "normalize_audio": "true (eps 1e-7, biased variance, per utterance)",
             "generator": "test/reference/check_convert_wav2vec2.py", "torch": torch.__version__})
    for b, tag in enumerate("ab"):
        write_wav(os.path.join(ROOT, "testdata", f"wav2vec2_tiny_{tag}.wav"), audio[b, :lengths[b]])
    print(f"{os.path.normpath(fixture)}, {os.path.normpath(golden)}: hidden {list(h.shape)}, frames {lens.tolist()}")


if __name__ == "__main__":
    main()
