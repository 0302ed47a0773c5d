"""PyTorch twin of bench_ops.c's norm and selective-scan timings: the same
shapes and thread count, so make bench prints derfseq and PyTorch side by
side. The scan is mamba's selective_scan_ref (the official CPU path: a Python
loop over time); `ops_torch.py scan` runs only that."""
import os
import sys
import time

import torch

N, C = 8192, 256
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


class Derf(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.full((1,), 0.5))
        self.shift = torch.nn.Parameter(torch.zeros(1))
        self.weight = torch.nn.Parameter(torch.ones(c))
        self.bias = torch.nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias


class DyT(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.full((1,), 0.5))
        self.weight = torch.nn.Parameter(torch.ones(c))
        self.bias = torch.nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x) + self.bias


def per_element_ns(mod):
    x = (torch.rand(N, C) * 4 - 2).requires_grad_(True)
    dy = torch.rand(N, C)
    mod(x).backward(dy)
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        mod(x).backward(dy)
        k += 1
    return (time.perf_counter() - t0) / k / (N * C) * 1e9


def selective_scan_ref(u, dt, dt_bias, A_log, Bm, Cm, D, z):
    """caduceus.md §2.2 in derfseq's row layout: u, dt, z [B, L, E]; Bm, Cm [B, L, N]."""
    A = -torch.exp(A_log)
    d = torch.nn.functional.softplus(dt + dt_bias)
    dA = torch.exp(d[..., None] * A)
    dBu = d[..., None] * Bm[:, :, None, :] * u[..., None]
    s = torch.zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        s = dA[:, t] * s + dBu[:, t]
        ys.append((s * Cm[:, t, None, :]).sum(-1))
    return (torch.stack(ys, 1) + u * D) * torch.nn.functional.silu(z)


def bench_scan(B, L, E, N):
    u, dt, z = (torch.rand(B, L, E) * 4 - 2 for _ in range(3))
    Bm, Cm = torch.rand(B, L, N) * 4 - 2, torch.rand(B, L, N) * 4 - 2
    dt_bias, D = -4.6 + torch.rand(E) - 0.5, torch.rand(E)
    A_log = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1)
    args = [u, dt, dt_bias, A_log, Bm, Cm, D, z]

    def timed(fn):
        fn()
        k, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.5:
            fn()
            k += 1
        return (time.perf_counter() - t0) / k

    def fwd():
        with torch.no_grad():
            selective_scan_ref(*args)
    # forward only: autograd through the reference's per-step indexing
    # (dA[:, t]) materialises a full [B, L, E, N] zero gradient at every step,
    # so one backward at this shape runs for many minutes
    tf = timed(fwd)
    print(f"torch scan B={B} L={L} E={E} N={N}  fwd {B * L / tf:8.0f} rows/s  (selective_scan_ref, no_grad)")


def main():
    if sys.argv[1:] == ["scan"]:
        bench_scan(16, 1024, 236, 16)
        return 0
    res = {}
    for name, mod in [("derf", Derf(C)), ("dyt", DyT(C)), ("layernorm", torch.nn.LayerNorm(C)),
                      ("rmsnorm", None)]:
        if mod is None:
            continue
        res[name] = per_element_ns(mod)
        print(f"torch {name:<9} N={N} C={C}  fwd+bwd {res[name]:6.3f} ns/element")
    print(f"torch derf/dyt ratio {res['derf'] / res['dyt']:.2f}  (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    bench_scan(16, 1024, 236, 16)


if __name__ == "__main__":
    sys.exit(main())
