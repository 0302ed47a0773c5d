/* Linear layer with PyTorch's weight layout W[out, in]: out = inp · Wᵀ + b.
 * Products through ds_sgemm (nn/gemm.h), so results do not depend on the
 * thread count. */
#include "nn/ops.h"

#include "nn/gemm.h"
#include <string.h>

void ds_linear_forward(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout)
{
    ds_gemm_epilogue e = { .bias = b };
    ds_sgemm_epi(0, 1, N, Cout, Cin, inp, Cin, W, Cin, out, Cout, &e);
}

void ds_linear_residual_forward(float *out, const float *inp, const float *W, const float *b, const float *res, int N,
                                int Cin, int Cout)
{
    ds_gemm_epilogue e = { .bias = b, .res = res, .ldres = Cout };
    ds_sgemm_epi(0, 1, N, Cout, Cin, inp, Cin, W, Cin, out, Cout, &e);
}

typedef struct { float *act; int ld; } gelu_ctx;

static void gelu_post(void *ctx, float *C, int ldc, int r0, int nr, int c0, int nc)
{
    const gelu_ctx *g = ctx;
    for (int r = r0; r < r0 + nr; r++)
        ds_gelu_tanh_forward_serial(g->act + (size_t)r * g->ld + c0, C + (size_t)r * ldc + c0, nc);
}

void ds_linear_gelu_tanh_forward(float *pre, float *act, const float *inp, const float *W, const float *b, int N,
                                 int Cin, int Cout)
{
    gelu_ctx g = { act, Cout };
    ds_gemm_epilogue e = { .bias = b, .post = gelu_post, .ctx = &g };
    ds_sgemm_epi(0, 1, N, Cout, Cin, inp, Cin, W, Cin, pre, Cout, &e);
}

void ds_linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                        const float *W, int N, int Cin, int Cout)
{
    if (dinp) /* dinp[N,Cin] += dout[N,Cout] · W[Cout,Cin] */
        ds_sgemm(0, 0, N, Cin, Cout, dout, Cout, W, Cin, 1.0f, dinp, Cin);
    if (dW)   /* dW[Cout,Cin] += doutᵀ · inp */
        ds_sgemm(1, 0, Cout, Cin, N, dout, Cout, inp, Cin, 1.0f, dW, Cin);
    if (db) { /* column sums, one channel block per thread: no races, fixed order */
#pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < Cout; o0 += 16) {
            int o1 = o0 + 16 < Cout ? o0 + 16 : Cout;
            float acc[16] = {0};
            for (int n = 0; n < N; n++)
                for (int o = o0; o < o1; o++) acc[o - o0] += dout[(size_t)n * Cout + o];
            for (int o = o0; o < o1; o++) db[o] += acc[o - o0];
        }
    }
}
