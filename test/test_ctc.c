/* The CTC loss and greedy decoder of lib/nn/ctc.c: hand-summed alignments
 * of tiny cases, the blank a repeated label needs, impossible alignments
 * (+inf, or 0 and no gradient with zero_infinity), gradients against
 * finite differences through a log_softmax, padded frames, thread-count
 * independence, a long input against a rescaled probability-space
 * reference, greedy decoding, and PyTorch's F.ctc_loss
 * (test/reference/ctc.py -> testdata/golden/ctc.safetensors). */
#include "test.h"
#include "gradcheck.h"
#include "core/error.h"
#include "io/char_vocab.h"
#include "io/safetensors.h"
#include "nn/ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Loss of one sequence over all T frames; the scratch is the op's own. */
static double ctc1(const float *logp, int T, int V, const int32_t *tg, int L, int zero_inf)
{
    float *scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(1, T, L, V));
    double loss;
    ds_ctc_forward(&loss, scratch, logp, &T, tg, &L, 1, T, V, 0, zero_inf);
    free(scratch);
    return loss;
}

/* Log-probabilities from rows of probabilities. */
static void logs(float *lp, const double *p, int n)
{
    for (int i = 0; i < n; i++) lp[i] = (float)log(p[i]);
}

TEST(test_ctc_of_one_frame_is_minus_the_log_probability_of_the_label_or_the_blank)
{
    double p[3] = { 0.2, 0.5, 0.3 };
    float lp[3];
    logs(lp, p, 3);
    int32_t tg[1] = { 2 };
    CHECK_NEAR(ctc1(lp, 1, 3, tg, 1, 0), -log(0.3), 1e-7);
    CHECK_NEAR(ctc1(lp, 1, 3, tg, 0, 0), -log(0.2), 1e-7);
}

TEST(test_ctc_of_two_frames_sums_the_three_alignments_of_one_label)
{
    double p[6] = { 0.2, 0.5, 0.3, 0.6, 0.1, 0.3 };
    float lp[6];
    logs(lp, p, 6);
    int32_t tg[1] = { 1 };
    /* (1,1), (blank,1), (1,blank) */
    double want = p[1] * p[4] + p[0] * p[4] + p[1] * p[3];
    CHECK_NEAR(ctc1(lp, 2, 3, tg, 1, 0), -log(want), 1e-6);
    /* two different labels in two frames: only (1,2) */
    int32_t tg2[2] = { 1, 2 };
    CHECK_NEAR(ctc1(lp, 2, 3, tg2, 2, 0), -log(p[1] * p[5]), 1e-6);
}

TEST(test_ctc_repeated_label_needs_a_blank_between)
{
    double p[9] = { 0.2, 0.5, 0.3, 0.6, 0.1, 0.3, 0.25, 0.35, 0.4 };
    float lp[9];
    logs(lp, p, 9);
    int32_t tg[2] = { 1, 1 };
    CHECK(isinf(ctc1(lp, 2, 3, tg, 2, 0)) && ctc1(lp, 2, 3, tg, 2, 0) > 0);   /* (1,1) collapses to one 1 */
    CHECK_NEAR(ctc1(lp, 3, 3, tg, 2, 0), -log(p[1] * p[3] * p[7]), 1e-6);    /* only (1,blank,1) */
    /* different labels may follow each other directly: [1,2] in 3 frames has 5 alignments */
    int32_t tg2[2] = { 1, 2 };
    double want = p[1] * p[4] * p[8] + p[1] * p[5] * p[8] + p[0] * p[4] * p[8] + p[1] * p[3] * p[8] +
                  p[1] * p[5] * p[6];
    CHECK_NEAR(ctc1(lp, 3, 3, tg2, 2, 0), -log(want), 1e-6);
}

TEST(test_ctc_impossible_alignment_is_infinite_and_zero_infinity_gives_zero_without_gradient)
{
    enum { B = 2, T = 3, V = 4 };
    float lp[B * T * V];
    ds_test_fill_uniform(lp, B * T * V, -3, -0.5f, 5);
    int in_lens[B] = { 3, 3 }, tgt_lens[B] = { 4, 1 };   /* 4 labels in 3 frames */
    int32_t tg[5] = { 1, 2, 3, 1, 2 };
    float *scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(B, T, 4, V));
    double loss[B], dloss[B] = { 1, 1 };
    ds_ctc_forward(loss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0, 0);
    CHECK(isinf(loss[0]) && loss[0] > 0 && isfinite(loss[1]));
    ds_ctc_forward(loss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0, 1);
    CHECK(loss[0] == 0 && isfinite(loss[1]) && loss[1] > 0);
    float d[B * T * V] = {0};
    ds_ctc_backward(d, dloss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0);
    int zero0 = 1, nonzero1 = 0;
    for (int i = 0; i < T * V; i++) { zero0 &= d[i] == 0; nonzero1 |= d[T * V + i] != 0; }
    CHECK(zero0 && nonzero1);
    free(scratch);
}

/* ---- gradients through log_softmax: B sequences with their own lengths */

enum { GB = 3, GT = 8, GV = 5, GL = 3 };

typedef struct {
    float x[GB * GT * GV], lp[GB * GT * GV];
    int in_lens[GB], tgt_lens[GB];
    int32_t tg[GB * GL];
    float *scratch;
    double loss[GB];
} grad_case;

static void log_softmax_rows(float *lp, const float *x, int n, int V)
{
    for (int r = 0; r < n; r++) {
        const float *a = x + r * V;
        double mx = a[0], z = 0;
        for (int v = 1; v < V; v++) mx = fmax(mx, a[v]);
        for (int v = 0; v < V; v++) z += exp(a[v] - mx);
        for (int v = 0; v < V; v++) lp[r * V + v] = (float)(a[v] - mx - log(z));
    }
}

static void grad_fwd(void *ctx, float *out)
{
    grad_case *c = ctx;
    log_softmax_rows(c->lp, c->x, GB * GT, GV);
    ds_ctc_forward(c->loss, c->scratch, c->lp, c->in_lens, c->tg, c->tgt_lens, GB, GT, GV, 0, 0);
    for (int b = 0; b < GB; b++) out[b] = (float)c->loss[b];
}

static grad_case *grad_init(void)
{
    grad_case *c = calloc(1, sizeof *c);
    ds_test_fill_uniform(c->x, GB * GT * GV, -2, 2, 7);
    int in_lens[GB] = { 8, 6, 5 }, tgt_lens[GB] = { 3, 2, 0 };
    int32_t tg[5] = { 1, 3, 3, 2, 4 };   /* [1,3,3] with a repeat, [2,4], [] */
    memcpy(c->in_lens, in_lens, sizeof in_lens);
    memcpy(c->tgt_lens, tgt_lens, sizeof tgt_lens);
    memcpy(c->tg, tg, sizeof tg);
    c->scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(GB, GT, GL, GV));
    return c;
}

TEST(test_ctc_backward_matches_finite_differences_through_log_softmax_with_variable_lengths)
{
    grad_case *c = grad_init();
    float w[GB] = { 1.0f, -0.7f, 1.3f }, out[GB], dlp[GB * GT * GV] = {0}, dx[GB * GT * GV];
    double dloss[GB] = { w[0], w[1], w[2] };
    grad_fwd(c, out);
    ds_ctc_backward(dlp, dloss, c->scratch, c->lp, c->in_lens, c->tg, c->tgt_lens, GB, GT, GV, 0);
    for (int r = 0; r < GB * GT; r++) {   /* log_softmax backward: dx = g − softmax · Σ g */
        double s = 0;
        for (int v = 0; v < GV; v++) s += dlp[r * GV + v];
        for (int v = 0; v < GV; v++) dx[r * GV + v] = (float)(dlp[r * GV + v] - exp(c->lp[r * GV + v]) * s);
    }
    gc_input in[] = { { "logits", c->x, dx, GB * GT * GV } };
    CHECK(gc_check(grad_fwd, c, GB, w, in, 1, 1e-2f, GB * GT * GV, 1e-3) <= 1e-3);
    free(c->scratch);
    free(c);
}

TEST(test_ctc_padded_frames_get_no_gradient_and_valid_frames_lose_one_unit_of_occupancy)
{
    grad_case *c = grad_init();
    float out[GB], dlp[GB * GT * GV] = {0};
    double dloss[GB] = { 1, 1, 1 };
    grad_fwd(c, out);
    ds_ctc_backward(dlp, dloss, c->scratch, c->lp, c->in_lens, c->tg, c->tgt_lens, GB, GT, GV, 0);
    for (int b = 0; b < GB; b++)
        for (int t = 0; t < GT; t++) {
            double s = 0;
            for (int v = 0; v < GV; v++) s += dlp[(b * GT + t) * GV + v];
            if (t >= c->in_lens[b]) CHECK_MSG(s == 0 && dlp[(b * GT + t) * GV] == 0, "b %d t %d padded", b, t);
            else CHECK_NEAR(s, -1.0, 1e-5);   /* every frame is occupied by exactly one state */
        }
    free(c->scratch);
    free(c);
}

TEST(test_ctc_results_do_not_depend_on_thread_count)
{
    enum { B = 6, T = 300, V = 32, L = 80 };
    float *x = malloc(sizeof(float) * B * T * V), *lp = malloc(sizeof(float) * B * T * V);
    ds_test_fill_uniform(x, B * T * V, -3, 3, 9);
    log_softmax_rows(lp, x, B * T, V);
    int in_lens[B], tgt_lens[B];
    int32_t *tg = malloc(sizeof(int32_t) * B * L);
    long n = 0;
    for (int b = 0; b < B; b++) {
        in_lens[b] = T - 37 * b;
        tgt_lens[b] = L - 11 * b;
        for (int i = 0; i < tgt_lens[b]; i++) tg[n++] = 1 + (int32_t)((i * 7 + b * 3) % (V - 1));
    }
    float *scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(B, T, L, V)), *d[2];
    double loss[2][B], dloss[B] = { 1, 0.5, 2, 1, 1, 3 };
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        d[r] = calloc((size_t)B * T * V, sizeof(float));
        ds_ctc_forward(loss[r], scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0, 1);
        ds_ctc_backward(d[r], dloss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0);
    }
    omp_set_num_threads(2);
    CHECK(!memcmp(loss[0], loss[1], sizeof loss[0]));
    CHECK(!memcmp(d[0], d[1], sizeof(float) * B * T * V));
    for (int b = 0; b < B; b++) CHECK(isfinite(loss[0][b]) && loss[0][b] > 0);
    free(x); free(lp); free(tg); free(scratch); free(d[0]); free(d[1]);
}

/* Graves' rescaled forward recursion in probability space, in double: a
 * different algorithm from the op's log-space one. */
static double ref_ctc(const float *lp, int T, int V, const int32_t *tg, int L)
{
    int S = 2 * L + 1;
    double *a = calloc(S, sizeof(double)), *n = calloc(S, sizeof(double)), nll = 0;
#define LAB(s) ((s) & 1 ? tg[(s) >> 1] : 0)
    a[0] = exp(lp[0]);
    a[1] = exp(lp[LAB(1)]);
    for (int t = 0; t < T; t++) {
        if (t > 0) {
            for (int s = 0; s < S; s++) {
                double v = a[s] + (s > 0 ? a[s - 1] : 0);
                if (s > 1 && (s & 1) && LAB(s) != LAB(s - 2)) v += a[s - 2];
                n[s] = v * exp(lp[(size_t)t * V + LAB(s)]);
            }
            memcpy(a, n, sizeof(double) * S);
        }
        double c = 0;
        for (int s = 0; s < S; s++) c += a[s];
        for (int s = 0; s < S; s++) a[s] /= c;
        nll -= log(c);
    }
    nll -= log(a[S - 1] + a[S - 2]);
#undef LAB
    free(a); free(n);
    return nll;
}

TEST(test_ctc_long_input_is_finite_and_matches_a_double_precision_reference)
{
    enum { T = 1500, V = 32, L = 400 };
    float *x = malloc(sizeof(float) * T * V), *lp = malloc(sizeof(float) * T * V);
    ds_test_fill_uniform(x, T * V, -2, 2, 13);
    log_softmax_rows(lp, x, T, V);
    int32_t tg[L];
    for (int i = 0; i < L; i++) tg[i] = 1 + (i * 5 + i / 7) % (V - 1);
    tg[10] = tg[9];   /* a repeat */
    int in_len = T, tgt_len = L;
    float *scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(1, T, L, V));
    float *d = calloc((size_t)T * V, sizeof(float));
    double loss, dloss = 1, want = ref_ctc(lp, T, V, tg, L);
    ds_ctc_forward(&loss, scratch, lp, &in_len, tg, &tgt_len, 1, T, V, 0, 0);
    CHECK(isfinite(loss) && loss > 1000);
    CHECK_NEAR(loss, want, 1e-9 * want);
    ds_ctc_backward(d, &dloss, scratch, lp, &in_len, tg, &tgt_len, 1, T, V, 0);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += d[t * V + v];
        worst = fmax(worst, fabs(s + 1));
    }
    CHECK_NEAR(worst, 0, 1e-5);   /* occupancy still sums to one per frame after 1500 frames */
    free(x); free(lp); free(scratch); free(d);
}

/* ---- greedy decoding */

static int greedy_of(int32_t *out, const int *frames, int T)
{
    enum { V = 4 };
    float x[64 * V];
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) x[t * V + v] = v == frames[t] ? 1.0f : 0.1f * v;
    return ds_ctc_greedy(out, x, T, V, 0);
}

TEST(test_ctc_greedy_collapses_repeats_and_drops_blanks)
{
    int32_t out[16];
    int f[] = { 0, 1, 1, 0, 2, 2, 2, 3, 0 };
    CHECK_EQ_INT(greedy_of(out, f, 9), 3);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 3);
}

TEST(test_ctc_greedy_keeps_a_repeat_separated_by_a_blank)
{
    int32_t out[16];
    int f[] = { 1, 1, 0, 1, 0, 0, 1 };
    CHECK_EQ_INT(greedy_of(out, f, 7), 3);
    CHECK(out[0] == 1 && out[1] == 1 && out[2] == 1);
}

TEST(test_ctc_greedy_of_all_blank_frames_is_empty)
{
    int32_t out[16];
    int f[] = { 0, 0, 0, 0 };
    CHECK_EQ_INT(greedy_of(out, f, 4), 0);
}

/* One-hot frames over the wav2vec2 vocabulary, decoded to text as eval does. */
static void greedy_text(char *out, const int32_t *frames, int T)
{
    enum { V = DS_CV_W2V2_SIZE };
    float x[32 * V];
    int32_t ids[32];
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) x[t * V + v] = v == frames[t] ? 1.0f : 0.0f;
    int n = ds_ctc_greedy(ids, x, T, V, DS_CV_BLANK);
    ds_char_vocab voc;
    if (ds_char_vocab_w2v2(&voc)) { out[0] = 0; return; }
    ds_char_vocab_decode(&voc, ids, n, out);
    ds_char_vocab_free(&voc);
}

TEST(test_ctc_greedy_of_a_blank_a_is_aa_in_text)
{
    const int32_t f[] = { 7, 7, 0, 7 };   /* A A blank A */
    char out[64];
    greedy_text(out, f, 4);
    CHECK_MSG(!strcmp(out, "AA"), "got \"%s\"", out);
}

TEST(test_ctc_greedy_then_vocab_decode_collapses_repeats_and_delimiters_into_words)
{
    /* H H _ E | | L _ L O _ _ : the blank between the L's keeps both */
    const int32_t f[] = { 11, 11, 0, 5, 4, 4, 15, 0, 15, 8, 0, 0 };
    char out[64];
    greedy_text(out, f, 12);
    CHECK_MSG(!strcmp(out, "HE LLO"), "got \"%s\"", out);
}

TEST(test_ctc_greedy_takes_the_first_maximum_on_ties)
{
    float x[2 * 3] = { 0.5f, 0.5f, 0.2f, 0.1f, 0.7f, 0.7f };   /* blank ties label 1; 1 ties 2 */
    int32_t out[2];
    CHECK_EQ_INT(ds_ctc_greedy(out, x, 2, 3, 0), 1);
    CHECK_EQ_INT(out[0], 1);
}

/* ---- PyTorch's F.ctc_loss (test/reference/ctc.py) */

#define CTC_GOLDEN "testdata/golden/ctc.safetensors"

/* n values of `name` as floats (I32 ones converted), zeros after a failed CHECK. */
static float *golden_f(ds_st_file *f, const char *name, long n)
{
    const ds_st_tensor *t = ds_st_find(f, name);
    CHECK_MSG(t && (long)t->numel == n, "%s: '%s' missing or not %ld values", CTC_GOLDEN, name, n);
    float *x = calloc((size_t)n, sizeof *x);
    if (!t || (long)t->numel != n) return x;
    if (t->dtype == DS_ST_I32) {
        for (long i = 0; i < n; i++) {
            const uint8_t *p = f->data + t->begin + 4 * i;
            x[i] = (float)(int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        }
    } else {
        CHECK_MSG(ds_st_read_f32(f, t, x) == 0, "%s", ds_errmsg());
    }
    return x;
}

TEST(test_golden_ctc_loss_and_gradient_match_pytorch_ctc_loss)
{
    enum { B = 4, T = 12, V = 6, NT = 9, LMAX = 4 };
    ds_st_file f;
    int opened = ds_st_open(&f, CTC_GOLDEN) == 0;
    CHECK_MSG(opened, "cannot use %s: %s (regenerate with `make golden`)", CTC_GOLDEN, ds_errmsg());
    if (!opened) return;
    const char *gen = ds_st_meta(&f, "generator");
    CHECK_MSG(gen && strcmp(gen, "test/reference/ctc.py") == 0, "%s: generator '%s'", CTC_GOLDEN, gen ? gen : "");
    float *lp = golden_f(&f, "ctc.logp", B * T * V), *want_d = golden_f(&f, "ctc.dlogp_torch", B * T * V);
    float *il = golden_f(&f, "ctc.in_lens", B), *tl = golden_f(&f, "ctc.tgt_lens", B);
    float *tgf = golden_f(&f, "ctc.targets", NT), *dl = golden_f(&f, "ctc.dloss", B);
    float *want_loss = golden_f(&f, "ctc.loss", B);
    int in_lens[B], tgt_lens[B];
    int32_t tg[NT];
    double dloss[B], loss[B];
    for (int b = 0; b < B; b++) { in_lens[b] = (int)il[b]; tgt_lens[b] = (int)tl[b]; dloss[b] = dl[b]; }
    for (int i = 0; i < NT; i++) tg[i] = (int32_t)tgf[i];
    float *scratch = malloc(sizeof(float) * ds_ctc_scratch_floats(B, T, LMAX, V));
    float got_loss[B], *d = calloc(B * T * V, sizeof(float));
    ds_ctc_forward(loss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0, 1);
    ds_ctc_backward(d, dloss, scratch, lp, in_lens, tg, tgt_lens, B, T, V, 0);
    for (int b = 0; b < B; b++) {
        got_loss[b] = (float)loss[b];
        if (want_loss[b] == 0) continue;   /* zero_infinity: torch gives no gradient either */
        for (int t = 0; t < in_lens[b]; t++)   /* torch's convention adds exp(logp) (see ctc.py) */
            for (int v = 0; v < V; v++) d[(b * T + t) * V + v] += (float)(dloss[b] * exp((double)lp[(b * T + t) * V + v]));
    }
    CHECK(want_loss[3] == 0 && got_loss[3] == 0);
    CHECK_CLOSE("ctc.loss", got_loss, want_loss, B, 1e-5);
    CHECK_CLOSE("ctc.dlogp", d, want_d, B * T * V, 1e-5);
    free(lp); free(want_d); free(il); free(tl); free(tgf); free(dl); free(want_loss); free(scratch); free(d);
    ds_st_close(&f);
}
