"""PyTorch twins of the wav2vec2 ops of lib/nn: the attention core
(attention.c, HF Wav2Vec2Attention's math with the finfo.min key-padding mask),
the Gumbel product quantizer (quantizer.c, fairseq GumbelVectorQuantizer /
HF Wav2Vec2GumbelVectorQuantizer in training, with the Gumbel noise given) and
the contrastive loss (contrastive.c, torch.cosine_similarity / kappa, −inf for
a negative equal to the positive, CE summed). `make golden` runs it.

Writes testdata/golden/w2v_ops.safetensors, read by test/test_golden_w2v_ops.c.
As gen_ops.py: float32 inputs, outputs and gradients computed in float64 and
rounded to float32; the same case in float32 must agree with float64 to
AGREE (normwise) or nothing is written. Attention dropout is left out (its mask is
derfseq's counter RNG, not torch's; test_attention.c checks it).

Run with Debian's /usr/bin/python3 (python3-torch 1.13, CPU)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

AGREE = 1e-5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden",
                   "w2v_ops.safetensors")


def agree(a, b):
    """test.h's CHECK_CLOSE measure, normwise: ||a − b|| / ||b|| (an elementwise one is decided by
    whichever gradient entry cancels to near zero: 2e-5 on attention.dv for a 1e-7 normwise error)."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / max(b.norm().item(), 1e-30)).item()


def attention(q, k, v, lens, H, scale):
    """HF Wav2Vec2Attention after the projections: q·scale, additive finfo.min mask on padded keys."""
    B, T, C = q.shape
    Dh = C // H
    qh, kh, vh = (x.view(B, T, H, Dh).transpose(1, 2) for x in (q * scale, k, v))
    s = qh @ kh.transpose(-1, -2)
    pad = torch.arange(T)[None, :] >= lens[:, None]                      # [B, T] keys
    s = s + pad[:, None, None, :].to(s.dtype) * torch.finfo(s.dtype).min
    p = torch.softmax(s, dim=-1)
    return (p @ vh).transpose(1, 2).reshape(B, T, C), p


def perplexity(probs):
    """Σ_g exp(−Σ_v p̄ log(p̄ + 1e-7)), p̄ the mean over rows of probs [N, G, V]."""
    m = probs.mean(dim=0)
    return torch.exp(-torch.sum(m * torch.log(m + 1e-7), dim=-1)).sum()


def quantizer(logits, gumbel, cv, G, V, tau):
    """fairseq's forward in training, F.gumbel_softmax(hard=True) written out with the given noise."""
    N = logits.shape[0]
    x = logits.view(N * G, V)
    k = x.argmax(-1)
    hard = torch.zeros_like(x).scatter_(-1, k.view(-1, 1), 1.0).view(N, G, V)
    code_ppl = perplexity(hard)
    ppl = perplexity(torch.softmax(x.view(N, G, V), dim=-1))
    y_soft = torch.softmax((x + gumbel.view(N * G, V)) / tau, dim=-1)
    idx = y_soft.argmax(-1)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, idx.view(-1, 1), 1.0)
    ret = (y_hard - y_soft.detach() + y_soft).view(N, G * V)
    out = (ret.unsqueeze(-1) * cv.unsqueeze(0)).view(N, G, V, -1).sum(-2).reshape(N, -1)
    return out, ppl, code_ppl, idx.view(N, G)


def contrastive(c, y, neg, kappa):
    """fairseq Wav2Vec2Model.compute_preds + wav2vec_criterion (target 0, reduction sum)."""
    negs = y[neg.long()]                                      # [M, K, D]
    cands = torch.cat([y.unsqueeze(1), negs], dim=1)          # [M, 1+K, D]
    logits = torch.cosine_similarity(c.unsqueeze(1), cands, dim=-1) / kappa
    neg_is_pos = (y.unsqueeze(1) == negs).all(-1)
    logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(neg_is_pos, float("-inf"))], dim=1)
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(c), dtype=torch.long), reduction="sum")
    amax, amin = logits.argmax(-1) == 0, logits.argmin(-1) == 0
    return loss, torch.softmax(logits, dim=-1), (amax & ~amin).sum()


def run(fn, inputs, grads_of, dtype):
    """fn on copies of inputs in dtype; returns (outputs, {name: grad}) for the loss fn builds."""
    xs = {n: t.to(dtype).clone().requires_grad_(n in grads_of) for n, t in inputs.items()}
    outs, loss = fn(xs)
    loss.backward()
    return outs, {n: xs[n].grad for n in grads_of}


def main():
    g = torch.Generator().manual_seed(11)
    T = {}

    def put(name, t):
        T[name] = t.detach().float() if t.dtype.is_floating_point else t.detach().to(torch.int32)

    def case(prefix, fn, inputs, grads_of):
        outs64, g64 = run(fn, inputs, grads_of, torch.float64)
        outs32, g32 = run(fn, inputs, grads_of, torch.float32)
        for n in list(outs64) + list(g64):
            a = outs32.get(n, g32.get(n))
            b = outs64.get(n, g64.get(n))
            if a.dtype.is_floating_point and agree(a, b) > AGREE:
                sys.exit(f"{prefix}.{n}: float32 torch disagrees with float64 by {agree(a, b):.3g}")
            if not a.dtype.is_floating_point and not torch.equal(a, b):
                sys.exit(f"{prefix}.{n}: float32 torch picks other indices than float64")
        for n, t in inputs.items():
            put(f"{prefix}.{n}", t)
        for n, t in outs64.items():
            put(f"{prefix}.{n}", t)
        for n, t in g64.items():
            put(f"{prefix}.d{n}", t)

    # ---- attention: B 2, T 9, H 3, Dh 4, the second sequence padded to 5 keys
    B, Tn, H, Dh = 2, 9, 3, 4
    lens = torch.tensor([9, 5])
    att_in = {n: torch.randn(B, Tn, H * Dh, generator=g) for n in ("q", "k", "v")}
    att_in["dout"] = torch.randn(B, Tn, H * Dh, generator=g)

    def att(x):
        out, p = attention(x["q"], x["k"], x["v"], lens, H, Dh ** -0.5)
        return {"out": out, "probs": p}, (out * x["dout"]).sum()
    case("attention", att, att_in, ("q", "k", "v"))
    put("attention.lens", lens)

    # ---- quantizer: N 8, G 2, V 6, D 3, tau 0.8, logits ~ N(0, 2)
    N, G, V, D, tau = 8, 2, 6, 3, 0.8
    q_in = {
        "logits": 2 * torch.randn(N, G * V, generator=g),
        "gumbel": -torch.log(torch.empty(N, G * V).exponential_(generator=g)),
        "codevectors": torch.rand(G * V, D, generator=g),
        "dout": torch.randn(N, G * D, generator=g),
    }
    dppl = 0.6

    def quant(x):
        out, ppl, cppl, idx = quantizer(x["logits"], x["gumbel"], x["codevectors"], G, V, tau)
        return {"out": out, "ppl": ppl.reshape(1), "code_ppl": cppl.reshape(1), "idx": idx}, \
            (out * x["dout"]).sum() + dppl * ppl
    case("quantizer", quant, q_in, ("logits", "codevectors"))
    put("quantizer.dppl", torch.tensor([dppl]))
    put("quantizer.tau", torch.tensor([tau]))

    # ---- contrastive: M 7, K 5, D 6, kappa 0.1; row 5's negative 2 is row 6, made equal to row 5
    M, K, Dc, kappa = 7, 5, 6, 0.1
    c = torch.randn(M, Dc, generator=g)
    y = torch.randn(M, Dc, generator=g)
    y[6] = y[5]
    j = torch.randint(0, M - 1, (M, K), generator=g)
    neg = j + (j >= torch.arange(M)[:, None]).long()
    neg[5, 2] = 6
    dloss = 0.7

    def con(x):
        loss, probs, correct = contrastive(x["c"], x["y"], neg, kappa)
        return {"loss": loss.reshape(1), "probs": probs, "correct": correct.reshape(1)}, dloss * loss
    case("contrastive", con, {"c": c, "y": y}, ("c", "y"))
    put("contrastive.neg", neg)
    put("contrastive.dloss", torch.tensor([dloss]))
    put("contrastive.kappa", torch.tensor([kappa]))

    # ---- the eps regime of torch 1.13's cosine: ‖c_0‖ = 2e-10 and ‖y_1‖ = 4e-9 lie below eps = 1e-8,
    # each norm is clamped alone (cos = x·y / (max(‖x‖, eps)·max(‖y‖, eps))), and autograd's gradient
    # through the no_grad clamp is y/(n_x n_y) − cos·x/n_x² with the clamped n_x
    Mz, Kz, Dz = 3, 2, 4
    cz = torch.randn(Mz, Dz, generator=g)
    yz = torch.randn(Mz, Dz, generator=g)
    cz[0] *= 2e-10 / cz[0].norm()
    yz[1] *= 4e-9 / yz[1].norm()
    negz = torch.tensor([[1, 2], [2, 0], [0, 1]])

    def conz(x):
        loss, probs, correct = contrastive(x["c"], x["y"], negz, 1.0)
        return {"loss": loss.reshape(1), "probs": probs}, loss
    case("cos_eps", conz, {"c": cz, "y": yz}, ("c", "y"))
    put("cos_eps.neg", negz)

    st.save(OUT, T, {"generator": "test/reference/w2v_ops.py", "torch": torch.__version__})
    print(f"wrote {os.path.normpath(OUT)} ({len(T)} tensors)")


if __name__ == "__main__":
    main()
