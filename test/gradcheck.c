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
        long step = in[k].n > max_per_input ? in[k].n / max_per_input : 1;
        /* the step scales with the tensor's size (weights near 1 and near
         * 0.02 need different steps to rise above float32 rounding alike) */
        double rms = 0;
        for (long i = 0; i < in[k].n; i++) rms += (double)in[k].x[i] * in[k].x[i];
        rms = in[k].n ? sqrt(rms / in[k].n) : 0;
        float h = in[k].eps > 0 ? in[k].eps : eps * (float)fmax(1.0, rms);
        double d2 = 0, g2 = 0, ewst = -1;
        long iw = 0, probes = 0;
        double fdw = 0;
        for (long i = 0; i < in[k].n; i += step) {
            /* Richardson extrapolation of two central differences cancels
             * the eps² term, so a step large enough to rise above float
             * rounding still measures the slope, not the curvature */
            double fd = (4.0 * central(fwd, ctx, out, nout, w, &in[k].x[i], h / 2) -
                         central(fwd, ctx, out, nout, w, &in[k].x[i], h)) / 3.0;
            double g = in[k].g[i], d = fd - g;
            d2 += d * d;
            g2 += g * g;
            probes++;
            if (!(fabs(d) <= ewst)) { ewst = fabs(d); iw = i; fdw = fd; }
        }
        /* normwise over the probed elements: one entry near zero cannot
         * decide it; the floor keeps an all-but-zero gradient from being
         * judged by float noise alone */
        double e = sqrt(d2) / fmax(sqrt(g2), 1e-4 * sqrt((double)probes));
        if (getenv("DS_TEST_VERBOSE"))
            fprintf(stderr, "    gradcheck %-60s normwise err %.2e (tol %.0e)\n", in[k].name, e, tol);
        if (!(e <= tol))
            fprintf(stderr,
                    "    gradcheck %s: normwise err %.3g > %.3g (largest difference at [%ld]: finite difference %.6g, "
                    "analytic %.6g)\n",
                    in[k].name, e, tol, iw, fdw, (double)in[k].g[iw]);
        if (!(e <= worst)) worst = e;
    }
    free(out);
    return worst;
}
