/* bench_allreduce: the gradient sum of data-parallel training
 * (ds_dist_sum_f32, lib/core/dist.c) timed for 1 to 10^8 floats, to fit the
 * alpha-beta model of bench/README.md "Scale-out": alpha from the smallest
 * message, the bus bandwidth 2(p-1)/p * 4n / t from the largest. Run under
 * mpirun with the MPI build (bench/mpi_scaling.sh does); one process has
 * nothing to sum and says so. */
#include "core/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    ds_dist_init(&argc, &argv);
    int P = ds_dist_size();
    if (P < 2) {
        printf("bench_allreduce: one process (%s): nothing to sum; run it under mpirun -n 2 with the MPI build\n",
               ds_dist_library());
        ds_dist_finalize();
        return 0;
    }
    size_t max = argc > 1 ? (size_t)atof(argv[1]) : (size_t)1e8;
    float *x = malloc(sizeof(float) * max);
    if (!x) { fprintf(stderr, "bench_allreduce: out of memory\n"); ds_dist_abort(1); }
    for (size_t i = 0; i < max; i++) x[i] = 1e-3f * (float)(i % 1000);
    if (ds_dist_root()) printf("%12s %12s %12s   (%d ranks, %s)\n", "floats", "seconds", "bus GB/s", P, ds_dist_library());
    for (size_t n = 1; n <= max; n *= 10) {
        int reps = n >= 10000000 ? 3 : 20;
        ds_dist_sum_f32(x, n);   /* warm-up, and every rank in step */
        double t0 = now();
        for (int r = 0; r < reps; r++) ds_dist_sum_f32(x, n);
        double t = (now() - t0) / reps, tm = t;
        ds_dist_sum_f64(&tm, 1);   /* the mean over ranks */
        tm /= P;
        if (ds_dist_root())
            printf("%12zu %12.6f %12.3f\n", n, tm, 2.0 * (P - 1) / P * 4.0 * (double)n / tm / 1e9);
    }
    free(x);
    ds_dist_finalize();
    return 0;
}
