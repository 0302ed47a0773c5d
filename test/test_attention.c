/* The wav2vec2 attention core (lib/nn/attention.c): forward against a naive
 * double-precision softmax attention with and without key padding, the
 * padded keys' exact zero probability, the dropout mask being ds_dropout's,
 * gradients against finite differences (with padding and with dropout), and
 * bitwise thread-count independence. */
#include "test.h"
#include "gradcheck.h"
#include "nn/ops.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { AB = 2, AT = 7, AH = 3, ADh = 5, AC = AH * ADh, AN = AB * AT * AC };

typedef struct {
    float q[AN], k[AN], v[AN];
    float probs[AB * AH * AT * AT];
    const int *lens;
    float scale, p;
    float *scratch;
} attn_case;

static const int k_lens[AB] = { AT, 4 };

static void attn_init(attn_case *a, const int *lens, float p)
{
    ds_test_fill_uniform(a->q, AN, -1.5f, 1.5f, 11);
    ds_test_fill_uniform(a->k, AN, -1.5f, 1.5f, 12);
    ds_test_fill_uniform(a->v, AN, -1, 1, 13);
    a->lens = lens;
    a->scale = 1.0f / sqrtf((float)ADh);
    a->p = p;
    a->scratch = malloc(sizeof(float) * ds_attention_scratch_floats(AB, AT, AH, ADh));
}

static void attn_fwd(void *ctx, float *out)
{
    attn_case *a = ctx;
    ds_attention_forward(out, a->probs, a->q, a->k, a->v, a->lens, AB, AT, AH, ADh, a->scale, a->p, 7, 3,
                         a->scratch);
}

/* The naive reference: softmax over the valid keys in double; drop[] (NULL: no dropout)
 * multiplies each probability after the softmax. */
static void attn_naive(double *out, double *P, const attn_case *a, const float *drop)
{
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++)
            for (int t = 0; t < AT; t++) {
                int L = a->lens ? a->lens[b] : AT;
                double s[AT], mx = -1e300, z = 0;
                for (int j = 0; j < L; j++) {
                    s[j] = 0;
                    for (int e = 0; e < ADh; e++)
                        s[j] += (double)a->q[(b * AT + t) * AC + h * ADh + e] * a->k[(b * AT + j) * AC + h * ADh + e];
                    s[j] *= a->scale;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < L; j++) z += exp(s[j] - mx);
                double *pr = P + (((size_t)b * AH + h) * AT + t) * AT;
                for (int j = 0; j < AT; j++) pr[j] = j < L ? exp(s[j] - mx) / z : 0.0;
                for (int e = 0; e < ADh; e++) {
                    double o = 0;
                    for (int j = 0; j < L; j++) {
                        double pj = pr[j] * (drop ? drop[(((size_t)b * AH + h) * AT + t) * AT + j] : 1.0);
                        o += pj * a->v[(b * AT + j) * AC + h * ADh + e];
                    }
                    out[(b * AT + t) * AC + h * ADh + e] = o;
                }
            }
}

static void to_float(float *dst, const double *src, long n)
{
    for (long i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void check_against_naive(const int *lens)
{
    attn_case *a = calloc(1, sizeof *a);
    attn_init(a, lens, 0.0f);
    float out[AN], want[AN], pw[AB * AH * AT * AT];
    double dout[AN], dP[AB * AH * AT * AT];
    attn_fwd(a, out);
    attn_naive(dout, dP, a, NULL);
    to_float(want, dout, AN);
    to_float(pw, dP, AB * AH * AT * AT);
    CHECK_CLOSE("out", out, want, AN, 1e-6);
    CHECK_CLOSE("probs", a->probs, pw, AB * AH * AT * AT, 1e-6);
    /* inference (probs NULL) gives the same output bitwise */
    float out2[AN];
    ds_attention_forward(out2, NULL, a->q, a->k, a->v, lens, AB, AT, AH, ADh, a->scale, 0.0f, 7, 3, a->scratch);
    CHECK(!memcmp(out, out2, sizeof out));
    free(a->scratch);
    free(a);
}

TEST(test_attention_equals_naive_softmax_attention_without_padding) { check_against_naive(NULL); }

TEST(test_attention_equals_naive_softmax_attention_with_key_padding) { check_against_naive(k_lens); }

TEST(test_attention_padded_keys_get_exactly_zero_probability_and_no_influence)
{
    attn_case *a = calloc(1, sizeof *a);
    attn_init(a, k_lens, 0.0f);
    float out[AN], out2[AN];
    attn_fwd(a, out);
    for (int h = 0; h < AH; h++)
        for (int t = 0; t < AT; t++)
            for (int j = k_lens[1]; j < AT; j++)
                CHECK(a->probs[((1 * AH + h) * AT + t) * AT + j] == 0.0f);
    /* whatever the padded frames' keys and values hold, nothing changes */
    for (int j = k_lens[1]; j < AT; j++)
        for (int c = 0; c < AC; c++) {
            a->k[(1 * AT + j) * AC + c] = 1e4f;
            a->v[(1 * AT + j) * AC + c] = -1e4f;
        }
    attn_fwd(a, out2);
    CHECK(!memcmp(out, out2, sizeof out));
    free(a->scratch);
    free(a);
}

TEST(test_attention_dropout_is_ds_dropout_of_the_probabilities)
{
    attn_case *a = calloc(1, sizeof *a);
    attn_init(a, k_lens, 0.3f);
    float out[AN], want[AN];
    attn_fwd(a, out);
    /* the mask over the flat [B, H, T, T] probabilities, as ds_dropout draws it */
    enum { NP = AB * AH * AT * AT };
    float ones[NP], keep[NP];
    for (int i = 0; i < NP; i++) ones[i] = 1.0f;
    ds_dropout_forward(keep, ones, NP, 0.3f, 7, 3);
    int dropped = 0;
    for (int i = 0; i < NP; i++) dropped += keep[i] == 0.0f;
    CHECK_MSG(dropped > NP / 5 && dropped < NP * 2 / 5, "%d of %d dropped at p 0.3", dropped, NP);
    double dout[AN], dP[NP];
    attn_naive(dout, dP, a, keep);
    to_float(want, dout, AN);
    CHECK_CLOSE("out with dropout", out, want, AN, 1e-6);
    free(a->scratch);
    free(a);
}

static void attn_gradcheck(const int *lens, float p)
{
    attn_case *a = calloc(1, sizeof *a);
    attn_init(a, lens, p);
    float out[AN], w[AN], dq[AN] = {0}, dk[AN] = {0}, dv[AN] = {0};
    ds_test_fill_uniform(w, AN, -1, 1, 19);
    attn_fwd(a, out);
    ds_attention_backward(dq, dk, dv, w, a->probs, a->q, a->k, a->v, a->lens, AB, AT, AH, ADh, a->scale, a->p, 7,
                          3, a->scratch);
    gc_input in[] = { { "q", a->q, dq, AN }, { "k", a->k, dk, AN }, { "v", a->v, dv, AN } };
    CHECK(gc_check(attn_fwd, a, AN, w, in, 3, 1e-2f, 300, 1e-3) <= 1e-3);
    free(a->scratch);
    free(a);
}

TEST(test_attention_backward_matches_finite_differences_without_padding) { attn_gradcheck(NULL, 0.0f); }

TEST(test_attention_backward_matches_finite_differences_with_key_padding) { attn_gradcheck(k_lens, 0.0f); }

TEST(test_attention_backward_matches_finite_differences_with_padding_and_dropout) { attn_gradcheck(k_lens, 0.25f); }

TEST(test_attention_backward_accumulates_into_gradients)
{
    attn_case *a = calloc(1, sizeof *a);
    attn_init(a, k_lens, 0.1f);
    float out[AN], w[AN], g1[3][AN] = {{0}}, g2[3][AN] = {{0}};
    ds_test_fill_uniform(w, AN, -1, 1, 19);
    attn_fwd(a, out);
    ds_attention_backward(g1[0], g1[1], g1[2], w, a->probs, a->q, a->k, a->v, a->lens, AB, AT, AH, ADh, a->scale,
                          a->p, 7, 3, a->scratch);
    for (int r = 0; r < 2; r++)
        ds_attention_backward(g2[0], g2[1], g2[2], w, a->probs, a->q, a->k, a->v, a->lens, AB, AT, AH, ADh,
                              a->scale, a->p, 7, 3, a->scratch);
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < AN; i++) g1[g][i] *= 2.0f;
    CHECK_CLOSE("2 x dq", g2[0], g1[0], AN, 1e-6);
    CHECK_CLOSE("2 x dk", g2[1], g1[1], AN, 1e-6);
    CHECK_CLOSE("2 x dv", g2[2], g1[2], AN, 1e-6);
    /* a NULL gradient is skipped, the others are unchanged */
    float dv_only[AN] = {0};
    ds_attention_backward(NULL, NULL, dv_only, w, a->probs, a->q, a->k, a->v, a->lens, AB, AT, AH, ADh, a->scale,
                          a->p, 7, 3, a->scratch);
    for (int i = 0; i < AN; i++) dv_only[i] *= 2.0f;
    CHECK(!memcmp(dv_only, g1[2], sizeof dv_only));
    free(a->scratch);
    free(a);
}

TEST(test_attention_results_do_not_depend_on_thread_count)
{
    enum { B = 3, T = 37, H = 4, Dh = 16, C = H * Dh, N = B * T * C, NP = B * H * T * T };
    static const int lens[B] = { 37, 20, 1 };
    float *q = malloc(sizeof(float) * N), *k = malloc(sizeof(float) * N), *v = malloc(sizeof(float) * N);
    float *w = malloc(sizeof(float) * N), *probs = malloc(sizeof(float) * NP);
    float *scratch = malloc(sizeof(float) * ds_attention_scratch_floats(B, T, H, Dh));
    float *res[2][4];
    ds_test_fill_uniform(q, N, -1, 1, 1);
    ds_test_fill_uniform(k, N, -1, 1, 2);
    ds_test_fill_uniform(v, N, -1, 1, 3);
    ds_test_fill_uniform(w, N, -1, 1, 4);
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        for (int g = 0; g < 4; g++) res[r][g] = calloc(N, sizeof(float));
        ds_attention_forward(res[r][0], probs, q, k, v, lens, B, T, H, Dh, 0.25f, 0.1f, 5, 9, scratch);
        ds_attention_backward(res[r][1], res[r][2], res[r][3], w, probs, q, k, v, lens, B, T, H, Dh, 0.25f, 0.1f,
                              5, 9, scratch);
    }
    omp_set_num_threads(2);
    for (int g = 0; g < 4; g++) CHECK_MSG(!memcmp(res[0][g], res[1][g], sizeof(float) * N), "tensor %d differs", g);
    for (int r = 0; r < 2; r++)
        for (int g = 0; g < 4; g++) free(res[r][g]);
    free(q); free(k); free(v); free(w); free(probs); free(scratch);
}
