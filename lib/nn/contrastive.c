/* The wav2vec2 contrastive loss (spec §3.7): for each of M masked frames,
 * cosine similarities / kappa between its context c_m and the candidates
 * [y_m (positive), y_neg[m,0..K)], cross-entropy with target 0, summed.
 *
 * Cosine as torch.cosine_similarity of torch 1.13 (ATen/native/Distance.cpp,
 * checked against the Debian torch 1.13 build): each vector is divided by
 * its own clamped norm first, cos = Σ (x / max(‖x‖, eps)) · (y / max(‖y‖, eps)),
 * eps 1e-8 (not the older x·y / sqrt(max(‖x‖²‖y‖², eps²))). Its autograd
 * gradient is ∂cos/∂x = y/(n_x n_y) − cos·x/n_x² with n_x, n_y the clamped
 * norms (the clamp runs under no_grad on a clone, so the norm's own backward
 * sees the clamped value); we use the same formula. Sums run in double.
 *
 * A negative whose vector equals y_m element for element (float ==, as
 * fairseq's `(y == negatives).all(-1)`) gets logit −inf: probability 0 and
 * no gradient. n_correct follows fairseq's wav2vec_criterion: argmax == 0
 * and not argmin == 0 (a row of equal logits counts as wrong).
 *
 * Results do not depend on the thread count: the loss is summed over fixed
 * row chunks in order, and every target row receives its gradient terms in
 * (m, k) order (see grad_targets); no scratch is needed. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>
#include <omp.h>

#define COS_EPS 1e-8
#define MAX_CHUNKS 1024

static double norm_clamped(const float *x, int D)
{
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)x[d] * x[d];
    s = sqrt(s);
    return s > COS_EPS ? s : COS_EPS;
}

static double dot(const float *x, const float *y, int D)
{
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)x[d] * y[d];
    return s;
}

static int same_vector(const float *x, const float *y, int D)
{
    for (int d = 0; d < D; d++)
        if (!(x[d] == y[d])) return 0;
    return 1;
}

static const float *candidate(const float *y, const int32_t *neg, int m, int k, int K, int D)
{
    return y + (size_t)(k == 0 ? m : neg[(size_t)m * K + k - 1]) * D;
}

/* Row m's logits into lg[0..K]; −inf for a negative equal to the positive. */
static void row_logits(float *lg, const float *c, const float *y, const int32_t *neg, int m, int K, int D,
                       float kappa)
{
    const float *cm = c + (size_t)m * D, *ym = y + (size_t)m * D;
    double nc = norm_clamped(cm, D);
    for (int k = 0; k <= K; k++) {
        const float *yk = candidate(y, neg, m, k, K, D);
        if (k > 0 && same_vector(yk, ym, D)) { lg[k] = -INFINITY; continue; }
        float cs = (float)(dot(cm, yk, D) / (nc * norm_clamped(yk, D)));
        lg[k] = cs / kappa;
    }
}

float ds_contrastive_forward(float *probs, long *n_correct, const float *c, const float *y, const int32_t *neg,
                             int M, int K, int D, float kappa)
{
    double part[MAX_CHUNKS];
    int rows = (M + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (rows < 16) rows = 16;
    int nch = (M + rows - 1) / rows;
    long correct = 0;
#pragma omp parallel for schedule(static) reduction(+ : correct) if ((long)M * K * D > 32768)
    for (int ch = 0; ch < nch; ch++) {
        double s = 0;
        for (int m = ch * rows; m < M && m < (ch + 1) * rows; m++) {
            float *p = probs + (size_t)m * (K + 1);
            row_logits(p, c, y, neg, m, K, D, kappa);
            int amax = 0, amin = 0;
            for (int k = 1; k <= K; k++) {
                amax = p[k] > p[amax] ? k : amax;
                amin = p[k] < p[amin] ? k : amin;
            }
            correct += amax == 0 && amin != 0;
            float mx = p[amax], l0 = p[0], z = 0.0f;
            for (int k = 0; k <= K; k++) { p[k] = p[k] == -INFINITY ? 0.0f : ds_expf(p[k] - mx); z += p[k]; }
            for (int k = 0; k <= K; k++) p[k] /= z;
            s += log((double)z) + mx - l0;   /* −log softmax_0 */
        }
        part[ch] = s;
    }
    double total = 0;
    for (int ch = 0; ch < nch; ch++) total += part[ch];
    if (n_correct) *n_correct = correct;
    return (float)total;
}

/* ∂loss/∂cos of candidate k of row m; 0 off the target where p = 0 (a −inf
 * or underflowed logit: no gradient). */
static double dcos_of(const float *p, int k, float kappa, float dloss)
{
    return (double)dloss * (p[k] - (k == 0)) / kappa;
}

/* dc_m += Σ_k dcos_k·(y_k/(n_c n_k) − cos_k·c_m/n_c²), one row per iteration. */
static void grad_contexts(float *dc, const float *probs, const float *c, const float *y, const int32_t *neg, int M,
                          int K, int D, float kappa, float dloss)
{
#pragma omp parallel for schedule(static) if ((long)M * K * D > 32768)
    for (int m = 0; m < M; m++) {
        const float *cm = c + (size_t)m * D, *p = probs + (size_t)m * (K + 1);
        double nc = norm_clamped(cm, D), acc[D], self = 0;
        for (int d = 0; d < D; d++) acc[d] = 0;
        for (int k = 0; k <= K; k++) {
            double g = dcos_of(p, k, kappa, dloss);
            if (g == 0.0) continue;
            const float *yk = candidate(y, neg, m, k, K, D);
            double ny = norm_clamped(yk, D), a = g / (nc * ny);
            self += g * dot(cm, yk, D) / (nc * ny);
            for (int d = 0; d < D; d++) acc[d] += a * yk[d];
        }
        float *gm = dc + (size_t)m * D;
        for (int d = 0; d < D; d++) gm[d] += (float)(acc[d] - self * cm[d] / (nc * nc));
    }
}

/* dy_r += dcos·(c_m/(n_c n_r) − cos·y_r/n_r²) for every (m, k) whose candidate is row r. Each
 * thread owns a range of target rows and walks all pairs in (m, k) order, so every row receives
 * its terms in the same order whatever the thread count, and each pair is computed once. */
static void grad_targets(float *dy, const float *probs, const float *c, const float *y, const int32_t *neg, int M,
                         int K, int D, float kappa, float dloss)
{
#pragma omp parallel if ((long)M * K * D > 32768)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int r0 = (int)((long)M * id / nt), r1 = (int)((long)M * (id + 1) / nt);
        for (int m = 0; m < M; m++) {
            const float *cm = c + (size_t)m * D, *p = probs + (size_t)m * (K + 1);
            double nc = -1;   /* computed on first use */
            for (int k = 0; k <= K; k++) {
                int r = k == 0 ? m : neg[(size_t)m * K + k - 1];
                if (r < r0 || r >= r1) continue;
                double g = dcos_of(p, k, kappa, dloss);
                if (g == 0.0) continue;
                if (nc < 0) nc = norm_clamped(cm, D);
                const float *yr = y + (size_t)r * D;
                double ny = norm_clamped(yr, D), cs = dot(cm, yr, D) / (nc * ny);
                double a = g / (nc * ny), b = g * cs / (ny * ny);
                float *gr = dy + (size_t)r * D;
                for (int d = 0; d < D; d++) gr[d] += (float)(a * cm[d] - b * yr[d]);
            }
        }
    }
}

void ds_contrastive_backward(float *dc, float *dy, const float *probs, const float *c, const float *y,
                             const int32_t *neg, int M, int K, int D, float kappa, float dloss)
{
    if (dc) grad_contexts(dc, probs, c, y, neg, M, K, D, kappa, dloss);
    if (dy) grad_targets(dy, probs, c, y, neg, M, K, D, kappa, dloss);
}
