/* Depthwise causal 1-D convolution (HyenaDNA short_filter, Mamba conv1d) over
 * token-major [B, L, C] activations. Threads split 16-channel blocks and keep
 * that block's taps transposed on the stack ([K][16]), so the inner loops run
 * over contiguous channels and vectorise, and weight gradients are summed in
 * a fixed order. */
#include "nn/gemm.h"
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

/* ---- general Conv1d (wav2vec2 feature encoder and positional conv) ------
 *
 * Two ways to the same sum, picked from the shape only (so the thread count
 * never changes which one runs):
 *   taps:   groups == 1 and Cin >= TAP_MIN_CIN (feature encoder layers 1-6).
 *           The conv is K matmuls, one per tap j: out[t] += inp[t·s − pad + j] ·
 *           W_jᵀ. In time-major layout the input rows of tap j are a strided
 *           view (row stride s·Cin), so no input is copied at all; only the
 *           weight is repacked to [K][Cout][Cin] (contiguous per tap).
 *   im2col: everything else (layer 0 with Cin 1, the grouped positional conv).
 *           Per (b, group) the input is transposed to channel-major with the
 *           zero padding in place, xT[i][q] = inp[q − pad, i], so the im2col row
 *           of frame t is Cg contiguous K-float pieces xT[i][t·s .. t·s+K−1],
 *           laid out (i, j) like PyTorch's weight [Cout, Cg, K]: the weight is
 *           used as it is. Rows are done in chunks of at most
 *           DS_CONV_COL_FLOATS / (Cg·K) frames.
 * Matmuls are cblas_sgemm calls on fixed tiles of the output (tiled_sgemm);
 * copies are OpenMP loops that write disjoint elements. Weight gradients
 * accumulate chunk by chunk in a fixed order, so nothing depends on the
 * thread count. */


#define TAP_MIN_CIN 32
#define DS_CONV_COL_FLOATS (1 << 22)   /* 16 MiB of im2col rows at most */

static int conv_use_taps(int Cin, int groups) { return groups == 1 && Cin >= TAP_MIN_CIN; }
static int conv_padded_len(int Lout, int K, int stride) { return (Lout - 1) * stride + K; }

static int conv_chunk_rows(int Lout, int CgK)
{
    long r = DS_CONV_COL_FLOATS / CgK;
    if (r < 1) r = 1;
    return r < Lout ? (int)r : Lout;
}

size_t ds_conv1d_scratch_floats(int B, int Lin, int Cin, int Cout, int K, int stride, int pad, int groups, int Lout)
{
    if (Lout <= 0) return 0;
    if (conv_use_taps(Cin, groups)) return 2 * (size_t)Cout * Cin * K;   /* packed W and packed dW */
    int Cg = Cin / groups;
    size_t lp = (size_t)conv_padded_len(Lout, K, stride);
    return 2 * (size_t)Cg * lp + (size_t)conv_chunk_rows(Lout, Cg * K) * Cg * K;
}

/* Output frames t whose tap j reads an input row inside [0, Lin): [*t0, *t1). */
static void conv_tap_range(int *t0, int *t1, int j, int Lin, int stride, int pad, int Lout)
{
    int lo = pad - j, hi = Lin - 1 + pad - j;
    *t0 = lo > 0 ? (lo + stride - 1) / stride : 0;
    *t1 = hi < 0 ? 0 : hi / stride + 1;
    if (*t1 > Lout) *t1 = Lout;
}

/* Rows of out start as the bias (beta 1 afterwards) or zero. */
static void conv_init_rows(float *out, const float *bias, long rows, int Cout)
{
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        float *y = out + r * Cout;
        if (bias) memcpy(y, bias, (size_t)Cout * sizeof(float));
        else memset(y, 0, (size_t)Cout * sizeof(float));
    }
}

/* wp[j][o][i] = w[o][i][j] */
static void conv_pack_taps(float *wp, const float *w, int Cout, int Cin, int K)
{
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++)
        for (int i = 0; i < Cin; i++)
            for (int j = 0; j < K; j++) wp[((size_t)j * Cout + o) * Cin + i] = w[((size_t)o * Cin + i) * K + j];
}

static void conv_taps_forward(float *out, const float *inp, const float *w, const float *bias, int B, int Lin,
                              int Cin, int Cout, int K, int stride, int pad, int Lout, float *wp)
{
    conv_pack_taps(wp, w, Cout, Cin, K);
    conv_init_rows(out, bias, (long)B * Lout, Cout);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < K; j++) {
            int t0, t1;
            conv_tap_range(&t0, &t1, j, Lin, stride, pad, Lout);
            if (t1 <= t0) continue;
            const float *x = inp + ((size_t)b * Lin + (size_t)t0 * stride - pad + j) * Cin;
            ds_sgemm(0, 1, t1 - t0, Cout, Cin, x, stride * Cin, wp + (size_t)j * Cout * Cin, Cin, 1.0f,
                        out + ((size_t)b * Lout + t0) * Cout, Cout);
        }
}

/* xT[i][q] = inp[b, q − pad, g·Cg + i] for q < Lp, zero outside the input. */
static void conv_transpose_in(float *xT, const float *inp, int b, int g, int Lin, int Cin, int Cg, int pad, int Lp)
{
#pragma omp parallel for schedule(static)
    for (int q0 = 0; q0 < Lp; q0 += 64) {
        int q1 = q0 + 64 < Lp ? q0 + 64 : Lp;
        for (int q = q0; q < q1; q++) {
            int src = q - pad;
            if (src < 0 || src >= Lin) {
                for (int i = 0; i < Cg; i++) xT[(size_t)i * Lp + q] = 0.0f;
                continue;
            }
            const float *x = inp + ((size_t)b * Lin + src) * Cin + (size_t)g * Cg;
            for (int i = 0; i < Cg; i++) xT[(size_t)i * Lp + q] = x[i];
        }
    }
}

/* inp-gradient of the rows that are inside the input: dinp[b, q − pad, g·Cg + i] += dxT[i][q]. */
static void conv_transpose_add(float *dinp, const float *dxT, int b, int g, int Lin, int Cin, int Cg, int pad, int Lp)
{
    int q_hi = Lin + pad < Lp ? Lin + pad : Lp;
#pragma omp parallel for schedule(static)
    for (int q = pad; q < q_hi; q++) {
        float *dx = dinp + ((size_t)b * Lin + q - pad) * Cin + (size_t)g * Cg;
        for (int i = 0; i < Cg; i++) dx[i] += dxT[(size_t)i * Lp + q];
    }
}

/* col[r][i·K + j] = xT[i][(t0 + r)·s + j] */
static void conv_im2col(float *col, const float *xT, int t0, int rows, int Cg, int K, int stride, int Lp)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *c = col + (size_t)r * Cg * K;
        const float *x = xT + (size_t)(t0 + r) * stride;
        for (int i = 0; i < Cg; i++) memcpy(c + (size_t)i * K, x + (size_t)i * Lp, (size_t)K * sizeof(float));
    }
}

/* dxT[i][(t0 + r)·s + j] += dcol[r][i·K + j]; a thread owns channels, so
 * overlapping windows add in row order. */
static void conv_col2im(float *dxT, const float *dcol, int t0, int rows, int Cg, int K, int stride, int Lp)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Cg; i++)
        for (int r = 0; r < rows; r++) {
            float *dx = dxT + (size_t)i * Lp + (size_t)(t0 + r) * stride;
            const float *dc = dcol + (size_t)r * Cg * K + (size_t)i * K;
            for (int j = 0; j < K; j++) dx[j] += dc[j];
        }
}

static void conv_im2col_forward(float *out, const float *inp, const float *w, const float *bias, int B, int Lin,
                                int Cin, int Cout, int K, int stride, int pad, int groups, int Lout,
                                float *scratch)
{
    int Cg = Cin / groups, Cgo = Cout / groups, CgK = Cg * K;
    int Lp = conv_padded_len(Lout, K, stride), R = conv_chunk_rows(Lout, CgK);
    float *xT = scratch, *col = scratch + (size_t)Cg * Lp;
    if (bias) conv_init_rows(out, bias, (long)B * Lout, Cout);
    for (int b = 0; b < B; b++)
        for (int g = 0; g < groups; g++) {
            conv_transpose_in(xT, inp, b, g, Lin, Cin, Cg, pad, Lp);
            for (int t0 = 0; t0 < Lout; t0 += R) {
                int rows = t0 + R < Lout ? R : Lout - t0;
                conv_im2col(col, xT, t0, rows, Cg, K, stride, Lp);
                ds_sgemm(0, 1, rows, Cgo, CgK, col, CgK, w + (size_t)g * Cgo * CgK, CgK, bias ? 1.0f : 0.0f,
                            out + ((size_t)b * Lout + t0) * Cout + (size_t)g * Cgo, Cout);
            }
        }
}

void ds_conv1d_forward(float *out, const float *inp, const float *w, const float *bias, int B, int Lin,
                       int Cin, int Cout, int K, int stride, int pad, int groups, int Lout, float *scratch)
{
    if (Lout <= 0 || B <= 0) return;
    if (conv_use_taps(Cin, groups))
        conv_taps_forward(out, inp, w, bias, B, Lin, Cin, Cout, K, stride, pad, Lout, scratch);
    else
        conv_im2col_forward(out, inp, w, bias, B, Lin, Cin, Cout, K, stride, pad, groups, Lout, scratch);
}

/* dbias[o] += Σ over all rows of dout; one channel block per thread, rows in order. */
static void conv_bias_grad(float *dbias, const float *dout, long rows, int Cout)
{
#pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < Cout; o0 += 16) {
        int o1 = o0 + 16 < Cout ? o0 + 16 : Cout;
        float acc[16] = {0};
        for (long r = 0; r < rows; r++)
            for (int o = o0; o < o1; o++) acc[o - o0] += dout[r * Cout + o];
        for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
    }
}

static void conv_taps_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int B,
                               int Lin, int Cin, int Cout, int K, int stride, int pad, int Lout, float *scratch)
{
    float *wp = scratch, *dwp = scratch + (size_t)Cout * Cin * K;
    if (dinp) conv_pack_taps(wp, w, Cout, Cin, K);
    if (dw) memset(dwp, 0, (size_t)Cout * Cin * K * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < K; j++) {
            int t0, t1;
            conv_tap_range(&t0, &t1, j, Lin, stride, pad, Lout);
            if (t1 <= t0) continue;
            size_t xrow = (size_t)b * Lin + (size_t)t0 * stride - pad + j;
            const float *dy = dout + ((size_t)b * Lout + t0) * Cout;
            if (dw)     /* dW_j[Cout, Cin] += dyᵀ · x_j */
                ds_sgemm(1, 0, Cout, Cin, t1 - t0, dy, Cout, inp + xrow * Cin, stride * Cin, 1.0f,
                            dwp + (size_t)j * Cout * Cin, Cin);
            if (dinp)   /* dx_j += dy · W_j; taps run one after another, so overlapping rows add in order */
                ds_sgemm(0, 0, t1 - t0, Cin, Cout, dy, Cout, wp + (size_t)j * Cout * Cin, Cin, 1.0f,
                            dinp + xrow * Cin, stride * Cin);
        }
    if (!dw) return;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++)
        for (int i = 0; i < Cin; i++)
            for (int j = 0; j < K; j++) dw[((size_t)o * Cin + i) * K + j] += dwp[((size_t)j * Cout + o) * Cin + i];
}

static void conv_im2col_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                                 int B, int Lin, int Cin, int Cout, int K, int stride, int pad, int groups,
                                 int Lout, float *scratch)
{
    int Cg = Cin / groups, Cgo = Cout / groups, CgK = Cg * K;
    int Lp = conv_padded_len(Lout, K, stride), R = conv_chunk_rows(Lout, CgK);
    float *xT = scratch, *dxT = scratch + (size_t)Cg * Lp, *col = dxT + (size_t)Cg * Lp;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < groups; g++) {
            const float *wg = w + (size_t)g * Cgo * CgK;
            if (dw) conv_transpose_in(xT, inp, b, g, Lin, Cin, Cg, pad, Lp);
            if (dinp) memset(dxT, 0, (size_t)Cg * Lp * sizeof(float));
            for (int t0 = 0; t0 < Lout; t0 += R) {
                int rows = t0 + R < Lout ? R : Lout - t0;
                const float *dy = dout + ((size_t)b * Lout + t0) * Cout + (size_t)g * Cgo;
                if (dw) {   /* dW_g[Cgo, Cg·K] += dyᵀ · col */
                    conv_im2col(col, xT, t0, rows, Cg, K, stride, Lp);
                    ds_sgemm(1, 0, Cgo, CgK, rows, dy, Cout, col, CgK, 1.0f, dw + (size_t)g * Cgo * CgK, CgK);
                }
                if (dinp) { /* dcol = dy · W_g, then back onto the windows it came from */
                    ds_sgemm(0, 0, rows, CgK, Cgo, dy, Cout, wg, CgK, 0.0f, col, CgK);
                    conv_col2im(dxT, col, t0, rows, Cg, K, stride, Lp);
                }
            }
            if (dinp) conv_transpose_add(dinp, dxT, b, g, Lin, Cin, Cg, pad, Lp);
        }
}

void ds_conv1d_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int B, int Lin, int Cin, int Cout, int K, int stride, int pad,
                        int groups, int Lout, float *scratch)
{
    if (Lout <= 0 || B <= 0) return;
    if (dbias) conv_bias_grad(dbias, dout, (long)B * Lout, Cout);
    if (!dinp && !dw) return;
    if (conv_use_taps(Cin, groups))
        conv_taps_backward(dinp, dw, dout, inp, w, B, Lin, Cin, Cout, K, stride, pad, Lout, scratch);
    else
        conv_im2col_backward(dinp, dw, dout, inp, w, B, Lin, Cin, Cout, K, stride, pad, groups, Lout, scratch);
}
