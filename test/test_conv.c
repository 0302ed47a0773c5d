/* Causal convolutions: the depthwise short conv and the FFT long conv against
 * direct sums, and both backward passes against finite differences. */
#include "test.h"
#include "gradcheck.h"
#include "nn/fftconv.h"
#include "nn/ops.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, L = 13, C = 24, K = 3 };

typedef struct { float u[B * L * C], w[C * K], bias[C], k[L * C]; ds_fftconv fc; } conv_case;

static void fill(conv_case *t)
{
    ds_test_fill_uniform(t->u, B * L * C, -1, 1, 1);
    ds_test_fill_uniform(t->w, C * K, -1, 1, 2);
    ds_test_fill_uniform(t->bias, C, -1, 1, 3);
    ds_test_fill_uniform(t->k, L * C, -1, 1, 4);
}

static void short_fwd(void *ctx, float *out) { conv_case *t = ctx; ds_conv1d_causal_forward(out, t->u, t->w, t->bias, B, L, C, K); }
static void long_fwd(void *ctx, float *out) { conv_case *t = ctx; ds_fftconv_forward(&t->fc, out, t->u, t->k, B); }

TEST(test_short_conv_is_causal_depthwise_conv_with_left_padding)
{
    conv_case *t = malloc(sizeof *t);
    fill(t);
    float y[B * L * C];
    short_fwd(t, y);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < L; s++)
            for (int c = 0; c < C; c++) {
                double r = t->bias[c];
                for (int j = 0; j < K; j++) {
                    int src = s - (K - 1) + j;
                    if (src >= 0) r += (double)t->w[c * K + j] * t->u[(b * L + src) * C + c];
                }
                CHECK_NEAR(y[(b * L + s) * C + c], r, 1e-6);
            }
    free(t);
}

TEST(test_short_conv_backward_matches_finite_differences)
{
    conv_case *t = malloc(sizeof *t);
    fill(t);
    float w[B * L * C], du[B * L * C] = {0}, dw[C * K] = {0}, db[C] = {0};
    ds_test_fill_uniform(w, B * L * C, -1, 1, 9);
    ds_conv1d_causal_backward(du, dw, db, w, t->u, t->w, B, L, C, K);
    gc_input in[] = { { "u", t->u, du, B * L * C }, { "w", t->w, dw, C * K }, { "bias", t->bias, db, C } };
    CHECK(gc_check(short_fwd, t, B * L * C, w, in, 3, 1e-2f, 300, 1e-3) <= 1e-3);
    free(t);
}

TEST(test_fft_conv_equals_direct_causal_convolution)
{
    conv_case *t = malloc(sizeof *t);
    fill(t);
    CHECK_EQ_INT(ds_fftconv_init(&t->fc, L, C), 0);
    float y[B * L * C];
    long_fwd(t, y);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < L; s++)
            for (int c = 0; c < C; c++) {
                double r = 0;   /* y[t] = Σ_{s'<=t} k[s']·u[t−s']: lag 0 is k[0], nothing looks ahead */
                for (int q = 0; q <= s; q++) r += (double)t->k[q * C + c] * t->u[(b * L + s - q) * C + c];
                worst = fmax(worst, fabs(y[(b * L + s) * C + c] - r));
            }
    CHECK_MSG(worst < 2e-6, "fft conv vs direct sum: max abs err %.3g", worst);
    ds_fftconv_free(&t->fc);
    free(t);
}

TEST(test_fft_conv_backward_matches_finite_differences)
{
    conv_case *t = malloc(sizeof *t);
    fill(t);
    CHECK_EQ_INT(ds_fftconv_init(&t->fc, L, C), 0);
    float y[B * L * C], w[B * L * C], du[B * L * C] = {0}, dk[L * C] = {0};
    ds_test_fill_uniform(w, B * L * C, -1, 1, 9);
    long_fwd(t, y);
    ds_fftconv_backward(&t->fc, du, dk, w, t->u, B);
    gc_input in[] = { { "u", t->u, du, B * L * C }, { "k", t->k, dk, L * C } };
    CHECK(gc_check(long_fwd, t, B * L * C, w, in, 2, 1e-2f, 300, 1e-3) <= 1e-3);
    ds_fftconv_free(&t->fc);
    free(t);
}

TEST(test_fft_conv_gradients_do_not_depend_on_thread_count)
{
    enum { L2 = 64, C2 = 48, B2 = 3 };
    float *u = malloc(sizeof(float) * B2 * L2 * C2), *k = malloc(sizeof(float) * L2 * C2);
    float *y = malloc(sizeof(float) * B2 * L2 * C2), *g[2][2];
    ds_test_fill_uniform(u, B2 * L2 * C2, -1, 1, 5);
    ds_test_fill_uniform(k, L2 * C2, -1, 1, 6);
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        ds_fftconv fc;
        ds_fftconv_init(&fc, L2, C2);
        g[r][0] = calloc(B2 * L2 * C2, sizeof(float));
        g[r][1] = calloc(L2 * C2, sizeof(float));
        ds_fftconv_forward(&fc, y, u, k, B2);
        ds_fftconv_backward(&fc, g[r][0], g[r][1], y, u, B2);
        ds_fftconv_free(&fc);
    }
    omp_set_num_threads(2);
    CHECK(!memcmp(g[0][0], g[1][0], sizeof(float) * B2 * L2 * C2));
    CHECK(!memcmp(g[0][1], g[1][1], sizeof(float) * L2 * C2));
    for (int r = 0; r < 2; r++) { free(g[r][0]); free(g[r][1]); }
    free(u); free(k); free(y);
}
