"""PyTorch twin of models/wav2vec2.c, written from ../shared/spec/wav2vec2.md
(§3.1-3.9), norms.md §0/§0.2 and the interface facts of ../notes/wav2vec2.md,
with the HF state-dict names of Wav2Vec2ForPreTraining (`wav2vec2.` prefix on
the encoder parts; `quantizer.*`, `project_hid.*`, `project_q.*` without).

Semantics derfseq fixes (the facts file) and this twin follows:
* the conv stack runs per utterance at its own length (GroupNorm never sees
  padding); frames T_b come from the conv length formula of n_samples_b;
* normalize_audio: (x − mean) / sqrt(var + 1e-7) per utterance over its own
  samples, biased var (HF Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm);
* the encoder runs on [B, T_max] with key padding, padded frames zeroed
  before the pos conv; the pos conv's weight norm is written out here
  (w = g·v/‖v‖ per kernel tap, dim 2), not torch's weight_norm hook;
* pretraining is fairseq's: features_pen = mean(features²) over the valid
  (b, t, c) of the raw conv output; the quantizer sees LN_feat(features) at
  the M masked frames only, rows in (b, t) order, with GIVEN Gumbel noise
  (hard, straight-through); contrastive loss with GIVEN negatives, −inf for a
  negative equal to its positive; loss = (L_m + w_d·L_d·M + w_p·pen·M) / M;
  feature_grad_mult scales the gradient into the conv stack.
Derf/DyT replace only LN_enc, LN_attn and LN_ffn (norms.md §0.2); the conv
GroupNorm/LayerNorms and the feature LayerNorm stay.

The CTC head (spec §3.8) follows HF Wav2Vec2ForCTC: lm_head(Dropout(final_dropout)
(hidden)), log_softmax in float32 (float64 in the float64 twin), F.ctc_loss with
blank 0, reduction 'none' and zero_infinity; channel masking as HF's
_mask_hidden_states (after the time mask, the masked channels of every frame
set to 0); GradMultiply(feature_grad_mult) on the conv features as fairseq
(0: the frozen feature encoder of fine-tuning, no conv gradient).

Run by `make golden`: writes testdata/golden/wav2vec2_{postln_layernorm,
preln_derf}.safetensors and wav2vec2_tiny_ctc.safetensors (see
testdata/golden/README.md). Before writing, it checks the twin against
torchaudio 0.13's independent wav2vec2 components (feature extractor and
encoder, LayerNorm variants of both configs; the CTC logits against
torchaudio's aux head), that an utterance's results do not depend on the
batch it is padded into, and that float32 agrees with float64. The CTC golden
reads testdata/wav2vec2_tiny.safetensors and the tiny WAVs, which
check_convert_wav2vec2.py writes (make golden runs it first, in name order).
Regenerate by hand: /usr/bin/python3 test/reference/wav2vec2.py

check_convert_wav2vec2.py imports it.
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (the project's minimal safetensors writer)
from hyenadna import make_norm  # noqa: E402  (the norm family of norms.md §0, one definition)

AUDIO_NORM_EPS = 1e-7   # HF Wav2Vec2FeatureExtractor; fairseq's F.layer_norm(wav) would use 1e-5


def small_config(norm="layernorm", stable=False, feat_norm="group", conv_bias=False, normalize=False):
    """The derfseq config JSON (../notes/wav2vec2.md keys) of the golden model."""
    return {"arch": "wav2vec2", "preset": "golden", "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 64, "conv_dim": [16] * 7,
            "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": conv_bias,
            "feat_extract_norm": feat_norm, "do_stable_layer_norm": stable, "num_conv_pos_embeddings": 8,
            "num_conv_pos_embedding_groups": 4, "layer_norm_eps": 1e-5, "hidden_dropout": 0.0,
            "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0,
            "feat_quantizer_dropout": 0.0, "layerdrop": 0.0, "mask_time_prob": 0.65, "mask_time_length": 2,
            "mask_time_min_masks": 2, "num_codevectors_per_group": 8, "num_codevector_groups": 2,
            "codevector_dim": 16, "proj_codevector_dim": 16, "num_negatives": 5,
            "contrastive_logits_temperature": 0.1, "diversity_loss_weight": 0.1, "feature_grad_mult": 0.1,
            "feature_penalty_weight": 10.0, "gumbel_temperature": [2.0, 0.5, 0.999995], "norm": norm,
            "alpha_init": 0.5, "normalize_audio": normalize, "vocab_size": 32}


def conv_lengths(cfg, n):
    """Frames of the conv stack for n samples: floor((L − k)/s) + 1 per layer (0 if too short)."""
    for k, s in zip(cfg["conv_kernel"], cfg["conv_stride"]):
        n = (n - k) // s + 1 if n >= k else 0
    return n


class GradMultiply(torch.autograd.Function):
    """fairseq GradMultiply: identity forward, gradient × scale."""
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * ctx.scale, None


# ---- feature encoder (spec §3.1) -----------------------------------------
class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k, s, bias, norm):
        super().__init__()
        self.stride = s
        self.conv = nn.Conv1d(cin, cout, k, stride=s, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)          # fairseq make_conv
        self.norm_kind = norm                               # None | "group" | "layer"
        if norm == "group":
            self.layer_norm = nn.GroupNorm(cout, cout, eps=1e-5, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(cout, eps=1e-5)

    def forward(self, x):                                   # [1, Cin, L] -> [1, Cout, L']
        x = self.conv(x)
        if self.norm_kind == "group":
            x = self.layer_norm(x)
        elif self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)


class FeatureExtractor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        layers, cin = [], 1
        for i, (c, k, s) in enumerate(zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"])):
            norm = "layer" if cfg["feat_extract_norm"] == "layer" else ("group" if i == 0 else None)
            layers.append(ConvLayer(cin, c, k, s, cfg["conv_bias"], norm))
            cin = c
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, wav):                                 # [L] -> [T, C]
        x = wav.reshape(1, 1, -1)
        for layer in self.conv_layers:
            x = layer(x)
        return x[0].t()


class FeatureProjection(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg["conv_dim"][-1], eps=cfg["layer_norm_eps"])
        self.projection = nn.Linear(cfg["conv_dim"][-1], cfg["hidden_size"])   # PyTorch default init


# ---- positional conv embedding (spec §3.4) --------------------------------
class WeightNormConv(nn.Module):
    """Conv1d with weight norm over dim 2: weight[o,i,k] = g[k]·v[o,i,k]/‖v[:,:,k]‖."""
    def __init__(self, h, k, groups):
        super().__init__()
        self.k, self.groups = k, groups
        w = torch.randn(h, h // groups, k) * math.sqrt(4.0 / (k * h))   # fairseq make_conv_pos
        self.weight_v = nn.Parameter(w.clone())
        self.weight_g = nn.Parameter(w.pow(2).sum(dim=(0, 1), keepdim=True).sqrt())
        self.bias = nn.Parameter(torch.zeros(h))

    def weight(self):
        return self.weight_g * self.weight_v / self.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()

    def forward(self, x):                                   # [B, H, T] -> [B, H, T + 1 − K%2]
        return F.conv1d(x, self.weight(), self.bias, padding=self.k // 2, groups=self.groups)


class PosConvEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv = WeightNormConv(cfg["hidden_size"], cfg["num_conv_pos_embeddings"],
                                   cfg["num_conv_pos_embedding_groups"])
        self.remove = 1 if cfg["num_conv_pos_embeddings"] % 2 == 0 else 0

    def forward(self, x):                                   # [B, T, H] -> [B, T, H]
        y = self.conv(x.transpose(1, 2))
        if self.remove:
            y = y[..., :-self.remove]                       # SamePad
        return F.gelu(y).transpose(1, 2)


# ---- transformer encoder (spec §3.5) --------------------------------------
def bert_linear(i, o):
    lin = nn.Linear(i, o)
    nn.init.normal_(lin.weight, 0.0, 0.02)                  # init_bert_params
    nn.init.zeros_(lin.bias)
    return lin


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (bert_linear(h, h) for _ in range(4))

    def forward(self, x, lens):
        B, T, H = x.shape
        dh = H // self.heads
        split = lambda t: t.view(B, T, self.heads, dh).transpose(1, 2)   # noqa: E731
        q = split(self.q_proj(x) * dh ** -0.5)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        s = q @ k.transpose(-1, -2)                          # [B, heads, T, T]
        pad = torch.arange(T)[None, :] >= lens[:, None]      # [B, T] keys
        p = torch.softmax(s.masked_fill(pad[:, None, None, :], float("-inf")), dim=-1)
        return self.out_proj((p @ v).transpose(1, 2).reshape(B, T, H))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.intermediate_dense = bert_linear(cfg["hidden_size"], cfg["intermediate_size"])
        self.output_dense = bert_linear(cfg["intermediate_size"], cfg["hidden_size"])

    def forward(self, x):
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stable = cfg["do_stable_layer_norm"]
        self.attention = Attention(cfg)
        self.layer_norm = make_norm(cfg["norm"], cfg["hidden_size"], cfg["layer_norm_eps"])
        self.feed_forward = FeedForward(cfg)
        self.final_layer_norm = make_norm(cfg["norm"], cfg["hidden_size"], cfg["layer_norm_eps"])

    def forward(self, x, lens):
        if self.stable:                                     # pre-LN
            x = x + self.attention(self.layer_norm(x), lens)
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.attention(x, lens))    # post-LN
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stable = cfg["do_stable_layer_norm"]
        self.pos_conv_embed = PosConvEmbed(cfg)
        self.layer_norm = make_norm(cfg["norm"], cfg["hidden_size"], cfg["layer_norm_eps"])
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, x, lens):                             # x [B, T, H], padded rows already 0
        x = x + self.pos_conv_embed(x)
        if not self.stable:
            x = self.layer_norm(x)
        for layer in self.layers:
            x = layer(x, lens)
        return self.layer_norm(x) if self.stable else x


class Wav2Vec2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = FeatureExtractor(cfg)
        self.feature_projection = FeatureProjection(cfg)
        self.masked_spec_embed = nn.Parameter(torch.rand(cfg["hidden_size"]))   # U(0, 1)
        self.encoder = Encoder(cfg)

    def features(self, audio, n_samples):
        """Raw conv output per utterance at its own length: [B, T_max, C] (padded rows 0), lens [B]."""
        feats, lens = [], []
        for b in range(audio.shape[0]):
            wav = audio[b, :int(n_samples[b])]
            if self.cfg["normalize_audio"]:
                wav = (wav - wav.mean()) / torch.sqrt(wav.var(unbiased=False) + AUDIO_NORM_EPS)
            f = self.feature_extractor(wav)
            assert f.shape[0] == conv_lengths(self.cfg, int(n_samples[b]))
            feats.append(f)
            lens.append(f.shape[0])
        T = max(lens)
        out = torch.stack([F.pad(f, (0, 0, 0, T - f.shape[0])) for f in feats])
        return out, torch.tensor(lens)

    def encode(self, feats, lens, mask=None, cmask=None):
        """feats [B, T, C] -> (hidden [B, T, H] with padded rows 0, LN_feat(feats)). mask [B, T]
        (bool) replaces frames by masked_spec_embed; then cmask [B, H] (bool) zeroes channels in
        every frame, as HF's _mask_hidden_states (mask_feature_indices expanded over time)."""
        T = feats.shape[1]
        valid = (torch.arange(T)[None, :] < lens[:, None])[..., None]
        norm_feats = self.feature_projection.layer_norm(feats)
        x = self.feature_projection.projection(norm_feats)
        if mask is not None:
            x = torch.where(mask[..., None], self.masked_spec_embed.expand_as(x), x)
        if cmask is not None:
            x = x.masked_fill(cmask[:, None, :], 0.0)
        x = self.encoder(x * valid, lens)
        return x * valid, norm_feats

    def forward(self, audio, n_samples):
        """Eval-mode embedding: hidden states [B, T, H] (padded rows 0) and lens."""
        feats, lens = self.features(audio, n_samples)
        return self.encode(feats, lens)[0], lens


# ---- quantizer, contrastive loss (spec §3.6-3.7) ---------------------------
class Quantizer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.G, self.V = cfg["num_codevector_groups"], cfg["num_codevectors_per_group"]
        self.codevectors = nn.Parameter(torch.rand(1, self.G * self.V, cfg["codevector_dim"] // self.G))
        self.weight_proj = nn.Linear(cfg["conv_dim"][-1], self.G * self.V)
        nn.init.normal_(self.weight_proj.weight, 0.0, 1.0)
        nn.init.zeros_(self.weight_proj.bias)

    def forward(self, x, gumbel, tau):
        """x [M, C] -> (quantized [M, G·D], codes [M, G], prob_perplexity, code_perplexity)."""
        M = x.shape[0]
        logits = self.weight_proj(x).view(M, self.G, self.V)
        noisy = logits + gumbel.view(M, self.G, self.V).to(logits.dtype)
        codes = noisy.argmax(-1)
        soft = torch.softmax(noisy / tau, dim=-1)
        cv = self.codevectors.view(self.G, self.V, -1)
        # straight-through: the forward value is exactly the selected rows (hard + soft − soft in
        # floating point is not exactly 1, and would break the exact neg == pos test); the gradient
        # reaches soft through the zero-valued term, d soft = dout_g · codevectors_g^T
        q = cv[torch.arange(self.G)[None, :], codes] + torch.einsum("mgv,gvd->mgd", soft - soft.detach(), cv)
        q = q.reshape(M, -1)
        ppl = lambda p: torch.exp(-(p * torch.log(p + 1e-7)).sum(-1)).sum()   # noqa: E731
        # fairseq's code_perplexity counts the NOISE-FREE argmax (`k = x.max(-1)` is taken before the
        # Gumbel draw, gumbel_vector_quantizer.py), not the codes the forward selects
        clean = F.one_hot(logits.argmax(-1), self.V).to(soft.dtype)
        return q, codes, ppl(torch.softmax(logits, dim=-1).mean(0)), ppl(clean.mean(0)).detach()


def contrastive(c, y, neg, kappa):
    """Σ_m CE over [positive, negatives]; cos/kappa, −inf where a negative equals the positive."""
    cands = torch.cat([y[:, None, :], y[neg]], dim=1)        # [M, 1+K, D]
    logits = F.cosine_similarity(c[:, None, :], cands, dim=-1, eps=1e-8) / kappa
    neg_is_pos = (y[neg] == y[:, None, :]).all(-1)
    logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(neg_is_pos, float("-inf"))], dim=1)
    target = torch.zeros(c.shape[0], dtype=torch.long)
    return F.cross_entropy(logits, target, reduction="sum"), int(neg_is_pos.sum())


class Wav2Vec2ForPreTraining(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wav2vec2 = Wav2Vec2Model(cfg)
        self.quantizer = Quantizer(cfg)
        self.project_hid = nn.Linear(cfg["hidden_size"], cfg["proj_codevector_dim"])    # PyTorch default
        self.project_q = nn.Linear(cfg["codevector_dim"], cfg["proj_codevector_dim"])   # PyTorch default

    def pretrain(self, audio, n_samples, mask, negatives, gumbel, tau):
        """fairseq pretraining loss (../notes/wav2vec2.md) with given mask [B, T] (bool), negatives [M, K]
        (rows of the masked frames in (b, t) order), Gumbel noise [M, G·V] and tau; returns a dict."""
        cfg, w = self.cfg, self.wav2vec2
        feats, lens = w.features(audio, n_samples)
        T = feats.shape[1]
        valid = torch.arange(T)[None, :] < lens[:, None]
        assert not (mask & ~valid).any(), "a padded frame is masked"
        feats_g = GradMultiply.apply(feats, cfg["feature_grad_mult"])
        pen = feats_g.pow(2).sum() / (lens.sum() * feats.shape[2])
        hidden, norm_feats = w.encode(feats_g, lens, mask)
        q, codes, ppl, code_ppl = self.quantizer(norm_feats[mask], gumbel, tau)
        c = self.project_hid(hidden[mask])
        y = self.project_q(q)
        M = c.shape[0]
        l_m, n_inf = contrastive(c, y, negatives, cfg["contrastive_logits_temperature"])
        gv = self.quantizer.G * self.quantizer.V
        l_d = (gv - ppl) / gv
        loss = (l_m + cfg["diversity_loss_weight"] * l_d * M + cfg["feature_penalty_weight"] * pen * M) / M
        return {"loss": loss, "loss_contrastive": l_m / M, "loss_diversity": l_d, "feature_pen": pen,
                "prob_perplexity": ppl, "code_perplexity": code_ppl, "features": feats, "hidden": hidden,
                "codes": codes, "n_neg_is_pos": n_inf, "lens": lens}


# ---- CTC head (spec §3.8, HF Wav2Vec2ForCTC) --------------------------------
# facebook/wav2vec2-base-960h's vocabulary (lib/io/char_vocab.h): <pad> 0 is the CTC blank, | the word delimiter
W2V2_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")


def encode_transcript(text):
    """Upper-cased text -> ids, space -> | (HF Wav2Vec2CTCTokenizer with word_delimiter_token |)."""
    return [W2V2_VOCAB.index("|" if ch == " " else ch) for ch in text.upper()]


class Wav2Vec2ForCTC(nn.Module):
    """HF Wav2Vec2ForCTC: logits = lm_head(Dropout(final_dropout)(hidden)); the CTC loss on
    log_softmax in float32 with blank 0, reduction 'none', zero_infinity. The conv features pass
    GradMultiply(feature_grad_mult) as in fairseq (0: the frozen feature encoder of fine-tuning,
    HF's freeze_feature_encoder: the conv stack gets no gradient)."""
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wav2vec2 = Wav2Vec2Model(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"])

    def forward(self, audio, n_samples, mask=None, cmask=None):
        """logits [B, T, V] (padded rows 0, as derfseq stores them) and frames per utterance."""
        w = self.wav2vec2
        feats, lens = w.features(audio, n_samples)
        feats = GradMultiply.apply(feats, self.cfg["feature_grad_mult"])
        hidden, _ = w.encode(feats, lens, mask, cmask)
        hidden = F.dropout(hidden, self.cfg.get("final_dropout", 0.1), self.training)
        valid = (torch.arange(hidden.shape[1])[None, :] < lens[:, None])[..., None]
        return self.lm_head(hidden) * valid, lens

    @staticmethod
    def ctc_loss(logits, lens, targets, target_lens):
        """Per-utterance CTC loss in nats (HF's call with reduction 'none'): targets concatenated."""
        log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32 if logits.dtype != torch.float64 else None)
        return F.ctc_loss(log_probs.transpose(0, 1), targets, lens, target_lens, blank=0, reduction="none",
                          zero_infinity=True)


def param_table(model):
    """Every parameter under its HF name (masked_spec_embed always present)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def decays(name, p):
    """The AdamW rule of the goldens: tensors with ndim >= 2 decay except the
    weight-norm gain weight_g; biases, norms, masked_spec_embed do not."""
    return p.dim() >= 2 and not name.endswith("weight_g")


# ---- inputs -----------------------------------------------------------------
def make_audio(gen, lengths):
    """A sum of sines + noise per utterance, zero-padded to [B, max]."""
    S = max(lengths)
    audio = torch.zeros(len(lengths), S)
    for b, n in enumerate(lengths):
        t = torch.arange(n, dtype=torch.float64) / 16000.0
        x = torch.zeros(n, dtype=torch.float64)
        for _ in range(3):
            f = 100 + 900 * torch.rand(1, generator=gen, dtype=torch.float64)
            x += 0.2 * torch.sin(2 * math.pi * f * t + 6.28 * torch.rand(1, generator=gen, dtype=torch.float64))
        x += 0.05 * torch.randn(n, generator=gen, dtype=torch.float64)
        audio[b, :n] = x.float()
    return audio


def make_mask(gen, cfg, lens):
    """fairseq-style static span mask (p, span length, min_masks, starts without replacement from
    range(T_b − span)) and require_same_masks: every row cut to the minimum count by random subsampling."""
    p, span, mn = cfg["mask_time_prob"], cfg["mask_time_length"], cfg["mask_time_min_masks"]
    T = int(lens.max())
    rows = []
    for sz in lens.tolist():
        n = max(mn, int(p * sz / span + torch.rand(1, generator=gen).item()))
        starts = torch.randperm(sz - span, generator=gen)[:n]
        idx = torch.unique(torch.tensor([s + o for s in starts.tolist() for o in range(span) if s + o < sz]))
        rows.append(idx)
    m = min(len(r) for r in rows)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for b, r in enumerate(rows):
        if len(r) > m:
            r = r[torch.randperm(len(r), generator=gen)[:m]]
        mask[b, r] = True
    return mask


def make_negatives(gen, mask, K):
    """[M, K] rows into the masked frames in (b, t) order: same utterance, uniform with replacement,
    never the own row (draw j ~ U{0..M_b−2}, j += 1 if j >= own)."""
    out, base = [], 0
    for b in range(mask.shape[0]):
        mb = int(mask[b].sum())
        j = torch.randint(0, mb - 1, (mb, K), generator=gen)
        own = torch.arange(mb)[:, None]
        out.append(base + j + (j >= own).long())
        base += mb
    return torch.cat(out)


def make_gumbel(gen, M, gv):
    """−log(E), E ~ Exp(1)."""
    u = torch.rand(M, gv, generator=gen, dtype=torch.float64).clamp_min(1e-12)
    return (-torch.log(-torch.log(u))).float()


def gumbel_margin(model, audio, n, mask, gumbel):
    """Smallest top-1 − top-2 gap of logits + noise over the masked rows (an argmax a float32 run
    could flip makes a bad golden)."""
    with torch.no_grad():
        w = model.wav2vec2
        feats, lens = w.features(audio.to(w.masked_spec_embed.dtype), n)
        nf = w.feature_projection.layer_norm(feats)[mask]
        q = model.quantizer
        s = (q.weight_proj(nf) + gumbel.to(nf.dtype)).view(-1, q.V)
        top = s.topk(2, dim=-1).values
        return (top[:, 0] - top[:, 1]).min().item()


def check_straight_through(model, audio, n, mask, gumbel, tau):
    """The quantizer's exact-forward straight-through equals F.gumbel_softmax(hard=True)'s
    y_hard − y_soft.detach() + y_soft (with the same noise) in value and in gradient."""
    q = model.quantizer
    with torch.no_grad():
        w = model.wav2vec2
        feats, _ = w.features(audio, n)
        x = w.feature_projection.layer_norm(feats)[mask]
    x = x.clone().requires_grad_(True)
    dout = torch.randn(x.shape[0], q.codevectors.shape[1] * q.codevectors.shape[2] // q.V,
                       generator=torch.Generator().manual_seed(7), dtype=x.dtype)
    res = []
    for ours in (True, False):
        model.zero_grad()
        x.grad = None
        if ours:
            out = q(x, gumbel, tau)[0]
        else:   # torch's gumbel_softmax with its noise replaced by ours
            M = x.shape[0]
            logits = q.weight_proj(x).view(M * q.G, q.V)
            y_soft = torch.softmax((logits + gumbel.view(M * q.G, q.V).to(x.dtype)) / tau, dim=-1)
            y_hard = F.one_hot(y_soft.argmax(-1), q.V).to(x.dtype)
            y = (y_hard - y_soft.detach() + y_soft).view(M, -1)
            out = (y.unsqueeze(-1) * q.codevectors).view(M, q.G, q.V, -1).sum(-2).view(M, -1)
        (out * dout).sum().backward()
        res.append((out.detach(), x.grad.clone(), q.codevectors.grad.clone(), q.weight_proj.weight.grad.clone()))
    errs = [close(a, b) for a, b in zip(*res)]
    assert max(errs) < 1e-12, f"straight-through differs from gumbel_softmax(hard=True): {errs}"
    model.zero_grad()


def close(a, b):
    """test.h's CHECK_CLOSE measure, normwise: ‖a − b‖ / ‖b‖."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


# ---- cross-checks -------------------------------------------------------------
def torchaudio_model(cfg, aux_num_out=None):
    """torchaudio 0.13's wav2vec2 (components written independently from fairseq) of a derfseq config's
    shape, every dropout and LayerDrop off (also the bench's cross-check)."""
    from torchaudio.models import wav2vec2_model
    return wav2vec2_model(
        extractor_mode="layer_norm" if cfg["feat_extract_norm"] == "layer" else "group_norm",
        extractor_conv_layer_config=list(zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"])),
        extractor_conv_bias=cfg["conv_bias"], encoder_embed_dim=cfg["hidden_size"], encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=cfg["num_conv_pos_embeddings"],
        encoder_pos_conv_groups=cfg["num_conv_pos_embedding_groups"], encoder_num_layers=cfg["num_hidden_layers"],
        encoder_num_heads=cfg["num_attention_heads"], encoder_attention_dropout=0.0,
        encoder_ff_interm_features=cfg["intermediate_size"], encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=cfg["do_stable_layer_norm"], encoder_layer_drop=0.0, aux_num_out=aux_num_out)


def torchaudio_twin(model):
    """torchaudio_model with the twin's LayerNorm-model weights (a CTC twin's lm_head as torchaudio's
    aux head); returns the torchaudio model."""
    cfg = model.cfg
    ta = torchaudio_model(cfg, cfg["vocab_size"] if hasattr(model, "lm_head") else None).double()
    names = {"wav2vec2.feature_extractor.": "feature_extractor.",
             "wav2vec2.feature_projection.": "encoder.feature_projection.",
             "wav2vec2.encoder.": "encoder.transformer.", "lm_head.": "aux."}
    sd = {}
    for k, v in param_table(model).items():
        for a, b in names.items():
            if k.startswith(a):
                sd[b + k[len(a):]] = v
    missing, unexpected = ta.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return ta.eval()


def check_against_torchaudio(model, audio, n):
    """Conv features per utterance and the encoder's hidden states with key padding (the padded
    rows are garbage in torchaudio: compared on the valid rows)."""
    assert model.cfg["norm"] == "layernorm" and not model.cfg["normalize_audio"]
    ta = torchaudio_twin(model)
    with torch.no_grad():
        feats, lens = model.wav2vec2.features(audio, n)
        hidden, _ = model.wav2vec2.encode(feats, lens)
        ef = max(close(ta.feature_extractor(audio[b:b + 1, :int(n[b])], None)[0][0], feats[b, :lens[b]])
                 for b in range(len(n)))
        h_ta = ta.encoder(feats, lens)
        eh = max(close(h_ta[b, :lens[b]], hidden[b, :lens[b]]) for b in range(len(n)))
    assert ef < 1e-12 and eh < 1e-10, f"twin vs torchaudio: features {ef:.3g}, hidden {eh:.3g}"
    return ef, eh


def check_batch_independence(model, audio, n):
    """An utterance padded into a batch gives the hidden states it gives alone."""
    with torch.no_grad():
        h, lens = model.wav2vec2(audio, n)
        worst = 0.0
        for b in range(len(n)):
            hb, _ = model.wav2vec2(audio[b:b + 1, :int(n[b])], n[b:b + 1])
            worst = max(worst, close(h[b, :lens[b]], hb[0]))
    assert worst < 1e-12, f"hidden states depend on the batch padding ({worst:.3g})"
    return worst


# ---- goldens --------------------------------------------------------------------
def perturb(model, gen):
    """Every tensor away from its init so no symmetry hides a bug: norms ±0.2, biases ±0.1,
    weight_g ×(1 ± 0.2), encoder Linear weights U(±1/√fan_in) (N(0, 0.02) makes the
    attention nearly uniform), weight_proj halved (logits std ~2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            u = lambda lo, hi: torch.rand(p.shape, generator=gen, dtype=p.dtype) * (hi - lo) + lo  # noqa: E731
            if "norm" in name:
                p.add_(u(-0.2, 0.2))
            elif name.endswith("weight_g"):
                p.mul_(u(0.8, 1.2))
            elif name.endswith(".bias"):
                p.add_(u(-0.1, 0.1))
            elif name.startswith("wav2vec2.encoder.layers.") and p.dim() == 2:
                p.copy_(u(-1, 1) / math.sqrt(p.shape[1]))
            elif name == "quantizer.weight_proj.weight":
                p.mul_(0.5)


def build(cfg, seed=0):
    """The fairseq init (torch seed `seed`), then perturbed; float32."""
    torch.manual_seed(seed)
    model = Wav2Vec2ForPreTraining(cfg)
    perturb(model, torch.Generator().manual_seed(1234 + seed))
    return model


def forward_backward(model, inputs):
    model.zero_grad()
    r = model.pretrain(*inputs)
    r["loss"].backward()
    return r, {k: p.grad.detach().clone() for k, p in model.named_parameters()}


ADAMW = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1}


def adamw_losses(model, inputs):
    """5 AdamW steps; the loss is recorded before each step; the same inputs every step."""
    groups = [{"params": [p for n, p in model.named_parameters() if decays(n, p)], "weight_decay": ADAMW["weight_decay"]},
              {"params": [p for n, p in model.named_parameters() if not decays(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"])
    losses, margins = [], []
    for _ in range(5):
        margins.append(gumbel_margin(model, *inputs[:2], inputs[2], inputs[4]))
        opt.zero_grad()
        loss = model.pretrain(*inputs)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, min(margins)


LENGTHS = (4000, 3300)


def golden_inputs(cfg, model, seed):
    gen = torch.Generator().manual_seed(seed)
    audio = make_audio(gen, LENGTHS)
    n = torch.tensor(LENGTHS)
    lens = torch.tensor([conv_lengths(cfg, x) for x in LENGTHS])
    mask = make_mask(gen, cfg, lens)
    neg = make_negatives(gen, mask, cfg["num_negatives"])
    gv = cfg["num_codevector_groups"] * cfg["num_codevectors_per_group"]
    gumbel = make_gumbel(gen, int(mask.sum()), gv)
    return audio, n, mask, neg, gumbel


def run(name, cfg, path):
    model32 = build(cfg)
    model = copy.deepcopy(model32).double()
    tau = 1.5
    # input draws until no argmax is within 1e-3 of a tie and a negative equals its positive (the −inf path)
    for seed in range(100, 300):
        audio, n, mask, neg, gumbel = golden_inputs(cfg, model, seed)
        if gumbel_margin(model, audio, n, mask, gumbel) > 1e-3:
            with torch.no_grad():
                if model.pretrain(audio.double(), n, mask, neg, gumbel, tau)["n_neg_is_pos"] >= 1:
                    break
    else:
        raise AssertionError("no input draw with clear argmaxes and a negative equal to its positive")
    check_straight_through(model, audio.double(), n, mask, gumbel, tau)
    inputs = (audio.double(), n, mask, neg, gumbel, tau)
    inputs32 = (audio, n, mask, neg, gumbel, tau)
    ln_cfg = dict(cfg, norm="layernorm", normalize_audio=False)
    ln_model = copy.deepcopy(model) if cfg["norm"] == "layernorm" and not cfg["normalize_audio"] else None
    if ln_model is None:   # the same weights where the norms allow, LayerNorm encoder norms: for torchaudio
        torch.manual_seed(0)
        ln_model = Wav2Vec2ForPreTraining(ln_cfg).double()
        sd = param_table(model)
        ln_model.load_state_dict({k: sd[k] for k in param_table(ln_model)})
    ef, eh = check_against_torchaudio(ln_model, audio.double(), n)
    bi = check_batch_independence(model, audio.double(), n)

    r, grads = forward_backward(model, inputs)
    r32, g32 = forward_backward(model32, inputs32)
    assert torch.equal(r["codes"], r32["codes"]), "float32 picks other codes"
    errs = dict({k: close(r32[k].detach(), r[k].detach()) for k in
                 ("loss", "loss_contrastive", "loss_diversity", "feature_pen", "prob_perplexity", "features",
                  "hidden")}, **{f"grad.{k}": close(g32[k], grads[k]) for k in grads})
    # k_proj.bias gets a gradient of exactly 0 (a per-row constant in the scores): float64 rounding
    # only; stored as 0, checked absolute against the other gradients' scale
    scale = max(g.abs().max().item() for g in grads.values())
    for k in [k for k in grads if k.endswith("k_proj.bias")]:
        assert grads[k].abs().max() < 1e-12 * scale and g32[k].abs().max() < 1e-6 * scale, k
        grads[k].zero_()
        del errs[f"grad.{k}"]
    worst = max(errs.values())
    assert worst < 1e-5, f"float32 disagrees with float64: {max(errs, key=errs.get)} by {worst:.3g}"
    with torch.no_grad():
        hidden_eval, lens = model.wav2vec2(audio.double(), n)

    out = {f"param.{k}": v.float() for k, v in param_table(model).items()}
    out["golden.audio"] = audio
    out["golden.n_samples"] = n.to(torch.int32)
    out["golden.mask"] = mask.to(torch.int32)
    out["golden.negatives"] = neg.to(torch.int32)
    out["golden.gumbel"] = gumbel
    out["golden.tau"] = torch.tensor([tau], dtype=torch.float32)
    out["golden.features"] = r["features"].detach().float()
    out["golden.hidden"] = r["hidden"].detach().float()
    out["golden.hidden_eval"] = hidden_eval.float()
    out["golden.codes"] = r["codes"].to(torch.int32)
    for k in ("loss_contrastive", "loss_diversity", "feature_pen", "prob_perplexity", "code_perplexity", "loss"):
        out[f"golden.{k}"] = r[k].detach().reshape(1).float()
    for k, g in grads.items():
        out[f"grad.{k}"] = g.float()
    losses, margin = adamw_losses(model, inputs)
    assert margin > 1e-4, f"an argmax within {margin:.3g} of a tie during the AdamW steps"
    out["golden.adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    adamw = dict(ADAMW, decay=[k for k, p in model.named_parameters() if decays(k, p)],
                 steps=5, inputs="the same golden.* inputs (audio, mask, negatives, gumbel, tau) every step",
                 loss="golden.adamw_losses[k] = loss before step k")
    meta = {"derfseq.config": json.dumps(cfg), "generator": "test/reference/wav2vec2.py", "torch": torch.__version__,
            "adamw": json.dumps(adamw), "audio_norm_eps": str(AUDIO_NORM_EPS),
            "n_neg_is_pos": str(r["n_neg_is_pos"]), "gumbel_margin": f"{margin:.4g}"}
    st.save(path, out, meta)
    M = int(mask.sum())
    print(f"{path}: T {lens.tolist()}, M {M}, {r['n_neg_is_pos']} negatives = positive, "
          f"torchaudio features {ef:.2g} hidden {eh:.2g}, batch independence {bi:.2g}, "
          f"float32 vs float64 {worst:.2g}, loss {losses[0]:.6f} -> {losses[-1]:.6f} after 5 AdamW steps")


# ---- the CTC golden of the converted tiny checkpoint -----------------------------
TINY = os.path.join("testdata", "wav2vec2_tiny.safetensors")
TINY_WAVS = (os.path.join("testdata", "wav2vec2_tiny_a.wav"), os.path.join("testdata", "wav2vec2_tiny_b.wav"))
TINY_TEXT = ("FRONT", "REAR")                  # 5 and 4 labels in 12 and 10 frames
TINY_TEXT_EDGE = ("FRONT CENTER",) * 2         # 12 labels: one alignment in 12 frames, none in 10


def read_wav(path):
    """16-bit PCM mono WAV -> float32 samples / 32768 (what derfseq's reader gives)."""
    import wave
    with wave.open(path, "rb") as f:
        assert f.getnchannels() == 1 and f.getsampwidth() == 2 and f.getframerate() == 16000, path
        raw = f.readframes(f.getnframes())
    return torch.frombuffer(bytearray(raw), dtype=torch.int16).float() / 32768


def targets_of(texts):
    ids = [encode_transcript(t) for t in texts]
    return torch.tensor([i for x in ids for i in x]), torch.tensor([len(x) for x in ids])


def ctc_step(model, inputs, targets, tgt_lens):
    """Logits, per-utterance losses and the gradient of their sum."""
    model.zero_grad()
    audio, n, mask, cmask = inputs
    logits, lens = model(audio, n, mask, cmask)
    loss = model.ctc_loss(logits, lens, targets, tgt_lens)
    loss.sum().backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return logits.detach(), loss.detach(), lens, grads


def check_ctc_against_torchaudio(model, audio, n):
    """The eval logits of each utterance alone against torchaudio's wav2vec2 with the lm_head as its
    aux head (torchaudio does no audio normalisation: the utterance goes in normalised)."""
    ta = torchaudio_twin(model)
    worst = 0.0
    with torch.no_grad():
        logits, lens = model(audio, n)
        for b in range(len(n)):
            wav = audio[b, :int(n[b])]
            if model.cfg["normalize_audio"]:
                wav = (wav - wav.mean()) / torch.sqrt(wav.var(unbiased=False) + AUDIO_NORM_EPS)
            worst = max(worst, close(ta(wav[None])[0][0], logits[b, :lens[b]]))
    assert worst < 1e-10, f"CTC logits: twin vs torchaudio {worst:.3g}"
    return worst


def run_tiny_ctc(root, path):
    """testdata/golden/wav2vec2_tiny_ctc.safetensors: the converted tiny checkpoint with a CTC head."""
    tensors, meta = st.load(os.path.join(root, TINY))
    cfg = dict(json.loads(meta["derfseq.config"]), ctc_head=True, pretraining_head=False, final_dropout=0.1,
               feature_grad_mult=0.0, mask_feature_prob=0.0, mask_feature_length=3, mask_feature_min_masks=0)
    gen = torch.Generator().manual_seed(2024)
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    head = {"lm_head.weight": torch.randn(V, H, generator=gen) * (2 / math.sqrt(H)),
            "lm_head.bias": torch.randn(V, generator=gen) * 0.5}
    sd = {k: v for k, v in tensors.items() if k.startswith("wav2vec2.")}
    sd.update(head)
    model = Wav2Vec2ForCTC(cfg)
    model.load_state_dict(sd)                       # strict: exactly the checkpoint's encoder + the head
    model.eval()
    model64 = copy.deepcopy(model).double()
    waves = [read_wav(os.path.join(root, p)) for p in TINY_WAVS]
    n = torch.tensor([len(w) for w in waves])
    audio = torch.zeros(len(waves), int(n.max()))
    for b, w in enumerate(waves):
        audio[b, :len(w)] = w
    lens = torch.tensor([conv_lengths(cfg, int(x)) for x in n])
    T = int(lens.max())
    mask = torch.zeros(2, T, dtype=torch.bool)
    mask[0, [2, 3, 7]] = True
    mask[1, [4, 5]] = True
    cmask = torch.zeros(2, H, dtype=torch.bool)
    cmask[0, 5:10] = True
    cmask[1, [0, 1, 2, 30, 31]] = True
    cmask[:, 12] = True                             # masked everywhere: masked_spec_embed[12] gets no gradient
    targets, tgt_lens = targets_of(TINY_TEXT)
    inputs64 = (audio.double(), n, mask, cmask)
    logits, loss, lens_, grads = ctc_step(model64, inputs64, targets, tgt_lens)
    assert torch.equal(lens_, lens)
    l32, loss32, _, g32 = ctc_step(model, (audio, n, mask, cmask), targets, tgt_lens)
    scale = max(g.abs().max().item() for g in grads.values())
    for k in [k for k in grads if k.endswith("k_proj.bias")]:   # exactly 0, as in run()
        assert grads[k].abs().max() < 1e-12 * scale and g32[k].abs().max() < 1e-6 * scale, k
        grads[k].zero_()
    errs = dict(logits=close(l32, logits), loss=close(loss32, loss),
                **{f"grad.{k}": close(g32[k], g) for k, g in grads.items() if g.abs().max() > 0})
    worst = max(errs.values())
    assert worst < 1e-5, f"float32 disagrees with float64: {max(errs, key=errs.get)} by {worst:.3g}"
    for k, g in grads.items():   # the frozen feature encoder, the fully masked channel
        if "feature_extractor." in k:
            assert g.abs().max() == 0, k
    assert grads["wav2vec2.masked_spec_embed"][12] == 0 and grads["wav2vec2.masked_spec_embed"].abs().sum() > 0
    assert (loss > 0).all()
    edge_t, edge_l = targets_of(TINY_TEXT_EDGE)
    with torch.no_grad():
        lg, _ = model64(*inputs64)
        loss_edge = model64.ctc_loss(lg, lens, edge_t, edge_l)
        logits_eval, _ = model64(audio.double(), n)
        loss_eval = model64.ctc_loss(logits_eval, lens, targets, tgt_lens)
    assert loss_edge[0] > 0 and loss_edge[1] == 0, loss_edge     # exact fit; zero_infinity
    ta = check_ctc_against_torchaudio(model64, audio.double(), n)

    out = {f"param.{k}": v for k, v in head.items()}
    out.update({"golden.n_samples": n.to(torch.int32), "golden.lens": lens.to(torch.int32),
                "golden.mask": mask.to(torch.int32), "golden.cmask": cmask.to(torch.int32),
                "golden.targets": targets.to(torch.int32), "golden.target_lens": tgt_lens.to(torch.int32),
                "golden.logits": logits.float(), "golden.loss": loss.float(),
                "golden.targets_edge": edge_t.to(torch.int32), "golden.target_lens_edge": edge_l.to(torch.int32),
                "golden.loss_edge": loss_edge.float(), "golden.logits_eval": logits_eval.float(),
                "golden.loss_eval": loss_eval.float()})
    for k, g in grads.items():
        out[f"grad.{k}"] = g.float()
    st.save(path, out, {"derfseq.config": json.dumps(cfg), "checkpoint": TINY.replace(os.sep, "/"),
                        "wav": ",".join(p.replace(os.sep, "/") for p in TINY_WAVS),
                        "transcripts": json.dumps(TINY_TEXT), "transcripts_edge": json.dumps(TINY_TEXT_EDGE),
                        "generator": "test/reference/wav2vec2.py", "torch": torch.__version__})
    print(f"{path}: frames {lens.tolist()}, losses {[round(x, 4) for x in loss.tolist()]}, edge "
          f"{[round(x, 4) for x in loss_edge.tolist()]}, torchaudio logits {ta:.2g}, float32 vs float64 {worst:.2g}")


GOLDENS = {"postln_layernorm": small_config("layernorm", stable=False, feat_norm="group", conv_bias=False),
           "preln_derf": small_config("derf", stable=True, feat_norm="layer", conv_bias=True, normalize=True)}


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden")
    for name, cfg in GOLDENS.items():
        run(name, cfg, os.path.join(root, f"wav2vec2_{name}.safetensors"))
    run_tiny_ctc(os.path.join(root, "..", ".."), os.path.join(root, "wav2vec2_tiny_ctc.safetensors"))


if __name__ == "__main__":
    main()
