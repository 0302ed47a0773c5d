/* lib/core/threads: -t N sets OpenMP and OpenBLAS alike. */
#include <cblas.h>
#include <omp.h>

#include "core/threads.h"
#include "test.h"

TEST(test_threads_set_reaches_openmp_and_openblas)
{
    int before = ds_threads_get();
    ds_threads_set(3);
    CHECK_EQ_INT(ds_threads_get(), 3);
    CHECK_EQ_INT(openblas_get_num_threads(), 3);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    CHECK_EQ_INT(team, 3);
    ds_threads_set(before);
    CHECK_EQ_INT(ds_threads_get(), before);
}
