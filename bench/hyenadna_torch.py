"""PyTorch twin of bench/bench_models.c: the same presets, batch, length,
thread count and training step (forward, tied-LM cross-entropy, backward,
clipping, AdamW), using the reference model of test/reference/hyenadna.py."""
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import hyenadna  # noqa: E402

PRESETS = {"hyenadna-tiny-1k": (128, 2, 1026), "hyenadna-small-32k": (256, 4, 32770)}


def bench(preset, B=8, L=1024, train_steps=5, infer_steps=10):
    d, n, l_max = PRESETS[preset]
    cfg = {"d_model": d, "n_layer": n, "d_inner": 4 * d, "l_max": l_max, "emb_dim": 5, "filter_order": 64,
           "w": 10.0, "modulation_shift": 0.0, "norm": "derf", "layer_norm_epsilon": 1e-5}
    torch.manual_seed(1)
    model = hyenadna.HyenaDNA(cfg)
    with torch.no_grad():   # the official init's scale (N(0, 0.02)), as derfseq's init
        for name, p in model.named_parameters():
            if p.dim() >= 2 and ".freq" not in name and "short_filter" not in name:
                p.normal_(0.0, 0.02)
    ids = torch.randint(7, 11, (B, L + 1))
    inp, tgt = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4)
    for s in range(train_steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        _, logits = model(inp)
        loss = F.cross_entropy(logits.reshape(-1, 16), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    train = B * L * train_steps / (time.perf_counter() - t0)
    with torch.no_grad():
        model(inp)
        t0 = time.perf_counter()
        for _ in range(infer_steps):
            model(inp)
        infer = B * L * infer_steps / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576.0
    print(f"torch   {preset:<20} B{B} x {L}  train {train:8.0f} tok/s  infer {infer:8.0f} tok/s  "
          f"peak RSS {rss:.2f} GB  (loss {loss.item():.3f})", flush=True)


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    only = sys.argv[1] if len(sys.argv) > 1 else None
    for p in PRESETS:
        if not only or only in p:
            bench(p, train_steps=5 if "tiny" in p else 3, infer_steps=10 if "tiny" in p else 5)


if __name__ == "__main__":
    main()
