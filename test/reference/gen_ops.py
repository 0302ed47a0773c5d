"""PyTorch twins of the single ops in lib/nn (norm family, linear,
cross-entropy, activations, embedding, AdamW, clipping), run by `make golden`.

Writes testdata/golden/ops.safetensors: for every case the inputs, and the
float64 outputs and gradients for a fixed upstream gradient. The C test
(test/test_golden_ops.c) runs the C ops on the same inputs."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

G = torch.Generator().manual_seed(2024)


def rand(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, generator=G, dtype=torch.float64) * (hi - lo) + lo).float()


def grads(out, fn, names, inputs, dout):
    """Runs fn on float64 copies of inputs, backprops dout, stores all."""
    xs = [t.double().requires_grad_(True) for t in inputs]
    y = fn(*xs)
    y.backward(dout.double())
    for n, t in zip(names, inputs):
        out[f"{n}"] = t
    out[f"{names[0].split('.')[0]}.y"] = y.detach().float()
    for n, x in zip(names, xs):
        out[f"{n.split('.')[0]}.d{n.split('.')[1]}"] = x.grad.float()


def main():
    out = {}
    N, C = 12, 40
    x, dy = rand(N, C, lo=-3, hi=3), rand(N, C)
    w, b = rand(C, lo=0.5, hi=1.5), rand(C, lo=-0.5, hi=0.5)
    alpha, shift = torch.tensor([0.7]), torch.tensor([0.1])
    out["norm.dy"] = dy
    grads(out, lambda x, a, s, w, b: w * torch.erf(a * x + s) + b,
          ["derf.x", "derf.alpha", "derf.shift", "derf.weight", "derf.bias"], [x, alpha, shift, w, b], dy)
    grads(out, lambda x, a, w, b: w * torch.tanh(a * x) + b,
          ["dyt.x", "dyt.alpha", "dyt.weight", "dyt.bias"], [x, alpha, w, b], dy)
    grads(out, lambda x, w, b: F.layer_norm(x, (C,), w, b, 1e-5),
          ["layernorm.x", "layernorm.weight", "layernorm.bias"], [x, w, b], dy)
    grads(out, lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w,   # mamba rms_norm_ref
          ["rmsnorm.x", "rmsnorm.weight"], [x, w], dy)

    Nl, I, O = 7, 33, 20
    out["linear.dy"] = dyl = rand(Nl, O)
    grads(out, lambda x, w, b: F.linear(x, w, b), ["linear.x", "linear.weight", "linear.bias"],
          [rand(Nl, I), rand(O, I), rand(O)], dyl)

    out["act.dy"] = dya = rand(9, 16)
    xa = rand(9, 16, lo=-5, hi=5)
    grads(out, lambda x: F.gelu(x), ["gelu.x"], [xa], dya)
    grads(out, lambda x: F.gelu(x, approximate="tanh"), ["gelutanh.x"], [xa], dya)
    grads(out, lambda x: F.silu(x), ["silu.x"], [xa], dya)
    grads(out, lambda x, f: torch.sin(f * x), ["sin.x", "sin.freq"], [xa, rand(1, 16, lo=5, hi=10)], dya)

    logits = rand(12, 16, lo=-6, hi=6)
    tgt = torch.tensor([7, 8, 4, 9, 10, 11, 4, 0, 1, 15, 7, 4], dtype=torch.int32)
    lg = logits.double().requires_grad_(True)
    loss = F.cross_entropy(lg, tgt.long(), ignore_index=4)
    loss.backward()
    out.update({"ce.logits": logits, "ce.targets": tgt, "ce.loss": loss.detach().float().reshape(1),
                "ce.dlogits": lg.grad.float()})

    table, ids = rand(16, 8), torch.tensor([7, 8, 7, 7, 11, 0, 15, 9], dtype=torch.int32)
    tb = table.double().requires_grad_(True)
    e = F.embedding(ids.long(), tb)
    out["embedding.dy"] = dye = rand(8, 8)
    e.backward(dye.double())
    out.update({"embedding.table": table, "embedding.ids": ids, "embedding.y": e.detach().float(),
                "embedding.dtable": tb.grad.float()})

    # AdamW over two groups (decay 0.1 and 0), 5 steps with stored gradients
    pd, pn = rand(24).double().requires_grad_(True), rand(16).double().requires_grad_(True)
    out["adamw.p_decay"], out["adamw.p_nodecay"] = pd.detach().float(), pn.detach().float()
    opt = torch.optim.AdamW([{"params": [pd], "weight_decay": 0.1}, {"params": [pn], "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    for k in range(5):
        gd, gn = rand(24), rand(16)
        out[f"adamw.g{k}_decay"], out[f"adamw.g{k}_nodecay"] = gd, gn
        pd.grad, pn.grad = gd.double(), gn.double()
        opt.step()
        out[f"adamw.after{k}_decay"], out[f"adamw.after{k}_nodecay"] = pd.detach().float(), pn.detach().float()

    g1, g2 = rand(24, lo=-2, hi=2), rand(16, lo=-2, hi=2)
    p1, p2 = torch.zeros(24, dtype=torch.float64, requires_grad=True), torch.zeros(16, dtype=torch.float64,
                                                                                   requires_grad=True)
    p1.grad, p2.grad = g1.double(), g2.double()
    norm = torch.nn.utils.clip_grad_norm_([p1, p2], 1.0)
    out.update({"clip.g1": g1, "clip.g2": g2, "clip.norm": norm.float().reshape(1), "clip.after1": p1.grad.float(),
                "clip.after2": p2.grad.float()})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden", "ops.safetensors")
    st.save(path, out, {"generator": "test/reference/gen_ops.py", "torch": torch.__version__})
    print(f"{os.path.normpath(path)}: {len(out)} tensors")


if __name__ == "__main__":
    main()
