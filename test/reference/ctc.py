"""PyTorch twin of lib/nn/ctc.c: F.ctc_loss (blank 0, reduction 'none',
zero_infinity) and its gradient w.r.t. log_probs for a given upstream dloss,
over a few sequences of different input and target lengths, one with a
repeated label and one whose alignment is impossible. `make golden` runs it.

Writes testdata/golden/ctc.safetensors, read by test/test_ctc.c. The inputs
are float32 log-probabilities (log_softmax in float32 of random logits); the
loss and the gradient are computed from them in float64 and rounded to
float32. torch's gradient w.r.t. log_probs is exp(logp) − occupancy/y (it
assumes a log_softmax follows); derfseq's is the exact −occupancy/y, so the
test adds dloss·exp(logp) on valid frames of possible alignments.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, CPU)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden",
                   "ctc.safetensors")


def main():
    g = torch.Generator().manual_seed(12)
    B, T, V = 4, 12, 6
    in_lens = torch.tensor([12, 9, 7, 2])
    tgt_lens = torch.tensor([4, 3, 0, 2])
    targets = torch.tensor([1, 2, 2, 3, 4, 5, 1, 3, 3])   # [1,2,2,3] repeat; [4,5,1]; []; [3,3] in 2 frames: impossible
    dloss = torch.tensor([1.0, -0.5, 2.0, 1.5], dtype=torch.float64)
    logits = 2 * torch.randn(B, T, V, generator=g)
    logp = torch.log_softmax(logits, dim=-1)                  # float32, the op's input
    x = logp.double().requires_grad_(True)
    loss = torch.nn.functional.ctc_loss(x.transpose(0, 1), targets, in_lens, tgt_lens, blank=0,
                                        reduction="none", zero_infinity=True)
    (loss * dloss).sum().backward()
    assert loss[3].item() == 0 and x.grad[3].abs().sum().item() == 0, "zero_infinity did not apply"
    T_ = {
        "ctc.logp": logp,
        "ctc.in_lens": in_lens.to(torch.int32),
        "ctc.tgt_lens": tgt_lens.to(torch.int32),
        "ctc.targets": targets.to(torch.int32),
        "ctc.dloss": dloss.float(),
        "ctc.loss": loss.detach().float(),
        "ctc.dlogp_torch": x.grad.float(),
    }
    st.save(OUT, T_, {"generator": "test/reference/ctc.py", "torch": torch.__version__})
    print(f"wrote {os.path.normpath(OUT)} ({len(T_)} tensors)")


if __name__ == "__main__":
    main()
