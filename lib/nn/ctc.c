/* CTC loss and greedy decoding for the wav2vec2 fine-tuning head (spec §3.8).
 * The alpha/beta recursions run in log space in double: over T = 2000 frames
 * the log-likelihood reaches thousands, where a float's absolute resolution
 * (~1e-4) would be the relative error of every gradient. Each sequence is
 * one OpenMP iteration with its own slice of scratch, so results do not
 * depend on the thread count. */
#include "nn/ops.h"

#include <math.h>

static double lse2(double a, double b)
{
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

static int max_len(const int *tgt_lens, int B)
{
    int m = 0;
    for (int b = 0; b < B; b++) m = tgt_lens[b] > m ? tgt_lens[b] : m;
    return m;
}

size_t ds_ctc_scratch_floats(int B, int T, int Lmax, int V)
{
    size_t S = 2 * (size_t)Lmax + 1;
    return 2 * ((size_t)B * T * S + (size_t)B * (2 * S + V));   /* doubles, two floats each */
}

/* One sequence's view: its labels, frames and slices of scratch. */
typedef struct {
    const int32_t *tg;
    const float *lp;
    double *alpha;   /* [T, Smax] */
    int Tb, S, Smax, V, blank;
} ctc_seq;

static ctc_seq seq_of(double *scratch, const float *logp, const int *in_lens, const int32_t *targets,
                      const int *tgt_lens, int B, int T, int V, int blank, int b)
{
    ctc_seq q;
    long off = 0;
    for (int j = 0; j < b; j++) off += tgt_lens[j];
    q.tg = targets + off;
    q.lp = logp + (size_t)b * T * V;
    q.Smax = 2 * max_len(tgt_lens, B) + 1;
    q.alpha = scratch + (size_t)b * T * q.Smax;
    q.Tb = in_lens[b];
    q.S = 2 * tgt_lens[b] + 1;
    q.V = V;
    q.blank = blank;
    return q;
}

static inline int lab(const ctc_seq *q, int s) { return s & 1 ? q->tg[s >> 1] : q->blank; }

/* May the path enter s from s−2 (two different non-blank labels around a blank)? */
static inline int skip_to(const ctc_seq *q, int s) { return s > 1 && (s & 1) && lab(q, s) != lab(q, s - 2); }

static double seq_alpha(const ctc_seq *q)
{
    if (q->Tb <= 0) return q->S == 1 ? 0.0 : -INFINITY;
    double *A = q->alpha;
    for (int s = 0; s < q->S; s++) A[s] = -INFINITY;
    A[0] = q->lp[q->blank];
    if (q->S > 1) A[1] = q->lp[lab(q, 1)];
    for (int t = 1; t < q->Tb; t++) {
        const double *P = A + (size_t)(t - 1) * q->Smax;
        double *C = A + (size_t)t * q->Smax;
        const float *lp = q->lp + (size_t)t * q->V;
        for (int s = 0; s < q->S; s++) {
            double a = P[s];
            if (s > 0) a = lse2(a, P[s - 1]);
            if (skip_to(q, s)) a = lse2(a, P[s - 2]);
            C[s] = a == -INFINITY ? -INFINITY : a + lp[lab(q, s)];
        }
    }
    const double *E = A + (size_t)(q->Tb - 1) * q->Smax;
    return lse2(E[q->S - 1], q->S > 1 ? E[q->S - 2] : -INFINITY);
}

void ds_ctc_forward(double *loss, float *scratch, const float *logp, const int *in_lens, const int32_t *targets,
                    const int *tgt_lens, int B, int T, int V, int blank, int zero_infinity)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        ctc_seq q = seq_of((double *)scratch, logp, in_lens, targets, tgt_lens, B, T, V, blank, b);
        double ll = seq_alpha(&q);
        loss[b] = ll == -INFINITY ? (zero_infinity ? 0.0 : INFINITY) : -ll;
    }
}

/* Beta at frame t into C from beta at t+1 in N (Graves' convention: both alpha and beta include frame t). */
static void beta_step(const ctc_seq *q, double *C, const double *N, int t)
{
    const float *lp = q->lp + (size_t)t * q->V;
    for (int s = 0; s < q->S; s++) {
        double a = N[s];
        if (s + 1 < q->S) a = lse2(a, N[s + 1]);
        if (s + 2 < q->S && skip_to(q, s + 2)) a = lse2(a, N[s + 2]);
        C[s] = a == -INFINITY ? -INFINITY : a + lp[lab(q, s)];
    }
}

static void seq_backward(const ctc_seq *q, float *dlogp, double dloss, double *beta, double *acc)
{
    const double *E = q->alpha + (size_t)(q->Tb - 1) * q->Smax;
    double ll = lse2(E[q->S - 1], q->S > 1 ? E[q->S - 2] : -INFINITY);
    if (ll == -INFINITY) return;   /* impossible alignment: no gradient */
    double *cur = beta, *next = beta + q->Smax;
    for (int t = q->Tb - 1; t >= 0; t--) {
        const float *lp = q->lp + (size_t)t * q->V;
        if (t == q->Tb - 1) {
            for (int s = 0; s < q->S; s++) cur[s] = -INFINITY;
            cur[q->S - 1] = lp[q->blank];
            if (q->S > 1) cur[q->S - 2] = lp[lab(q, q->S - 2)];
        } else {
            beta_step(q, cur, next, t);
        }
        /* ∂(−ll)/∂lp[t,v] = −Σ_{s: l'_s = v} α_t(s)·β_t(s) / (y_t(v)·p) */
        const double *A = q->alpha + (size_t)t * q->Smax;
        for (int v = 0; v < q->V; v++) acc[v] = 0;
        for (int s = 0; s < q->S; s++) {
            double g = A[s] + cur[s];
            if (g != -INFINITY) acc[lab(q, s)] += exp(g - lp[lab(q, s)] - ll);
        }
        float *d = dlogp + (size_t)t * q->V;
        for (int v = 0; v < q->V; v++)
            if (acc[v] != 0) d[v] += (float)(-dloss * acc[v]);
        double *tmp = cur; cur = next; next = tmp;
    }
}

void ds_ctc_backward(float *dlogp, const double *dloss, float *scratch, const float *logp, const int *in_lens,
                     const int32_t *targets, const int *tgt_lens, int B, int T, int V, int blank)
{
    int Smax = 2 * max_len(tgt_lens, B) + 1;
    double *rows = (double *)scratch + (size_t)B * T * Smax;
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        ctc_seq q = seq_of((double *)scratch, logp, in_lens, targets, tgt_lens, B, T, V, blank, b);
        if (q.Tb <= 0 || dloss[b] == 0) continue;
        double *beta = rows + (size_t)b * (2 * Smax + V);
        seq_backward(&q, dlogp + (size_t)b * T * V, dloss[b], beta, beta + 2 * Smax);
    }
}

int ds_ctc_greedy(int32_t *out, const float *logits, int T, int V, int blank)
{
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        const float *x = logits + (size_t)t * V;
        int a = 0;
        for (int v = 1; v < V; v++)
            if (x[v] > x[a]) a = v;
        if (a != prev && a != blank) out[n++] = a;
        prev = a;
    }
    return n;
}
