"""PyTorch twin of bench_ops.c's norm timings: the same shapes and thread
count, so make bench prints derfseq and PyTorch side by side."""
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


def main():
    res = {}
    for name, mod in [("derf", Derf(C)), ("dyt", DyT(C)), ("layernorm", torch.nn.LayerNorm(C)),
                      ("rmsnorm", None)]:
        if mod is None:
            continue
        res[name] = per_element_ns(mod)
        print(f"torch {name:<9} N={N} C={C}  fwd+bwd {res[name]:6.3f} ns/element")
    print(f"torch derf/dyt ratio {res['derf'] / res['dyt']:.2f}  (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    sys.exit(main())
