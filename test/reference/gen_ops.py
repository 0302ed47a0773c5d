"""PyTorch twins of the single ops in lib/nn (norm family, linear, activations,
cross-entropy, embedding, AdamW, clipping, selective scan); `make golden` runs it.

Writes testdata/golden/ops.safetensors. Every case stores its float32 inputs,
its upstream gradient `<op>.dout`, and the outputs and gradients PyTorch
computes from exactly those inputs in float64, rounded to float32: the exact
answer a float32 implementation should approach. The same case is also run in
float32, and the script refuses to write unless float32 PyTorch agrees with
float64 to AGREE (ACT_AGREE for GELU and Sin, see below), so a
mistake in a twin cannot hide behind float64. test/test_golden_ops.c runs the
C ops on the same inputs.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, CPU)."""
import copy
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (the project's minimal safetensors writer)

# float32 vs float64, measured like test.h's CHECK_CLOSE: per element
# |f32 − f64| / (|f64| + 1e-3·max|f64|), worst over the tensor.
AGREE = 1e-5
# float32 PyTorch itself is only this good for GELU (both forms) and Sin:
# GELU's x·Φ(x) keeps few bits of 1 + erf(x/√2) near x = −4 (4e-5); GELU' =
# Φ(x) + x·φ(x) cancels to 0 at x ≈ −0.75, where the float32 kernels err by
# ~1e-7 against a floor of 1e-3 (1e-4); Sin's phase freq·x ≈ 12 rounds by
# 5e-7 in float32, which dx = dout·freq·cos(phase) carries (2e-5). The float64
# golden has none of these problems.
ACT_AGREE = 2e-4
# and for the selective scan: its gradients sum terms of both signs over the
# 16 state lanes and back through the recurrence (ddt = σ(v)·Σ_n G·(s·a·A + B·x)),
# where float32 PyTorch loses bits: 2e-5 on ddt, 1.6e-5 on dA_log, 1.1e-5 on dCm.
SCAN_AGREE = 5e-5
EPS = 1e-5                       # norms.md: eps of LayerNorm and RMSNorm
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden", "ops.safetensors")


# ---- the modules as the official code writes them (norms.md §0) ----------

class DynamicErf(nn.Module):
    """zlab-princeton/Derf `Dynamic_erf`: y = weight·erf(alpha·x + shift) + bias,
    alpha and shift one scalar each ([1]), weight and bias per channel."""

    def __init__(self, normalized_shape, alpha_init_value=0.5, shift_init_value=0.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1) * alpha_init_value)
        self.shift = nn.Parameter(torch.ones(1) * shift_init_value)
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias


class DynamicTanh(nn.Module):
    """jiachenzhu/DyT `DynamicTanh` (channels-last): y = weight·tanh(alpha·x) + bias."""

    def __init__(self, normalized_shape, alpha_init_value=0.5):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1) * alpha_init_value)
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x) + self.bias


class RMSNorm(nn.Module):
    """mamba_ssm RMSNorm through `rms_norm_ref` (no bias): x·rsqrt(mean(x²)+eps)·weight."""

    def __init__(self, hidden_size, eps=EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Sin(nn.Module):
    """HyenaDNA's implicit-filter activation: sin(freq·x), freq [1, C] over rows."""

    def __init__(self, dim, w=10):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


# ---- running a case twice and keeping the float32 answer -----------------

def rel_err(got, want):
    got, want = got.double().flatten(), want.double().flatten()
    floor = 1e-3 * want.abs().max().item() + 1e-12
    return ((got - want).abs() / (want.abs() + floor)).max().item()


class Golden:
    def __init__(self):
        self.tensors = {}
        self.worst = {}

    def put(self, prefix, inputs, run, agree=AGREE):
        """Stores `inputs` (float32 or int32) and run(float64)'s results,
        rounded to float32, under <prefix>.<name>, after checking that
        run(float32) agrees with them to `agree`."""
        r32, r64 = run(torch.float32), run(torch.float64)
        for name, t in inputs.items():
            assert t.dtype in (torch.float32, torch.int32), f"{prefix}.{name} is {t.dtype}"
            self.tensors[f"{prefix}.{name}"] = t
        for name, t in r64.items():
            assert t.dtype == torch.float64 and r32[name].dtype == torch.float32, f"{prefix}.{name}"
            e = rel_err(r32[name], t)
            assert e <= agree, f"{prefix}.{name}: float32 and float64 PyTorch differ by {e:.3g} > {agree}"
            self.worst[f"{prefix}.{name}"] = e
            self.tensors[f"{prefix}.{name}"] = t.detach().float()


def leaf(t, dt):
    """A fresh leaf copy of t in dtype dt (t itself is never marked for grad)."""
    return t.detach().to(dt).clone().requires_grad_(True)


def module_run(module, x, dout, xname="x"):
    """A run(dtype) for `module` on input x with upstream gradient dout: y,
    d<x>, and d<param> for every parameter under its state-dict name."""
    def run(dt):
        m = copy.deepcopy(module).to(dt)
        xi = leaf(x, dt)
        y = m(xi)
        y.backward(dout.to(dt))
        r = {"y": y.detach(), f"d{xname}": xi.grad}
        r.update({f"d{n}": p.grad for n, p in m.named_parameters()})
        return r
    return run


def with_params(module, **values):
    with torch.no_grad():
        for n, v in values.items():
            getattr(module, n).copy_(v)
    return module


def main():
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(2024)
    torch.use_deterministic_algorithms(True)
    g = Golden()

    # ---- the norm family: parameters away from their init (α 0.5, s 0, γ 1, β 0);
    # C not a multiple of 16 so the kernels' vector tails are exercised.
    def norm_case(prefix, module, N, C, x):
        dout = torch.randn(N, C)
        params = {n: p.detach().clone() for n, p in module.named_parameters()}
        g.put(prefix, {"x": x, **params, "dout": dout}, module_run(module, x, dout))

    N, C = 12, 40
    norm_case("derf", with_params(DynamicErf(C), alpha=torch.tensor([0.7]), shift=torch.tensor([0.1]),
                                  weight=1 + 0.5 * torch.randn(C), bias=0.3 * torch.randn(C)),
              N, C, 1.5 * torch.randn(N, C))
    N, C = 10, 36
    norm_case("dyt", with_params(DynamicTanh(C), alpha=torch.tensor([0.8]),
                                 weight=1 + 0.5 * torch.randn(C), bias=0.3 * torch.randn(C)),
              N, C, 1.5 * torch.randn(N, C))
    # rows with a mean away from 0 and unequal spread, so both statistics matter
    N, C = 8, 45
    norm_case("layernorm", with_params(nn.LayerNorm(C, eps=EPS), weight=1 + 0.5 * torch.randn(C),
                                       bias=0.3 * torch.randn(C)),
              N, C, torch.randn(N, C) * torch.rand(N, 1) * 3 + torch.randn(N, 1))
    N, C = 16, 28
    norm_case("rmsnorm", with_params(RMSNorm(C), weight=1 + 0.5 * torch.randn(C)),
              N, C, torch.randn(N, C) * (0.5 + torch.rand(N, 1)))

    # ---- linear: PyTorch's [O, I] weight layout
    N, I, O = 7, 33, 20
    lin = nn.Linear(I, O)   # default init: weight and bias ~ U(±1/√I)
    x, dout = torch.randn(N, I), torch.randn(N, O)
    g.put("linear", {"x": x, "weight": lin.weight.detach().clone(), "bias": lin.bias.detach().clone(),
                     "dout": dout}, module_run(lin, x, dout))

    # ---- activations: inputs over [−4, 4], the tails included (|x| < 4
    # covers what a normed MLP sees; ACT_AGREE says why float32 is looser here)
    N, C = 9, 24
    for prefix, fn, agree in [("gelu", lambda t: F.gelu(t), ACT_AGREE),
                              ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"), ACT_AGREE),
                              ("silu", F.silu, AGREE)]:
        x, dout = 8 * torch.rand(N, C) - 4, torch.randn(N, C)

        def act_run(dt, fn=fn, x=x, dout=dout):
            xi = leaf(x, dt)
            y = fn(xi)
            y.backward(dout.to(dt))
            return {"y": y.detach(), "dx": xi.grad}
        g.put(prefix, {"x": x, "dout": dout}, act_run, agree=agree)

    # HyenaDNA's Sin: freq near its init w = 10 per channel, x the size of the
    # filter MLP's hidden values, phases up to 12.
    N, C = 8, 32
    sin = with_params(Sin(C), freq=8 + 4 * torch.rand(1, C))
    x, dout = 2 * torch.rand(N, C) - 1, torch.randn(N, C)
    g.put("sin", {"x": x, "freq": sin.freq.detach().clone(), "dout": dout}, module_run(sin, x, dout),
          agree=ACT_AGREE)

    # ---- embedding: ids with repeats, so dtable rows sum several dout rows
    V, C = 16, 24
    table = torch.randn(V, C)
    ids = torch.tensor([3, 7, 3, 0, 15, 7, 3, 9, 12, 1], dtype=torch.int32)
    dout = torch.randn(len(ids), C)

    def emb_run(dt):
        tb = leaf(table, dt)
        y = F.embedding(ids.long(), tb)
        y.backward(dout.to(dt))
        return {"y": y.detach(), "dtable": tb.grad}
    g.put("embedding", {"table": table, "ids": ids, "dout": dout}, emb_run)

    # ---- cross-entropy, mean over the rows whose target is not ignore_index 4
    N, V = 12, 16
    logits = 3 * torch.randn(N, V)
    targets = torch.tensor([7, 4, 0, 15, 4, 9, 4, 2, 11, 7, 4, 5], dtype=torch.int32)

    def ce_run(dt):
        lg = leaf(logits, dt)
        loss = F.cross_entropy(lg, targets.long(), ignore_index=4, reduction="mean")
        loss.backward()
        return {"loss": loss.detach().reshape(1), "dlogits": lg.grad}
    g.put("ce", {"logits": logits, "targets": targets, "ignore_index": torch.tensor([4], dtype=torch.int32)}, ce_run)

    # ---- AdamW over two groups (weight decay 0.1 and 0): 5 steps with stored
    # gradients. Element 0 of the no-decay gradient is ~1e-6, where eps = 1e-8
    # beside sqrt(v̂) ≈ 1e-6 is a 1% effect, so eps must sit where PyTorch puts it.
    p_decay, p_nodecay = torch.randn(24), torch.randn(16)
    gd = [torch.randn(24) for _ in range(5)]
    gn = [torch.randn(16) for _ in range(5)]
    for t in gn:
        t[0] *= 1e-6

    def adamw_run(dt):
        pd = leaf(p_decay, dt)
        pn = leaf(p_nodecay, dt)
        opt = torch.optim.AdamW([{"params": [pd], "weight_decay": 0.1}, {"params": [pn], "weight_decay": 0.0}],
                                lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
        r = {}
        for k in range(5):
            pd.grad, pn.grad = gd[k].to(dt).clone(), gn[k].to(dt).clone()
            opt.step()
            r[f"after{k}_decay"], r[f"after{k}_nodecay"] = pd.detach().clone(), pn.detach().clone()
        return r
    adamw_in = {"p_decay": p_decay, "p_nodecay": p_nodecay}
    for k in range(5):
        adamw_in[f"g{k}_decay"], adamw_in[f"g{k}_nodecay"] = gd[k], gn[k]
    g.put("adamw", adamw_in, adamw_run)

    # ---- clip_grad_norm_ to 1.0 over both tensors: one global L2 norm (~6 here)
    c_decay, c_nodecay = torch.randn(24), torch.randn(16)

    def clip_run(dt):
        a, b = torch.zeros(24, dtype=dt, requires_grad=True), torch.zeros(16, dtype=dt, requires_grad=True)
        a.grad, b.grad = c_decay.to(dt).clone(), c_nodecay.to(dt).clone()
        norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
        return {"norm": norm.detach().reshape(1), "after_decay": a.grad, "after_nodecay": b.grad}
    g.put("clip", {"g_decay": c_decay, "g_nodecay": c_nodecay}, clip_run)
    assert g.tensors["clip.norm"].item() > 1.0, "the clip case must actually clip"

    # ---- Mamba's selective scan (caduceus.md §2.2), the official
    # selective_scan_ref math with delta_softplus, the D skip and the SiLU(z)
    # gate, in derfseq's row layout: u, dt, z [B, L, E]; Bm, Cm [B, L, N].
    # A_log at the S4D-real init ln(1..N) plus noise; dt_bias the inverse
    # softplus of 0.001..0.1; dt mostly small, every 7th large, so dt + dt_bias
    # falls on both sides of softplus's threshold 20. Added last, so the
    # cases above keep their random draws.
    B, L, E, N = 2, 37, 12, 16
    su, sz = 2 * torch.rand(B, L, E) - 1, 6 * torch.rand(B, L, E) - 3
    sdt = 8 * torch.rand(B, L, E) - 2
    sdt.view(-1)[::7] = 24 + 4 * torch.rand(sdt.view(-1)[::7].shape)
    sB, sC = 2 * torch.rand(B, L, N) - 1, 2 * torch.rand(B, L, N) - 1
    sbias, sD = 5 * torch.rand(E) - 7, 0.5 + torch.rand(E)
    sAlog = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1) + 0.2 * torch.rand(E, N) - 0.1
    sdout = torch.randn(B, L, E)

    def scan_run(dt):
        u, delta, dbias, A_log, Bm, Cm, D, z = (leaf(t, dt) for t in (su, sdt, sbias, sAlog, sB, sC, sD, sz))
        A = -torch.exp(A_log)
        d = F.softplus(delta + dbias)                            # threshold 20, as PyTorch's default
        dA = torch.exp(d[..., None] * A)                         # [B, L, E, N]
        dBu = d[..., None] * Bm[:, :, None, :] * u[..., None]
        s = torch.zeros(B, E, N, dtype=dt)
        ys = []
        for t in range(L):
            s = dA[:, t] * s + dBu[:, t]
            ys.append((s * Cm[:, t, None, :]).sum(-1))
        y = (torch.stack(ys, 1) + u * D) * F.silu(z)
        y.backward(sdout.to(dt))
        return {"y": y.detach(), "du": u.grad, "ddt": delta.grad, "ddt_bias": dbias.grad, "dA_log": A_log.grad,
                "dBm": Bm.grad, "dCm": Cm.grad, "dD": D.grad, "dz": z.grad}
    g.put("scan", {"u": su, "dt": sdt, "dt_bias": sbias, "A_log": sAlog, "Bm": sB, "Cm": sC, "D": sD, "z": sz,
                   "dout": sdout}, scan_run, agree=SCAN_AGREE)

    st.save(OUT, g.tensors, {"generator": "test/reference/gen_ops.py", "torch": torch.__version__,
                             "seed": "2024",
                             "agree_f32_f64": f"{AGREE} ({ACT_AGREE} for gelu, gelu_tanh, sin; {SCAN_AGREE} for scan)"})
    # read it back: what the C test will see is what was computed
    back, meta = st.load(OUT)
    assert meta["generator"] == "test/reference/gen_ops.py"
    for k, v in g.tensors.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k
    print(f"{os.path.normpath(OUT)}: {len(g.tensors)} tensors, {os.path.getsize(OUT)} bytes")
    if "-v" in sys.argv[1:]:
        for k, e in g.worst.items():
            print(f"  {k:28s} float32 vs float64 {e:.2e}")


if __name__ == "__main__":
    main()
