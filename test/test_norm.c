/* The norm family (norms.md §0): naive double-precision references, finite
 * differences for every gradient, parameter names and init, and gradients
 * that do not depend on the thread count. */
#include "test.h"
#include "gradcheck.h"
#include "nn/norm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { N = 9, C = 37 };   /* C not a multiple of the 16-channel block */

typedef struct {
    ds_norm_kind kind;
    float x[N * C], gamma[C], beta[C], alpha, shift, stats[2 * N];
} norm_case;

static void case_init(norm_case *t, ds_norm_kind kind, unsigned seed)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    ds_test_fill_uniform(t->x, N * C, -2.5f, 3.0f, seed);
    ds_test_fill_uniform(t->gamma, C, 0.5f, 1.5f, seed + 1);
    ds_test_fill_uniform(t->beta, C, -0.5f, 0.5f, seed + 2);
    t->alpha = 0.7f;
    t->shift = 0.1f;
}

static ds_norm_w weights(norm_case *t)
{
    ds_norm_w w = { t->gamma, t->beta, &t->alpha, &t->shift };
    if (t->kind == DS_NORM_RMSNORM) w.bias = NULL;
    if (t->kind != DS_NORM_DERF) w.shift = NULL;
    if (t->kind == DS_NORM_LAYERNORM || t->kind == DS_NORM_RMSNORM) w.alpha = NULL;
    return w;
}

static void fwd(void *ctx, float *out)
{
    norm_case *t = ctx;
    ds_norm_w w = weights(t);
    ds_norm_ops_get(t->kind)->forward(out, t->stats, t->x, &w, N, C, DS_NORM_EPS);
}

/* y computed in double straight from the formulas of norms.md */
static void naive(const norm_case *t, double *y)
{
    for (int n = 0; n < N; n++) {
        const float *x = t->x + n * C;
        double m = 0, v = 0, ss = 0;
        for (int c = 0; c < C; c++) { m += x[c]; ss += (double)x[c] * x[c]; }
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        for (int c = 0; c < C; c++) {
            double r;
            switch (t->kind) {
            case DS_NORM_DERF: r = t->gamma[c] * erf((double)t->alpha * x[c] + t->shift) + t->beta[c]; break;
            case DS_NORM_DYT: r = t->gamma[c] * tanh((double)t->alpha * x[c]) + t->beta[c]; break;
            case DS_NORM_LAYERNORM: r = t->gamma[c] * (x[c] - m) / sqrt(v + 1e-5) + t->beta[c]; break;
            default: r = t->gamma[c] * x[c] / sqrt(ss / C + 1e-5); break;
            }
            y[n * C + c] = r;
        }
    }
}

static void check_forward(ds_norm_kind kind)
{
    norm_case *t = malloc(sizeof *t);
    case_init(t, kind, 11);
    float out[N * C];
    double ref[N * C];
    fwd(t, out);
    naive(t, ref);
    double worst = 0;
    for (int i = 0; i < N * C; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
    CHECK_MSG(worst < 2e-6, "%s forward: max abs err %.3g vs double reference", ds_norm_ops_get(kind)->name, worst);
    free(t);
}

static double check_backward(ds_norm_kind kind, double tol)
{
    norm_case *t = malloc(sizeof *t);
    case_init(t, kind, 21);
    float out[N * C], w[N * C], dx[N * C] = {0}, dg[C] = {0}, db[C] = {0}, da = 0, ds = 0;
    ds_test_fill_uniform(w, N * C, -1.0f, 1.0f, 99);
    fwd(t, out);
    ds_norm_w wt = weights(t), dw = { dg, db, &da, &ds };
    ds_norm_ops_get(kind)->backward(dx, &dw, w, t->x, t->stats, &wt, N, C, DS_NORM_EPS);
    gc_input in[5] = {
        { "x", t->x, dx, N * C }, { "weight", t->gamma, dg, C }, { "bias", t->beta, db, C },
        { "alpha", &t->alpha, &da, 1 }, { "shift", &t->shift, &ds, 1 },
    };
    int nin = kind == DS_NORM_DERF ? 5 : kind == DS_NORM_DYT ? 4 : kind == DS_NORM_LAYERNORM ? 3 : 2;
    if (kind == DS_NORM_DYT) in[3].name = "alpha", in[3].x = &t->alpha, in[3].g = &da;
    double e = gc_check(fwd, t, N * C, w, in, nin, 3e-2f, 400, tol);
    CHECK_MSG(e <= tol, "%s backward vs finite differences: err %.3g > %.3g", ds_norm_ops_get(kind)->name, e, tol);
    free(t);
    return e;
}

TEST(test_derf_forward_matches_double_reference) { check_forward(DS_NORM_DERF); }
TEST(test_dyt_forward_matches_double_reference) { check_forward(DS_NORM_DYT); }
TEST(test_layernorm_forward_matches_double_reference) { check_forward(DS_NORM_LAYERNORM); }
TEST(test_rmsnorm_forward_matches_double_reference) { check_forward(DS_NORM_RMSNORM); }

/* Tolerances: relative to the larger of |g| and 5% of the tensor's largest
 * gradient; central differences in float with eps 1e-2. */
TEST(test_derf_backward_matches_finite_differences) { check_backward(DS_NORM_DERF, 2e-3); }
TEST(test_dyt_backward_matches_finite_differences) { check_backward(DS_NORM_DYT, 2e-3); }
TEST(test_layernorm_backward_matches_finite_differences) { check_backward(DS_NORM_LAYERNORM, 2e-3); }
TEST(test_rmsnorm_backward_matches_finite_differences) { check_backward(DS_NORM_RMSNORM, 2e-3); }

TEST(test_norm_backward_accumulates_into_gradients)
{
    norm_case *t = malloc(sizeof *t);
    case_init(t, DS_NORM_DERF, 5);
    float out[N * C], dx1[N * C] = {0}, dx2[N * C], dg[C] = {0}, db[C] = {0}, da = 0, ds = 0;
    for (int i = 0; i < N * C; i++) dx2[i] = 1.0f;
    fwd(t, out);
    ds_norm_w wt = weights(t), dw = { dg, db, &da, &ds }, dw0 = { NULL, NULL, NULL, NULL };
    ds_norm_ops_get(DS_NORM_DERF)->backward(dx1, &dw, out, t->x, t->stats, &wt, N, C, 0);
    ds_norm_ops_get(DS_NORM_DERF)->backward(dx2, &dw0, out, t->x, t->stats, &wt, N, C, 0);
    for (int i = 0; i < N * C; i++) CHECK_NEAR(dx2[i], 1.0f + dx1[i], 1e-6);
    free(t);
}

TEST(test_norm_gradients_do_not_depend_on_thread_count)
{
    for (int k = 0; k < 4; k++) {
        norm_case *t = malloc(sizeof *t);
        case_init(t, (ds_norm_kind)k, 3);
        float out[N * C], dy[N * C], g[2][N * C + 2 * C + 2];
        ds_test_fill_uniform(dy, N * C, -1, 1, 4);
        fwd(t, out);
        ds_norm_w wt = weights(t);
        for (int r = 0; r < 2; r++) {
            memset(g[r], 0, sizeof g[r]);
            float *base = g[r];
            ds_norm_w dw = { base + N * C, base + N * C + C, base + N * C + 2 * C, base + N * C + 2 * C + 1 };
            omp_set_num_threads(r + 1);
            ds_norm_ops_get(t->kind)->backward(base, &dw, dy, t->x, t->stats, &wt, N, C, DS_NORM_EPS);
        }
        omp_set_num_threads(2);
        CHECK_MSG(!memcmp(g[0], g[1], sizeof g[0]), "%s: 1 and 2 threads differ", ds_norm_ops_get(t->kind)->name);
        free(t);
    }
}

TEST(test_norm_params_follow_official_names_and_init)
{
    ds_params ps;
    ds_params_init(&ps);
    CHECK_EQ_INT(ds_norm_add_params(&ps, "l.norm1", DS_NORM_DERF, 8), 0);
    CHECK_EQ_INT(ds_norm_add_params(&ps, "l.norm2", DS_NORM_DYT, 8), 0);
    CHECK_EQ_INT(ds_norm_add_params(&ps, "ln", DS_NORM_LAYERNORM, 8), 0);
    CHECK_EQ_INT(ds_norm_add_params(&ps, "rms", DS_NORM_RMSNORM, 8), 0);
    const char *want[] = { "l.norm1.weight", "l.norm1.bias", "l.norm1.alpha", "l.norm1.shift",
                           "l.norm2.weight", "l.norm2.bias", "l.norm2.alpha", "ln.weight", "ln.bias", "rms.weight" };
    CHECK_EQ_INT(ps.n, 10);
    for (int i = 0; i < 10 && i < ps.n; i++) {
        CHECK_MSG(!strcmp(ps.p[i].name, want[i]), "param %d is %s, expected %s", i, ps.p[i].name, want[i]);
        CHECK_EQ_INT(ps.p[i].decay, 0);
    }
    CHECK_EQ_INT(ps.p[2].shape[0], 1);
    CHECK_EQ_INT(ds_params_alloc(&ps), 0);
    ds_norm_w w;
    CHECK_EQ_INT(ds_norm_bind(&w, &ps, "l.norm1", 0), 0);
    ds_norm_init(&w, DS_NORM_DERF, 8, DS_NORM_ALPHA_INIT);
    CHECK(w.weight[7] == 1.0f && w.bias[7] == 0.0f && *w.alpha == 0.5f && *w.shift == 0.0f);
    CHECK(ds_norm_bind(&w, &ps, "nope", 0) < 0);
    CHECK(ds_norm_add_params(&ps, "late", DS_NORM_DERF, 8) < 0);
    ds_params_free(&ps);
    CHECK_EQ_INT(ds_norm_kind_parse("rmsnorm"), DS_NORM_RMSNORM);
    CHECK_EQ_INT(ds_norm_kind_parse("batchnorm"), -1);
}
