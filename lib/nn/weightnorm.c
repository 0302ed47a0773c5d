/* Weight normalisation over dim 2 of a [O, I, K] conv weight, as PyTorch's
 * weight_norm(conv, dim=2) on wav2vec2's positional conv (spec §3.4):
 * w[o,i,k] = g[k]·v[o,i,k]/‖v[:,:,k]‖, one norm per kernel tap. A thread owns
 * a block of taps and walks all rows in order, so the per-tap sums do not
 * depend on the thread count. A tap whose v is all zero gives NaN, as in
 * PyTorch. */
#include "nn/ops.h"

#include <math.h>

#define KB 16

void ds_weightnorm2_forward(float *w, float *norms, const float *g, const float *v, int O, int I, int K)
{
    long rows = (long)O * I;
#pragma omp parallel for schedule(static)
    for (int k0 = 0; k0 < K; k0 += KB) {
        int nk = k0 + KB < K ? KB : K - k0;
        double ss[KB] = {0};
        float sc[KB];
        for (long r = 0; r < rows; r++) {
            const float *x = v + r * K + k0;
            for (int k = 0; k < nk; k++) ss[k] += (double)x[k] * x[k];
        }
        for (int k = 0; k < nk; k++) {
            norms[k0 + k] = (float)sqrt(ss[k]);
            sc[k] = (float)(g[k0 + k] / sqrt(ss[k]));
        }
        for (long r = 0; r < rows; r++) {
            const float *x = v + r * K + k0;
            float *y = w + r * K + k0;
            for (int k = 0; k < nk; k++) y[k] = sc[k] * x[k];
        }
    }
}

/* With n = ‖v_k‖ and S = Σ dw·v over the tap: dg = S/n and
 * dv = (g/n)·dw − (g·S/n³)·v. */
void ds_weightnorm2_backward(float *dg, float *dv, const float *dw, const float *g, const float *v,
                             const float *norms, int O, int I, int K)
{
    long rows = (long)O * I;
#pragma omp parallel for schedule(static)
    for (int k0 = 0; k0 < K; k0 += KB) {
        int nk = k0 + KB < K ? KB : K - k0;
        double s[KB] = {0};
        float a[KB], c[KB];
        for (long r = 0; r < rows; r++) {
            const float *x = v + r * K + k0, *d = dw + r * K + k0;
            for (int k = 0; k < nk; k++) s[k] += (double)d[k] * x[k];
        }
        for (int k = 0; k < nk; k++) {
            double n = norms[k0 + k];
            if (dg) dg[k0 + k] += (float)(s[k] / n);
            a[k] = (float)(g[k0 + k] / n);
            c[k] = (float)(g[k0 + k] * s[k] / (n * n * n));
        }
        if (!dv) continue;
        for (long r = 0; r < rows; r++) {
            const float *x = v + r * K + k0, *d = dw + r * K + k0;
            float *y = dv + r * K + k0;
            for (int k = 0; k < nk; k++) y[k] += a[k] * d[k] - c[k] * x[k];
        }
    }
}
