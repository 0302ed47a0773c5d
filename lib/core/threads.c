/* One thread count for OpenMP and OpenBLAS (architecture.md "Threads").
 * Both are set because a BLAS built without OpenMP would keep its own pool. */
#include "core/threads.h"

#include <cblas.h>
#include <omp.h>

void ds_threads_set(int n)
{
    if (n <= 0) n = omp_get_max_threads();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int ds_threads_get(void) { return omp_get_max_threads(); }
