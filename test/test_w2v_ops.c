/* wav2vec2's ops (spec §3.1, §3.3, §3.4, §3.7): the general Conv1d against a
 * direct double-precision sum at the shapes of the feature encoder and the
 * positional conv, weight norm over dim 2, GroupNorm over time, all
 * gradients by finite differences and thread-count independence; then the
 * span mask, the negatives and the Gumbel noise. */
#include "test.h"
#include "gradcheck.h"
#include "io/spanmask.h"
#include "nn/norm.h"
#include "nn/ops.h"
#include "core/error.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- general Conv1d --------------------------------------------------- */

typedef struct {
    const char *name;
    int B, Lin, Cin, Cout, K, stride, pad, groups, Lout, has_bias;
} conv_shape;

/* Small versions of every wav2vec2 conv, plus the corners: both code paths
 * (taps: groups 1 and Cin >= 32; im2col otherwise), padding on the tap path,
 * Lout below PyTorch's length, and more rows than one im2col chunk. */
static const conv_shape SHAPES[] = {
    { "layer0 Cin1 K10 s5", 2, 57, 1, 16, 10, 5, 0, 1, 10, 0 },
    { "layers1-4 K3 s2", 2, 41, 32, 24, 3, 2, 0, 1, 20, 0 },
    { "layers5-6 K2 s2", 2, 21, 32, 32, 2, 2, 0, 1, 10, 1 },
    { "pos conv K8 pad4 groups4 Lout=Lin", 2, 13, 24, 24, 8, 1, 4, 4, 13, 1 },
    { "grouped strided padded, Lout short", 2, 17, 6, 9, 4, 3, 2, 3, 5, 1 },
    { "taps with padding and stride", 2, 12, 40, 8, 5, 2, 3, 1, 7, 0 },
    { "taps, K longer than the input", 1, 3, 32, 4, 6, 1, 3, 1, 4, 1 },
};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

typedef struct {
    conv_shape s;
    float *x, *w, *bias, *scratch;
    long nx, nw, ny;
} conv_case;

static conv_case conv_make(const conv_shape *s, unsigned seed)
{
    conv_case c = { *s };
    c.nx = (long)s->B * s->Lin * s->Cin;
    c.nw = (long)s->Cout * (s->Cin / s->groups) * s->K;
    c.ny = (long)s->B * s->Lout * s->Cout;
    c.x = malloc(sizeof(float) * c.nx);
    c.w = malloc(sizeof(float) * c.nw);
    c.bias = s->has_bias ? malloc(sizeof(float) * s->Cout) : NULL;
    c.scratch = malloc(sizeof(float) * (ds_conv1d_scratch_floats(s->B, s->Lin, s->Cin, s->Cout, s->K, s->stride,
                                                                 s->pad, s->groups, s->Lout) + 1));
    ds_test_fill_uniform(c.x, c.nx, -1, 1, seed);
    ds_test_fill_uniform(c.w, c.nw, -1, 1, seed + 1);
    if (c.bias) ds_test_fill_uniform(c.bias, s->Cout, -1, 1, seed + 2);
    return c;
}

static void conv_free(conv_case *c) { free(c->x); free(c->w); free(c->bias); free(c->scratch); }

static void conv_fwd(void *ctx, float *out)
{
    conv_case *c = ctx;
    const conv_shape *s = &c->s;
    ds_conv1d_forward(out, c->x, c->w, c->bias, s->B, s->Lin, s->Cin, s->Cout, s->K, s->stride, s->pad, s->groups,
                      s->Lout, c->scratch);
}

static void conv_bwd(conv_case *c, float *dx, float *dw, float *db, const float *dy)
{
    const conv_shape *s = &c->s;
    ds_conv1d_backward(dx, dw, db, dy, c->x, c->w, s->B, s->Lin, s->Cin, s->Cout, s->K, s->stride, s->pad,
                       s->groups, s->Lout, c->scratch);
}

/* The definition, summed in double: out, and the gradients for dout = dy. */
static void conv_naive(const conv_case *c, float *y, float *dx, float *dw, float *db, const float *dy)
{
    const conv_shape *s = &c->s;
    int Cg = s->Cin / s->groups, Cgo = s->Cout / s->groups;
    double *gx = calloc(c->nx, sizeof(double)), *gw = calloc(c->nw, sizeof(double)), *gb = calloc(s->Cout, sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->Lout; t++)
            for (int o = 0; o < s->Cout; o++) {
                double acc = c->bias ? c->bias[o] : 0, g = dy[((long)b * s->Lout + t) * s->Cout + o];
                int grp = o / Cgo;
                for (int il = 0; il < Cg; il++)
                    for (int j = 0; j < s->K; j++) {
                        int src = t * s->stride - s->pad + j;
                        if (src < 0 || src >= s->Lin) continue;
                        long xi = ((long)b * s->Lin + src) * s->Cin + grp * Cg + il, wi = ((long)o * Cg + il) * s->K + j;
                        acc += (double)c->w[wi] * c->x[xi];
                        gx[xi] += g * c->w[wi];
                        gw[wi] += g * c->x[xi];
                    }
                y[((long)b * s->Lout + t) * s->Cout + o] = (float)acc;
                gb[o] += g;
            }
    for (long i = 0; i < c->nx; i++) dx[i] = (float)gx[i];
    for (long i = 0; i < c->nw; i++) dw[i] = (float)gw[i];
    for (int o = 0; o < s->Cout; o++) db[o] = (float)gb[o];
    free(gx); free(gw); free(gb);
}

/* float32 sums of n terms: normwise error grows like sqrt(n)·2^-24 */
static double sum_tol(long n) { return 1e-6 * fmax(1.0, sqrt(n / 64.0)); }

TEST(test_conv1d_equals_direct_sum_at_every_wav2vec2_shape)
{
    for (int k = 0; k < NSHAPES; k++) {
        conv_case c = conv_make(&SHAPES[k], 10 + k);
        float *y = malloc(sizeof(float) * c.ny), *ref = malloc(sizeof(float) * c.ny);
        float *dy = malloc(sizeof(float) * c.ny), *dx = calloc(c.nx, sizeof(float)), *dw = calloc(c.nw, sizeof(float));
        float *db = calloc(c.s.Cout, sizeof(float)), *rdx = calloc(c.nx, sizeof(float));
        float *rdw = calloc(c.nw, sizeof(float)), *rdb = calloc(c.s.Cout, sizeof(float));
        ds_test_fill_uniform(dy, c.ny, -1, 1, 99);
        conv_naive(&c, ref, rdx, rdw, rdb, dy);
        memset(y, 0xff, sizeof(float) * c.ny);   /* NaN: every output must be written */
        conv_fwd(&c, y);
        conv_bwd(&c, dx, dw, c.bias ? db : NULL, dy);
        char name[160];
        const conv_shape *s = &c.s;
        snprintf(name, sizeof name, "%s: out", s->name);
        CHECK_CLOSE(name, y, ref, c.ny, sum_tol((long)s->Cin / s->groups * s->K));
        snprintf(name, sizeof name, "%s: dinp", s->name);
        CHECK_CLOSE(name, dx, rdx, c.nx, sum_tol((long)s->Cout / s->groups * s->K));
        snprintf(name, sizeof name, "%s: dw", s->name);
        CHECK_CLOSE(name, dw, rdw, c.nw, sum_tol((long)s->B * s->Lout));
        if (c.bias) {
            snprintf(name, sizeof name, "%s: dbias", s->name);
            CHECK_CLOSE(name, db, rdb, s->Cout, sum_tol((long)s->B * s->Lout));
        }
        free(y); free(ref); free(dy); free(dx); free(dw); free(db); free(rdx); free(rdw); free(rdb);
        conv_free(&c);
    }
}

TEST(test_conv1d_im2col_in_several_chunks_equals_direct_sum)
{
    /* Cg·K = 16384 floats per frame: 256 frames per chunk, 300 frames here */
    conv_shape s = { "chunked", 1, 1323, 16, 2, 1024, 1, 0, 1, 300, 1 };
    conv_case c = conv_make(&s, 3);
    float *y = malloc(sizeof(float) * c.ny), *ref = malloc(sizeof(float) * c.ny), *dy = malloc(sizeof(float) * c.ny);
    float *dx = calloc(c.nx, sizeof(float)), *dw = calloc(c.nw, sizeof(float)), *db = calloc(2, sizeof(float));
    float *rdx = calloc(c.nx, sizeof(float)), *rdw = calloc(c.nw, sizeof(float)), *rdb = calloc(2, sizeof(float));
    ds_test_fill_uniform(dy, c.ny, -1, 1, 98);
    conv_naive(&c, ref, rdx, rdw, rdb, dy);
    conv_fwd(&c, y);
    conv_bwd(&c, dx, dw, db, dy);
    CHECK_CLOSE("chunked: out", y, ref, c.ny, sum_tol(16 * 1024));
    CHECK_CLOSE("chunked: dinp", dx, rdx, c.nx, sum_tol(2 * 1024));
    CHECK_CLOSE("chunked: dw", dw, rdw, c.nw, sum_tol(300));
    CHECK_CLOSE("chunked: dbias", db, rdb, 2, sum_tol(300));
    free(y); free(ref); free(dy); free(dx); free(dw); free(db); free(rdx); free(rdw); free(rdb);
    conv_free(&c);
}

TEST(test_conv1d_backward_matches_finite_differences)
{
    for (int k = 0; k < NSHAPES; k++) {
        conv_case c = conv_make(&SHAPES[k], 20 + k);
        float *dy = malloc(sizeof(float) * c.ny), *dx = calloc(c.nx, sizeof(float)), *dw = calloc(c.nw, sizeof(float));
        float *db = calloc(c.s.Cout, sizeof(float));
        ds_test_fill_uniform(dy, c.ny, -1, 1, 97);
        conv_bwd(&c, dx, dw, db, dy);
        gc_input in[] = { { "conv inp", c.x, dx, c.nx }, { "conv w", c.w, dw, c.nw }, { "conv bias", c.bias, db, c.s.Cout } };
        double e = gc_check(conv_fwd, &c, c.ny, dy, in, c.bias ? 3 : 2, 1e-2f, 200, 1e-3);
        CHECK_MSG(e <= 1e-3, "%s: gradcheck err %.3g", c.s.name, e);
        free(dy); free(dx); free(dw); free(db);
        conv_free(&c);
    }
}

TEST(test_conv1d_backward_accumulates_and_skips_null_gradients)
{
    conv_case c = conv_make(&SHAPES[3], 5);
    float *dy = malloc(sizeof(float) * c.ny), *dx = malloc(sizeof(float) * c.nx), *dx2 = malloc(sizeof(float) * c.nx);
    ds_test_fill_uniform(dy, c.ny, -1, 1, 6);
    for (long i = 0; i < c.nx; i++) dx[i] = dx2[i] = 0.5f;
    conv_bwd(&c, dx, NULL, NULL, dy);
    conv_bwd(&c, dx, NULL, NULL, dy);   /* two contributions */
    float *one = calloc(c.nx, sizeof(float));
    conv_bwd(&c, one, NULL, NULL, dy);
    for (long i = 0; i < c.nx; i++) dx2[i] += 2 * one[i];
    CHECK_CLOSE("dinp after two backward calls", dx, dx2, c.nx, 1e-6);
    free(dy); free(dx); free(dx2); free(one);
    conv_free(&c);
}

/* ---- weight norm over dim 2 -------------------------------------------- */

enum { WO = 6, WI = 5, WK = 19 };   /* K not a multiple of the 16-tap block */
typedef struct { float v[WO * WI * WK], g[WK], norms[WK]; } wn_case;

static void wn_fwd(void *ctx, float *out) { wn_case *t = ctx; ds_weightnorm2_forward(out, t->norms, t->g, t->v, WO, WI, WK); }

TEST(test_weightnorm2_normalises_each_kernel_tap_over_out_and_in_channels)
{
    wn_case t;
    ds_test_fill_uniform(t.v, WO * WI * WK, -1, 1, 1);
    ds_test_fill_uniform(t.g, WK, 0.5f, 2, 2);
    float w[WO * WI * WK], ref[WO * WI * WK], rn[WK];
    wn_fwd(&t, w);
    for (int k = 0; k < WK; k++) {
        double ss = 0;
        for (int r = 0; r < WO * WI; r++) ss += (double)t.v[r * WK + k] * t.v[r * WK + k];
        rn[k] = (float)sqrt(ss);
        for (int r = 0; r < WO * WI; r++) ref[r * WK + k] = (float)(t.g[k] * t.v[r * WK + k] / sqrt(ss));
    }
    CHECK_CLOSE("weight norm w", w, ref, WO * WI * WK, 1e-6);
    CHECK_CLOSE("weight norm norms", t.norms, rn, WK, 1e-6);
}

TEST(test_weightnorm2_backward_matches_finite_differences)
{
    wn_case t;
    ds_test_fill_uniform(t.v, WO * WI * WK, -1, 1, 3);
    ds_test_fill_uniform(t.g, WK, 0.5f, 2, 4);
    float w[WO * WI * WK], dw[WO * WI * WK], dv[WO * WI * WK] = {0}, dg[WK] = {0};
    ds_test_fill_uniform(dw, WO * WI * WK, -1, 1, 5);
    wn_fwd(&t, w);
    ds_weightnorm2_backward(dg, dv, dw, t.g, t.v, t.norms, WO, WI, WK);
    gc_input in[] = { { "weight norm v", t.v, dv, WO * WI * WK }, { "weight norm g", t.g, dg, WK } };
    CHECK(gc_check(wn_fwd, &t, WO * WI * WK, dw, in, 2, 1e-2f, 300, 1e-3) <= 1e-3);
}

/* ---- GroupNorm over time ----------------------------------------------- */

enum { GB = 2, GT = 9, GC = 20 };   /* C = one 16-channel block and a partial one */
typedef struct { float x[GB * GT * GC], gamma[GC], beta[GC], mean[GB * GC], rstd[GB * GC]; } gn_case;

static void gn_init(gn_case *t, unsigned seed)
{
    ds_test_fill_uniform(t->x, GB * GT * GC, -2, 3, seed);
    ds_test_fill_uniform(t->gamma, GC, 0.5f, 1.5f, seed + 1);
    ds_test_fill_uniform(t->beta, GC, -0.5f, 0.5f, seed + 2);
}

static void gn_fwd(void *ctx, float *out)
{
    gn_case *t = ctx;
    ds_groupnorm_forward(out, t->mean, t->rstd, t->x, t->gamma, t->beta, GB, GT, GC, 1e-5f);
}

TEST(test_groupnorm_normalises_each_channel_of_each_utterance_over_time)
{
    gn_case t;
    gn_init(&t, 1);
    float y[GB * GT * GC], ref[GB * GT * GC];
    gn_fwd(&t, y);
    for (int b = 0; b < GB; b++)
        for (int c = 0; c < GC; c++) {
            double m = 0, v = 0;
            for (int s = 0; s < GT; s++) m += t.x[(b * GT + s) * GC + c];
            m /= GT;
            for (int s = 0; s < GT; s++) v += (t.x[(b * GT + s) * GC + c] - m) * (t.x[(b * GT + s) * GC + c] - m);
            double r = 1 / sqrt(v / GT + 1e-5);   /* biased variance, as torch.nn.GroupNorm */
            for (int s = 0; s < GT; s++)
                ref[(b * GT + s) * GC + c] = (float)((t.x[(b * GT + s) * GC + c] - m) * r * t.gamma[c] + t.beta[c]);
        }
    CHECK_CLOSE("groupnorm out", y, ref, GB * GT * GC, 1e-6);
}

TEST(test_groupnorm_backward_matches_finite_differences)
{
    gn_case t;
    gn_init(&t, 7);
    float y[GB * GT * GC], dy[GB * GT * GC], dx[GB * GT * GC] = {0}, dg[GC] = {0}, db[GC] = {0};
    ds_test_fill_uniform(dy, GB * GT * GC, -1, 1, 8);
    gn_fwd(&t, y);
    ds_groupnorm_backward(dx, dg, db, dy, t.x, t.mean, t.rstd, t.gamma, GB, GT, GC);
    gc_input in[] = { { "groupnorm inp", t.x, dx, GB * GT * GC }, { "groupnorm gamma", t.gamma, dg, GC },
                      { "groupnorm beta", t.beta, db, GC } };
    CHECK(gc_check(gn_fwd, &t, GB * GT * GC, dy, in, 3, 1e-2f, 300, 1e-3) <= 1e-3);
}

/* ---- thread-count independence ------------------------------------------ */

/* Forward and every gradient of the conv (both paths), weight norm and
 * GroupNorm into one buffer. */
static float *w2v_ops_all(long *n)
{
    /* big enough that one multithreaded OpenBLAS call would differ in the last bits */
    conv_shape shapes[] = { { "pos", 2, 80, 64, 64, 16, 1, 8, 4, 80, 1 }, { "l1", 2, 201, 128, 128, 3, 2, 0, 1, 100, 1 } };
    long cap = 0, at = 0;
    for (int k = 0; k < 2; k++) {
        conv_case c = conv_make(&shapes[k], 1);
        cap += c.ny + c.nx + c.nw + c.s.Cout;
        conv_free(&c);
    }
    enum { O = 64, I = 16, K = 40, T = 301, C = 48 };
    cap += 2L * O * I * K + K + 2L * T * C + 2 * C;
    float *all = calloc(cap, sizeof(float));
    for (int k = 0; k < 2; k++) {
        conv_case c = conv_make(&shapes[k], 1);
        float *y = all + at, *dx = y + c.ny, *dw = dx + c.nx, *db = dw + c.nw;
        conv_fwd(&c, y);
        conv_bwd(&c, dx, dw, db, y);
        at += c.ny + c.nx + c.nw + c.s.Cout;
        conv_free(&c);
    }
    float *v = malloc(sizeof(float) * O * I * K), *g = malloc(sizeof(float) * K), norms[K];
    ds_test_fill_uniform(v, O * I * K, -1, 1, 2);
    ds_test_fill_uniform(g, K, 0.5f, 2, 3);
    float *w = all + at, *dv = w + O * I * K, *dg = dv + O * I * K;
    ds_weightnorm2_forward(w, norms, g, v, O, I, K);
    ds_weightnorm2_backward(dg, dv, w, g, v, norms, O, I, K);
    at += 2L * O * I * K + K;
    float *x = malloc(sizeof(float) * T * C), gm[C], bt[C], mean[C], rstd[C];
    ds_test_fill_uniform(x, T * C, -1, 2, 4);
    ds_test_fill_uniform(gm, C, 0.5f, 1.5f, 5);
    ds_test_fill_uniform(bt, C, -1, 1, 6);
    float *y = all + at, *dx = y + T * C, *dgm = dx + T * C, *dbt = dgm + C;
    ds_groupnorm_forward(y, mean, rstd, x, gm, bt, 1, T, C, 1e-5f);
    ds_groupnorm_backward(dx, dgm, dbt, y, x, mean, rstd, gm, 1, T, C);
    free(v); free(g); free(x);
    *n = cap;
    return all;
}

TEST(test_w2v_conv_weightnorm_groupnorm_do_not_depend_on_thread_count)
{
    long n1, n2;
    omp_set_num_threads(1);
    float *a = w2v_ops_all(&n1);
    omp_set_num_threads(2);
    float *b = w2v_ops_all(&n2);
    CHECK_EQ_INT(n1, n2);
    CHECK(!memcmp(a, b, sizeof(float) * n1));
    free(a); free(b);
}

/* ---- span mask (spec §3.3) ---------------------------------------------- */

static int row_count(const uint8_t *row, int n)
{
    int c = 0;
    for (int t = 0; t < n; t++) c += row[t] != 0;
    return c;
}

TEST(test_span_mask_gives_every_row_the_same_count_and_never_masks_padding)
{
    enum { B = 4, TM = 120 };
    int T_b[B] = { 120, 97, 60, 33 };
    uint8_t mask[B * TM];
    for (uint64_t step = 0; step < 50; step++) {
        int n = ds_span_mask(mask, T_b, B, TM, 0.65f, 10, 2, 7, step);
        CHECK(n > 0);
        for (int b = 0; b < B; b++) {
            CHECK_EQ_INT(row_count(mask + b * TM, T_b[b]), n);
            CHECK_EQ_INT(row_count(mask + b * TM + T_b[b], TM - T_b[b]), 0);
        }
    }
}

TEST(test_span_mask_of_one_utterance_is_a_union_of_whole_spans)
{
    /* B = 1: nothing is subsampled; starts come from range(sz − 10), so no
     * span is clipped, every masked run is >= 10 long and the last frame
     * stays unmasked */
    enum { SZ = 200 };
    int sz = SZ;
    uint8_t m[SZ];
    for (uint64_t seed = 0; seed < 100; seed++) {
        int n = ds_span_mask(m, &sz, 1, SZ, 0.65f, 10, 2, seed, 3);
        CHECK_EQ_INT(row_count(m, SZ), n);
        CHECK(!m[SZ - 1]);
        for (int t = 0; t < SZ;) {
            if (!m[t]) { t++; continue; }
            int e = t;
            while (e < SZ && m[e]) e++;
            CHECK_MSG(e - t >= 10, "seed %d: masked run [%d, %d) shorter than a span", (int)seed, t, e);
            t = e;
        }
    }
}

TEST(test_span_mask_masks_about_49_percent_at_p_065_length_10)
{
    /* fairseq's rule gives 0.490 (sd 0.029 per utterance) at 500 frames,
     * measured with a Python re-implementation; 400 draws: SE 0.0015 */
    enum { SZ = 500 };
    int sz = SZ;
    uint8_t m[SZ];
    double sum = 0;
    for (uint64_t step = 0; step < 400; step++) sum += ds_span_mask(m, &sz, 1, SZ, 0.65f, 10, 2, 11, step);
    double frac = sum / (400.0 * SZ);
    CHECK_MSG(frac > 0.482 && frac < 0.498, "masked fraction %.4f, expected 0.490", frac);
}

TEST(test_span_mask_honours_min_masks)
{
    int sz = 15, n;
    uint8_t m[15];
    for (uint64_t step = 0; step < 40; step++) {
        /* p 0: int(0 + U) = 0 spans, raised to 2 distinct starts in range(5): 11..14 frames */
        n = ds_span_mask(m, &sz, 1, 15, 0.0f, 10, 2, 1, step);
        CHECK(n >= 11 && n <= 14);
        CHECK_EQ_INT(ds_span_mask(m, &sz, 1, 15, 0.0f, 10, 0, 1, step), 0);
    }
}

TEST(test_span_mask_short_utterance_draws_starts_from_num_mask_plus_one)
{
    /* sz 5 <= len: two distinct starts from range(3), clipped at sz, so the
     * mask is frames min(start)..4: 5 frames (start 0 drawn, p 2/3) or 4 */
    int sz = 5, hits5 = 0;
    uint8_t m[5];
    for (uint64_t step = 0; step < 600; step++) {
        int n = ds_span_mask(m, &sz, 1, 5, 0.65f, 10, 2, 2, step);
        CHECK(n == 4 || n == 5);
        for (int t = 5 - n; t < 5; t++) CHECK(m[t]);
        hits5 += n == 5;
    }
    CHECK_MSG(hits5 > 340 && hits5 < 460, "start 0 drawn %d of 600 times, expected about 400", hits5);
}

TEST(test_span_mask_is_reproduced_by_seed_and_step)
{
    enum { B = 3, TM = 80 };
    int T_b[B] = { 80, 70, 45 };
    uint8_t a[B * TM], b[B * TM];
    ds_span_mask(a, T_b, B, TM, 0.65f, 10, 2, 5, 17);
    ds_span_mask(b, T_b, B, TM, 0.65f, 10, 2, 5, 17);
    CHECK(!memcmp(a, b, sizeof a));
    ds_span_mask(b, T_b, B, TM, 0.65f, 10, 2, 5, 18);
    CHECK(memcmp(a, b, sizeof a));
    ds_span_mask(b, T_b, B, TM, 0.65f, 10, 2, 6, 17);
    CHECK(memcmp(a, b, sizeof a));
}

TEST(test_span_mask_refuses_bad_arguments_naming_them)
{
    int T_b[2] = { 10, 12 };
    uint8_t m[20];
    CHECK_EQ_INT(ds_span_mask(m, T_b, 2, 10, 0.65f, 10, 2, 1, 1), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "utterance 1 has 12 frames"));
    CHECK_EQ_INT(ds_span_mask(m, T_b, 1, 10, 0.65f, 0, 2, 1, 1), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "mask_length"));
    CHECK_EQ_INT(ds_span_mask(m, T_b, 1, 10, 1.5f, 10, 2, 1, 1), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "mask_prob"));
}

/* ---- negatives (spec §3.7) ---------------------------------------------- */

TEST(test_negatives_are_other_masked_frames_of_the_same_utterance)
{
    enum { B = 3, TM = 90, K = 100 };
    int T_b[B] = { 90, 64, 50 };
    uint8_t mask[B * TM];
    int n = ds_span_mask(mask, T_b, B, TM, 0.65f, 10, 2, 3, 4);
    CHECK(n >= 2);
    int32_t *neg = malloc(sizeof(int32_t) * B * n * K), utt[B * TM];
    CHECK_EQ_INT(ds_sample_negatives(neg, mask, T_b, B, TM, K, 3, 4), B * n);
    for (int m = 0; m < B * n; m++) utt[m] = m / n;   /* every row has n: utterance of frame m */
    for (int m = 0; m < B * n; m++)
        for (int k = 0; k < K; k++) {
            int j = neg[m * K + k];
            CHECK(j >= 0 && j < B * n && j != m && utt[j] == utt[m]);
        }
    free(neg);
}

TEST(test_negatives_are_uniform_over_the_other_frames)
{
    enum { T = 20, K = 20000 };
    int T_b = T;
    uint8_t mask[T] = {0};
    mask[2] = mask[3] = mask[9] = mask[15] = mask[19] = 1;   /* M = 5 */
    int32_t *neg = malloc(sizeof(int32_t) * 5 * K);
    CHECK_EQ_INT(ds_sample_negatives(neg, mask, &T_b, 1, T, K, 8, 1), 5);
    for (int m = 0; m < 5; m++) {
        int cnt[5] = {0};
        for (int k = 0; k < K; k++) cnt[neg[m * K + k]]++;
        CHECK_EQ_INT(cnt[m], 0);
        for (int j = 0; j < 5; j++)   /* 5000 expected, sd 61 */
            if (j != m) CHECK_MSG(abs(cnt[j] - K / 4) < 300, "frame %d drew %d %d times of %d", m, j, cnt[j], K);
    }
    free(neg);
}

TEST(test_negatives_refuse_an_utterance_with_one_masked_frame)
{
    enum { T = 10 };
    int T_b[2] = { T, T };
    uint8_t mask[2 * T] = {0};
    int32_t neg[40];
    mask[3] = mask[5] = 1;   /* utterance 0: 2 frames; utterance 1: none, which is fine */
    CHECK_EQ_INT(ds_sample_negatives(neg, mask, T_b, 2, T, 4, 1, 1), 2);
    for (int k = 0; k < 4; k++) CHECK(neg[k] == 1 && neg[4 + k] == 0);
    mask[T + 7] = 1;
    CHECK_EQ_INT(ds_sample_negatives(neg, mask, T_b, 2, T, 4, 1, 1), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "utterance 1 has 1 masked frame"));
}

TEST(test_negatives_are_reproduced_by_seed_and_step)
{
    enum { T = 40, K = 10 };
    int T_b = T;
    uint8_t mask[T] = {0};
    for (int t = 5; t < 25; t++) mask[t] = 1;
    int32_t a[20 * K], b[20 * K];
    ds_sample_negatives(a, mask, &T_b, 1, T, K, 2, 9);
    ds_sample_negatives(b, mask, &T_b, 1, T, K, 2, 9);
    CHECK(!memcmp(a, b, sizeof a));
    ds_sample_negatives(b, mask, &T_b, 1, T, K, 2, 10);
    CHECK(memcmp(a, b, sizeof a));
}

/* ---- Gumbel noise (spec §3.6) ------------------------------------------- */

TEST(test_gumbel_noise_is_finite_with_the_gumbel_mean_and_variance)
{
    enum { N = 1 << 20 };
    float *g = malloc(sizeof(float) * N);
    ds_gumbel_noise(g, N, 3, 1);
    double s = 0, s2 = 0;
    int finite = 1;
    for (long i = 0; i < N; i++) {
        finite &= isfinite(g[i]) && g[i] > -3.2f && g[i] < 23.0f;
        s += g[i];
        s2 += (double)g[i] * g[i];
    }
    double mean = s / N, var = s2 / N - mean * mean;
    CHECK(finite);
    CHECK_NEAR(mean, 0.5772156649, 0.006);          /* Euler–Mascheroni; SE 0.0013 */
    CHECK_NEAR(var, 1.6449340668, 0.02);            /* π²/6; SE 0.0045 */
    free(g);
}

TEST(test_gumbel_noise_depends_only_on_seed_step_and_index)
{
    enum { N = 4099 };
    float a[N], b[N], c[N];
    omp_set_num_threads(1);
    ds_gumbel_noise(a, N, 5, 2);
    omp_set_num_threads(2);
    ds_gumbel_noise(b, N, 5, 2);
    CHECK(!memcmp(a, b, sizeof a));
    ds_gumbel_noise(c, 17, 5, 2);   /* a prefix draws the same values */
    CHECK(!memcmp(a, c, 17 * sizeof(float)));
    ds_gumbel_noise(b, N, 5, 3);
    CHECK(memcmp(a, b, sizeof a));
}
