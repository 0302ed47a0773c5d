/* The comparison metrics the numeric tests rely on (test.h, gradcheck.h):
 * they must flag a real error and must not be decided by entries near zero,
 * or a test built on them could pass a bug or fail on another CPU. */
#include "test.h"
#include "gradcheck.h"

#include <math.h>

TEST(test_norm_rel_err_ignores_rounding_of_entries_near_zero)
{
    /* an elementwise metric calls the 1e-9 entry 100% wrong */
    float want[4] = { 1.0f, -2.0f, 1e-9f, 0.5f }, got[4] = { 1.0f, -2.0f, 2e-9f, 0.5f };
    CHECK(ds_norm_rel_err(got, want, 4) < 1e-8);
}

TEST(test_norm_rel_err_flags_one_wrong_entry_in_a_thousand)
{
    float want[1000], got[1000];
    ds_test_fill_uniform(want, 1000, -1, 1, 3);
    for (int i = 0; i < 1000; i++) got[i] = want[i];
    got[500] += 0.5f;
    CHECK(ds_norm_rel_err(got, want, 1000) > 1e-2);
    got[500] = NAN;
    CHECK(!(ds_norm_rel_err(got, want, 1000) <= 1.0));   /* NaN never passes */
}

TEST(test_norm_rel_err_of_an_all_zero_answer_must_be_exact)
{
    float z[3] = { 0, 0, 0 }, eps[3] = { 0, 1e-30f, 0 };
    CHECK(ds_norm_rel_err(z, z, 3) == 0);
    CHECK(!(ds_norm_rel_err(eps, z, 3) <= 1e30));
}

/* f(x) = x² elementwise; its gradient for L = Σ w·f is 2·w·x */
typedef struct { float x[64]; } sq_case;
static void sq_fwd(void *ctx, float *out)
{
    sq_case *t = ctx;
    for (int i = 0; i < 64; i++) out[i] = t->x[i] * t->x[i];
}

static double sq_check(float scale)
{
    sq_case t;
    float w[64], g[64];
    ds_test_fill_uniform(t.x, 64, -1, 1, 5);
    ds_test_fill_uniform(w, 64, -1, 1, 6);
    for (int i = 0; i < 64; i++) g[i] = scale * 2 * w[i] * t.x[i];
    gc_input in = { "x", t.x, g, 64, 0 };
    return gc_check(sq_fwd, &t, 64, w, &in, 1, 1e-2f, 64, 1e9);
}

TEST(test_gradcheck_accepts_the_right_gradient_and_flags_one_off_by_one_percent)
{
    CHECK(sq_check(1.0f) < 1e-4);
    double e = sq_check(1.01f);
    CHECK_MSG(e > 5e-3 && e < 2e-2, "a 1%% gradient error measured as %.3g", e);
}
