/* Depthwise causal 1-D convolution (HyenaDNA short_filter, Mamba conv1d) over
 * token-major [B, L, C] activations. Threads split 16-channel blocks and keep
 * that block's taps transposed on the stack ([K][16]), so the inner loops run
 * over contiguous channels and vectorise, and weight gradients are summed in
 * a fixed order. */
#include "nn/ops.h"

#include <string.h>

#define CB 16
#define KMAX 16

void ds_conv1d_causal_forward(float *out, const float *inp, const float *w, const float *bias, int B, int L,
                              int C, int K)
{
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        int nc = c0 + CB < C ? CB : C - c0;
        float wt[KMAX][CB], b0[CB];
        for (int j = 0; j < K; j++)
            for (int c = 0; c < nc; c++) wt[j][c] = w[(c0 + c) * K + j];
        for (int c = 0; c < nc; c++) b0[c] = bias ? bias[c0 + c] : 0.0f;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                float acc[CB];
                memcpy(acc, b0, sizeof acc);
                for (int j = t < K - 1 ? K - 1 - t : 0; j < K; j++) {
                    const float *x = inp + ((size_t)b * L + t - (K - 1) + j) * C + c0;
                    for (int c = 0; c < nc; c++) acc[c] += wt[j][c] * x[c];
                }
                memcpy(out + ((size_t)b * L + t) * C + c0, acc, sizeof(float) * nc);
            }
    }
}

void ds_conv1d_causal_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                               const float *w, int B, int L, int C, int K)
{
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        int nc = c0 + CB < C ? CB : C - c0;
        float wt[KMAX][CB], gw[KMAX][CB] = {{0}}, gb[CB] = {0};
        for (int j = 0; j < K; j++)
            for (int c = 0; c < nc; c++) wt[j][c] = w[(c0 + c) * K + j];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                const float *dy = dout + ((size_t)b * L + t) * C + c0;
                for (int c = 0; c < nc; c++) gb[c] += dy[c];
                for (int j = t < K - 1 ? K - 1 - t : 0; j < K; j++) {
                    size_t row = ((size_t)b * L + t - (K - 1) + j) * C + c0;
                    const float *x = inp + row;
                    for (int c = 0; c < nc; c++) gw[j][c] += dy[c] * x[c];
                    if (dinp)
                        for (int c = 0; c < nc; c++) dinp[row + c] += wt[j][c] * dy[c];
                }
            }
        for (int c = 0; c < nc; c++) {
            for (int j = 0; j < K && dw; j++) dw[(c0 + c) * K + j] += gw[j][c];
            if (dbias) dbias[c0 + c] += gb[c];
        }
    }
}
