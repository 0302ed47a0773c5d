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

TEST(test_threads_set_flushes_denormals_on_every_openmp_thread)
{
    ds_threads_set(2);
    int flushed = 0, zero = 0, team = 0;
#pragma omp parallel reduction(+ : flushed, zero, team)
    {
        volatile float tiny = 1e-39f;   /* subnormal in float32 */
        volatile float prod = tiny * 1.5f;
        flushed += ds_threads_denormals_flushed();
        zero += prod == 0.0f;
        team += 1;
    }
    CHECK_EQ_INT(flushed, team);
    CHECK_EQ_INT(zero, team);
    CHECK(ds_threads_denormals_flushed());
}
