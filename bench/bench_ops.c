/* Op micro-benchmarks for bench/README.md: linear-layer GF/s next to a bare
 * cblas_sgemm of the same shape, forward+backward ns/element of the
 * norm family (Derf must stay within 1.2x of DyT), and the selective scan's
 * (b, t) rows per second (`bench_ops scan` runs that alone), and ms per
 * wav2vec2-base conv for 1 s of audio (`bench_ops conv` alone). */
#include "core/progress.h"
#include "core/arena.h"
#include "nn/norm.h"
#include "nn/ops.h"

#include <cblas.h>
#include "core/threads.h"

#include <omp.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *randn(size_t n, unsigned seed)
{
    float *x = ds_aligned_alloc(n * sizeof *x);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((s >> 40) * (1.0 / 16777216.0)) * 4.0f - 2.0f;
    }
    return x;
}

/* Runs f until at least 0.5 s have passed; returns seconds per call. */
#define TIME_IT(secs, body)                                                   \
    do { body; double _t0 = ds_realtime(); long _k = 0;                               \
         do { body; _k++; } while (ds_realtime() - _t0 < 0.5);                        \
         secs = (ds_realtime() - _t0) / _k; } while (0)

static void bench_linear(int N, int Cin, int Cout)
{
    float *x = randn((size_t)N * Cin, 1), *W = randn((size_t)Cout * Cin, 2), *b = randn(Cout, 3);
    float *y = randn((size_t)N * Cout, 4), *dy = randn((size_t)N * Cout, 5);
    float *dx = randn((size_t)N * Cin, 6), *dW = randn((size_t)Cout * Cin, 7), *db = randn(Cout, 8);
    double flops = 2.0 * N * Cin * Cout, t_fwd, t_gemm, t_bwd;
    TIME_IT(t_fwd, ds_linear_forward(y, x, W, b, N, Cin, Cout));
    TIME_IT(t_gemm, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Cout, Cin, 1.0f, x, Cin, W, Cin,
                                0.0f, y, Cout));
    TIME_IT(t_bwd, ds_linear_backward(dx, dW, db, dy, x, W, N, Cin, Cout));
    printf("linear  N=%-6d %4d->%-4d  fwd %6.1f GF/s  bare sgemm %6.1f GF/s  (linear/sgemm %.2f)  bwd %6.1f GF/s\n", N, Cin, Cout,
           flops / t_fwd * 1e-9, flops / t_gemm * 1e-9, t_gemm / t_fwd, 2 * flops / t_bwd * 1e-9);
    free(x); free(W); free(b); free(y); free(dy); free(dx); free(dW); free(db);
}

static void bench_norm(ds_norm_kind kind, int N, int C, double *ns)
{
    float *x = randn((size_t)N * C, 1), *y = randn((size_t)N * C, 2), *dy = randn((size_t)N * C, 3);
    float *dx = randn((size_t)N * C, 4), *stats = randn(2 * (size_t)N, 5);
    float *g = randn(C, 6), *b = randn(C, 7), *dg = randn(C, 8), *db = randn(C, 9);
    float a = 0.5f, s = 0.1f, da = 0, dsh = 0;
    ds_norm_w w = { g, b, &a, &s }, dw = { dg, db, &da, &dsh };
    if (kind == DS_NORM_RMSNORM) w.bias = dw.bias = NULL;
    const ds_norm_ops *op = ds_norm_ops_get(kind);
    double tf, tb;
    TIME_IT(tf, op->forward(y, stats, x, &w, N, C, DS_NORM_EPS));
    TIME_IT(tb, op->backward(dx, &dw, dy, x, stats, &w, N, C, DS_NORM_EPS));
    double e = (double)N * C;
    ns[0] = tf / e * 1e9;
    ns[1] = tb / e * 1e9;
    printf("%-9s N=%-6d C=%-4d  fwd %6.3f  bwd %6.3f  fwd+bwd %6.3f ns/element\n", op->name, N, C, ns[0], ns[1],
           ns[0] + ns[1]);
    free(x); free(y); free(dy); free(dx); free(stats); free(g); free(b); free(dg); free(db);
}

/* Mamba's selective scan at Caduceus-1k's width (E = 2·118, N = 16) with
 * inputs as at init: Δ = softplus(dt + dt_bias) around 0.001..0.1, A = −(1..16). */
static void bench_scan(int B, int L, int E, int N)
{
    size_t n = (size_t)B * L * E, nb = (size_t)B * L * N;
    float *u = randn(n, 1), *dt = randn(n, 2), *z = randn(n, 3), *dy = randn(n, 4), *y = randn(n, 5);
    float *Bm = randn(nb, 6), *Cm = randn(nb, 7), *bias = randn(E, 8), *D = randn(E, 9), *A_log = randn((size_t)E * N, 10);
    float *du = randn(n, 11), *ddt = randn(n, 12), *dz = randn(n, 13), *dBm = randn(nb, 14), *dCm = randn(nb, 15);
    float *dbias = randn(E, 16), *dD = randn(E, 17), *dA = randn((size_t)E * N, 18);
    float *ckpt = ds_aligned_alloc(ds_scan_ckpt_floats(B, L, E, N) * sizeof(float));
    float *scratch = ds_aligned_alloc(ds_scan_scratch_floats(B, L, E, N) * sizeof(float) + 64);
    for (int e = 0; e < E; e++) {
        bias[e] = -4.6f + 0.5f * bias[e];
        for (int k = 0; k < N; k++) A_log[e * N + k] = logf(k + 1.0f);
    }
    double tf, tfc, tb;
    TIME_IT(tf, ds_selective_scan_forward(y, NULL, u, dt, bias, A_log, Bm, Cm, D, z, B, L, E, N));
    TIME_IT(tfc, ds_selective_scan_forward(y, ckpt, u, dt, bias, A_log, Bm, Cm, D, z, B, L, E, N));
    TIME_IT(tb, ds_selective_scan_backward(du, ddt, dbias, dA, dBm, dCm, dD, dz, dy, ckpt, scratch, u, dt, bias,
                                           A_log, Bm, Cm, D, z, B, L, E, N));
    double r = (double)B * L;
    printf("scan    B=%d L=%d E=%d N=%d  fwd %8.0f rows/s (%6.1f ms)  fwd+bwd %8.0f rows/s (%6.1f + %6.1f ms)\n", B, L,
           E, N, r / tf, tf * 1e3, r / (tfc + tb), tfc * 1e3, tb * 1e3);
    free(u); free(dt); free(z); free(dy); free(y); free(Bm); free(Cm); free(bias); free(D); free(A_log);
    free(du); free(ddt); free(dz); free(dBm); free(dCm); free(dbias); free(dD); free(dA); free(ckpt); free(scratch);
}

/* One Conv1d of wav2vec2-base at its 1 s (16000-sample) size: ms per
 * forward and per backward (all gradients), and the forward's GF/s. */
static void bench_conv(const char *name, int Lin, int Cin, int Cout, int K, int stride, int pad, int groups, int Lout)
{
    size_t nx = (size_t)Lin * Cin, nw = (size_t)Cout * (Cin / groups) * K, ny = (size_t)Lout * Cout;
    float *x = randn(nx, 1), *w = randn(nw, 2), *b = randn(Cout, 3), *y = randn(ny, 4);
    float *dx = randn(nx, 5), *dw = randn(nw, 6), *db = randn(Cout, 7);
    float *scr = ds_aligned_alloc(ds_conv1d_scratch_floats(1, Lin, Cin, Cout, K, stride, pad, groups, Lout) *
                                  sizeof(float) + 64);
    double tf, tb, flops = 2.0 * ny * (Cin / groups) * K;
    TIME_IT(tf, ds_conv1d_forward(y, x, w, b, 1, Lin, Cin, Cout, K, stride, pad, groups, Lout, scr));
    TIME_IT(tb, ds_conv1d_backward(dx, dw, db, y, x, w, 1, Lin, Cin, Cout, K, stride, pad, groups, Lout, scr));
    printf("conv    %-22s %5d->%-5d fwd %7.2f ms (%6.1f GF/s)  bwd %7.2f ms\n", name, Lin, Lout, tf * 1e3,
           flops / tf * 1e-9, tb * 1e3);
    free(x); free(w); free(b); free(y); free(dx); free(dw); free(db); free(scr);
}

/* The seven feature-encoder convs and the positional conv for 1 s of audio. */
static void bench_w2v_convs(void)
{
    static const int k[7] = { 10, 3, 3, 3, 3, 2, 2 }, s[7] = { 5, 2, 2, 2, 2, 2, 2 };
    int L = 16000;
    for (int i = 0; i < 7; i++) {
        int Lout = (L - k[i]) / s[i] + 1;
        char name[32];
        snprintf(name, sizeof name, "w2v layer %d K%d s%d", i, k[i], s[i]);
        bench_conv(name, L, i ? 512 : 1, 512, k[i], s[i], 0, 1, Lout);
        L = Lout;
    }
    bench_conv("w2v pos K128 g16", L, 768, 768, 128, 1, 64, 16, L);
    bench_conv("w2v pos, 15 s", 749, 768, 768, 128, 1, 64, 16, 749);
}

int main(int argc, char **argv)
{
    ds_threads_init(argv);   /* as derfseq's main does */
    printf("threads %d\n", omp_get_max_threads());
    if (argc > 1 && !strcmp(argv[1], "scan")) {
        bench_scan(16, 1024, 236, 16);
        bench_scan(1, 16384, 236, 16);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "conv")) {
        bench_w2v_convs();
        return 0;
    }
    bench_linear(8192, 128, 384);     /* HyenaDNA-tiny in_proj, B8 x 1024 */
    bench_linear(8192, 128, 512);     /* tiny MLP fc1 */
    bench_linear(8192, 256, 1024);    /* small MLP fc1 */
    bench_linear(8192, 768, 768);     /* wav2vec2-base attention projection */
    double r[4][2];
    for (int k = 0; k < 4; k++) bench_norm((ds_norm_kind)k, 8192, 256, r[k]);
    bench_scan(16, 1024, 236, 16);   /* Caduceus-PS-1k (d 118), batch 8 doubled */
    bench_scan(1, 16384, 236, 16);   /* one long sequence: the work splits over channels */
    bench_w2v_convs();
    printf("derf/dyt fwd+bwd ratio %.2f (target <= 1.2), derf/layernorm %.2f\n",
           (r[0][0] + r[0][1]) / (r[1][0] + r[1][1]), (r[0][0] + r[0][1]) / (r[2][0] + r[2][1]));
    return 0;
}
