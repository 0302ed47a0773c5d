/* Every op of lib/nn against PyTorch (test/reference/gen_ops.py): outputs and
 * gradients on the twin's inputs, compared with its float64 results. */
#include "test.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "nn/norm.h"
#include "nn/ops.h"
#include "nn/optim.h"

#include <stdlib.h>
#include <string.h>

#define GOLDEN "testdata/golden/ops.safetensors"
/* float32 ops against float64 truth, relative to each tensor's scale (test.h) */
#define TOL 1e-4

static ds_st_file g_file;
static int g_open;

static const ds_st_file *golden(void)
{
    if (!g_open && ds_st_open(&g_file, GOLDEN) == 0) g_open = 1;
    CHECK_MSG(g_open, "%s", ds_errmsg());
    return g_open ? &g_file : NULL;
}

/* A golden tensor as float (malloc'd, zero-filled buffer of the same size in *zeros if asked). */
static float *T(const char *name, long *n)
{
    const ds_st_file *f = golden();
    const ds_st_tensor *t = f ? ds_st_find(f, name) : NULL;
    CHECK_MSG(t != NULL, "golden lacks '%s'", name);
    if (!t) return calloc(1, sizeof(float));
    float *x = malloc(t->numel * sizeof *x);
    if (t->dtype == DS_ST_I32) {
        const int32_t *src = (const int32_t *)(f->data + t->begin);
        memcpy(x, src, t->numel * sizeof *x);   /* caller reinterprets as int32 */
    } else {
        ds_st_read_f32(f, t, x);
    }
    if (n) *n = (long)t->numel;
    return x;
}

static float *zeros(long n) { return calloc((size_t)n, sizeof(float)); }

#define EXPECT_TOL(name, got, n, tol) do { long _n; float *_w = T(name, &_n); CHECK_EQ_INT(_n, n); \
    CHECK_CLOSE(name, got, _w, n, tol); free(_w); } while (0)
#define EXPECT(name, got, n) EXPECT_TOL(name, got, n, TOL)
/* Inputs reach |x| = 5 (sin: |freq·x| = 50), where float32 rounding of x·Φ(x),
 * 1 + tanh and the phase freq·x alone gives ~1e-4 of the tensor's scale. */
#define ACT_TOL 3e-4

static void norm_case(ds_norm_kind kind, const char *pre)
{
    char k[64];
    long n, C;
#define NAME(s) (snprintf(k, sizeof k, "%s.%s", pre, s), k)
    float *x = T(NAME("x"), &n), *w = T(NAME("weight"), &C), *dy = T("norm.dy", NULL);
    int N = (int)(n / C);
    float *b = kind == DS_NORM_RMSNORM ? NULL : T(NAME("bias"), NULL);
    float *a = kind <= DS_NORM_DYT ? T(NAME("alpha"), NULL) : NULL, *s = kind == DS_NORM_DERF ? T(NAME("shift"), NULL) : NULL;
    float *y = zeros(n), *dx = zeros(n), *dw = zeros(C), *db = zeros(C), da = 0, dsh = 0, *stats = zeros(2 * N);
    ds_norm_w W = { w, b, a, s }, D = { dw, b ? db : NULL, a ? &da : NULL, s ? &dsh : NULL };
    const ds_norm_ops *op = ds_norm_ops_get(kind);
    op->forward(y, stats, x, &W, N, (int)C, 1e-5f);
    op->backward(dx, &D, dy, x, stats, &W, N, (int)C, 1e-5f);
    EXPECT(NAME("y"), y, n);
    EXPECT(NAME("dx"), dx, n);
    EXPECT(NAME("dweight"), dw, C);
    if (b) EXPECT(NAME("dbias"), db, C);
    if (a) EXPECT(NAME("dalpha"), &da, 1);
    if (s) EXPECT(NAME("dshift"), &dsh, 1);
#undef NAME
    free(x); free(w); free(dy); free(b); free(a); free(s); free(y); free(dx); free(dw); free(db); free(stats);
}

TEST(test_derf_matches_pytorch_golden) { norm_case(DS_NORM_DERF, "derf"); }
TEST(test_dyt_matches_pytorch_golden) { norm_case(DS_NORM_DYT, "dyt"); }
TEST(test_layernorm_matches_pytorch_golden) { norm_case(DS_NORM_LAYERNORM, "layernorm"); }
TEST(test_rmsnorm_matches_pytorch_golden) { norm_case(DS_NORM_RMSNORM, "rmsnorm"); }

TEST(test_linear_matches_pytorch_golden)
{
    long nx, nw, O;
    float *x = T("linear.x", &nx), *w = T("linear.weight", &nw), *b = T("linear.bias", &O), *dy = T("linear.dy", NULL);
    int I = (int)(nw / O), N = (int)(nx / I);
    float *y = zeros(N * O), *dx = zeros(nx), *dw = zeros(nw), *db = zeros(O);
    ds_linear_forward(y, x, w, b, N, I, (int)O);
    ds_linear_backward(dx, dw, db, dy, x, w, N, I, (int)O);
    EXPECT("linear.y", y, N * O);
    EXPECT("linear.dx", dx, nx);
    EXPECT("linear.dweight", dw, nw);
    EXPECT("linear.dbias", db, O);
    free(x); free(w); free(b); free(dy); free(y); free(dx); free(dw); free(db);
}

TEST(test_activations_match_pytorch_golden)
{
    long n;
    float *x = T("gelu.x", &n), *dy = T("act.dy", NULL), *y = zeros(n), *dx = zeros(n);
    ds_gelu_forward(y, x, n);
    ds_gelu_backward(dx, dy, x, n);
    EXPECT_TOL("gelu.y", y, n, ACT_TOL);
    EXPECT_TOL("gelu.dx", dx, n, ACT_TOL);
    memset(dx, 0, n * sizeof *dx);
    ds_gelu_tanh_forward(y, x, n);
    ds_gelu_tanh_backward(dx, dy, x, n);
    EXPECT_TOL("gelutanh.y", y, n, ACT_TOL);
    EXPECT_TOL("gelutanh.dx", dx, n, ACT_TOL);
    memset(dx, 0, n * sizeof *dx);
    ds_silu_forward(y, x, n);
    ds_silu_backward(dx, dy, x, n);
    EXPECT_TOL("silu.y", y, n, ACT_TOL);
    EXPECT_TOL("silu.dx", dx, n, ACT_TOL);
    long C;
    float *f = T("sin.freq", &C), *df = zeros(C);
    memset(dx, 0, n * sizeof *dx);
    ds_sin_forward(y, x, f, (int)(n / C), (int)C);
    ds_sin_backward(dx, df, dy, x, f, (int)(n / C), (int)C);
    EXPECT_TOL("sin.y", y, n, ACT_TOL);
    EXPECT_TOL("sin.dx", dx, n, ACT_TOL);
    EXPECT_TOL("sin.dfreq", df, C, ACT_TOL);
    free(x); free(dy); free(y); free(dx); free(f); free(df);
}

TEST(test_crossentropy_and_embedding_match_pytorch_golden)
{
    long n, nt;
    float *logits = T("ce.logits", &n), *tg = T("ce.targets", &nt);
    int V = (int)(n / nt);
    float *probs = zeros(n), *d = zeros(n);
    long count;
    float loss = ds_crossentropy_forward(probs, logits, (const int32_t *)tg, (int)nt, V, 4, &count);
    ds_crossentropy_backward(d, probs, (const int32_t *)tg, (int)nt, V, 4, count, 1.0f);
    EXPECT("ce.loss", &loss, 1);
    EXPECT("ce.dlogits", d, n);
    long nv, ni;
    float *table = T("embedding.table", &nv), *ids = T("embedding.ids", &ni), *dy = T("embedding.dy", NULL);
    int C = (int)(nv / 16);
    float *y = zeros(ni * C), *dt = zeros(nv);
    ds_embedding_forward(y, (const int32_t *)ids, table, (int)ni, 16, C);
    ds_embedding_backward(dt, dy, (const int32_t *)ids, (int)ni, 16, C);
    EXPECT("embedding.y", y, ni * C);
    EXPECT("embedding.dtable", dt, nv);
    free(logits); free(tg); free(probs); free(d); free(table); free(ids); free(dy); free(y); free(dt);
}

TEST(test_adamw_and_clipping_match_pytorch_golden)
{
    ds_params ps;
    ds_params_init(&ps);
    ds_params_add(&ps, "decay", 1, (int64_t[]){ 24 }, 1);
    ds_params_add(&ps, "nodecay", 1, (int64_t[]){ 16 }, 0);
    ds_params_alloc(&ps);
    float *p0 = T("adamw.p_decay", NULL), *p1 = T("adamw.p_nodecay", NULL);
    memcpy(ds_params_data(&ps, 0), p0, 24 * sizeof(float));
    memcpy(ds_params_data(&ps, 1), p1, 16 * sizeof(float));
    ds_adamw opt;
    ds_adamw_init(&opt, &ps, (ds_adamw_cfg){ 0.9f, 0.999f, 1e-8f, 0.1f });
    for (int k = 0; k < 5; k++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "adamw.g%d_decay", k);
        snprintf(b, sizeof b, "adamw.g%d_nodecay", k);
        float *ga = T(a, NULL), *gb = T(b, NULL);
        memcpy(ds_params_grad(&ps, 0), ga, 24 * sizeof(float));
        memcpy(ds_params_grad(&ps, 1), gb, 16 * sizeof(float));
        ds_adamw_step(&opt, &ps, 1e-2f);
        snprintf(a, sizeof a, "adamw.after%d_decay", k);
        snprintf(b, sizeof b, "adamw.after%d_nodecay", k);
        EXPECT(a, ds_params_data(&ps, 0), 24);
        EXPECT(b, ds_params_data(&ps, 1), 16);
        free(ga); free(gb);
    }
    ds_adamw_free(&opt);
    float *g1 = T("clip.g1", NULL), *g2 = T("clip.g2", NULL);
    memcpy(ds_params_grad(&ps, 0), g1, 24 * sizeof(float));
    memcpy(ds_params_grad(&ps, 1), g2, 16 * sizeof(float));
    float norm = ds_grad_clip(&ps, 1.0f);
    EXPECT("clip.norm", &norm, 1);
    EXPECT("clip.after1", ds_params_grad(&ps, 0), 24);
    EXPECT("clip.after2", ds_params_grad(&ps, 1), 16);
    free(p0); free(p1); free(g1); free(g2);
    ds_params_free(&ps);
}

__attribute__((destructor)) static void close_golden(void)
{
    if (g_open) ds_st_close(&g_file);
}
