/* Multi-head self-attention core of the wav2vec2 encoder (spec §3.5): per
 * (batch, head) S = scale·q kᵀ, a max-subtracted softmax over the valid keys,
 * attention dropout, out = P v; and its backward. q/k/v/out are [B, T, H·Dh]
 * (head h = channels h·Dh..), so each head is a strided [T, Dh] matrix that
 * cblas_sgemm reads in place (lda = H·Dh), no transposes.
 *
 * Keys j >= lens[b] are never scored: their probability is written as 0,
 * which is what HF's additive finfo.min mask gives after the softmax (exp
 * underflows to exactly 0 because every row has a valid key, lens >= 1).
 *
 * The dropout mask of element (b, h, t, j) is the one ds_dropout_forward
 * would draw for flat index ((b·H + h)·T + t)·T + j of the [B, H, T, T]
 * probability tensor, so it is a pure function of (seed, stream) and backward
 * recomputes it instead of storing it.
 *
 * One (b, h) pair is the unit of work: one thread computes it whole with
 * single-threaded sgemm (OpenBLAS runs serially inside a parallel region),
 * so results do not depend on the thread count or on the schedule. */
#include "nn/ops.h"
#include "nn/mathfn.h"
#include "core/rng.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* At most this many T×T buffers live in scratch, one per thread; more
 * threads than this share out the (b, h) pairs among DS_ATTN_SLOTS. */
#define DS_ATTN_SLOTS 16

static int nslots(int B, int H)
{
    int n = B * H;
    return n < DS_ATTN_SLOTS ? n : DS_ATTN_SLOTS;
}

size_t ds_attention_scratch_floats(int B, int T, int H, int Dh)
{
    (void)Dh;
    return (size_t)nslots(B, H) * T * T;
}

/* Valid keys of sequence b: lens[b] clamped into [1, T] (callers guarantee
 * it; the clamp only keeps a caller bug inside the arrays). */
static int valid_len(const int *lens, int b, int T)
{
    if (!lens) return T;
    int L = lens[b];
    return L < 1 ? 1 : L > T ? T : L;
}

/* Row softmax over x[0..L) in place; x[L..T) := 0. */
static DS_CLONES void softmax_row(float *x, int L, int T)
{
    float mx = x[0];
    for (int j = 1; j < L; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < L; j++) x[j] = ds_expf(x[j] - mx);
    float z = 0.0f;
    for (int j = 0; j < L; j++) z += x[j];
    float inv = 1.0f / z;
    for (int j = 0; j < L; j++) x[j] *= inv;
    for (int j = L; j < T; j++) x[j] = 0.0f;
}

/* dst[j] = src[j]·keep(base + j)/(1 − p) for j < L (dst may be src), with
 * keep() the ds_dropout mask of (seed, stream); dst[L..T) := 0. */
static void dropout_row(float *dst, const float *src, uint64_t base, int L, int T, uint32_t thresh,
                        float scale, uint64_t seed, uint64_t stream)
{
    enum { PER = 4 * DS_PHILOX_BLOCK };   /* words per block; word i is counter i >> 2's i & 3 */
    uint32_t w[DS_PHILOX_BLOCK][4];
    const uint32_t *u = &w[0][0];
    uint64_t blk = UINT64_MAX;
    for (int j = 0; j < L; j++) {
        uint64_t i = base + (uint64_t)j;
        if (i / PER != blk) { blk = i / PER; ds_philox_block(seed, stream, blk * DS_PHILOX_BLOCK, w); }
        dst[j] = (u[i % PER] >> 8) >= thresh ? src[j] * scale : 0.0f;
    }
    for (int j = L; j < T; j++) dst[j] = 0.0f;
}

typedef struct {
    int T, H, Dh, ld;
    float scale, p, drop_scale;
    uint32_t thresh;
    uint64_t seed, stream;
} attn_dims;

static attn_dims dims_of(int T, int H, int Dh, float scale, float p, uint64_t seed, uint64_t stream)
{
    attn_dims d = { T, H, Dh, H * Dh, scale, p, 1.0f, 0, seed, stream };
    if (p > 0.0f) {
        d.drop_scale = 1.0f / (1.0f - p);
        d.thresh = (uint32_t)((double)p * 16777216.0);   /* as ds_dropout: keep iff u24 >= p·2^24 */
    }
    return d;
}

/* Applies the dropout mask of pair bh to the T×T matrix src into dst (rows of L keys). */
static void dropout_mat(float *dst, const float *src, const attn_dims *d, int bh, int L)
{
    for (int t = 0; t < d->T; t++) {
        uint64_t base = ((uint64_t)bh * d->T + t) * d->T;
        dropout_row(dst + (size_t)t * d->T, src + (size_t)t * d->T, base, L, d->T, d->thresh, d->drop_scale,
                    d->seed, d->stream);
    }
}

static void forward_pair(float *out, float *P, float *buf, const float *q, const float *k, const float *v,
                         const attn_dims *d, int b, int h, int L)
{
    int T = d->T, ld = d->ld;
    size_t off = (size_t)b * T * ld + (size_t)h * d->Dh;
    /* S[T, L] = scale · q_h k_hᵀ, row stride T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, L, d->Dh, d->scale, q + off, ld, k + off, ld,
                0.0f, P, T);
    for (int t = 0; t < T; t++) softmax_row(P + (size_t)t * T, L, T);
    const float *Pd = P;
    if (d->p > 0.0f) {
        dropout_mat(buf, P, d, b * d->H + h, L);
        Pd = buf;
    }
    /* out_h[T, Dh] = Pd[T, L] · v_h[L, Dh] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d->Dh, L, 1.0f, Pd, T, v + off, ld, 0.0f,
                out + off, ld);
}

void ds_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int *lens, int B, int T, int H, int Dh, float scale, float p, uint64_t seed,
                          uint64_t stream, float *scratch)
{
    if (B <= 0 || H <= 0 || T <= 0) return;
    attn_dims d = dims_of(T, H, Dh, scale, p, seed, stream);
    int n = B * H, ns = nslots(B, H), nt = omp_get_max_threads();
#pragma omp parallel num_threads(nt < ns ? nt : ns) if ((long)n * T * T * Dh > 32768)
    {
        float *slot = scratch ? scratch + (size_t)omp_get_thread_num() * T * T : NULL;
#pragma omp for schedule(dynamic)
        for (int i = 0; i < n; i++) {
            int b = i / H, h = i % H;
            /* inference without probs: the softmax lives in the slot and dropout works in place */
            float *P = probs ? probs + (size_t)i * T * T : slot;
            forward_pair(out, P, probs ? slot : P, q, k, v, &d, b, h, valid_len(lens, b, T));
        }
    }
}

static void backward_pair(float *dq, float *dk, float *dv, const float *dout, const float *P, float *buf,
                          const float *q, const float *k, const float *v, const attn_dims *d, int b, int h,
                          int L)
{
    int T = d->T, ld = d->ld, bh = b * d->H + h;
    size_t off = (size_t)b * T * ld + (size_t)h * d->Dh;
    if (dv) { /* dv_h[L, Dh] += Pdᵀ · dout_h */
        const float *Pd = P;
        if (d->p > 0.0f) { dropout_mat(buf, P, d, bh, L); Pd = buf; }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, d->Dh, T, 1.0f, Pd, T, dout + off, ld, 1.0f,
                    dv + off, ld);
    }
    if (!dq && !dk) return;
    /* dPd[T, L] = dout_h v_hᵀ; through the dropout mask to dP; then the softmax:
     * dS = P ⊙ (dP − rowsum(dP ⊙ P)) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, L, d->Dh, 1.0f, dout + off, ld, v + off, ld, 0.0f,
                buf, T);
    if (d->p > 0.0f) dropout_mat(buf, buf, d, bh, L);
    for (int t = 0; t < T; t++) {
        float *g = buf + (size_t)t * T;
        const float *pr = P + (size_t)t * T;
        float r = 0.0f;
        for (int j = 0; j < L; j++) r += g[j] * pr[j];
        for (int j = 0; j < L; j++) g[j] = pr[j] * (g[j] - r);
    }
    if (dq) /* dq_h[T, Dh] += scale · dS k_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d->Dh, L, d->scale, buf, T, k + off, ld,
                    1.0f, dq + off, ld);
    if (dk) /* dk_h[L, Dh] += scale · dSᵀ q_h */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, d->Dh, T, d->scale, buf, T, q + off, ld,
                    1.0f, dk + off, ld);
}

void ds_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int *lens, int B, int T,
                           int H, int Dh, float scale, float p, uint64_t seed, uint64_t stream, float *scratch)
{
    if (B <= 0 || H <= 0 || T <= 0) return;
    attn_dims d = dims_of(T, H, Dh, scale, p, seed, stream);
    int n = B * H, ns = nslots(B, H), nt = omp_get_max_threads();
#pragma omp parallel num_threads(nt < ns ? nt : ns) if ((long)n * T * T * Dh > 32768)
    {
        float *slot = scratch ? scratch + (size_t)omp_get_thread_num() * T * T : NULL;
#pragma omp for schedule(dynamic)
        for (int i = 0; i < n; i++)
            backward_pair(dq, dk, dv, dout, probs + (size_t)i * T * T, slot, q, k, v, &d, i / H, i % H,
                          valid_len(lens, i / H, T));
    }
}
