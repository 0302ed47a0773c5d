/* The wav2vec2 Gumbel product quantizer core (spec §3.6): per row and group
 * a hard Gumbel-softmax choice among V codevectors (straight-through), and
 * the perplexities of the diversity loss. The logits are the weight_proj
 * output [N, G·V]; the Gumbel noise comes from the caller (lib/io/spanmask),
 * so this file holds no randomness.
 *
 * Formulas, as fairseq's GumbelVectorQuantizer.forward (fairseq@3d262bb2
 * fairseq/modules/gumbel_vector_quantizer.py) and HF's
 * Wav2Vec2GumbelVectorQuantizer, which agree in training:
 *   p̄_g = mean over the N rows of softmax_v(logits_g)   (no noise, no tau)
 *   prob_perplexity = Σ_g exp(−Σ_v p̄ log(p̄ + 1e-7))
 *   code_perplexity: the same with p̄ the mean of the one-hots of the
 *     NOISE-FREE argmax (fairseq takes `k = x.max(-1)` before the Gumbel
 *     draw; HF computes it only in eval, from the same argmax)
 *   forward (hard, straight-through): y_soft = softmax((logits + gumbel)/tau),
 *     one-hot of its argmax, out_g = codevectors[g·V + idx]; backward takes
 *     the gradient of the soft path (torch's y_hard − y_soft.detach() + y_soft).
 * Choices: the argmax is taken over logits + gumbel (first maximum on
 * ties; torch takes it over y_soft, which can only differ where two entries
 * round to the same probability), and out is the codevector itself (torch
 * multiplies it by (1 − s) + s, one rounding away from 1). The perplexity
 * sums run in double. N = 0 gives perplexities 0 (torch: NaN).
 *
 * Every reduction over rows runs in a fixed order (per column, rows
 * ascending), so results do not depend on the thread count. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* p = softmax(x[0..V) / tau) (max-subtracted); returns the first argmax of x. */
static int softmax_argmax(float *p, const float *x, int V, float tau)
{
    int am = 0;
    for (int v = 1; v < V; v++) am = x[v] > x[am] ? v : am;
    float mx = x[am] / tau, z = 0.0f;
    for (int v = 0; v < V; v++) { p[v] = ds_expf(x[v] / tau - mx); z += p[v]; }
    float inv = 1.0f / z;
    for (int v = 0; v < V; v++) p[v] *= inv;
    return am;
}

/* exp of the entropy −Σ p log(p + 1e-7) of one group's mean distribution. */
static double group_ppl(const float *pbar, int V)
{
    double h = 0;
    for (int v = 0; v < V; v++) h -= (double)pbar[v] * log((double)pbar[v] + 1e-7);
    return exp(h);
}

float ds_quantizer_forward(float *out, int32_t *idx, float *soft, float *avgp, float *code_ppl,
                           const float *logits, const float *gumbel, const float *codevectors, int N, int G,
                           int V, int D, float tau)
{
    int GV = G * V;
    long rows = (long)N * G;
    /* pass 1: the noise-free softmax (for p̄) and argmax (for the code perplexity) */
#pragma omp parallel for schedule(static) if (rows * V > 32768)
    for (long r = 0; r < rows; r++)
        idx[r] = softmax_argmax(soft + r * V, logits + r * V, V, 1.0f);
    double ppl = 0, cppl = 0;
    if (N > 0) {
#pragma omp parallel for schedule(static) if ((long)N * GV > 32768)
        for (int c = 0; c < GV; c++) {
            double s = 0;
            for (long n = 0; n < N; n++) s += soft[n * GV + c];
            avgp[c] = (float)(s / N);
        }
        /* counts of the hard choices; soft is free again, its first G·V floats hold them */
        float *hard = soft;
        memset(hard, 0, sizeof(float) * GV);
        for (long r = 0; r < rows; r++) hard[(r % G) * V + idx[r]] += 1.0f;
        for (int c = 0; c < GV; c++) hard[c] /= (float)N;
        for (int g = 0; g < G; g++) {
            ppl += group_ppl(avgp + g * V, V);
            cppl += group_ppl(hard + g * V, V);
        }
    } else {
        memset(avgp, 0, sizeof(float) * GV);
    }
    if (code_ppl) *code_ppl = (float)cppl;
    /* pass 2: the (noisy) hard choice and the soft distribution it came from */
#pragma omp parallel for schedule(static) if (rows * V > 32768)
    for (long r = 0; r < rows; r++) {
        float *p = soft + r * V;
        if (gumbel) {
            float x[V];
            for (int v = 0; v < V; v++) x[v] = logits[r * V + v] + gumbel[r * V + v];
            idx[r] = softmax_argmax(p, x, V, tau);
        } else {
            idx[r] = softmax_argmax(p, logits + r * V, V, tau);
        }
        memcpy(out + r * D, codevectors + ((size_t)(r % G) * V + idx[r]) * D, sizeof(float) * D);
    }
    return (float)ppl;
}

/* Rows per sgemm block of the straight-through gradient (a stack buffer of ROWS·V floats). */
static int block_rows(int V)
{
    int b = 8192 / (V > 0 ? V : 1);
    return b < 1 ? 1 : b > 64 ? 64 : b;
}

void ds_quantizer_backward(float *dlogits, float *dcodevectors, const float *dout, float dppl,
                           const int32_t *idx, const float *soft, const float *avgp, const float *logits,
                           const float *codevectors, int N, int G, int V, int D, float tau)
{
    if (N <= 0) return;
    int GV = G * V;
    if (dlogits) {
        /* a = dppl · ∂ppl/∂p̄ / N: what each row's noise-free softmax receives */
        float a[GV];
        for (int g = 0; g < G; g++) {
            double pg = group_ppl(avgp + g * V, V);
            for (int v = 0; v < V; v++) {
                double pb = avgp[g * V + v];
                a[g * V + v] = (float)(-(double)dppl * pg * (log(pb + 1e-7) + pb / (pb + 1e-7)) / N);
            }
        }
        int nb = block_rows(V), nblk = (N + nb - 1) / nb;
        float inv_tau = 1.0f / tau;
#pragma omp parallel for collapse(2) schedule(static) if ((long)N * GV > 32768)
        for (int blk = 0; blk < nblk; blk++)
            for (int g = 0; g < G; g++) {
                int n0 = blk * nb, m = N - n0 < nb ? N - n0 : nb;
                float dy[nb * V], q[V];
                /* ST: dy[n, v] = dout_g[n] · codevector_{g,v} for this block of rows */
                if (dout) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, V, D, 1.0f,
                            dout + (size_t)n0 * G * D + (size_t)g * D, G * D, codevectors + (size_t)g * V * D, D,
                            0.0f, dy, V);
                for (int i = 0; i < m; i++) {
                    long r = (long)(n0 + i) * G + g;
                    const float *s = soft + r * V, *y = dy + (size_t)i * V;
                    float *dl = dlogits + r * V;
                    if (dout) { /* softmax backward, then the 1/tau of (logits + gumbel)/tau */
                        double rs = 0;
                        for (int v = 0; v < V; v++) rs += (double)s[v] * y[v];
                        for (int v = 0; v < V; v++) dl[v] += (float)(s[v] * (y[v] - rs) * inv_tau);
                    }
                    if (dppl != 0.0f) {
                        softmax_argmax(q, logits + r * V, V, 1.0f);
                        const float *ag = a + g * V;
                        double c = 0;
                        for (int v = 0; v < V; v++) c += (double)q[v] * ag[v];
                        for (int v = 0; v < V; v++) dl[v] += (float)(q[v] * (ag[v] - c));
                    }
                }
            }
    }
    if (dcodevectors && dout) {
        /* each codevector sums the rows that chose it, rows ascending */
#pragma omp parallel for schedule(dynamic, 8) if ((long)N * GV > 32768)
        for (int c = 0; c < GV; c++) {
            int g = c / V, v = c % V;
            float *dc = dcodevectors + (size_t)c * D;
            for (long n = 0; n < N; n++)
                if (idx[n * G + g] == v) {
                    const float *d = dout + (size_t)n * G * D + (size_t)g * D;
                    for (int e = 0; e < D; e++) dc[e] += d[e];
                }
        }
    }
}
