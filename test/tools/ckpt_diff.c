/* ckpt_diff A B: how far checkpoint B is from A, for test/mpi.sh. Prints
 * "rel L2 max_tensor_rel worst_name" where rel = ‖A − B‖ / ‖A‖ over every
 * float tensor the two share (normwise: safe for any CPU and BLAS kernel),
 * and max_tensor_rel the largest per-tensor ‖a − b‖ / max(‖a‖, 1e-3·‖A‖).
 * Exits 2 when the files cannot be read or their tensor sets differ. */
#include "core/error.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: ckpt_diff A.safetensors B.safetensors\n"); return 2; }
    ds_st_file a, b;
    if (ds_st_open(&a, argv[1])) { fprintf(stderr, "ckpt_diff: %s: %s\n", argv[1], ds_errmsg()); return 2; }
    if (ds_st_open(&b, argv[2])) { fprintf(stderr, "ckpt_diff: %s: %s\n", argv[2], ds_errmsg()); return 2; }
    if (a.n != b.n) { fprintf(stderr, "ckpt_diff: %d tensors against %d\n", a.n, b.n); return 2; }
    double num = 0, den = 0;
    double *tn = calloc((size_t)a.n, sizeof *tn), *td = calloc((size_t)a.n, sizeof *td);
    for (int i = 0; i < a.n; i++) {
        const ds_st_tensor *ta = &a.t[i], *tb = ds_st_find(&b, ta->name);
        if (!tb || tb->numel != ta->numel) { fprintf(stderr, "ckpt_diff: %s differs in shape or is missing\n", ta->name); return 2; }
        float *x = malloc(sizeof(float) * (ta->numel ? ta->numel : 1)), *y = malloc(sizeof(float) * (ta->numel ? ta->numel : 1));
        if (!x || !y || ds_st_read_f32(&a, ta, x) || ds_st_read_f32(&b, tb, y)) {
            fprintf(stderr, "ckpt_diff: %s: %s\n", ta->name, ds_errmsg());
            return 2;
        }
        for (size_t k = 0; k < ta->numel; k++) {
            double d = (double)x[k] - (double)y[k];
            tn[i] += d * d;
            td[i] += (double)x[k] * x[k];
        }
        num += tn[i];
        den += td[i];
        free(x); free(y);
    }
    double worst = 0;
    int wi = 0;
    for (int i = 0; i < a.n; i++) {
        double r = sqrt(tn[i]) / fmax(sqrt(td[i]), 1e-3 * sqrt(den));
        if (r > worst) { worst = r; wi = i; }
    }
    printf("%.3e %.3e %s\n", den > 0 ? sqrt(num / den) : sqrt(num), worst, a.n ? a.t[wi].name : "-");
    free(tn); free(td);
    ds_st_close(&a); ds_st_close(&b);
    return 0;
}
