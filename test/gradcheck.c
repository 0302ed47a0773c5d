/* Central finite differences against analytic gradients (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double loss_of(gc_forward fwd, void *ctx, float *out, long nout, const float *w)
{
    fwd(ctx, out);
    double L = 0;
    for (long i = 0; i < nout; i++) L += (double)w[i] * out[i];
    return L;
}

static double central(gc_forward fwd, void *ctx, float *out, long nout, const float *w, float *x, float eps)
{
    float x0 = *x, xp = x0 + eps, xm = x0 - eps;
    *x = xp;
    double Lp = loss_of(fwd, ctx, out, nout, w);
    *x = xm;
    double Lm = loss_of(fwd, ctx, out, nout, w);
    *x = x0;
    return (Lp - Lm) / ((double)xp - xm);
}

double gc_check(gc_forward fwd, void *ctx, long nout, const float *w, gc_input *in, int nin, float eps,
                int max_per_input, double tol)
{
    float *out = malloc((size_t)nout * sizeof *out);
    double worst = 0;
    for (int k = 0; k < nin; k++) {
        double gmax = 0, terr = 0;
        long tworst = 0;
        double tfd = 0;
        for (long i = 0; i < in[k].n; i++) gmax = fmax(gmax, fabs(in[k].g[i]));
        long step = in[k].n > max_per_input ? in[k].n / max_per_input : 1;
        float h = in[k].eps > 0 ? in[k].eps : eps;
        for (long i = 0; i < in[k].n; i += step) {
            /* Richardson extrapolation of two central differences cancels
             * the eps² term, so a step large enough to rise above float
             * rounding still measures the slope, not the curvature */
            double fd = (4.0 * central(fwd, ctx, out, nout, w, &in[k].x[i], h / 2) -
                         central(fwd, ctx, out, nout, w, &in[k].x[i], h)) / 3.0;
            double g = in[k].g[i];
            double e = fabs(fd - g) / fmax(fmax(fabs(g), 0.05 * gmax), 1e-4);
            if (!(e <= terr)) { terr = e; tworst = i; tfd = fd; }
        }
        if (getenv("DS_TEST_VERBOSE"))
            fprintf(stderr, "    gradcheck %-8s worst err %.2e (tol %.0e)\n", in[k].name, terr, tol);
        if (!(terr <= tol))
            fprintf(stderr, "    gradcheck %s[%ld]: finite difference %.6g, analytic %.6g (err %.3g > %.3g)\n",
                    in[k].name, tworst, tfd, (double)in[k].g[tworst], terr, tol);
        if (!(terr <= worst)) worst = terr;
    }
    free(out);
    return worst;
}
