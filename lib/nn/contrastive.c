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
 * row chunks in order, and backward adds the scattered target gradients in
 * row order (an ordered loop; the cosines are recomputed in parallel). */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>

#define COS_EPS 1e-8
#define CHUNK 16

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
    int nch = (M + CHUNK - 1) / CHUNK;
    double total = 0;
    long correct = 0;
#pragma omp parallel for schedule(static) ordered reduction(+ : correct) if ((long)M * K * D > 32768)
    for (int ch = 0; ch < nch; ch++) {
        double s = 0;
        for (int m = ch * CHUNK; m < M && m < (ch + 1) * CHUNK; m++) {
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
#pragma omp ordered
        total += s;
    }
    if (n_correct) *n_correct = correct;
    return (float)total;
}

void ds_contrastive_backward(float *dc, float *dy, const float *probs, const float *c, const float *y,
                             const int32_t *neg, int M, int K, int D, float kappa, float dloss)
{
#pragma omp parallel for schedule(static, 1) ordered if ((long)M * K * D > 32768)
    for (int m = 0; m < M; m++) {
        const float *cm = c + (size_t)m * D, *p = probs + (size_t)m * (K + 1);
        double nc = norm_clamped(cm, D), dcos[K + 1], cs[K + 1], ny[K + 1];
        double self = 0;   /* Σ_k dcos_k·cos_k: the coefficient of −c_m/n_c² */
        for (int k = 0; k <= K; k++) {
            /* p = 0 off the target: a −inf (or underflowed) logit, no gradient */
            dcos[k] = (double)dloss * (p[k] - (k == 0)) / kappa;
            cs[k] = ny[k] = 1.0;
            if (dcos[k] == 0.0) continue;
            const float *yk = candidate(y, neg, m, k, K, D);
            ny[k] = norm_clamped(yk, D);
            cs[k] = dot(cm, yk, D) / (nc * ny[k]);
            self += dcos[k] * cs[k];
        }
        if (dc) {
            double acc[D];
            for (int d = 0; d < D; d++) acc[d] = -self * cm[d] / (nc * nc);
            for (int k = 0; k <= K; k++) {
                if (dcos[k] == 0.0) continue;
                const float *yk = candidate(y, neg, m, k, K, D);
                double a = dcos[k] / (nc * ny[k]);
                for (int d = 0; d < D; d++) acc[d] += a * yk[d];
            }
            float *g = dc + (size_t)m * D;
            for (int d = 0; d < D; d++) g[d] += (float)acc[d];
        }
#pragma omp ordered
        if (dy)
            for (int k = 0; k <= K; k++) {
                if (dcos[k] == 0.0) continue;
                int r = k == 0 ? m : neg[(size_t)m * K + k - 1];
                const float *yr = y + (size_t)r * D;
                float *g = dy + (size_t)r * D;
                double a = dcos[k] / (nc * ny[k]), b = dcos[k] * cs[k] / (ny[k] * ny[k]);
                for (int d = 0; d < D; d++) g[d] += (float)(a * cm[d] - b * yr[d]);
            }
    }
}
