/* Every op of lib/nn against its PyTorch twin (test/reference/gen_ops.py):
 * the C op on the twin's inputs reproduces PyTorch's outputs and gradients. */
#include "test.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "nn/norm.h"
#include "nn/ops.h"
#include "nn/optim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Relative to the repository root, where `make test` runs the suite. */
#define GOLDEN "testdata/golden/ops.safetensors"

/* The golden holds PyTorch's float64 answer for float32 inputs, rounded to
 * float32, so OP_TOL bounds the C op's own float32 error, normwise
 * (||got - want|| / ||want||, see test.h). The worst seen is 1.9e-7
 * (derf.dalpha) under the Prescott, Sandybridge, Haswell, SkylakeX and Zen
 * OpenBLAS kernels; 2e-6 leaves 10x for other compilers and FMA builds,
 * while a wrong term (an error of one element in a thousand) shows as 1e-3. */
#define OP_TOL 2e-6

static ds_st_file g_file;
static int g_open = -1;   /* -1 not tried yet, 0 failed, 1 open */

/* The open golden, or NULL after one failed CHECK (each test then returns). */
static const ds_st_file *golden(void)
{
    if (g_open < 0) {
        g_open = ds_st_open(&g_file, GOLDEN) == 0;
        if (!g_open) fprintf(stderr, "    %s (regenerate with `make golden`)\n", ds_errmsg());
    }
    CHECK_MSG(g_open, "cannot open %s", GOLDEN);
    if (g_open) {
        const char *gen = ds_st_meta(&g_file, "generator");
        CHECK_MSG(gen && strcmp(gen, "test/reference/gen_ops.py") == 0, "%s: generator is '%s'", GOLDEN,
                  gen ? gen : "(none)");
    }
    return g_open ? &g_file : NULL;
}

static const ds_st_tensor *find(const char *name)
{
    const ds_st_file *f = golden();
    const ds_st_tensor *t = f ? ds_st_find(f, name) : NULL;
    CHECK_MSG(!f || t, "%s lacks tensor '%s'", GOLDEN, name);
    return t;
}

/* Number of values of a golden tensor (0 when absent). */
static long numel(const char *name)
{
    const ds_st_tensor *t = find(name);
    return t ? (long)t->numel : 0;
}

/* Whether golden tensor t holds exactly the n values the caller will read. */
static int sized(const ds_st_tensor *t, const char *name, long n)
{
    CHECK_MSG(!t || (long)t->numel == n, "%s: '%s' has %zu values, the C op %ld", GOLDEN, name,
              t ? t->numel : 0, n);
    return t && (long)t->numel == n;
}

/* A float golden tensor read into n fresh floats. When it is absent or has
 * another size the buffer stays zero and a CHECK has failed, so a wrong
 * golden fails the test instead of overrunning a buffer. */
static float *F(const char *name, long n)
{
    const ds_st_tensor *t = find(name);
    float *x = calloc(n > 0 ? (size_t)n : 1, sizeof *x);
    if (sized(t, name, n)) CHECK_MSG(ds_st_read_f32(&g_file, t, x) == 0, "%s", ds_errmsg());
    return x;
}

/* The same for an I32 tensor: ds_st_read_f32 converts floating types only,
 * and safetensors stores integers little-endian whatever the host. */
static int32_t *I(const char *name, long n)
{
    const ds_st_tensor *t = find(name);
    int32_t *x = calloc(n > 0 ? (size_t)n : 1, sizeof *x);
    if (!sized(t, name, n)) return x;
    CHECK_MSG(t->dtype == DS_ST_I32, "%s: '%s' is %s, expected I32", GOLDEN, name, ds_st_dtype_name(t->dtype));
    for (long i = 0; t->dtype == DS_ST_I32 && i < n; i++) {
        const uint8_t *b = g_file.data + t->begin + 4 * i;
        x[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    }
    return x;
}

/* Dimension k of a golden tensor (1 when absent). */
static int dim(const char *name, int k)
{
    const ds_st_tensor *t = find(name);
    return t && k < t->ndim ? (int)t->shape[k] : 1;
}

static float *zeros(long n) { return calloc((size_t)n, sizeof(float)); }

/* got[n] matches golden tensor `name` to tol. */
static void expect(const char *name, const float *got, long n, double tol)
{
    if (!sized(ds_st_find(&g_file, name), name, n)) return;
    float *want = F(name, n);
    CHECK_CLOSE(name, got, want, n, tol);
    free(want);
}

static const char *nm(char *buf, const char *op, const char *what)
{
    snprintf(buf, 64, "%s.%s", op, what);
    return buf;
}

/* ---- the norm family, through the table a model calls (norm.h) ------------
 * Derf: y = weight·erf(alpha·x + shift) + bias; DyT: weight·tanh(alpha·x) + bias;
 * LayerNorm (eps 1e-5, biased variance); RMSNorm (mamba rms_norm_ref, no bias). */
static void norm_case(ds_norm_kind kind, const char *op, double tol)
{
    if (!golden()) return;
    char k[64];
    int has_bias = kind != DS_NORM_RMSNORM, has_alpha = kind == DS_NORM_DERF || kind == DS_NORM_DYT;
    int has_shift = kind == DS_NORM_DERF;
    int N = dim(nm(k, op, "x"), 0), C = dim(nm(k, op, "x"), 1);
    long n = (long)N * C;
    float *x = F(nm(k, op, "x"), n), *dout = F(nm(k, op, "dout"), n), *w = F(nm(k, op, "weight"), C);
    float *b = has_bias ? F(nm(k, op, "bias"), C) : NULL;
    float *a = has_alpha ? F(nm(k, op, "alpha"), 1) : NULL, *s = has_shift ? F(nm(k, op, "shift"), 1) : NULL;
    /* gradients accumulate (ops.h), so they start at zero */
    float *y = zeros(n), *dx = zeros(n), *dw = zeros(C), *db = zeros(C), da = 0, dsh = 0, *stats = zeros(2L * N);
    ds_norm_w W = { w, b, a, s };
    ds_norm_w D = { dw, has_bias ? db : NULL, has_alpha ? &da : NULL, has_shift ? &dsh : NULL };
    const ds_norm_ops *ops = ds_norm_ops_get(kind);
    ops->forward(y, stats, x, &W, N, C, DS_NORM_EPS);
    ops->backward(dx, &D, dout, x, stats, &W, N, C, DS_NORM_EPS);
    expect(nm(k, op, "y"), y, n, tol);
    expect(nm(k, op, "dx"), dx, n, tol);
    expect(nm(k, op, "dweight"), dw, C, tol);
    if (has_bias) expect(nm(k, op, "dbias"), db, C, tol);
    if (has_alpha) expect(nm(k, op, "dalpha"), &da, 1, tol);
    if (has_shift) expect(nm(k, op, "dshift"), &dsh, 1, tol);
    free(x); free(dout); free(w); free(b); free(a); free(s);
    free(y); free(dx); free(dw); free(db); free(stats);
}

TEST(test_derf_matches_pytorch_golden) { norm_case(DS_NORM_DERF, "derf", OP_TOL); }
/* DyT's dx carries 1 − tanh²(αx), which cancels where |αx| > 3 (1.4e-5, 2.5e-5
 * with FMA); LayerNorm's y on rows whose mean is large beside their spread
 * loses a few bits in x − mean (1.5e-5). */
TEST(test_dyt_matches_pytorch_golden) { norm_case(DS_NORM_DYT, "dyt", OP_TOL); }
TEST(test_layernorm_matches_pytorch_golden) { norm_case(DS_NORM_LAYERNORM, "layernorm", OP_TOL); }
TEST(test_rmsnorm_matches_pytorch_golden) { norm_case(DS_NORM_RMSNORM, "rmsnorm", OP_TOL); }

/* ---- linear: F.linear with PyTorch's [out, in] weight ---------------------- */
TEST(test_linear_matches_pytorch_golden)
{
    if (!golden()) return;
    int N = dim("linear.x", 0), I = dim("linear.x", 1), O = dim("linear.weight", 0);
    float *x = F("linear.x", (long)N * I), *w = F("linear.weight", (long)O * I), *b = F("linear.bias", O);
    float *dout = F("linear.dout", (long)N * O);
    float *y = zeros((long)N * O), *dx = zeros((long)N * I), *dw = zeros((long)O * I), *db = zeros(O);
    ds_linear_forward(y, x, w, b, N, I, O);
    ds_linear_backward(dx, dw, db, dout, x, w, N, I, O);
    expect("linear.y", y, (long)N * O, OP_TOL);
    expect("linear.dx", dx, (long)N * I, OP_TOL);
    expect("linear.dweight", dw, (long)O * I, OP_TOL);
    expect("linear.dbias", db, O, OP_TOL);
    free(x); free(w); free(b); free(dout); free(y); free(dx); free(dw); free(db);
}

/* ---- elementwise activations over x in [−4, 4] ------------------------------ */
typedef void (*act_fwd)(float *, const float *, long);
typedef void (*act_bwd)(float *, const float *, const float *, long);

static void act_case(const char *op, act_fwd fwd, act_bwd bwd, double tol)
{
    if (!golden()) return;
    char k[64];
    long n = numel(nm(k, op, "x"));
    float *x = F(nm(k, op, "x"), n), *dout = F(nm(k, op, "dout"), n), *y = zeros(n), *dx = zeros(n);
    fwd(y, x, n);
    bwd(dx, dout, x, n);
    expect(nm(k, op, "y"), y, n, tol);
    expect(nm(k, op, "dx"), dx, n, tol);
    free(x); free(dout); free(y); free(dx);
}

/* GELU for x < −2 is x times the small difference 1 + erf(x/√2) (or 1 + tanh),
 * so an erf/tanh off by k ulp near −1 costs ~3e-5·k of the tensor's scale
 * whatever the range: PyTorch's own float32 kernel is 4e-5 off, the C one
 * 8.7e-5 (5.7e-5 with FMA). The spec's 1e-4 is what float32 can promise. */
TEST(test_gelu_matches_pytorch_golden) { act_case("gelu", ds_gelu_forward, ds_gelu_backward, OP_TOL); }
TEST(test_gelu_tanh_matches_pytorch_golden)
{
    act_case("gelu_tanh", ds_gelu_tanh_forward, ds_gelu_tanh_backward, OP_TOL);
}
TEST(test_silu_matches_pytorch_golden) { act_case("silu", ds_silu_forward, ds_silu_backward, OP_TOL); }

/* HyenaDNA's Sin, y = sin(freq·x) with freq [1, C] shared by every row. freq ≈ 10
 * as in HyenaDNA, so rounding the phase freq·x to float32 alone costs 1.4e-5
 * in dx = dout·freq·cos(freq·x) (PyTorch float32 the same). */
TEST(test_sin_matches_pytorch_golden)
{
    if (!golden()) return;
    int N = dim("sin.x", 0), C = dim("sin.x", 1);
    long n = (long)N * C;
    float *x = F("sin.x", n), *freq = F("sin.freq", C), *dout = F("sin.dout", n);
    float *y = zeros(n), *dx = zeros(n), *dfreq = zeros(C);
    CHECK_EQ_INT(dim("sin.freq", 1), C);
    ds_sin_forward(y, x, freq, N, C);
    ds_sin_backward(dx, dfreq, dout, x, freq, N, C);
    expect("sin.y", y, n, OP_TOL);
    expect("sin.dx", dx, n, OP_TOL);
    expect("sin.dfreq", dfreq, C, OP_TOL);
    free(x); free(freq); free(dout); free(y); free(dx); free(dfreq);
}

/* ---- embedding: repeated ids sum their rows of dout into dtable ------------- */
TEST(test_embedding_with_repeated_ids_matches_pytorch_golden)
{
    if (!golden()) return;
    long N = numel("embedding.ids");
    int V = dim("embedding.table", 0), C = dim("embedding.table", 1);
    int32_t *ids = I("embedding.ids", N);
    float *table = F("embedding.table", (long)V * C), *dout = F("embedding.dout", N * C);
    float *y = zeros(N * C), *dtable = zeros((long)V * C);
    ds_embedding_forward(y, ids, table, (int)N, V, C);
    ds_embedding_backward(dtable, dout, ids, (int)N, V, C);
    expect("embedding.y", y, N * C, 0);   /* a copy: exact */
    expect("embedding.dtable", dtable, (long)V * C, OP_TOL);
    free(ids); free(table); free(dout); free(y); free(dtable);
}

/* ---- cross-entropy, reduction mean over the rows not equal to ignore_index -- */
TEST(test_crossentropy_with_ignore_index_matches_pytorch_golden)
{
    if (!golden()) return;
    long N = dim("ce.logits", 0);
    int V = dim("ce.logits", 1);
    int32_t *targets = I("ce.targets", N), *ignore = I("ce.ignore_index", 1);
    float *logits = F("ce.logits", N * V), *probs = zeros(N * V), *dlogits = zeros(N * V);
    long counted = 0, count = -1;
    for (long i = 0; i < N; i++) counted += targets[i] != ignore[0];
    CHECK(counted > 0 && counted < N);   /* the case must both count and ignore rows */
    float loss = ds_crossentropy_forward(probs, logits, targets, (int)N, V, ignore[0], &count);
    CHECK_EQ_INT(count, counted);
    ds_crossentropy_backward(dlogits, probs, targets, (int)N, V, ignore[0], count, 1.0f);
    expect("ce.loss", &loss, 1, OP_TOL);
    expect("ce.dlogits", dlogits, N * V, OP_TOL);
    free(targets); free(ignore); free(logits); free(probs); free(dlogits);
}

/* ---- optimizer: torch.optim.AdamW and clip_grad_norm_ over a ds_params table -- */
/* Two tensors standing for the golden's two parameter groups: p_decay gets
 * AdamW's weight decay, p_nodecay does not (decay flag 1 and 0). */
static void two_groups(ds_params *ps, long nd, long nn)
{
    ds_params_init(ps);
    CHECK(ds_params_add(ps, "p_decay", 1, (int64_t[]){ nd }, 1) >= 0);
    CHECK(ds_params_add(ps, "p_nodecay", 1, (int64_t[]){ nn }, 0) >= 0);
    CHECK(ds_params_alloc(ps) == 0);
}

static void load_into(float *dst, const char *name, long n)
{
    float *src = F(name, n);
    memcpy(dst, src, (size_t)n * sizeof *dst);
    free(src);
}

TEST(test_adamw_with_decay_and_no_decay_groups_matches_pytorch_golden)
{
    if (!golden()) return;
    long nd = numel("adamw.p_decay"), nn = numel("adamw.p_nodecay");
    ds_params ps;
    two_groups(&ps, nd, nn);
    if (!ps.data) return;
    load_into(ds_params_data(&ps, 0), "adamw.p_decay", nd);
    load_into(ds_params_data(&ps, 1), "adamw.p_nodecay", nn);
    ds_adamw opt;
    CHECK(ds_adamw_init(&opt, &ps, (ds_adamw_cfg){ 0.9f, 0.999f, 1e-8f, 0.1f }) == 0);
    for (int step = 0; step < 5; step++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "adamw.g%d_decay", step);
        snprintf(b, sizeof b, "adamw.g%d_nodecay", step);
        load_into(ds_params_grad(&ps, 0), a, nd);
        load_into(ds_params_grad(&ps, 1), b, nn);
        ds_adamw_step(&opt, &ps, 1e-2f);
        snprintf(a, sizeof a, "adamw.after%d_decay", step);
        snprintf(b, sizeof b, "adamw.after%d_nodecay", step);
        expect(a, ds_params_data(&ps, 0), nd, OP_TOL);
        expect(b, ds_params_data(&ps, 1), nn, OP_TOL);
    }
    ds_adamw_free(&opt);
    ds_params_free(&ps);
}

TEST(test_grad_clip_to_norm_1_matches_pytorch_golden)
{
    if (!golden()) return;
    long nd = numel("clip.g_decay"), nn = numel("clip.g_nodecay");
    ds_params ps;
    two_groups(&ps, nd, nn);
    if (!ps.data) return;
    load_into(ds_params_grad(&ps, 0), "clip.g_decay", nd);
    load_into(ds_params_grad(&ps, 1), "clip.g_nodecay", nn);
    float norm = ds_grad_clip(&ps, 1.0f);   /* returns the norm before clipping */
    CHECK(norm > 1.0f);
    expect("clip.norm", &norm, 1, OP_TOL);
    expect("clip.after_decay", ds_params_grad(&ps, 0), nd, OP_TOL);
    expect("clip.after_nodecay", ds_params_grad(&ps, 1), nn, OP_TOL);
    ds_params_free(&ps);
}

/* ---- Mamba's selective scan: selective_scan_ref with delta_softplus, the D
 * skip and the SiLU(z) gate; Δ on both sides of softplus's threshold 20 ---- */
TEST(test_selective_scan_matches_pytorch_golden)
{
    if (!golden()) return;
    int B = dim("scan.u", 0), L = dim("scan.u", 1), E = dim("scan.u", 2), N = dim("scan.Bm", 2);
    long n = (long)B * L * E, nb = (long)B * L * N;
    float *u = F("scan.u", n), *dt = F("scan.dt", n), *z = F("scan.z", n), *dout = F("scan.dout", n);
    float *Bm = F("scan.Bm", nb), *Cm = F("scan.Cm", nb), *bias = F("scan.dt_bias", E), *D = F("scan.D", E);
    float *A_log = F("scan.A_log", (long)E * N);
    CHECK(N <= DS_SCAN_MAX_N);
    if (N > DS_SCAN_MAX_N) N = DS_SCAN_MAX_N;
    float *y = zeros(n), *du = zeros(n), *ddt = zeros(n), *dz = zeros(n), *dBm = zeros(nb), *dCm = zeros(nb);
    float *dbias = zeros(E), *dD = zeros(E), *dA = zeros((long)E * N);
    float *ckpt = zeros((long)ds_scan_ckpt_floats(B, L, E, N)), *scratch = zeros((long)ds_scan_scratch_floats(B, L, E, N));
    ds_selective_scan_forward(y, ckpt, u, dt, bias, A_log, Bm, Cm, D, z, B, L, E, N);
    ds_selective_scan_backward(du, ddt, dbias, dA, dBm, dCm, dD, dz, dout, ckpt, scratch, u, dt, bias, A_log, Bm,
                               Cm, D, z, B, L, E, N);
    expect("scan.y", y, n, OP_TOL);
    expect("scan.du", du, n, OP_TOL);
    expect("scan.ddt", ddt, n, OP_TOL);
    expect("scan.ddt_bias", dbias, E, OP_TOL);
    expect("scan.dA_log", dA, (long)E * N, OP_TOL);
    expect("scan.dBm", dBm, nb, OP_TOL);
    expect("scan.dCm", dCm, nb, OP_TOL);
    expect("scan.dD", dD, E, OP_TOL);
    expect("scan.dz", dz, n, OP_TOL);
    free(u); free(dt); free(z); free(dout); free(Bm); free(Cm); free(bias); free(D); free(A_log);
    free(y); free(du); free(ddt); free(dz); free(dBm); free(dCm); free(dbias); free(dD); free(dA);
    free(ckpt); free(scratch);
}

__attribute__((destructor)) static void close_golden(void)
{
    if (g_open == 1) ds_st_close(&g_file);
}
