/* Depthwise causal 1-D convolution (HyenaDNA short_filter, Mamba conv1d) over
 * token-major [B, L, C] activations. Threads split channel blocks, so the
 * weight and bias gradients are summed in a fixed order. */
#include "nn/ops.h"

#define CB 16

void ds_conv1d_causal_forward(float *out, const float *inp, const float *w, const float *bias, int B, int L,
                              int C, int K)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            float *y = out + ((size_t)b * L + t) * C;
            for (int c = 0; c < C; c++) y[c] = bias ? bias[c] : 0.0f;
            for (int j = 0; j < K; j++) {
                int s = t - (K - 1) + j;
                if (s < 0) continue;
                const float *x = inp + ((size_t)b * L + s) * C;
                for (int c = 0; c < C; c++) y[c] += w[c * K + j] * x[c];
            }
        }
}

void ds_conv1d_causal_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                               const float *w, int B, int L, int C, int K)
{
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        int c1 = c0 + CB < C ? c0 + CB : C;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                const float *dy = dout + ((size_t)b * L + t) * C;
                for (int j = 0; j < K; j++) {
                    int s = t - (K - 1) + j;
                    if (s < 0) continue;
                    size_t row = ((size_t)b * L + s) * C;
                    for (int c = c0; c < c1; c++) {
                        if (dinp) dinp[row + c] += w[c * K + j] * dy[c];
                        if (dw) dw[c * K + j] += dy[c] * inp[row + c];
                    }
                }
                if (dbias)
                    for (int c = c0; c < c1; c++) dbias[c] += dy[c];
            }
    }
}
