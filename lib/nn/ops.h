/* Every op of lib/nn as a forward/backward pair over plain float arrays
 * (architecture.md "An op"). Shapes are explicit arguments; row-major;
 * backward ACCUMULATES (+=) into every gradient it writes, so tensors
 * used twice just receive two contributions; any gradient pointer may be
 * NULL to skip it. No op allocates; scratch comes from the caller. Results
 * depend only on the inputs and the OpenMP thread count. */
#ifndef DS_OPS_H
#define DS_OPS_H

#include <stddef.h>
#include <stdint.h>

/* ---- linear.c: out[N,Cout] = inp[N,Cin] · W[Cout,Cin]^T + b[Cout]  (PyTorch layout), cblas_sgemm */
void ds_linear_forward(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout);
/* out = res + inp·Wᵀ + b (a residual block's output projection), the add
 * done inside the product's tiles; res may be out itself. */
void ds_linear_residual_forward(float *out, const float *inp, const float *W, const float *b, const float *res, int N,
                                int Cin, int Cout);
/* pre = inp·Wᵀ + b and act = gelu_tanh(pre), the activation applied to each
 * tile of the product while it is in cache (the MLP's fc1). */
void ds_linear_gelu_tanh_forward(float *pre, float *act, const float *inp, const float *W, const float *b, int N,
                                 int Cin, int Cout);
void ds_linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                        const float *W, int N, int Cin, int Cout);

/* ---- embedding.c: out[N,C] = table[ids[n], :]; ids must be in [0, V). */
void ds_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int V, int C);
void ds_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V, int C);

/* ---- conv1d.c: depthwise causal convolution along time over [B, L, C]:
 * out[b,t,c] = bias[c] + Σ_j w[c,j]·inp[b, t−(K−1)+j, c], inputs before 0 are 0.
 * This is Conv1d(C, C, K, groups=C, padding=K−1) keeping the first L outputs
 * (HyenaDNA's short_filter), w in PyTorch's [C, 1, K] layout, K <= 16. */
void ds_conv1d_causal_forward(float *out, const float *inp, const float *w, const float *bias, int B, int L,
                              int C, int K);
void ds_conv1d_causal_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                               const float *w, int B, int L, int C, int K);

/* ---- conv1d.c: general Conv1d on time-major [B, Lin, Cin] → [B, Lout, Cout]
 * (wav2vec2 feature encoder and positional conv), weight in PyTorch's
 * [Cout, Cin/groups, K] layout:
 *   out[b,t,o] = bias[o] + Σ_{i in group(o), j<K} w[o, i−g·Cin/G, j] · inp[b, t·stride − pad + j, i]
 * with inputs outside [0, Lin) zero. Lout is the caller's and must be in
 * 1..floor((Lin + 2·pad − K)/stride) + 1, PyTorch's length (the pos conv asks
 * for Lin: SamePad drops the last frame). Cin and Cout divisible by groups;
 * bias may be NULL. Forward and backward both take
 * ds_conv1d_scratch_floats() floats of scratch: 2·Cout·Cin·K for groups 1 and
 * Cin >= 32 (the weight repacked per tap; no input copies), else
 * 2·(Cin/G)·((Lout−1)·stride + K) + rows·(Cin/G)·K with rows = min(Lout,
 * 2^22/((Cin/G)·K)) (im2col in chunks of at most 16 MiB). */
size_t ds_conv1d_scratch_floats(int B, int Lin, int Cin, int Cout, int K, int stride, int pad, int groups, int Lout);
void ds_conv1d_forward(float *out, const float *inp, const float *w, const float *bias, int B, int Lin,
                       int Cin, int Cout, int K, int stride, int pad, int groups, int Lout, float *scratch);
void ds_conv1d_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int B, int Lin, int Cin, int Cout, int K, int stride, int pad,
                        int groups, int Lout, float *scratch);

/* ---- weightnorm.c: weight norm over dim 2 (wav2vec2 pos conv, spec §3.4):
 * w[o,i,k] = g[k]·v[o,i,k]/‖v[:,:,k]‖ for v [O, I, K], g [K]; norms[K] saved. */
void ds_weightnorm2_forward(float *w, float *norms, const float *g, const float *v, int O, int I, int K);
void ds_weightnorm2_backward(float *dg, float *dv, const float *dw, const float *g, const float *v,
                             const float *norms, int O, int I, int K);

/* ---- act.c: elementwise activations over n values */
void ds_gelu_forward(float *out, const float *inp, long n);            /* x·Φ(x), erf form */
void ds_gelu_backward(float *dinp, const float *dout, const float *inp, long n);
void ds_gelu_tanh_forward(float *out, const float *inp, long n);       /* tanh approximation */
void ds_gelu_tanh_forward_serial(float *out, const float *inp, long n);   /* the same, on the calling thread */
void ds_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, long n);
void ds_silu_forward(float *out, const float *inp, long n);
void ds_silu_backward(float *dinp, const float *dout, const float *inp, long n);
/* HyenaDNA's Sin: out[n,c] = sin(freq[c] · inp[n,c]) */
void ds_sin_forward(float *out, const float *inp, const float *freq, int N, int C);
void ds_sin_backward(float *dinp, float *dfreq, const float *dout, const float *inp, const float *freq,
                     int N, int C);

/* ---- dropout.c: inverted dropout with a counter-based mask: element i is
 * kept iff uniform(seed, stream, i) >= p; kept values are scaled by 1/(1-p).
 * The mask is recomputed in backward from the same (seed, stream). */
void ds_dropout_forward(float *out, const float *inp, long n, float p, uint64_t seed, uint64_t stream);
void ds_dropout_backward(float *dinp, const float *dout, long n, float p, uint64_t seed, uint64_t stream);

/* ---- loss.c: softmax + cross-entropy over V classes, mean over the rows whose
 * target != ignore_index (PyTorch's reduction='mean'). probs[N,V] is written
 * for backward. Returns the mean loss (0 when every row is ignored) and the
 * number of counted rows in *count. */
float ds_crossentropy_forward(float *probs, const float *logits, const int32_t *targets, int N, int V,
                              int ignore_index, long *count);
/* dlogits += dloss · (probs − onehot) / count for counted rows. */
void ds_crossentropy_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V,
                              int ignore_index, long count, float dloss);

/* ---- act.c: the vectorised kernels of mathfn.h over arrays (tested against libm) */
void ds_erf_vec(float *out, const float *inp, long n);
void ds_tanh_vec(float *out, const float *inp, long n);
void ds_exp_vec(float *out, const float *inp, long n);

/* ---- scan.c: Mamba's selective scan (caduceus.md §2.2: selective_scan_ref with
 * delta_softplus, the D skip and the SiLU(z) gate) over B sequences of L steps,
 * E channels and a state of N <= DS_SCAN_MAX_N per channel. Arrays are row-major
 * with rows (b, t): u, dt, z, y [B, L, E]; Bm, Cm [B, L, N].
 *   Δ = softplus(dt + dt_bias[e])  (PyTorch's, threshold 20),  A = −exp(A_log[e, n])
 *   s_t = exp(Δ·A) ⊙ s_{t−1} + Δ·Bm_t·u_t  (s_{−1} = 0)
 *   y_t = (Σ_n s_t[n]·Cm_t[n] + D[e]·u_t) · silu(z_t)
 * Forward writes the state at the start of every DS_SCAN_CHUNK steps into
 * ckpt [B, ceil(L/DS_SCAN_CHUNK), E, N] (NULL: inference, nothing kept);
 * backward recomputes each chunk's states from there, so training keeps
 * O(B·L·E) floats instead of the O(B·L·E·N) of all states. Backward takes
 * ds_scan_scratch_floats() floats of scratch and accumulates (+=) into every
 * gradient; results are independent of the thread count. */
#define DS_SCAN_MAX_N 16
#define DS_SCAN_CHUNK 16
size_t ds_scan_ckpt_floats(int B, int L, int E, int N);
size_t ds_scan_scratch_floats(int B, int L, int E, int N);
void ds_selective_scan_forward(float *y, float *ckpt, const float *u, const float *dt, const float *dt_bias,
                               const float *A_log, const float *Bm, const float *Cm, const float *D,
                               const float *z, int B, int L, int E, int N);
void ds_selective_scan_backward(float *du, float *ddt, float *ddt_bias, float *dA_log, float *dBm, float *dCm,
                                float *dD, float *dz, const float *dy, const float *ckpt, float *scratch,
                                const float *u, const float *dt, const float *dt_bias, const float *A_log,
                                const float *Bm, const float *Cm, const float *D, const float *z, int B, int L,
                                int E, int N);
/* softplus(x) as PyTorch's F.softplus (beta 1, threshold 20). */
float ds_softplusf(float x);

/* ---- attention.c: multi-head self-attention core (wav2vec2 spec §3.5). q/k/v/out [B, T, H·Dh]
 * (head h = channels h·Dh..):
 *   out[b,t,h] = Σ_j P[b,h,t,j] v[b,j,h],  P = dropout_p(softmax_j(scale·q[b,t,h]·k[b,j,h] + mask_j)).
 * Keys j >= lens[b] get probability exactly 0 (lens NULL: all T valid); lens[b] must be in [1, T].
 * Rows t >= lens[b] are computed the same way (callers ignore them). probs [B, H, T, T] keeps the
 * softmax before dropout for backward (NULL in inference). Dropout: the mask ds_dropout_forward
 * would draw over the flat [B, H, T, T] tensor with (seed, stream); p = 0 disables. scratch holds
 * ds_attention_scratch_floats() floats (forward may pass NULL when probs is given and p = 0).
 * Backward needs probs and scratch. */
size_t ds_attention_scratch_floats(int B, int T, int H, int Dh);
void ds_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int *lens, int B, int T, int H, int Dh, float scale, float p, uint64_t seed,
                          uint64_t stream, float *scratch);
void ds_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int *lens, int B, int T,
                           int H, int Dh, float scale, float p, uint64_t seed, uint64_t stream, float *scratch);

/* ---- quantizer.c: Gumbel product quantizer core (wav2vec2 spec §3.6) over N rows of logits
 * [N, G·V] (the weight_proj output). gumbel [N, G·V]: the noise −log(E), E~Exp(1) (NULL: eval,
 * hard argmax of the logits). idx[N·G] = argmax_v (logits+gumbel) (first max on ties);
 * out[N, G·D] = concat_g codevectors[g·V+idx]. soft[N, G·V] = softmax_v((logits+gumbel)/tau)
 * saved for the straight-through backward. Returns prob_perplexity = Σ_g exp(−Σ_v p̄ log(p̄+1e-7)),
 * p̄ = mean_n softmax_v(logits) (no tau, no noise); *code_ppl (may be NULL) the same from the
 * one-hots of the noise-free argmax (fairseq's code_perplexity). avgp[G·V] = p̄ saved.
 * N = 0 gives 0 for both. soft and avgp are required. */
float ds_quantizer_forward(float *out, int32_t *idx, float *soft, float *avgp, float *code_ppl,
                           const float *logits, const float *gumbel, const float *codevectors, int N, int G,
                           int V, int D, float tau);
/* dlogits += straight-through grad of dout through soft (d y_soft = dout_g · codevectors_gᵀ, then
 * the softmax backward, /tau) + dppl · ∂prob_perplexity/∂logits; dcodevectors[g·V+idx] += dout rows. */
void ds_quantizer_backward(float *dlogits, float *dcodevectors, const float *dout, float dppl,
                           const int32_t *idx, const float *soft, const float *avgp, const float *logits,
                           const float *codevectors, int N, int G, int V, int D, float tau);

/* ---- contrastive.c: wav2vec2 contrastive loss (spec §3.7) over M masked frames: c [M, D] contexts
 * (project_hid output), y [M, D] targets (project_q output); neg [M, K] row indices into y (never
 * the own row). Candidates k = 0 (row m, the positive) and neg[m, 0..K−1]; logit =
 * cos(c_m, y_cand)/kappa, cos as torch 1.13's cosine_similarity (eps 1e-8, each norm clamped);
 * a negative whose row EQUALS y_m exactly gets logit −inf. Returns Σ_m CE(logits_m, 0) (reduction
 * sum); probs [M, 1+K] saved; *n_correct (may be NULL) = #rows whose argmax is 0 (fairseq: and
 * whose argmin is not). Backward: dc, dy += dloss · ∂loss/∂(c, y). */
float ds_contrastive_forward(float *probs, long *n_correct, const float *c, const float *y, const int32_t *neg,
                             int M, int K, int D, float kappa);
void ds_contrastive_backward(float *dc, float *dy, const float *probs, const float *c, const float *y,
                             const int32_t *neg, int M, int K, int D, float kappa, float dloss);

/* ---- ctc.c: CTC loss (wav2vec2 spec §3.8; torch.nn.functional.ctc_loss with reduction 'none',
 * blank index `blank`) over B sequences: logp [B, T, V] log-probabilities (log_softmax already
 * applied), in_lens[b] in 0..T frames, targets the concatenated labels (Σ tgt_lens; each in [0, V)
 * and != blank), tgt_lens[b] >= 0. Forward: loss[b] = −log Σ over alignments, by the alpha recursion
 * over the blank-interleaved 2L+1 sequence in log space and double precision (skips only between
 * different non-blank labels); +inf for an impossible alignment, 0 there when zero_infinity (fairseq,
 * HF). log-alpha is kept in scratch for backward.
 * Backward: dlogp[b,t,v] += dloss[b] · ∂loss[b]/∂logp[b,t,v], the exact derivative w.r.t. the
 * log-probabilities (−occupancy of v at t), by the beta recursion. torch's ctc_loss backward adds
 * exp(logp) to it, which log_softmax's backward cancels: both give the same gradient on logits.
 * Frames t >= in_lens[b] and impossible alignments get no gradient (torch: NaN unless zero_infinity).
 * Scratch: ds_ctc_scratch_floats(B, T, Lmax, V) floats, Lmax >= every tgt_lens[b], 8-byte aligned
 * (it holds doubles: 2·B·T·(2·Lmax+1) floats of log-alpha, plus beta rows and V sums per sequence);
 * the same scratch, untouched, goes from forward to backward. OpenMP over b: results do not depend
 * on the thread count. */
size_t ds_ctc_scratch_floats(int B, int T, int Lmax, int V);
void ds_ctc_forward(double *loss, float *scratch, const float *logp, const int *in_lens, const int32_t *targets,
                    const int *tgt_lens, int B, int T, int V, int blank, int zero_infinity);
void ds_ctc_backward(float *dlogp, const double *dloss, float *scratch, const float *logp, const int *in_lens,
                     const int32_t *targets, const int *tgt_lens, int B, int T, int V, int blank);
/* Greedy CTC decoding of one sequence of logits [T, V] (or log-probabilities): argmax per frame
 * (first max on ties), collapse repeats, drop blank. Writes at most T ids; returns their number. */
int ds_ctc_greedy(int32_t *out, const float *logits, int T, int V, int blank);

#endif
