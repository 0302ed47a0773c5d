/* One thread count for OpenMP and OpenBLAS (architecture.md "Threads").
 * Both are set because a BLAS built without OpenMP would keep its own pool. */
#include "core/threads.h"
#include "core/dist.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>
#include <xmmintrin.h>

#define MXCSR_FTZ 0x8000u   /* flush results that would be subnormal to zero */
#define MXCSR_DAZ 0x0040u   /* read subnormal operands as zero */

static void flush_here(void) { _mm_setcsr(_mm_getcsr() | MXCSR_FTZ | MXCSR_DAZ); }

int ds_threads_denormals_flushed(void)
{
    return (_mm_getcsr() & (MXCSR_FTZ | MXCSR_DAZ)) == (MXCSR_FTZ | MXCSR_DAZ);
}

void ds_threads_flush_denormals(void)
{
    flush_here();
    /* one region with the full team reaches every pooled OpenMP thread */
#pragma omp parallel num_threads(omp_get_max_threads())
    flush_here();
}

void ds_threads_set(int n)
{
    if (n <= 0) {
        n = omp_get_max_threads();
        /* ranks sharing a host share its cores, unless OMP_NUM_THREADS says otherwise */
        if (!getenv("OMP_NUM_THREADS") && ds_dist_local_size() > 1) n = n / ds_dist_local_size() > 0 ? n / ds_dist_local_size() : 1;
    }
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    ds_threads_flush_denormals();
}

int ds_threads_get(void) { return omp_get_max_threads(); }

void ds_threads_short_spin(char **argv)
{
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    if (setenv("GOMP_SPINCOUNT", DS_SPINCOUNT, 1)) return;
    execv("/proc/self/exe", argv);
    /* no /proc: run on with libgomp's default (GOMP_SPINCOUNT stays set, so a
     * child derfseq process does not try again) */
}

void ds_threads_init(char **argv)
{
    ds_threads_short_spin(argv);
    ds_threads_flush_denormals();
}
