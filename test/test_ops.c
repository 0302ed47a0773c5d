/* lib/nn ops other than the norms: linear, embedding, activations, dropout,
 * cross-entropy — each against a naive loop and finite differences. */
#include "test.h"
#include "gradcheck.h"
#include "core/rng.h"
#include "nn/ops.h"
#include "core/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- linear ----------------------------------------------------------- */
enum { LN = 7, LI = 33, LO = 20 };
typedef struct { float x[LN * LI], W[LO * LI], b[LO]; } lin_case;
static void lin_fwd(void *ctx, float *out) { lin_case *t = ctx; ds_linear_forward(out, t->x, t->W, t->b, LN, LI, LO); }

TEST(test_linear_forward_matches_naive_loop)
{
    lin_case t;
    ds_test_fill_uniform(t.x, LN * LI, -1, 1, 1);
    ds_test_fill_uniform(t.W, LO * LI, -1, 1, 2);
    ds_test_fill_uniform(t.b, LO, -1, 1, 3);
    float out[LN * LO], ref[LN * LO];
    lin_fwd(&t, out);
    for (int n = 0; n < LN; n++)
        for (int o = 0; o < LO; o++) {
            double s = t.b[o];
            for (int i = 0; i < LI; i++) s += (double)t.x[n * LI + i] * t.W[o * LI + i];
            ref[n * LO + o] = (float)s;
        }
    CHECK_CLOSE("linear.out", out, ref, LN * LO, 1e-5);
    ds_linear_forward(out, t.x, t.W, NULL, LN, LI, LO);
    for (int n = 0; n < LN; n++)
        for (int o = 0; o < LO; o++) ref[n * LO + o] -= t.b[o];
    CHECK_CLOSE("linear.out without bias", out, ref, LN * LO, 1e-5);
}

TEST(test_linear_backward_matches_finite_differences)
{
    lin_case t;
    ds_test_fill_uniform(t.x, LN * LI, -1, 1, 1);
    ds_test_fill_uniform(t.W, LO * LI, -1, 1, 2);
    ds_test_fill_uniform(t.b, LO, -1, 1, 3);
    float w[LN * LO], dx[LN * LI] = {0}, dW[LO * LI] = {0}, db[LO] = {0};
    ds_test_fill_uniform(w, LN * LO, -1, 1, 4);
    ds_linear_backward(dx, dW, db, w, t.x, t.W, LN, LI, LO);
    gc_input in[] = { { "x", t.x, dx, LN * LI }, { "W", t.W, dW, LO * LI }, { "b", t.b, db, LO } };
    CHECK(gc_check(lin_fwd, &t, LN * LO, w, in, 3, 1e-2f, 300, 1e-3) <= 1e-3);
}

/* At a size OpenBLAS would thread itself (and with OpenBLAS's thread count
 * set too), the products run as fixed tiles (nn/gemm.h): forward and every
 * gradient are bitwise the same with 1 and 3 threads, tails of odd sizes
 * included. The old single multithreaded sgemm failed this from 50x64x192. */
/* Two shapes: row tiles (N = 1037), and a weight gradient whose K (the
 * rows, 8209) is split into chunks (nn/gemm.c). */
static void linear_thread_count_case(int N, int I, int O)
{
    float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *b = malloc(sizeof(float) * O),
          *w = malloc(sizeof(float) * N * O), *r[2][4];
    ds_test_fill_uniform(x, (size_t)N * I, -1, 1, 1);
    ds_test_fill_uniform(W, (size_t)O * I, -1, 1, 2);
    ds_test_fill_uniform(b, O, -1, 1, 3);
    ds_test_fill_uniform(w, (size_t)N * O, -1, 1, 4);
    int before = ds_threads_get();
    for (int k = 0; k < 2; k++) {
        ds_threads_set(k ? 3 : 1);
        r[k][0] = malloc(sizeof(float) * N * O);
        r[k][1] = calloc((size_t)N * I, sizeof(float));
        r[k][2] = malloc(sizeof(float) * O * I);
        for (int i = 0; i < O * I; i++) r[k][2][i] = 0.25f;   /* dW accumulates */
        r[k][3] = calloc(O, sizeof(float));
        ds_linear_forward(r[k][0], x, W, b, N, I, O);
        ds_linear_backward(r[k][1], r[k][2], r[k][3], w, x, W, N, I, O);
    }
    ds_threads_set(before);
    size_t n[4] = { (size_t)N * O, (size_t)N * I, (size_t)O * I, O };
    const char *what[4] = { "out", "dx", "dW", "db" };
    for (int j = 0; j < 4; j++) {
        CHECK_MSG(!memcmp(r[0][j], r[1][j], sizeof(float) * n[j]), "linear %d->%d over %d rows: %s differs between 1 and 3 threads",
                  I, O, N, what[j]);
    }
    /* and dW is right: 0.25 + Σ_n w[n,o]·x[n,i], summed in double */
    double e2 = 0, r2 = 0;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double s = 0.25;
            for (int t = 0; t < N; t++) s += (double)w[(size_t)t * O + o] * x[(size_t)t * I + i];
            e2 += (r[1][2][o * I + i] - s) * (r[1][2][o * I + i] - s); r2 += s * s;
        }
    CHECK_MSG(sqrt(e2 / r2) < 1e-5, "linear %d->%d over %d rows: dW off by %.3g (normwise)", I, O, N, sqrt(e2 / r2));
    for (int j = 0; j < 4; j++) { free(r[0][j]); free(r[1][j]); }
    free(x); free(W); free(b); free(w);
}

TEST(test_linear_results_do_not_depend_on_thread_count)
{
    linear_thread_count_case(1037, 192, 161);
    linear_thread_count_case(8209, 40, 24);
}

/* The fused forms (bias, residual and GELU inside the tiles, nn/gemm.h)
 * give what the separate passes give: the pre-activation and GELU bitwise,
 * the residual to float rounding; on row tiles and on a K-split shape
 * (Cin 4096 over 40 rows) and on column tiles (50 rows). Also with the
 * residual in place (res = out). */
static void fused_linear_case(int N, int I, int O)
{
    size_t no = (size_t)N * O;
    float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *b = malloc(sizeof(float) * O),
          *res = malloc(sizeof(float) * no), *ref = malloc(sizeof(float) * no), *got = malloc(sizeof(float) * no),
          *act = malloc(sizeof(float) * no), *gref = malloc(sizeof(float) * no);
    ds_test_fill_uniform(x, (size_t)N * I, -1, 1, 11);
    ds_test_fill_uniform(W, (size_t)O * I, -0.1f, 0.1f, 12);
    ds_test_fill_uniform(b, O, -1, 1, 13);
    ds_test_fill_uniform(res, no, -2, 2, 14);
    ds_linear_forward(ref, x, W, b, N, I, O);
    ds_linear_gelu_tanh_forward(got, act, x, W, b, N, I, O);
    ds_gelu_tanh_forward(gref, ref, (long)no);
    CHECK_MSG(!memcmp(got, ref, sizeof(float) * no), "linear+gelu %d->%d over %d rows: pre-activation differs", I, O, N);
    CHECK_MSG(!memcmp(act, gref, sizeof(float) * no), "linear+gelu %d->%d over %d rows: activation differs", I, O, N);
    for (size_t i = 0; i < no; i++) ref[i] += res[i];
    ds_linear_residual_forward(got, x, W, b, res, N, I, O);
    CHECK_MSG(ds_norm_rel_err(got, ref, (long)no) < 1e-6, "linear+residual %d->%d over %d rows: off by %.3g", I, O, N,
              ds_norm_rel_err(got, ref, (long)no));
    memcpy(got, res, sizeof(float) * no);
    ds_linear_residual_forward(got, x, W, b, got, N, I, O);
    CHECK_MSG(ds_norm_rel_err(got, ref, (long)no) < 1e-6, "linear+residual in place %d->%d over %d rows: off by %.3g", I, O,
              N, ds_norm_rel_err(got, ref, (long)no));
    free(x); free(W); free(b); free(res); free(ref); free(got); free(act); free(gref);
}

TEST(test_linear_fused_bias_residual_and_gelu_equal_the_separate_passes)
{
    fused_linear_case(1037, 96, 200);
    fused_linear_case(40, 4096, 24);
    fused_linear_case(50, 64, 300);   /* column tiles */
}

/* ---- embedding -------------------------------------------------------- */
enum { EN = 10, EV = 16, EC = 20 };
typedef struct { float table[EV * EC]; int32_t ids[EN]; } emb_case;
static void emb_fwd(void *ctx, float *out) { emb_case *t = ctx; ds_embedding_forward(out, t->ids, t->table, EN, EV, EC); }

TEST(test_embedding_gathers_rows_and_scatters_gradients)
{
    emb_case t;
    const int32_t ids[EN] = { 7, 8, 9, 10, 7, 7, 11, 4, 0, 15 };   /* repeats on purpose */
    memcpy(t.ids, ids, sizeof ids);
    ds_test_fill_uniform(t.table, EV * EC, -1, 1, 5);
    float out[EN * EC];
    emb_fwd(&t, out);
    for (int n = 0; n < EN; n++) CHECK(!memcmp(out + n * EC, t.table + ids[n] * EC, EC * sizeof(float)));
    float w[EN * EC], dt[EV * EC] = {0};
    ds_test_fill_uniform(w, EN * EC, -1, 1, 6);
    ds_embedding_backward(dt, w, t.ids, EN, EV, EC);
    gc_input in[] = { { "table", t.table, dt, EV * EC } };
    CHECK(gc_check(emb_fwd, &t, EN * EC, w, in, 1, 1e-2f, 400, 1e-3) <= 1e-3);
}

/* ---- activations ------------------------------------------------------ */
enum { AN = 301 };
typedef struct { int which; float x[AN], freq[AN]; } act_case;
static void act_fwd(void *ctx, float *out)
{
    act_case *t = ctx;
    switch (t->which) {
    case 0: ds_gelu_forward(out, t->x, AN); break;
    case 1: ds_gelu_tanh_forward(out, t->x, AN); break;
    case 2: ds_silu_forward(out, t->x, AN); break;
    default: ds_sin_forward(out, t->x, t->freq, AN / 7, 7); break;   /* 43 rows × 7 channels */
    }
}
static double act_ref(int which, double x)
{
    switch (which) {
    case 0: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case 1: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    default: return x / (1 + exp(-x));
    }
}

static void check_activation(int which, const char *name)
{
    act_case t = { .which = which };
    ds_test_fill_uniform(t.x, AN, -5, 5, 7 + which);
    ds_test_fill_uniform(t.freq, 7, 5, 10, 8);
    float out[AN], w[AN], dx[AN] = {0}, dfreq[7] = {0};
    act_fwd(&t, out);
    int n = which == 3 ? AN / 7 * 7 : AN;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double r = which == 3 ? sin((double)t.freq[i % 7] * t.x[i]) : act_ref(which, t.x[i]);
        worst = fmax(worst, fabs(out[i] - r));
    }
    CHECK_MSG(worst < 2e-6, "%s forward: max abs err %.3g vs double reference", name, worst);
    ds_test_fill_uniform(w, AN, -1, 1, 9);
    switch (which) {
    case 0: ds_gelu_backward(dx, w, t.x, AN); break;
    case 1: ds_gelu_tanh_backward(dx, w, t.x, AN); break;
    case 2: ds_silu_backward(dx, w, t.x, AN); break;
    default: ds_sin_backward(dx, dfreq, w, t.x, t.freq, AN / 7, 7); break;
    }
    gc_input in[] = { { "x", t.x, dx, n }, { "freq", t.freq, dfreq, 7 } };
    /* eps 1e-2: the polynomial erf/tanh are exact to ~4e-7 but not smooth at
     * that scale, so a smaller step measures their rounding, not the slope */
    float eps = which == 3 ? 2e-3f : 1e-2f;   /* sin(freq·x) with freq up to 10 curves fast */
    double e = gc_check(act_fwd, &t, n, w, in, which == 3 ? 2 : 1, eps, AN, 2e-3);
    CHECK_MSG(e <= 2e-3, "%s backward vs finite differences: err %.3g", name, e);
}

TEST(test_gelu_erf_matches_reference_and_finite_differences) { check_activation(0, "gelu"); }
TEST(test_gelu_tanh_matches_reference_and_finite_differences) { check_activation(1, "gelu_tanh"); }
TEST(test_silu_matches_reference_and_finite_differences) { check_activation(2, "silu"); }
TEST(test_sin_matches_reference_and_finite_differences) { check_activation(3, "sin"); }

/* ---- dropout ---------------------------------------------------------- */
TEST(test_dropout_mask_is_counter_based_and_scaled)
{
    enum { n = 10001 };
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *dx = calloc(n, sizeof *dx);
    ds_test_fill_uniform(x, n, 0.5f, 1.5f, 3);
    ds_dropout_forward(y, x, n, 0.25f, 42, 7);
    long kept = 0;
    for (long i = 0; i < n; i++) {
        int keep = ds_rng_uniform_at(42, 7, (uint64_t)i) >= 0.25f;
        kept += keep;
        CHECK(y[i] == (keep ? x[i] * (1.0f / 0.75f) : 0.0f));   /* PyTorch scales by 1/(1-p) */
    }
    CHECK_MSG(kept > 0.73 * n && kept < 0.77 * n, "kept %ld of %d with p = 0.25", kept, n);
    /* backward applies the same mask to the gradient, accumulating */
    ds_dropout_backward(dx, x, n, 0.25f, 42, 7);
    CHECK(!memcmp(dx, y, n * sizeof *y));
    /* another stream gives another mask; p = 0 is the identity */
    ds_dropout_forward(dx, x, n, 0.25f, 42, 8);
    CHECK(memcmp(dx, y, n * sizeof *y) != 0);
    ds_dropout_forward(y, x, n, 0.0f, 42, 7);
    CHECK(!memcmp(x, y, n * sizeof *y));
    free(x); free(y); free(dx);
}

/* ---- cross-entropy ---------------------------------------------------- */
enum { CN = 12, CV = 16, IGN = 4 };
typedef struct { float logits[CN * CV], probs[CN * CV]; int32_t t[CN]; } ce_case;
static void ce_fwd(void *ctx, float *out)
{
    ce_case *c = ctx;
    out[0] = ds_crossentropy_forward(c->probs, c->logits, c->t, CN, CV, IGN, NULL);
}

TEST(test_crossentropy_matches_naive_and_ignores_index)
{
    ce_case c;
    const int32_t t[CN] = { 7, 8, 4, 9, 10, 11, 4, 0, 1, 15, 7, 4 };
    memcpy(c.t, t, sizeof t);
    ds_test_fill_uniform(c.logits, CN * CV, -6, 6, 12);
    c.logits[5] = 80.0f;   /* a large logit must not overflow */
    long count;
    float loss = ds_crossentropy_forward(c.probs, c.logits, c.t, CN, CV, IGN, &count);
    double ref = 0;
    int m = 0;
    for (int n = 0; n < CN; n++) {
        if (t[n] == IGN) continue;
        double mx = -1e30, z = 0;
        for (int v = 0; v < CV; v++) mx = fmax(mx, c.logits[n * CV + v]);
        for (int v = 0; v < CV; v++) z += exp(c.logits[n * CV + v] - mx);
        ref += log(z) + mx - c.logits[n * CV + t[n]];
        m++;
    }
    CHECK_EQ_INT(count, m);
    CHECK_NEAR(loss, ref / m, 1e-5 * fabs(ref / m));
    float d[CN * CV] = {0}, one = 1.0f;
    ds_crossentropy_backward(d, c.probs, c.t, CN, CV, IGN, count, 1.0f);
    for (int v = 0; v < CV; v++) CHECK(d[2 * CV + v] == 0.0f);   /* ignored row */
    for (int n = 0; n < CN; n++)   /* (softmax − onehot) / count, straight from the probabilities */
        for (int v = 0; v < CV; v++)
            if (t[n] != IGN) CHECK_NEAR(d[n * CV + v], (c.probs[n * CV + v] - (v == t[n])) / (double)m, 1e-7);
    /* the loss is one float, so its rounding (~2e-7 relative) limits the
     * finite difference; keep the loss O(1) for this part */
    c.logits[5] = 1.0f;
    memset(d, 0, sizeof d);
    ds_crossentropy_forward(c.probs, c.logits, c.t, CN, CV, IGN, &count);
    ds_crossentropy_backward(d, c.probs, c.t, CN, CV, IGN, count, 1.0f);
    gc_input in[] = { { "logits", c.logits, d, CN * CV } };
    CHECK(gc_check(ce_fwd, &c, 1, &one, in, 1, 5e-2f, CN * CV, 5e-3) <= 5e-3);
    int32_t all_ignored[CN];
    for (int n = 0; n < CN; n++) all_ignored[n] = IGN;
    CHECK(ds_crossentropy_forward(c.probs, c.logits, all_ignored, CN, CV, IGN, &count) == 0.0f && count == 0);
}
