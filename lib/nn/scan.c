/* Mamba's selective scan, forward and backward (ops.h "scan.c").
 *
 * One (sequence, channel) pair is one independent recurrence over L steps
 * with an N-wide state. The kernels work on blocks of CB channels × NL = 16
 * state lanes (N < 16 is padded with A = 0, B = C = 0, so padded lanes stay
 * exactly 0; a partial last block with zero channels), and every inner loop
 * has a constant trip count, so GCC vectorises it (and the AVX2 clone does
 * the same IEEE operations on wider vectors). Backward holds the state as
 * [channel][lane], forward transposed as [lane][channel]; the elementwise
 * recurrence is the same either way, and sums over the lanes follow one
 * fixed pairwise tree in both (lane_sum), so results do not depend on the
 * vector width and backward recomputes forward's states bit for bit.
 *
 * Forward stores the state at every chunk start. Backward walks the chunks
 * last to first, recomputes the chunk's states and decay factors exp(Δ·A)
 * from its checkpoint (keeping both, so exp runs once per state per step),
 * then runs the adjoint recurrence
 *   G_t = dy_t·C_t + exp(Δ_{t+1}A) ⊙ G_{t+1}
 * backwards through it. The work is split into (sequence, channel group)
 * tasks, the number of groups a function of B and E only. Gradients summed
 * over channels (dBm, dCm) go straight into the output for group 0 and
 * through per-group partial sums in the scratch for the others; those over
 * sequences (dA_log, dD, ddt_bias) through per-sequence partials. Partials
 * are added in a fixed order, so the result does not depend on how OpenMP
 * splits the work or on the thread count. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>
#include <string.h>

#define NL DS_SCAN_MAX_N   /* state lanes per channel, padded */
#define CH DS_SCAN_CHUNK   /* steps per checkpoint */
#define CB 8               /* channels per block (16 was slower forward, SSE2 and AVX2) */
/* Backward aims at this many (sequence, channel group) tasks: enough for 16
 * threads, and it bounds the dBm/dCm partials at 2·(SCAN_TASKS − 1)·L·N
 * floats whatever B (about 250 MB for one 131k-token sequence). */
#define SCAN_TASKS 16

/* ---- vectorisable scalar kernels --------------------------------------- */

/* ln(u) for u in [1, 2]: u = m·2^k with m in [1, √2) (k 0 or 1), then the
 * Cephes logf polynomial in f = m − 1 (about 1 ulp). */
static inline float log_1_2(float u)
{
    float k = u > 1.41421356f ? 1.0f : 0.0f;
    float f = (u > 1.41421356f ? u * 0.5f : u) - 1.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f + -1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f + -1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f + -1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f + -2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = f * z * p + k * -2.12194440e-4f - 0.5f * z;
    return f + y + k * 0.693359375f;
}

/* softplus(x) as PyTorch's F.softplus (beta 1, threshold 20): x above 20,
 * else log1p(e^x) = max(x, 0) + log1p(e^−|x|), log1p(w) by Kahan's
 * ln(1 + w)·w / ((1 + w) − 1), exact to a few ulp for tiny w as well. */
static inline float softplus_(float x)
{
    float w = ds_expf(-fabsf(x)), u = 1.0f + w, d = u - 1.0f;
    float lp = d == 0.0f ? w : log_1_2(u) * (w / (d == 0.0f ? 1.0f : d));
    float sp = (x > 0.0f ? x : 0.0f) + lp;
    return x > 20.0f ? x : sp;
}

float ds_softplusf(float x) { return softplus_(x); }

static inline float sigmoid_(float x) { return 1.0f / (1.0f + ds_expf(-x)); }

/* Σ p[0..15] in one fixed order (pairwise), whatever the vector width. */
static inline float lane_sum(const float *p)
{
    float q[8], r[4];
    for (int k = 0; k < 8; k++) q[k] = p[k] + p[k + 8];
    for (int k = 0; k < 4; k++) r[k] = q[k] + q[k + 4];
    return (r[0] + r[2]) + (r[1] + r[3]);
}

/* ---- sizes --------------------------------------------------------------- */

static int nchunks(int L) { return (L + CH - 1) / CH; }
static int nblocks(int E) { return (E + CB - 1) / CB; }

/* Blocks per backward group: enough groups for SCAN_TASKS tasks over B
 * sequences, at most one per block. Depends on B and E only, never on the
 * thread count. */
static int blocks_per_group(int B, int E)
{
    int nb = nblocks(E), want = (SCAN_TASKS + B - 1) / B;
    int groups = want < nb ? want : nb;
    if (groups < 1) groups = 1;
    int bpg = (nb + groups - 1) / groups;
    return bpg > 0 ? bpg : 1;   /* E = 0: no blocks, one empty group */
}

static int ngroups(int B, int E)
{
    int bpg = blocks_per_group(B, E);
    return (nblocks(E) + bpg - 1) / bpg;
}

size_t ds_scan_ckpt_floats(int B, int L, int E, int N) { return (size_t)B * nchunks(L) * E * N; }

/* per sequence: dA_log [E, N], dD [E], ddt_bias [E]; then for every group
 * but the first: dBm and dCm partials [B, L, N] each */
size_t ds_scan_scratch_floats(int B, int L, int E, int N)
{
    return (size_t)B * ((size_t)E * N + 2 * (size_t)E) + 2 * (size_t)(ngroups(B, E) - 1) * B * L * N;
}

/* n floats of src into dst[CB], zero beyond n */
static inline void load_lanes(float *dst, const float *src, int n)
{
    if (n == CB) { memcpy(dst, src, sizeof(float) * CB); return; }
    memset(dst, 0, sizeof(float) * CB);
    memcpy(dst, src, sizeof(float) * n);
}

/* a row of N floats into NL lanes, zero beyond N */
static inline void load_state_row(float *dst, const float *src, int N)
{
    if (N == NL) { memcpy(dst, src, sizeof(float) * NL); return; }   /* inlined: a constant size */
    memset(dst, 0, sizeof(float) * NL);
    memcpy(dst, src, sizeof(float) * N);
}

/* The CB channel values at src, or a zero-padded copy of them in buf for
 * the last, partial block. Reading the source in place avoids storing a copy
 * and loading it back at once as wider vectors (a store-forwarding stall). */
static inline const float *lanes_at(float *buf, const float *src, int n)
{
    if (n == CB) return src;
    load_lanes(buf, src, n);
    return buf;
}

/* The NL state-row values at src, or a zero-padded copy when N < NL. */
static inline const float *row_at(float *buf, const float *src, int N)
{
    if (N == NL) return src;
    load_state_row(buf, src, N);
    return buf;
}

/* A = −exp(A_log) of channels e0..e0+ne, padded lanes and channels 0 */
static void load_A(float A[CB][NL], const float *A_log, int e0, int ne, int N)
{
    memset(A, 0, sizeof(float) * CB * NL);
    for (int e = 0; e < ne; e++)
        for (int n = 0; n < N; n++) A[e][n] = -expf(A_log[(size_t)(e0 + e) * N + n]);
}

/* ---- forward ------------------------------------------------------------- */

/* The forward keeps the block's state transposed, s[n][e] (channels in the
 * vector lanes), so y's sum over the state lanes is lane_sum's tree done
 * row by row: the same operations in the same order as lane_sum on s[e][·]
 * (backward's recomputation), without shuffles. */
static DS_CLONES void forward_block(float *y, float *ckpt, const float *u, const float *dt, const float *dt_bias,
                                    const float *A_log, const float *Bm, const float *Cm, const float *D,
                                    const float *z, int b, int e0, int L, int E, int N)
{
    int ne = E - e0 < CB ? E - e0 : CB, nc = nchunks(L);
    float Ae[CB][NL], A[NL][CB], s[NL][CB], bias[CB], Dv[CB];
    load_A(Ae, A_log, e0, ne, N);
    for (int n = 0; n < NL; n++)
        for (int e = 0; e < CB; e++) A[n][e] = Ae[e][n];
    memset(s, 0, sizeof s);
    load_lanes(bias, dt_bias + e0, ne);
    load_lanes(Dv, D + e0, ne);
    for (int t = 0; t < L; t++) {
        size_t r = (size_t)b * L + t, i0 = r * E + e0;
        if (ckpt && t % CH == 0)
            for (int e = 0; e < ne; e++) {
                float *dst = ckpt + (((size_t)b * nc + t / CH) * E + e0 + e) * N;
                for (int n = 0; n < N; n++) dst[n] = s[n][e];
            }
        float bbuf[NL], cbuf[NL], xbuf[CB], vbuf[CB], zbuf[CB], delta[CB], dx[CB], out[CB];
        float p[NL][CB], q[8][CB], h[4][CB];
        const float *bt = row_at(bbuf, Bm + r * N, N), *ct = row_at(cbuf, Cm + r * N, N);
        const float *x = lanes_at(xbuf, u + i0, ne), *v = lanes_at(vbuf, dt + i0, ne);
        const float *zz = lanes_at(zbuf, z + i0, ne);
        for (int e = 0; e < CB; e++) {
            delta[e] = softplus_(v[e] + bias[e]);
            dx[e] = delta[e] * x[e];
        }
        for (int n = 0; n < NL; n++)
            for (int e = 0; e < CB; e++) {
                s[n][e] = ds_expf(delta[e] * A[n][e]) * s[n][e] + dx[e] * bt[n];
                p[n][e] = s[n][e] * ct[n];
            }
        for (int k = 0; k < 8; k++)
            for (int e = 0; e < CB; e++) q[k][e] = p[k][e] + p[k + 8][e];
        for (int k = 0; k < 4; k++)
            for (int e = 0; e < CB; e++) h[k][e] = q[k][e] + q[k + 4][e];
        for (int e = 0; e < CB; e++) {
            float acc = (h[0][e] + h[2][e]) + (h[1][e] + h[3][e]);
            out[e] = (acc + Dv[e] * x[e]) * (zz[e] * sigmoid_(zz[e]));
        }
        memcpy(y + i0, out, sizeof(float) * ne);
    }
}

void ds_selective_scan_forward(float *y, float *ckpt, const float *u, const float *dt, const float *dt_bias,
                               const float *A_log, const float *Bm, const float *Cm, const float *D,
                               const float *z, int B, int L, int E, int N)
{
    int nb = nblocks(E);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int k = 0; k < nb; k++) forward_block(y, ckpt, u, dt, dt_bias, A_log, Bm, Cm, D, z, b, k * CB, L, E, N);
}

/* ---- backward ------------------------------------------------------------ */

typedef struct {
    float *du, *ddt, *dz;            /* [B, L, E] outputs, or NULL */
    float *dB, *dC;                  /* [B, L, N]: the output (group 0) or this group's partial, or NULL */
    float *pA, *pD, *pbias;          /* this sequence's partials */
    const float *dy, *ckpt, *u, *dt, *dt_bias, *A_log, *Bm, *Cm, *D, *z;
    int L, E, N;
} bwd_args;

/* The per-chunk working set of one block: states before/after each step,
 * decay factors, and the per-step channel and state-row values. */
typedef struct {
    float S[CB][CH + 1][NL], a[CB][CH][NL];
    float delta[CH][CB], sv[CH][CB], dBk[CH][NL], dCk[CH][NL];
    const float *x[CH], *zz[CH], *dout[CH], *bt[CH], *ct[CH];   /* the inputs in place, or padded copies: */
    float xbuf[CH][CB], zbuf[CH][CB], dbuf[CH][CB], bbuf[CH][NL], cbuf[CH][NL];
} chunk_work;

/* Recomputes steps t0..t0+len of channels e0..e0+ne from the checkpoint. */
static inline __attribute__((always_inline)) void chunk_recompute(chunk_work *w, const bwd_args *g, float A[CB][NL], const float *bias, int b,
                                   int c, int e0, int ne, int len)
{
    int L = g->L, E = g->E, N = g->N, nc = nchunks(L);
    for (int e = 0; e < CB; e++)
        if (e < ne) load_state_row(w->S[e][0], g->ckpt + (((size_t)b * nc + c) * E + e0 + e) * N, N);
        else memset(w->S[e][0], 0, sizeof(float) * NL);
    for (int k = 0; k < len; k++) {
        size_t r = (size_t)b * L + c * CH + k, i0 = r * E + e0;
        float vbuf[CB];
        const float *v = lanes_at(vbuf, g->dt + i0, ne);
        w->bt[k] = row_at(w->bbuf[k], g->Bm + r * N, N);
        w->ct[k] = row_at(w->cbuf[k], g->Cm + r * N, N);
        w->x[k] = lanes_at(w->xbuf[k], g->u + i0, ne);
        w->zz[k] = lanes_at(w->zbuf[k], g->z + i0, ne);
        w->dout[k] = lanes_at(w->dbuf[k], g->dy + i0, ne);
        for (int e = 0; e < CB; e++) {
            float vv = v[e] + bias[e];
            w->delta[k][e] = softplus_(vv);
            w->sv[k][e] = sigmoid_(vv);
        }
        for (int e = 0; e < ne; e++) {
            float d = w->delta[k][e], dx = d * w->x[k][e];
            for (int n = 0; n < NL; n++) {
                float a = ds_expf(d * A[e][n]);
                w->a[e][k][n] = a;
                w->S[e][k + 1][n] = a * w->S[e][k][n] + dx * w->bt[k][n];
            }
        }
    }
}

static DS_CLONES void backward_block(const bwd_args *g, chunk_work *w, int b, int e0)
{
    int L = g->L, E = g->E, N = g->N, nc = nchunks(L), ne = E - e0 < CB ? E - e0 : CB;
    float A[CB][NL], G[CB][NL], an[CB][NL], pA[CB][NL], bias[CB], Dv[CB], pD[CB] = { 0 }, pb[CB] = { 0 };
    load_A(A, g->A_log, e0, ne, N);
    load_lanes(bias, g->dt_bias + e0, ne);
    load_lanes(Dv, g->D + e0, ne);
    memset(G, 0, sizeof G);
    memset(an, 0, sizeof an);
    memset(pA, 0, sizeof pA);
    for (int c = nc - 1; c >= 0; c--) {
        int len = L - c * CH < CH ? L - c * CH : CH;
        chunk_recompute(w, g, A, bias, b, c, e0, ne, len);
        memset(w->dBk, 0, sizeof w->dBk);
        memset(w->dCk, 0, sizeof w->dCk);
        for (int k = len - 1; k >= 0; k--) {
            size_t r = (size_t)b * L + c * CH + k, i0 = r * E + e0;
            const float *bt = w->bt[k], *ct = w->ct[k];
            float sg[CB], gate[CB], dyv[CB], dz[CB], du[CB], ddt[CB];
            for (int e = 0; e < CB; e++) {
                sg[e] = sigmoid_(w->zz[k][e]);
                gate[e] = w->zz[k][e] * sg[e];
                dyv[e] = w->dout[k][e] * gate[e];
            }
            for (int e = 0; e < ne; e++) {
                const float *sp = w->S[e][k], *st = w->S[e][k + 1], *a = w->a[e][k];
                float d = w->delta[k][e], x = w->x[k][e], dxv = d * x, q1[NL], q2[NL], p[NL];
                for (int n = 0; n < NL; n++) p[n] = st[n] * ct[n];
                float yv = lane_sum(p) + Dv[e] * x;
                dz[e] = w->dout[k][e] * yv * sg[e] * (1.0f + w->zz[k][e] * (1.0f - sg[e]));
                pD[e] += dyv[e] * x;
                for (int n = 0; n < NL; n++) {
                    float gn = dyv[e] * ct[n] + an[e][n] * G[e][n];
                    G[e][n] = gn;
                    an[e][n] = a[n];
                    w->dCk[k][n] += dyv[e] * st[n];
                    w->dBk[k][n] += gn * dxv;
                    float qa = gn * sp[n] * a[n];
                    pA[e][n] += qa * d;
                    q1[n] = qa * A[e][n] + gn * bt[n] * x;
                    q2[n] = gn * bt[n];
                }
                float dv = lane_sum(q1) * w->sv[k][e];
                du[e] = dyv[e] * Dv[e] + d * lane_sum(q2);
                ddt[e] = dv;
                pb[e] += dv;
            }
            for (int e = 0; e < ne; e++) {
                if (g->du) g->du[i0 + e] += du[e];
                if (g->ddt) g->ddt[i0 + e] += ddt[e];
                if (g->dz) g->dz[i0 + e] += dz[e];
            }
        }
        for (int k = 0; k < len; k++) {
            size_t r = (size_t)b * L + c * CH + k;
            for (int n = 0; n < N; n++) {
                if (g->dB) g->dB[r * N + n] += w->dBk[k][n];
                if (g->dC) g->dC[r * N + n] += w->dCk[k][n];
            }
        }
    }
    for (int e = 0; e < ne; e++) {
        for (int n = 0; n < N; n++) g->pA[(size_t)(e0 + e) * N + n] = pA[e][n] * A[e][n];
        g->pD[e0 + e] = pD[e];
        g->pbias[e0 + e] = pb[e];
    }
}

void ds_selective_scan_backward(float *du, float *ddt, float *ddt_bias, float *dA_log, float *dBm, float *dCm,
                                float *dD, float *dz, const float *dy, const float *ckpt, float *scratch,
                                const float *u, const float *dt, const float *dt_bias, const float *A_log,
                                const float *Bm, const float *Cm, const float *D, const float *z, int B, int L,
                                int E, int N)
{
    int nb = nblocks(E), bpg = blocks_per_group(B, E), ng = ngroups(B, E);
    size_t per = (size_t)E * N + 2 * (size_t)E, rowsN = (size_t)B * L * N;
    float *partB = scratch + per * B, *partC = partB + (size_t)(ng - 1) * rowsN;
#pragma omp parallel
    {
        chunk_work w;
#pragma omp for collapse(2) schedule(dynamic)
        for (int b = 0; b < B; b++)
            for (int gi = 0; gi < ng; gi++) {
                float *pA = scratch + per * b;
                bwd_args a = { du, ddt, dz, dBm, dCm, pA, pA + (size_t)E * N, pA + (size_t)E * N + E,
                               dy, ckpt, u, dt, dt_bias, A_log, Bm, Cm, D, z, L, E, N };
                if (gi > 0) {
                    /* this group's partial rows of sequence b start at zero */
                    size_t off = (size_t)(gi - 1) * rowsN, mine = (size_t)b * L * N;
                    a.dB = dBm ? partB + off : NULL;
                    a.dC = dCm ? partC + off : NULL;
                    if (a.dB) memset(a.dB + mine, 0, sizeof(float) * L * N);
                    if (a.dC) memset(a.dC + mine, 0, sizeof(float) * L * N);
                }
                int k1 = (gi + 1) * bpg < nb ? (gi + 1) * bpg : nb;
                for (int k = gi * bpg; k < k1; k++) backward_block(&a, &w, b, k * CB);
            }
        /* the partials, always in the same order */
#pragma omp for schedule(static)
        for (size_t i = 0; i < rowsN; i++)
            for (int gi = 1; gi < ng; gi++) {
                if (dBm) dBm[i] += partB[(size_t)(gi - 1) * rowsN + i];
                if (dCm) dCm[i] += partC[(size_t)(gi - 1) * rowsN + i];
            }
#pragma omp for schedule(static)
        for (size_t k = 0; k < per; k++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++) s += scratch[per * b + k];
            size_t en = (size_t)E * N;
            float *out = k < en ? dA_log : k < en + E ? dD : ddt_bias;
            size_t j = k < en ? k : k < en + E ? k - en : k - en - E;
            if (out) out[j] += s;
        }
    }
}
