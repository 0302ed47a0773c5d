"""PyTorch side of bench/bench_wav2vec2.c: the same wav2vec2 configs (read
from `bench_wav2vec2 config PRESET`, so both sides run the very same
config JSON), thread count and measurements on the twin of models/wav2vec2.c,
test/reference/wav2vec2.py:

* inference: 10 s of audio, B 1, eval mode under torch.no_grad(), one
  warm-up then the median of a few forwards, as seconds and realtime factor;
* training: fairseq-like steps on B 2 x 5 s (the twin's span mask,
  negatives and Gumbel noise, the pretraining loss, backward, clipping,
  AdamW), as audio seconds per second, after one warm-up step;
* ctc: CTC fine-tuning steps on B 2 x 5 s with the config of
  `bench_wav2vec2 config-ctc PRESET` (Wav2Vec2ForCTC, the feature encoder's
  parameters requires_grad False, the twin's time mask and a channel mask
  of the same draw, F.ctc_loss summed / B with zero_infinity on the same
  kind of random characters, backward, the gradient norm, Adam betas 0.9,
  0.98), as audio seconds per second;
* ctc-infer: 10 s, eval mode under no_grad(), logits and the greedy decode
  (argmax, collapse, drop blank), as the realtime factor.

Each measurement runs in its own process, so its peak RSS is its own (the
Python interpreter and torch libraries, ~0.3 GB, are in every figure). The
twin has no dropout modules, so its training step does a little less work
than derfseq's (which drops out as the preset says). For wav2vec2-base it
also times torchaudio's independent wav2vec2_base architecture (inference
only, a line starting `torchaudio`), a cross-check of the twin's speed.

    wav2vec2_torch.py [BENCH_BIN] [PRESET]
    wav2vec2_torch.py BENCH_BIN infer|train|ctc|ctc-infer|torchaudio PRESET
    wav2vec2_torch.py BENCH_BIN ctc|ctc-infer PRESET CKPT   (trained weights; BENCH_W2V_CKPT in a full run)
"""
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "reference"))
import wav2vec2 as w2v  # noqa: E402

RATE = 16000
INFER_SECONDS, TRAIN_B, TRAIN_SECONDS = 10.0, 2, 5.0
CTC_CHARS_PER_S = 15.0   # as bench_wav2vec2.c: ~LibriSpeech's reading rate
RUNS = {"wav2vec2-base": (5, 2), "wav2vec2-tiny": (7, 3)}   # inference runs, training steps (as the C side)


def rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576.0


def config(binary, preset, what="config"):
    return json.loads(subprocess.run([binary, what, preset], check=True, capture_output=True, text=True).stdout)


def audio(B, seconds, seed):
    n = int(seconds * RATE)
    return w2v.make_audio(torch.Generator().manual_seed(seed), [n] * B), torch.tensor([n] * B)


def timed_median(fn, runs):
    fn()   # warm-up
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    t.sort()
    med = t[runs // 2] if runs % 2 else 0.5 * (t[runs // 2 - 1] + t[runs // 2])
    return med, t[0], runs


def report_infer(who, name, med, mn, runs):
    print(f"{who:<7} {name:<20} B1 x {INFER_SECONDS:.0f} s  {med:7.3f} s (median of {runs}, min {mn:.3f})  "
          f"infer {INFER_SECONDS / med:7.2f} x realtime  peak RSS {rss_gb():.3f} GB", flush=True)


def infer(cfg, preset):
    torch.manual_seed(1)
    model = w2v.Wav2Vec2ForPreTraining(cfg).wav2vec2.eval()
    x, n = audio(1, INFER_SECONDS, 1)
    with torch.no_grad():
        med, mn, runs = timed_median(lambda: model(x, n), RUNS[preset][0])
    report_infer("torch", preset, med, mn, runs)


def torchaudio_infer(cfg, preset):
    """torchaudio's wav2vec2 (fairseq's architecture) with the config's shape, encoder output."""
    assert cfg["norm"] == "layernorm", "torchaudio has LayerNorm only"
    torch.manual_seed(1)
    model = w2v.torchaudio_model(cfg).eval()
    x, _ = audio(1, INFER_SECONDS, 1)
    with torch.no_grad():
        med, mn, runs = timed_median(lambda: model(x), RUNS[preset][0])
    report_infer("torchaudio", preset, med, mn, runs)


def train(cfg, preset):
    torch.manual_seed(1)
    model = w2v.Wav2Vec2ForPreTraining(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    x, n = audio(TRAIN_B, TRAIN_SECONDS, 10)
    lens = torch.tensor([w2v.conv_lengths(cfg, int(v)) for v in n])
    gen = torch.Generator().manual_seed(1)
    gv = cfg["num_codevector_groups"] * cfg["num_codevectors_per_group"]
    tmax, tmin, decay = cfg["gumbel_temperature"]
    steps = RUNS[preset][1]
    for s in range(steps + 1):   # step 0 warms up
        if s == 1:
            t0 = time.perf_counter()
        mask = w2v.make_mask(gen, cfg, lens)
        neg = w2v.make_negatives(gen, mask, cfg["num_negatives"])
        gumbel = w2v.make_gumbel(gen, int(mask.sum()), gv)
        opt.zero_grad()
        r = model.pretrain(x, n, mask, neg, gumbel, max(tmax * decay ** s, tmin))
        r["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    sec = (time.perf_counter() - t0) / steps
    print(f"torch   {preset:<20} B{TRAIN_B} x {TRAIN_SECONDS:.0f} s  {sec:7.3f} s/step (mean of {steps})  "
          f"train {TRAIN_B * TRAIN_SECONDS / sec:7.2f} audio-s/s  peak RSS {rss_gb():.3f} GB  "
          f"(loss {r['loss'].item():.3f}, M {int(mask.sum())})", flush=True)


def ctc_targets(B, seconds, vocab_size):
    """Random characters, ids 5..vocab_size-1 (letters and apostrophe), two fewer per later utterance."""
    gen = torch.Generator().manual_seed(3)
    tl = [int(CTC_CHARS_PER_S * seconds) - 2 * b for b in range(B)]
    return torch.randint(5, vocab_size, (sum(tl),), generator=gen), torch.tensor(tl)


def channel_mask(gen, cfg, B):
    """[B, hidden] channel spans: the twin's span mask with mask_feature_* over hidden 'frames'."""
    c = dict(mask_time_prob=cfg["mask_feature_prob"], mask_time_length=cfg["mask_feature_length"],
             mask_time_min_masks=cfg["mask_feature_min_masks"])
    return w2v.make_mask(gen, c, torch.tensor([cfg["hidden_size"]] * B))


def ctc_model(cfg, ckpt=None):
    torch.manual_seed(1)
    model = w2v.Wav2Vec2ForCTC(cfg)
    if ckpt:   # trained weights: every tensor the model has (a pretrained file's lm_head stays fresh, as in C)
        tensors, _ = w2v.st.load(ckpt)
        sd = model.state_dict()
        model.load_state_dict({k: v for k, v in tensors.items() if k in sd and sd[k].shape == v.shape}, strict=False)
    for p in model.wav2vec2.feature_extractor.parameters():   # HF freeze_feature_encoder
        p.requires_grad_(False)
    return model


def ctc_train(cfg, preset, ckpt=None):
    model = ctc_model(cfg, ckpt).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-5, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    x, n = audio(TRAIN_B, TRAIN_SECONDS, 10)
    lens = torch.tensor([w2v.conv_lengths(cfg, int(v)) for v in n])
    tgt, tl = ctc_targets(TRAIN_B, TRAIN_SECONDS, cfg["vocab_size"])
    gen = torch.Generator().manual_seed(1)
    steps = RUNS[preset][1]
    for s in range(steps + 1):   # step 0 warms up
        if s == 1:
            t0 = time.perf_counter()
        mask = w2v.make_mask(gen, cfg, lens)
        cmask = channel_mask(gen, cfg, TRAIN_B)
        opt.zero_grad()
        logits, out_lens = model(x, n, mask, cmask)
        loss = model.ctc_loss(logits, out_lens, tgt, tl)
        (loss.sum() / TRAIN_B).backward()
        gnorm = torch.norm(torch.stack([p.grad.norm() for p in params]))   # finetune logs it; no clipping
        opt.step()
    sec = (time.perf_counter() - t0) / steps
    print(f"torch   {preset + ('+ckpt' if ckpt else ''):<20} B{TRAIN_B} x {TRAIN_SECONDS:.0f} s  {sec:7.3f} s/step (mean of {steps})  "
          f"ctc-train {TRAIN_B * TRAIN_SECONDS / sec:7.2f} audio-s/s  peak RSS {rss_gb():.3f} GB  "
          f"(loss {loss.mean().item():.1f} per utterance, {int(tl.sum())} chars, |g| {gnorm.item():.3g})", flush=True)


def ctc_infer(cfg, preset, ckpt=None):
    model = ctc_model(cfg, ckpt).eval()
    x, n = audio(1, INFER_SECONDS, 1)
    out = []

    def recognise():
        logits, lens = model(x, n)
        ids = torch.unique_consecutive(logits[0, :int(lens[0])].argmax(-1))
        out[:] = ids[ids != 0].tolist()

    with torch.no_grad():
        med, mn, runs = timed_median(recognise, RUNS[preset][0])
    print(f"torch   {preset + ('+ckpt' if ckpt else ''):<20} B1 x {INFER_SECONDS:.0f} s  {med:7.3f} s (median of {runs}, min {mn:.3f})  "
          f"ctc-infer {INFER_SECONDS / med:7.2f} x realtime  peak RSS {rss_gb():.3f} GB  ({len(out)} ids decoded)",
          flush=True)


def main():
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "bench", "bench_wav2vec2")
    if len(sys.argv) == 5 and sys.argv[2] in ("ctc", "ctc-infer"):   # on trained weights: CKPT
        what, ckpt = sys.argv[2], sys.argv[4]
        cfg = json.loads(subprocess.run([binary, "config-ctc", sys.argv[3], ckpt], check=True, capture_output=True,
                                        text=True).stdout)
        name = cfg.get("preset", sys.argv[3])
        run = name if name in RUNS else sys.argv[3]
        {"ctc": ctc_train, "ctc-infer": ctc_infer}[what](cfg, run, ckpt)
        return
    if len(sys.argv) == 4:
        what, preset = sys.argv[2], sys.argv[3]
        if what in ("ctc", "ctc-infer"):
            {"ctc": ctc_train, "ctc-infer": ctc_infer}[what](config(binary, preset, "config-ctc"), preset)
        else:
            {"infer": infer, "train": train, "torchaudio": torchaudio_infer}[what](config(binary, preset), preset)
        return
    only = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    for preset in RUNS:
        if only and only != preset:
            continue
        has_ta = importlib.util.find_spec("torchaudio") is not None   # python3-torchaudio is optional here
        whats = ["infer", "train", "ctc-infer", "ctc"]
        if has_ta and config(binary, preset)["norm"] == "layernorm":
            whats.append("torchaudio")
        for what in whats:   # one process each: its own peak RSS
            subprocess.run([sys.executable, os.path.abspath(__file__), binary, what, preset], check=True)
    ckpt = os.environ.get("BENCH_W2V_CKPT")
    if ckpt:   # the CTC rows on trained weights too, as bench_wav2vec2 checkpoint CKPT runs them
        for what in ["ctc-infer", "ctc"]:
            subprocess.run([sys.executable, os.path.abspath(__file__), binary, what, "wav2vec2-tiny", ckpt], check=True)


if __name__ == "__main__":
    main()
