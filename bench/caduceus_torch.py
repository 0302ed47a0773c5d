"""PyTorch twin of bench/bench_models.c for Caduceus: the same presets,
thread count and training step (forward, MLM cross-entropy on 15% of the
positions, backward, clipping, AdamW) with test/reference/caduceus.py, whose
scan is the official CPU path (mamba_ssm's selective_scan_ref, a Python loop
over positions). That path is slow enough that a B8 x 1024 training step
takes minutes, so the twin runs B1 x 256 for training and B1 x 1024 for
inference; tokens/s barely depends on the shape on this path (it is bound
by the per-position loop), and the ratio printed by bench/run.sh says so."""
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import caduceus  # noqa: E402

PRESETS = {"caduceus-ps-1k": (118, 4, True), "caduceus-ph-1k": (118, 4, False)}


def config(d, n, rcps):
    c = caduceus.small_config(rcps, False, "derf")
    c.update({"d_model": d, "n_layer": n, "dt_rank": (d + 15) // 16, "max_len": 1024})
    return c


def bench(preset, B_train=1, L_train=256, B_inf=1, L_inf=1024, train_steps=1):
    d, n, rcps = PRESETS[preset]
    torch.manual_seed(1)
    model = caduceus.Caduceus(config(d, n, rcps))
    ids = torch.randint(7, 11, (B_train, L_train))
    sel = torch.rand(B_train, L_train) < 0.15
    tgt = torch.where(sel, ids, torch.full_like(ids, -100))
    inp = torch.where(sel, torch.full_like(ids, 3), ids)
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
    train = B_train * L_train * train_steps / (time.perf_counter() - t0)
    x = torch.randint(7, 11, (B_inf, L_inf))
    with torch.no_grad():
        t0 = time.perf_counter()
        model(x)
        infer = B_inf * L_inf / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576.0
    print(f"torch   {preset:<20} B{B_train} x {L_train} (train), B{B_inf} x {L_inf} (infer)  train {train:8.0f} tok/s  "
          f"infer {infer:8.0f} tok/s  peak RSS {rss:.2f} GB  (loss {loss.item():.3f})", flush=True)


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    only = sys.argv[1] if len(sys.argv) > 1 else None
    for p in PRESETS:
        if not only or only in p:
            bench(p)


if __name__ == "__main__":
    main()
