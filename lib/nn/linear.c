/* Linear layer with PyTorch's weight layout W[out, in]: out = inp · Wᵀ + b.
 * Products through ds_sgemm (nn/gemm.h), so results do not depend on the
 * thread count. */
#include "nn/ops.h"

#include "nn/gemm.h"
#include <string.h>

void ds_linear_forward(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout)
{
    float beta = 0.0f;
    if (b) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * Cout, b, (size_t)Cout * sizeof(float));
        beta = 1.0f;
    }
    ds_sgemm(0, 1, N, Cout, Cin, inp, Cin, W, Cin, beta, out, Cout);
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
