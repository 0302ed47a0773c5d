/* The wav2vec2 pretraining ops: the Gumbel product quantizer
 * (lib/nn/quantizer.c) and the contrastive loss (lib/nn/contrastive.c),
 * forward against naive double-precision references, gradients against
 * finite differences (the straight-through gradient against those of the
 * soft surrogate it stands for), the −inf of a negative equal to the
 * positive, and thread-count independence. */
#include "test.h"
#include "gradcheck.h"
#include "nn/ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantizer ---- */

enum { QN = 9, QG = 2, QV = 7, QD = 4, QL = QN * QG * QV, QO = QN * QG * QD };

typedef struct {
    float logits[QL], gumbel[QL], cv[QG * QV * QD];
    float out[QO], soft[QL], avgp[QG * QV];
    int32_t idx[QN * QG];
    float tau;
    const float *noise;   /* gumbel or NULL */
} quant_case;

static void quant_init(quant_case *t)
{
    ds_test_fill_uniform(t->logits, QL, -2, 2, 31);
    float e[QL];
    ds_test_fill_uniform(e, QL, 0.05f, 0.95f, 32);
    for (int i = 0; i < QL; i++) t->gumbel[i] = -logf(-logf(e[i]));   /* −log(Exp(1)) via −log(−log U) */
    ds_test_fill_uniform(t->cv, QG * QV * QD, 0, 1, 33);
    t->tau = 0.7f;
    t->noise = t->gumbel;
}

static float quant_run(quant_case *t, float *code_ppl)
{
    return ds_quantizer_forward(t->out, t->idx, t->soft, t->avgp, code_ppl, t->logits, t->noise, t->cv, QN, QG, QV,
                                QD, t->tau);
}

/* Σ_g exp(−Σ_v p log(p + 1e-7)) of per-group mean distributions pbar[G·V], in double. */
static double naive_ppl(const double *pbar)
{
    double s = 0;
    for (int g = 0; g < QG; g++) {
        double h = 0;
        for (int v = 0; v < QV; v++) h -= pbar[g * QV + v] * log(pbar[g * QV + v] + 1e-7);
        s += exp(h);
    }
    return s;
}

static void naive_softmax(double *p, const float *x, const float *noise, double tau)
{
    double mx = -1e300, z = 0;
    for (int v = 0; v < QV; v++) mx = fmax(mx, (x[v] + (noise ? noise[v] : 0.0)) / tau);
    for (int v = 0; v < QV; v++) z += p[v] = exp((x[v] + (noise ? noise[v] : 0.0)) / tau - mx);
    for (int v = 0; v < QV; v++) p[v] /= z;
}

static void check_quantizer_forward(int eval)
{
    quant_case *t = calloc(1, sizeof *t);
    quant_init(t);
    if (eval) t->noise = NULL;
    float cppl = -1;
    float ppl = quant_run(t, &cppl);
    double pbar[QG * QV] = {0}, hard[QG * QV] = {0}, p[QV];
    float want_soft[QL], want_avgp[QG * QV];
    for (int n = 0; n < QN; n++)
        for (int g = 0; g < QG; g++) {
            const float *x = t->logits + (n * QG + g) * QV, *e = t->noise ? t->noise + (n * QG + g) * QV : NULL;
            naive_softmax(p, x, NULL, 1.0);
            int a = 0, an = 0;
            for (int v = 0; v < QV; v++) {
                pbar[g * QV + v] += p[v] / QN;
                if (x[v] > x[a]) a = v;
                if (x[v] + (e ? e[v] : 0.0f) > x[an] + (e ? e[an] : 0.0f)) an = v;
            }
            hard[g * QV + a] += 1.0 / QN;
            CHECK_EQ_INT(t->idx[n * QG + g], an);
            CHECK(!memcmp(t->out + (n * QG + g) * QD, t->cv + (g * QV + an) * QD, sizeof(float) * QD));
            naive_softmax(p, x, e, t->tau);
            for (int v = 0; v < QV; v++) want_soft[(n * QG + g) * QV + v] = (float)p[v];
        }
    for (int i = 0; i < QG * QV; i++) want_avgp[i] = (float)pbar[i];
    CHECK_CLOSE("soft", t->soft, want_soft, QL, 1e-6);
    CHECK_CLOSE("avgp", t->avgp, want_avgp, QG * QV, 1e-6);
    CHECK_NEAR(ppl, naive_ppl(pbar), 1e-5 * naive_ppl(pbar));
    CHECK_NEAR(cppl, naive_ppl(hard), 1e-5 * naive_ppl(hard));
    CHECK(ppl > 1 && ppl <= QG * QV);
    free(t);
}

TEST(test_quantizer_picks_the_noisy_argmax_codevector_and_reports_soft_perplexity) { check_quantizer_forward(0); }

TEST(test_quantizer_in_eval_picks_the_argmax_of_the_logits) { check_quantizer_forward(1); }

TEST(test_quantizer_perplexity_of_a_uniform_batch_is_the_codebook_size)
{
    quant_case *t = calloc(1, sizeof *t);
    quant_init(t);
    memset(t->logits, 0, sizeof t->logits);   /* every softmax uniform: p̄ = 1/V */
    float ppl = quant_run(t, NULL);
    CHECK_NEAR(ppl, QG / (1.0 / QV + 1e-7), 1e-4);   /* G · exp(−log(1/V + 1e-7)) */
    free(t);
}

static void ppl_fwd(void *ctx, float *out)
{
    quant_case *t = ctx;
    out[0] = quant_run(t, NULL);
}

TEST(test_quantizer_perplexity_gradient_matches_finite_differences)
{
    quant_case *t = calloc(1, sizeof *t);
    quant_init(t);
    quant_run(t, NULL);
    float dl[QL] = {0}, zero[QO] = {0}, w[1] = { 1.5f };
    ds_quantizer_backward(dl, NULL, zero, w[0], t->idx, t->soft, t->avgp, t->logits, t->cv, QN, QG, QV, QD, t->tau);
    /* a large step: the perplexity (about 10) is one float, its rounding would swamp a small one */
    gc_input in[] = { { "logits (perplexity)", t->logits, dl, QL, 0.2f } };
    CHECK(gc_check(ppl_fwd, t, 1, w, in, 1, 1e-2f, 300, 1e-3) <= 1e-3);
    free(t);
}

/* The surrogate the straight-through gradient is the gradient of:
 * out_soft[n, g] = Σ_v softmax_v((logits + gumbel)/tau) · codevectors[g·V + v]. */
static void soft_fwd(void *ctx, float *out)
{
    quant_case *t = ctx;
    double p[QV];
    for (int r = 0; r < QN * QG; r++) {
        int g = r % QG;
        naive_softmax(p, t->logits + r * QV, t->gumbel + r * QV, t->tau);
        for (int d = 0; d < QD; d++) {
            double s = 0;
            for (int v = 0; v < QV; v++) s += p[v] * t->cv[(g * QV + v) * QD + d];
            out[r * QD + d] = (float)s;
        }
    }
}

TEST(test_quantizer_straight_through_gradient_matches_finite_differences_of_the_soft_surrogate)
{
    quant_case *t = calloc(1, sizeof *t);
    quant_init(t);
    quant_run(t, NULL);
    float w[QO], dl[QL] = {0};
    ds_test_fill_uniform(w, QO, -1, 1, 34);
    ds_quantizer_backward(dl, NULL, w, 0.0f, t->idx, t->soft, t->avgp, t->logits, t->cv, QN, QG, QV, QD, t->tau);
    gc_input in[] = { { "logits (straight-through)", t->logits, dl, QL } };
    CHECK(gc_check(soft_fwd, t, QO, w, in, 1, 1e-2f, 300, 1e-3) <= 1e-3);
    free(t);
}

static void hard_fwd(void *ctx, float *out)
{
    quant_case *t = ctx;
    quant_run(t, NULL);
    memcpy(out, t->out, sizeof t->out);
}

TEST(test_quantizer_codevector_gradient_matches_finite_differences)
{
    quant_case *t = calloc(1, sizeof *t);
    quant_init(t);
    quant_run(t, NULL);
    float w[QO], dcv[QG * QV * QD] = {0};
    ds_test_fill_uniform(w, QO, -1, 1, 35);
    ds_quantizer_backward(NULL, dcv, w, 0.0f, t->idx, t->soft, t->avgp, t->logits, t->cv, QN, QG, QV, QD, t->tau);
    gc_input in[] = { { "codevectors", t->cv, dcv, QG * QV * QD } };
    CHECK(gc_check(hard_fwd, t, QO, w, in, 1, 1e-2f, 300, 1e-3) <= 1e-3);
    free(t);
}

TEST(test_quantizer_results_do_not_depend_on_thread_count)
{
    enum { N = 200, G = 2, V = 320, D = 16, L = N * G * V, O = N * G * D };
    float *lg = malloc(sizeof(float) * L), *gm = malloc(sizeof(float) * L), *cv = malloc(sizeof(float) * G * V * D);
    float *w = malloc(sizeof(float) * O);
    ds_test_fill_uniform(lg, L, -3, 3, 1);
    ds_test_fill_uniform(gm, L, -1, 3, 2);
    ds_test_fill_uniform(cv, G * V * D, 0, 1, 3);
    ds_test_fill_uniform(w, O, -1, 1, 4);
    float ppl[2], cppl[2], *res[2][4];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        res[r][0] = malloc(sizeof(float) * O);
        res[r][1] = malloc(sizeof(float) * L);
        res[r][2] = calloc(L, sizeof(float));
        res[r][3] = calloc(G * V * D, sizeof(float));
        int32_t idx[N * G];
        float avgp[G * V];
        ppl[r] = ds_quantizer_forward(res[r][0], idx, res[r][1], avgp, &cppl[r], lg, gm, cv, N, G, V, D, 1.3f);
        ds_quantizer_backward(res[r][2], res[r][3], w, 0.7f, idx, res[r][1], avgp, lg, cv, N, G, V, D, 1.3f);
    }
    omp_set_num_threads(2);
    CHECK(ppl[0] == ppl[1] && cppl[0] == cppl[1]);
    CHECK(!memcmp(res[0][0], res[1][0], sizeof(float) * O));
    CHECK(!memcmp(res[0][1], res[1][1], sizeof(float) * L));
    CHECK(!memcmp(res[0][2], res[1][2], sizeof(float) * L));
    CHECK(!memcmp(res[0][3], res[1][3], sizeof(float) * G * V * D));
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 4; i++) free(res[r][i]);
    free(lg); free(gm); free(cv); free(w);
}

/* ---- contrastive loss ---- */

enum { CM = 6, CK = 4, CD = 5 };

typedef struct {
    float c[CM * CD], y[CM * CD], probs[CM * (CK + 1)];
    int32_t neg[CM * CK];
    float kappa;
    float shared[CD];   /* for the tied check: added to rows tied_a and tied_b of y */
    int tied_a, tied_b;
} con_case;

/* neg never names the own row; row CM-2's negative 1 is row CM-1, which is made equal to it */
static void con_init(con_case *t, int with_equal)
{
    ds_test_fill_uniform(t->c, CM * CD, -1, 1, 41);
    ds_test_fill_uniform(t->y, CM * CD, -1, 1, 42);
    for (int m = 0; m < CM; m++)
        for (int k = 0; k < CK; k++) {
            int j = (m * 7 + k * 3 + 1) % (CM - 1);
            t->neg[m * CK + k] = j >= m ? j + 1 : j;
        }
    t->neg[(CM - 2) * CK + 1] = CM - 1;
    if (with_equal) memcpy(t->y + (CM - 1) * CD, t->y + (CM - 2) * CD, sizeof(float) * CD);
    t->kappa = 0.1f;
    t->tied_a = CM - 2;
    t->tied_b = CM - 1;
}

static double naive_cos(const float *x, const float *y)
{
    double xy = 0, xx = 0, yy = 0;
    for (int d = 0; d < CD; d++) { xy += (double)x[d] * y[d]; xx += (double)x[d] * x[d]; yy += (double)y[d] * y[d]; }
    return xy / (fmax(sqrt(xx), 1e-8) * fmax(sqrt(yy), 1e-8));
}

/* Σ_m CE; candidates equal to the positive are left out (the −inf logit). */
static double naive_loss(const con_case *t, double *probs, long *correct)
{
    double L = 0;
    *correct = 0;
    for (int m = 0; m < CM; m++) {
        double lg[CK + 1], mx = -1e300, z = 0;
        int use[CK + 1];
        for (int k = 0; k <= CK; k++) {
            int r = k == 0 ? m : t->neg[m * CK + k - 1];
            use[k] = k == 0 || memcmp(t->y + r * CD, t->y + m * CD, sizeof(float) * CD) != 0;
            lg[k] = naive_cos(t->c + m * CD, t->y + r * CD) / t->kappa;
            if (use[k]) mx = fmax(mx, lg[k]);
        }
        int best = 1, beaten = 0;   /* argmax 0 (first on ties) and argmin not 0 */
        for (int k = 1; k <= CK; k++) {
            best &= !use[k] || lg[k] <= lg[0];
            beaten |= !use[k] || lg[k] < lg[0];
        }
        best &= beaten;
        *correct += best;
        for (int k = 0; k <= CK; k++) z += use[k] ? exp(lg[k] - mx) : 0;
        for (int k = 0; k <= CK; k++) probs[m * (CK + 1) + k] = use[k] ? exp(lg[k] - mx) / z : 0;
        L += log(z) + mx - lg[0];
    }
    return L;
}

static void check_contrastive_forward(int with_equal)
{
    con_case *t = calloc(1, sizeof *t);
    con_init(t, with_equal);
    long correct = -1, want_correct;
    double wp[CM * (CK + 1)];
    float loss = ds_contrastive_forward(t->probs, &correct, t->c, t->y, t->neg, CM, CK, CD, t->kappa);
    double want = naive_loss(t, wp, &want_correct);
    float wpf[CM * (CK + 1)];
    for (int i = 0; i < CM * (CK + 1); i++) wpf[i] = (float)wp[i];
    CHECK_NEAR(loss, want, 1e-5 * fabs(want));
    CHECK_CLOSE("probs", t->probs, wpf, CM * (CK + 1), 1e-5);
    CHECK_EQ_INT(correct, want_correct);
    if (with_equal) CHECK(t->probs[(CM - 2) * (CK + 1) + 2] == 0.0f);
    free(t);
}

TEST(test_contrastive_loss_is_summed_cross_entropy_of_cosine_over_kappa) { check_contrastive_forward(0); }

TEST(test_contrastive_negative_equal_to_the_positive_gets_zero_probability) { check_contrastive_forward(1); }

TEST(test_contrastive_counts_a_row_correct_when_the_positive_wins)
{
    con_case *t = calloc(1, sizeof *t);
    con_init(t, 0);
    memcpy(t->c, t->y, sizeof t->c);   /* every context equals its target: cos 1 beats every negative */
    long correct = -1;
    ds_contrastive_forward(t->probs, &correct, t->c, t->y, t->neg, CM, CK, CD, t->kappa);
    CHECK_EQ_INT(correct, CM);
    for (int i = 0; i < CM * CD; i++) t->c[i] = -t->y[i];   /* cos −1: the positive loses */
    ds_contrastive_forward(t->probs, &correct, t->c, t->y, t->neg, CM, CK, CD, t->kappa);
    CHECK_EQ_INT(correct, 0);
    free(t);
}

TEST(test_contrastive_cosine_clamps_each_norm_at_eps_as_torch_1_13)
{
    /* ‖c‖ = 1e-5, ‖y‖ = 1e-4: the product 1e-9 is below eps = 1e-8, but each norm is above it,
     * so torch 1.13 gives cos = 1 (the older ‖x‖‖y‖ clamp gave 0.1) */
    float c[2] = { 1e-5f, 0 }, y[4] = { 1e-4f, 0, 0, 1 }, probs[2];   /* the negative is orthogonal */
    int32_t neg[2] = { 1, 0 };
    ds_contrastive_forward(probs, NULL, c, y, neg, 1, 1, 2, 1.0f);
    /* logits (1, 0): p0 = e / (e + 1) */
    CHECK_NEAR(probs[0], exp(1.0) / (exp(1.0) + 1), 1e-6);
    /* a norm below eps is clamped alone: ‖c‖ = 1e-10 → cos = 1e-10/1e-8 = 0.01 */
    c[0] = 1e-10f;
    ds_contrastive_forward(probs, NULL, c, y, neg, 1, 1, 2, 1.0f);
    CHECK_NEAR(probs[0], exp(0.01) / (exp(0.01) + 1), 1e-6);
}

static void con_fwd(void *ctx, float *out)
{
    con_case *t = ctx;
    float y0[CM * CD];
    memcpy(y0, t->y, sizeof y0);
    for (int d = 0; d < CD; d++) {   /* the tied perturbation keeps the equal rows equal */
        t->y[t->tied_a * CD + d] += t->shared[d];
        t->y[t->tied_b * CD + d] += t->shared[d];
    }
    out[0] = ds_contrastive_forward(t->probs, NULL, t->c, t->y, t->neg, CM, CK, CD, t->kappa);
    memcpy(t->y, y0, sizeof y0);
}

static void check_contrastive_gradients(int with_equal)
{
    con_case *t = calloc(1, sizeof *t);
    con_init(t, with_equal);
    float w[1] = { 0.8f }, out[1], dc[CM * CD] = {0}, dy[CM * CD] = {0}, dshared[CD];
    con_fwd(t, out);
    ds_contrastive_backward(dc, dy, t->probs, t->c, t->y, t->neg, CM, CK, CD, t->kappa, w[0]);
    for (int d = 0; d < CD; d++) dshared[d] = dy[t->tied_a * CD + d] + dy[t->tied_b * CD + d];
    /* the equal rows are perturbed only together (apart, the −inf would jump to a finite logit) */
    long ny = with_equal ? (long)(CM - 2) * CD : (long)CM * CD;
    gc_input in[] = { { "c", t->c, dc, CM * CD }, { "y", t->y, dy, ny }, { "y tied rows", t->shared, dshared, CD } };
    CHECK(gc_check(con_fwd, t, 1, w, in, 3, 1e-2f, 300, 1e-3) <= 1e-3);
    free(t);
}

TEST(test_contrastive_backward_matches_finite_differences) { check_contrastive_gradients(0); }

TEST(test_contrastive_backward_matches_finite_differences_giving_an_equal_negative_no_gradient) { check_contrastive_gradients(1); }

TEST(test_contrastive_results_do_not_depend_on_thread_count)
{
    enum { M = 150, K = 100, D = 32 };
    float *c = malloc(sizeof(float) * M * D), *y = malloc(sizeof(float) * M * D);
    float *probs = malloc(sizeof(float) * M * (K + 1));
    int32_t *neg = malloc(sizeof(int32_t) * M * K);
    ds_test_fill_uniform(c, M * D, -1, 1, 1);
    ds_test_fill_uniform(y, M * D, -1, 1, 2);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            int j = (m * 31 + k * 17 + 5) % (M - 1);
            neg[m * K + k] = j >= m ? j + 1 : j;
        }
    float loss[2], *g[2][2];
    long corr[2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        g[r][0] = calloc(M * D, sizeof(float));
        g[r][1] = calloc(M * D, sizeof(float));
        loss[r] = ds_contrastive_forward(probs, &corr[r], c, y, neg, M, K, D, 0.1f);
        ds_contrastive_backward(g[r][0], g[r][1], probs, c, y, neg, M, K, D, 0.1f, 1.0f);
    }
    omp_set_num_threads(2);
    CHECK(loss[0] == loss[1] && corr[0] == corr[1]);
    CHECK(!memcmp(g[0][0], g[1][0], sizeof(float) * M * D));
    CHECK(!memcmp(g[0][1], g[1][1], sizeof(float) * M * D));
    for (int r = 0; r < 2; r++) { free(g[r][0]); free(g[r][1]); }
    free(c); free(y); free(probs); free(neg);
}
