/* Mamba's selective scan (ops.h "scan.c"): the forward against a naive
 * double-precision reference written here from caduceus.md §2.2
 * (selective_scan_ref: every state kept), every gradient against finite
 * differences, accumulation, NULL gradients, scratch, checkpoints and
 * thread-count independence. */
#include "test.h"
#include "gradcheck.h"
#include "nn/ops.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, L, E, N;
    float *u, *dt, *dt_bias, *A_log, *Bm, *Cm, *D, *z;
} scan_case;

static long rows(const scan_case *c) { return (long)c->B * c->L; }

/* Inputs as a trained or freshly initialised Mamba sees them: A_log the
 * official S4D-real init ln(1..N) plus noise; dt_bias the inverse softplus of
 * 0.001..0.1 (about −7..−2); dt mostly small, so softplus sees small
 * arguments, but every 7th value large, so dt + dt_bias also crosses
 * PyTorch's threshold 20 (both sides of it occur). */
static scan_case *case_new(int B, int L, int E, int N, unsigned seed)
{
    scan_case *c = calloc(1, sizeof *c);
    c->B = B; c->L = L; c->E = E; c->N = N;
    long n = rows(c) * E, nb = rows(c) * N;
    c->u = malloc(sizeof(float) * n);
    c->dt = malloc(sizeof(float) * n);
    c->z = malloc(sizeof(float) * n);
    c->Bm = malloc(sizeof(float) * nb);
    c->Cm = malloc(sizeof(float) * nb);
    c->dt_bias = malloc(sizeof(float) * E);
    c->D = malloc(sizeof(float) * E);
    c->A_log = malloc(sizeof(float) * E * N);
    ds_test_fill_uniform(c->u, n, -1, 1, seed);
    ds_test_fill_uniform(c->dt, n, -2, 6, seed + 1);
    for (long i = 0; i < n; i += 7) c->dt[i] = 24.0f + 4.0f * (float)((i / 7) % 5) / 5.0f;
    ds_test_fill_uniform(c->z, n, -3, 3, seed + 2);
    ds_test_fill_uniform(c->Bm, nb, -1, 1, seed + 3);
    ds_test_fill_uniform(c->Cm, nb, -1, 1, seed + 4);
    ds_test_fill_uniform(c->dt_bias, E, -7, -2, seed + 5);
    ds_test_fill_uniform(c->D, E, 0.5f, 1.5f, seed + 6);
    ds_test_fill_uniform(c->A_log, (long)E * N, -0.1f, 0.1f, seed + 7);
    for (int e = 0; e < E; e++)
        for (int k = 0; k < N; k++) c->A_log[e * N + k] += (float)log(k + 1.0);
    return c;
}

static void case_free(scan_case *c)
{
    free(c->u); free(c->dt); free(c->z); free(c->Bm); free(c->Cm); free(c->dt_bias); free(c->D); free(c->A_log);
    free(c);
}

/* ---- the reference: selective_scan_ref in double, all states kept -------- */
static double softplus_ref(double x) { return x > 20 ? x : log1p(exp(x)); }

/* y [B, L, E] rounded to float; S [B, L, E, N] (state after each step) when
 * not NULL. */
static void ref_forward(const scan_case *c, float *y, double *S)
{
    int B = c->B, L = c->L, E = c->E, N = c->N;
    double *s = malloc(sizeof(double) * E * N);
    for (int b = 0; b < B; b++) {
        memset(s, 0, sizeof(double) * E * N);
        for (int t = 0; t < L; t++) {
            long r = (long)b * L + t;
            for (int e = 0; e < E; e++) {
                long i = r * E + e;
                double delta = softplus_ref((double)c->dt[i] + c->dt_bias[e]), x = c->u[i], acc = 0;
                for (int n = 0; n < N; n++) {
                    double A = -exp((double)c->A_log[e * N + n]);
                    double *sn = &s[e * N + n];
                    *sn = exp(delta * A) * *sn + delta * c->Bm[r * N + n] * x;
                    acc += *sn * c->Cm[r * N + n];
                    if (S) S[i * N + n] = *sn;
                }
                double zz = c->z[i];
                y[i] = (float)((acc + (double)c->D[e] * x) * zz / (1 + exp(-zz)));
            }
        }
    }
    free(s);
}

static void scan_fwd(const scan_case *c, float *y, float *ckpt)
{
    ds_selective_scan_forward(y, ckpt, c->u, c->dt, c->dt_bias, c->A_log, c->Bm, c->Cm, c->D, c->z, c->B, c->L,
                              c->E, c->N);
}

/* The eight gradients of one backward call in signature order, each NULL
 * (skipped) or a buffer. */
enum { G_U, G_DT, G_DT_BIAS, G_A_LOG, G_BM, G_CM, G_D, G_Z, NGRAD };
static const char *const grad_name[NGRAD] = { "du", "ddt", "ddt_bias", "dA_log", "dBm", "dCm", "dD", "dz" };
typedef struct { float *g[NGRAD]; } scan_grads;

static long grad_size(const scan_case *c, int k)
{
    long ne = rows(c) * c->E, nb = rows(c) * c->N;
    const long n[NGRAD] = { ne, ne, c->E, (long)c->E * c->N, nb, nb, c->E, ne };
    return n[k];
}

static scan_grads grads_new(const scan_case *c)
{
    scan_grads g;
    for (int k = 0; k < NGRAD; k++) g.g[k] = calloc((size_t)grad_size(c, k), sizeof(float));
    return g;
}

static void grads_free(scan_grads *g)
{
    for (int k = 0; k < NGRAD; k++) free(g->g[k]);
}

/* Forward (keeping checkpoints) then backward of dy into g; scratch NULL:
 * a fresh one. */
static void scan_bwd(const scan_case *c, scan_grads *g, const float *dy, float *scratch)
{
    float *y = malloc(sizeof(float) * rows(c) * c->E);
    float *ckpt = malloc(sizeof(float) * (ds_scan_ckpt_floats(c->B, c->L, c->E, c->N) + 1));
    float *own = scratch ? NULL : malloc(sizeof(float) * (ds_scan_scratch_floats(c->B, c->L, c->E, c->N) + 1));
    float **d = g->g;
    scan_fwd(c, y, ckpt);
    ds_selective_scan_backward(d[G_U], d[G_DT], d[G_DT_BIAS], d[G_A_LOG], d[G_BM], d[G_CM], d[G_D], d[G_Z], dy,
                               ckpt, scratch ? scratch : own, c->u, c->dt, c->dt_bias, c->A_log, c->Bm, c->Cm,
                               c->D, c->z, c->B, c->L, c->E, c->N);
    free(y); free(ckpt); free(own);
}

/* Whether every gradient of a and b is bitwise equal; names the first that is not. */
static void check_same_grads(const scan_case *c, const scan_grads *a, const scan_grads *b, const char *what)
{
    for (int k = 0; k < NGRAD; k++)
        CHECK_MSG(!memcmp(a->g[k], b->g[k], sizeof(float) * grad_size(c, k)), "%s: %s differs", what,
                  grad_name[k]);
}

/* ---- forward --------------------------------------------------------------- */
static const int shapes[][4] = {
    { 1, 5, 3, 16 },    /* L < DS_SCAN_CHUNK */
    { 2, 37, 5, 16 },   /* L not a multiple of the chunk, B > 1 */
    { 3, 16, 4, 7 },    /* exactly one chunk, N < 16 */
    { 2, 33, 6, 1 },    /* N = 1 */
    { 1, 64, 9, 16 },
    { 2, 1, 2, 3 },     /* one step */
    { 2, 40, 19, 16 },  /* channels over more than one block */
    { 1, 50, 40, 13 },
};

TEST(test_scan_forward_matches_double_reference_for_many_shapes)
{
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        scan_case *c = case_new(shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3], 11 + (unsigned)k);
        long n = rows(c) * c->E;
        float *y = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * n);
        float *ckpt = malloc(sizeof(float) * ds_scan_ckpt_floats(c->B, c->L, c->E, c->N));
        scan_fwd(c, y, ckpt);
        ref_forward(c, ref, NULL);
        char name[64];
        snprintf(name, sizeof name, "scan.y B%d L%d E%d N%d", c->B, c->L, c->E, c->N);
        CHECK_CLOSE(name, y, ref, n, 2e-6);
        free(y); free(ref); free(ckpt);
        case_free(c);
    }
}

/* ckpt [B, ceil(L/16), E, N] holds the state before step 16·c (zero for c = 0). */
TEST(test_scan_checkpoints_hold_the_state_at_every_chunk_start)
{
    scan_case *c = case_new(2, 53, 7, 16, 5);
    int nc = (c->L + DS_SCAN_CHUNK - 1) / DS_SCAN_CHUNK;
    CHECK_EQ_INT(ds_scan_ckpt_floats(c->B, c->L, c->E, c->N), (long)c->B * nc * c->E * c->N);
    long n = rows(c) * c->E, nk = (long)c->B * nc * c->E * c->N;
    float *y = malloc(sizeof(float) * n), *ckpt = malloc(sizeof(float) * nk), *want = malloc(sizeof(float) * nk);
    double *S = malloc(sizeof(double) * n * c->N);
    scan_fwd(c, y, ckpt);
    ref_forward(c, y, S);
    for (int b = 0; b < c->B; b++)
        for (int k = 0; k < nc; k++)
            for (int e = 0; e < c->E; e++)
                for (int j = 0; j < c->N; j++) {
                    long t = (long)k * DS_SCAN_CHUNK - 1;
                    want[(((long)b * nc + k) * c->E + e) * c->N + j] =
                        t < 0 ? 0.0f : (float)S[(((long)b * c->L + t) * c->E + e) * c->N + j];
                }
    CHECK_CLOSE("scan.ckpt", ckpt, want, nk, 2e-6);
    for (long i = 0; i < (long)c->E * c->N; i++) CHECK(ckpt[i] == 0.0f);   /* before step 0 */
    free(y); free(ckpt); free(want); free(S);
    case_free(c);
}

TEST(test_scan_forward_without_checkpoints_gives_the_same_y)
{
    scan_case *c = case_new(2, 45, 21, 16, 9);
    long n = rows(c) * c->E;
    float *y1 = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
    float *ckpt = malloc(sizeof(float) * ds_scan_ckpt_floats(c->B, c->L, c->E, c->N));
    scan_fwd(c, y1, ckpt);
    scan_fwd(c, y2, NULL);
    CHECK(!memcmp(y1, y2, sizeof(float) * n));
    free(y1); free(y2); free(ckpt);
    case_free(c);
}

/* softplus as F.softplus: log1p(exp(x)), x itself above 20. */
TEST(test_softplus_matches_double_reference_and_pytorch_threshold)
{
    double worst = 0;
    for (int i = 0; i <= 60000; i++) {
        float x = -30.0f + 1e-3f * (float)i;
        double ref = softplus_ref(x);
        worst = fmax(worst, fabs(ds_softplusf(x) - ref) / ref);
    }
    CHECK_MSG(worst < 4e-7, "softplus max rel err %.3g", worst);
    CHECK(ds_softplusf(20.5f) == 20.5f);
    CHECK(ds_softplusf(100.0f) == 100.0f);
    /* far below zero PyTorch gives a denormal; anything that tiny will do */
    CHECK(ds_softplusf(-100.0f) >= 0.0f && ds_softplusf(-100.0f) < 1e-37f);
}

/* ---- gradients ------------------------------------------------------------- */
static void gc_fwd(void *ctx, float *out) { scan_fwd(ctx, out, NULL); }

static void check_gradients(int B, int L, int E, int N, unsigned seed)
{
    scan_case *c = case_new(B, L, E, N, seed);
    long n = rows(c) * E;
    float *w = malloc(sizeof(float) * n);
    ds_test_fill_uniform(w, n, -1, 1, seed + 20);
    scan_grads g = grads_new(c);
    scan_bwd(c, &g, w, NULL);
    float *x[NGRAD] = { c->u, c->dt, c->dt_bias, c->A_log, c->Bm, c->Cm, c->D, c->z };
    gc_input in[NGRAD];
    for (int k = 0; k < NGRAD; k++) {
        /* dt and dt_bias step absolutely (dt mixes values near 1 and 25) */
        float eps = k == G_DT || k == G_DT_BIAS || k == G_A_LOG ? 1e-2f : 0;
        in[k] = (gc_input){ grad_name[k] + 1, x[k], g.g[k], grad_size(c, k), eps };
    }
    /* 120 probes per tensor, spread evenly, keep `make asan` (six runs of the
     * finite-difference tests) short */
    double e = gc_check(gc_fwd, c, n, w, in, NGRAD, 1e-2f, 120, 1e-3);
    CHECK_MSG(e <= 1e-3, "scan B%d L%d E%d N%d: gradients vs finite differences err %.3g", B, L, E, N, e);
    grads_free(&g);
    free(w);
    case_free(c);
}

TEST(test_scan_gradients_match_finite_differences)
{
    check_gradients(2, 37, 5, 16, 3);   /* three chunks, the last partial */
    check_gradients(1, 9, 3, 5, 4);     /* one partial chunk, N < 16 */
    check_gradients(2, 20, 19, 16, 6);  /* channels over more than one block */
}

/* Backward adds onto what the gradients hold (ops.h): starting from p it
 * ends at p + g, where g is what it writes into zeros. */
TEST(test_scan_gradients_accumulate_into_existing_values)
{
    scan_case *c = case_new(2, 30, 11, 16, 21);
    long n = rows(c) * c->E;
    float *w = malloc(sizeof(float) * n), *want[NGRAD];
    ds_test_fill_uniform(w, n, -1, 1, 22);
    scan_grads g0 = grads_new(c), g1 = grads_new(c);
    scan_bwd(c, &g0, w, NULL);
    for (int k = 0; k < NGRAD; k++) {
        long sz = grad_size(c, k);
        ds_test_fill_uniform(g1.g[k], sz, 1, 2, 30 + k);
        want[k] = malloc(sizeof(float) * sz);
        for (long i = 0; i < sz; i++) want[k][i] = g1.g[k][i] + g0.g[k][i];
    }
    scan_bwd(c, &g1, w, NULL);
    for (int k = 0; k < NGRAD; k++) {
        CHECK_CLOSE(grad_name[k], g1.g[k], want[k], grad_size(c, k), 1e-6);
        free(want[k]);
    }
    grads_free(&g0); grads_free(&g1);
    free(w);
    case_free(c);
}

/* Each gradient alone (the other seven NULL) is the same as when all are
 * asked for; all NULL is allowed. */
TEST(test_scan_null_gradients_are_skipped)
{
    scan_case *c = case_new(1, 40, 13, 16, 41);
    long n = rows(c) * c->E;
    float *w = malloc(sizeof(float) * n);
    ds_test_fill_uniform(w, n, -1, 1, 42);
    scan_grads all = grads_new(c), none = { { 0 } };
    scan_bwd(c, &all, w, NULL);
    scan_bwd(c, &none, w, NULL);
    for (int k = 0; k < NGRAD; k++) {
        scan_grads only = { { 0 } };
        only.g[k] = calloc((size_t)grad_size(c, k), sizeof(float));
        scan_bwd(c, &only, w, NULL);
        CHECK_MSG(!memcmp(only.g[k], all.g[k], sizeof(float) * grad_size(c, k)),
                  "%s alone differs from %s with all gradients", grad_name[k], grad_name[k]);
        free(only.g[k]);
    }
    grads_free(&all);
    free(w);
    case_free(c);
}

/* The scratch is the op's own: whatever it held before does not matter. */
TEST(test_scan_backward_does_not_need_zeroed_scratch)
{
    scan_case *c = case_new(2, 35, 17, 16, 51);
    long n = rows(c) * c->E;
    size_t ns = ds_scan_scratch_floats(c->B, c->L, c->E, c->N);
    float *w = malloc(sizeof(float) * n), *scratch = malloc(sizeof(float) * (ns + 1));
    ds_test_fill_uniform(w, n, -1, 1, 52);
    scan_grads g0 = grads_new(c), g1 = grads_new(c);
    memset(scratch, 0, sizeof(float) * (ns + 1));
    scan_bwd(c, &g0, w, scratch);
    for (size_t i = 0; i < ns; i++) scratch[i] = NAN;
    scan_bwd(c, &g1, w, scratch);
    check_same_grads(c, &g0, &g1, "NaN-filled scratch");
    grads_free(&g0); grads_free(&g1);
    free(w); free(scratch);
    case_free(c);
}

/* y and every gradient are bitwise the same on 1 and 2 threads, for one
 * long sequence (the work split over channels) and for several. */
TEST(test_scan_results_do_not_depend_on_thread_count)
{
    static const int sh[][4] = { { 1, 70, 37, 16 }, { 3, 50, 20, 13 }, { 2, 33, 236, 16 } };
    for (int k = 0; k < 3; k++) {
        scan_case *c = case_new(sh[k][0], sh[k][1], sh[k][2], sh[k][3], 61 + k);
        long n = rows(c) * c->E;
        float *w = malloc(sizeof(float) * n), *y[2];
        ds_test_fill_uniform(w, n, -1, 1, 70 + k);
        scan_grads g[2];
        for (int r = 0; r < 2; r++) {
            omp_set_num_threads(r + 1);
            y[r] = malloc(sizeof(float) * n);
            scan_fwd(c, y[r], NULL);
            g[r] = grads_new(c);
            scan_bwd(c, &g[r], w, NULL);
        }
        omp_set_num_threads(2);
        char what[64];
        snprintf(what, sizeof what, "B%d L%d E%d N%d, 1 and 2 threads", c->B, c->L, c->E, c->N);
        CHECK_MSG(!memcmp(y[0], y[1], sizeof(float) * n), "%s: y differs", what);
        check_same_grads(c, &g[0], &g[1], what);
        for (int r = 0; r < 2; r++) { free(y[r]); grads_free(&g[r]); }
        free(w);
        case_free(c);
    }
}
