/* The vectorised exp/erf/tanh kernels against libm on a dense grid. */
#include "test.h"
#include "nn/ops.h"

#include <stdlib.h>

/* Every float step of 1e-4 over [−12, 12] (240001 points). */
static float *grid(long *n)
{
    *n = 240001;
    float *x = malloc((size_t)*n * sizeof *x);
    for (long i = 0; i < *n; i++) x[i] = -12.0f + 1e-4f * (float)i;
    return x;
}

TEST(test_erf_matches_libm_on_dense_grid)
{
    long n;
    float *x = grid(&n), *y = malloc((size_t)n * sizeof *y);
    ds_erf_vec(y, x, n);
    double worst = 0, worst_rel_small = 0;
    for (long i = 0; i < n; i++) {
        double ref = erf((double)x[i]);
        worst = fmax(worst, fabs(y[i] - ref));
        if (fabs(x[i]) < 1 && x[i] != 0) worst_rel_small = fmax(worst_rel_small, fabs(y[i] - ref) / fabs(ref));
        if (fabs(y[i] - erff(x[i])) > 5e-7) { CHECK_MSG(0, "erf(%g) = %.9g, erff %.9g", x[i], y[i], erff(x[i])); break; }
    }
    CHECK_MSG(worst < 5e-7, "erf max abs err %.3g", worst);
    CHECK_MSG(worst_rel_small < 5e-7, "erf max rel err on |x|<1: %.3g", worst_rel_small);
    float odd[2] = { 0.0f, -0.0f }, o[2];
    ds_erf_vec(o, odd, 2);
    CHECK(o[0] == 0.0f && o[1] == 0.0f);
    free(x); free(y);
}

TEST(test_tanh_matches_libm_on_dense_grid)
{
    long n;
    float *x = grid(&n), *y = malloc((size_t)n * sizeof *y);
    ds_tanh_vec(y, x, n);
    double worst = 0;
    for (long i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - tanh((double)x[i])));
    CHECK_MSG(worst < 5e-7, "tanh max abs err %.3g", worst);
    float big[2] = { 50.0f, -50.0f }, o[2];
    ds_tanh_vec(o, big, 2);
    CHECK(o[0] == 1.0f && o[1] == -1.0f);
    free(x); free(y);
}

TEST(test_exp_matches_libm_over_float_range)
{
    long n = 175001;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (long i = 0; i < n; i++) x[i] = -87.0f + 1e-3f * (float)i;
    ds_exp_vec(y, x, n);
    double worst = 0;
    for (long i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - exp((double)x[i])) / exp((double)x[i]));
    CHECK_MSG(worst < 2e-7, "exp max rel err %.3g", worst);
    float edge[3] = { -1000.0f, 0.0f, 1000.0f }, o[3];
    ds_exp_vec(o, edge, 3);
    CHECK(o[0] >= 0 && o[0] < 1e-37f && o[1] == 1.0f && isfinite(o[2]));
    free(x); free(y);
}
