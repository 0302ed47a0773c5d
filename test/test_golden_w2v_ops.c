/* The wav2vec2 ops of lib/nn against their PyTorch twins
 * (test/reference/w2v_ops.py -> testdata/golden/w2v_ops.safetensors): the
 * attention core with key padding (HF's finfo.min mask), the Gumbel
 * quantizer with the twin's noise, and the contrastive loss with a negative
 * equal to the positive reproduce PyTorch's float64 outputs and gradients. */
#include "test.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "nn/ops.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN "testdata/golden/w2v_ops.safetensors"

/* PyTorch's float64 answer rounded to float32 vs the C op's float32 error,
 * normwise. The worst seen is 1.3e-7 (attention.dk); a wrong term shows as
 * 1e-3 or more. */
#define W2V_TOL 2e-6

static ds_st_file g_w2v;
static int g_w2v_open = -1;

static int golden_open(void)
{
    if (g_w2v_open < 0) {
        g_w2v_open = ds_st_open(&g_w2v, GOLDEN) == 0;
        if (!g_w2v_open) fprintf(stderr, "    %s (regenerate with `make golden`)\n", ds_errmsg());
        const char *gen = g_w2v_open ? ds_st_meta(&g_w2v, "generator") : NULL;
        if (g_w2v_open && !(gen && strcmp(gen, "test/reference/w2v_ops.py") == 0)) {
            fprintf(stderr, "    %s: generator is '%s'\n", GOLDEN, gen ? gen : "(none)");
            ds_st_close(&g_w2v);
            g_w2v_open = 0;
        }
    }
    CHECK_MSG(g_w2v_open, "cannot use %s", GOLDEN);
    return g_w2v_open;
}

__attribute__((destructor)) static void golden_close(void)
{
    if (g_w2v_open == 1) ds_st_close(&g_w2v);
}

/* Golden tensor `name` with exactly n values, or NULL after a failed CHECK. */
static const ds_st_tensor *tensor(const char *name, long n)
{
    const ds_st_tensor *t = ds_st_find(&g_w2v, name);
    CHECK_MSG(t, "%s lacks '%s'", GOLDEN, name);
    CHECK_MSG(!t || (long)t->numel == n, "%s: '%s' has %zu values, expected %ld", GOLDEN, name,
              t ? t->numel : 0, n);
    return t && (long)t->numel == n ? t : NULL;
}

/* n floats of `name` (zeros when absent: a CHECK has failed). */
static float *F(const char *name, long n)
{
    const ds_st_tensor *t = tensor(name, n);
    float *x = calloc((size_t)n, sizeof *x);
    if (t) CHECK_MSG(ds_st_read_f32(&g_w2v, t, x) == 0, "%s", ds_errmsg());
    return x;
}

/* n little-endian I32 values of `name`. */
static int32_t *I(const char *name, long n)
{
    const ds_st_tensor *t = tensor(name, n);
    int32_t *x = calloc((size_t)n, sizeof *x);
    if (t) CHECK_MSG(t->dtype == DS_ST_I32, "%s: '%s' is not I32", GOLDEN, name);
    for (long i = 0; t && t->dtype == DS_ST_I32 && i < n; i++) {
        const uint8_t *b = g_w2v.data + t->begin + 4 * i;
        x[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    }
    return x;
}

static void expect(const char *name, const float *got, long n)
{
    float *want = F(name, n);
    CHECK_CLOSE(name, got, want, n, W2V_TOL);
    free(want);
}

TEST(test_golden_attention_with_key_padding_matches_pytorch)
{
    if (!golden_open()) return;
    enum { B = 2, T = 9, H = 3, Dh = 4, N = B * T * H * Dh, NP = B * H * T * T };
    float *q = F("attention.q", N), *k = F("attention.k", N), *v = F("attention.v", N);
    float *dout = F("attention.dout", N), *out = calloc(N, sizeof(float)), *probs = calloc(NP, sizeof(float));
    float *dq = calloc(N, sizeof(float)), *dk = calloc(N, sizeof(float)), *dv = calloc(N, sizeof(float));
    int32_t *l32 = I("attention.lens", B);
    int lens[B] = { l32[0], l32[1] };
    float *scratch = malloc(sizeof(float) * ds_attention_scratch_floats(B, T, H, Dh));
    ds_attention_forward(out, probs, q, k, v, lens, B, T, H, Dh, 0.5f, 0.0f, 0, 0, scratch);
    ds_attention_backward(dq, dk, dv, dout, probs, q, k, v, lens, B, T, H, Dh, 0.5f, 0.0f, 0, 0, scratch);
    expect("attention.out", out, N);
    expect("attention.probs", probs, NP);
    expect("attention.dq", dq, N);
    expect("attention.dk", dk, N);
    expect("attention.dv", dv, N);
    free(q); free(k); free(v); free(dout); free(out); free(probs); free(dq); free(dk); free(dv); free(l32);
    free(scratch);
}

TEST(test_golden_gumbel_quantizer_matches_pytorch)
{
    if (!golden_open()) return;
    enum { N = 8, G = 2, V = 6, D = 3 };
    float *lg = F("quantizer.logits", N * G * V), *gm = F("quantizer.gumbel", N * G * V);
    float *cv = F("quantizer.codevectors", G * V * D), *dout = F("quantizer.dout", N * G * D);
    float *tau = F("quantizer.tau", 1), *dppl = F("quantizer.dppl", 1);
    float out[N * G * D], soft[N * G * V], avgp[G * V], cppl, dl[N * G * V] = {0}, dcv[G * V * D] = {0};
    int32_t idx[N * G], *want_idx = I("quantizer.idx", N * G);
    float ppl = ds_quantizer_forward(out, idx, soft, avgp, &cppl, lg, gm, cv, N, G, V, D, tau[0]);
    ds_quantizer_backward(dl, dcv, dout, dppl[0], idx, soft, avgp, lg, cv, N, G, V, D, tau[0]);
    CHECK(!memcmp(idx, want_idx, sizeof idx));
    expect("quantizer.out", out, N * G * D);
    expect("quantizer.ppl", &ppl, 1);
    expect("quantizer.code_ppl", &cppl, 1);
    expect("quantizer.dlogits", dl, N * G * V);
    expect("quantizer.dcodevectors", dcv, G * V * D);
    free(lg); free(gm); free(cv); free(dout); free(tau); free(dppl); free(want_idx);
}

TEST(test_golden_contrastive_loss_matches_pytorch)
{
    if (!golden_open()) return;
    enum { M = 7, K = 5, D = 6 };
    float *c = F("contrastive.c", M * D), *y = F("contrastive.y", M * D);
    float *kappa = F("contrastive.kappa", 1), *dloss = F("contrastive.dloss", 1);
    int32_t *neg = I("contrastive.neg", M * K), *want_correct = I("contrastive.correct", 1);
    float probs[M * (K + 1)], dc[M * D] = {0}, dy[M * D] = {0};
    long correct = -1;
    float loss = ds_contrastive_forward(probs, &correct, c, y, neg, M, K, D, kappa[0]);
    ds_contrastive_backward(dc, dy, probs, c, y, neg, M, K, D, kappa[0], dloss[0]);
    expect("contrastive.loss", &loss, 1);
    expect("contrastive.probs", probs, M * (K + 1));
    expect("contrastive.dc", dc, M * D);
    expect("contrastive.dy", dy, M * D);
    CHECK_EQ_INT(correct, want_correct[0]);
    free(c); free(y); free(kappa); free(dloss); free(neg); free(want_correct);
}

TEST(test_golden_cosine_clamps_each_norm_below_eps_as_pytorch_1_13)
{
    if (!golden_open()) return;
    enum { M = 3, K = 2, D = 4 };
    float *c = F("cos_eps.c", M * D), *y = F("cos_eps.y", M * D);
    int32_t *neg = I("cos_eps.neg", M * K);
    float *want_dc = F("cos_eps.dc", M * D), *want_dy = F("cos_eps.dy", M * D);
    float probs[M * (K + 1)], dc[M * D] = {0}, dy[M * D] = {0};
    float loss = ds_contrastive_forward(probs, NULL, c, y, neg, M, K, D, 1.0f);
    ds_contrastive_backward(dc, dy, probs, c, y, neg, M, K, D, 1.0f, 1.0f);
    expect("cos_eps.loss", &loss, 1);
    expect("cos_eps.probs", probs, M * (K + 1));
    /* row by row: the clamped rows' gradients are ~1e8, the others ~0.1 */
    for (int m = 0; m < M; m++) {
        CHECK_CLOSE("cos_eps.dc row", dc + m * D, want_dc + m * D, D, W2V_TOL);
        CHECK_CLOSE("cos_eps.dy row", dy + m * D, want_dy + m * D, D, W2V_TOL);
    }
    free(c); free(y); free(neg); free(want_dc); free(want_dy);
}
