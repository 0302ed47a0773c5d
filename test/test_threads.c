/* lib/core/threads: -t N sets OpenMP and OpenBLAS alike; FTZ/DAZ on every
 * thread; the wait policy derfseq runs with. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

#include "cli.h"

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

static void clear_flush(void) { _mm_setcsr(_mm_getcsr() & ~(0x8000u | 0x0040u)); }

/* Threads the OpenMP pool creates after the flush (a larger -t, a nested
 * team) inherit MXCSR from the thread that creates them, so one flush at the
 * start of main covers them. The flags are cleared first: the test runner
 * already flushed at startup, as derfseq does. */
TEST(test_threads_created_after_the_flush_are_flushed)
{
    int before = ds_threads_get();
    clear_flush();
#pragma omp parallel
    clear_flush();
    CHECK(!ds_threads_denormals_flushed());
    ds_threads_flush_denormals();
    omp_set_num_threads(before + 3);   /* grows the pool: new threads */
    int flushed = 0, team = 0;
#pragma omp parallel reduction(+ : flushed, team)
    {
        flushed += ds_threads_denormals_flushed();
        team += 1;
    }
    CHECK_EQ_INT(team, before + 3);
    CHECK_EQ_INT(flushed, team);
    omp_set_num_threads(before);
}

/* derfseq sets a short libgomp spin count when the user set neither
 * GOMP_SPINCOUNT nor OMP_WAIT_POLICY, and keeps theirs when they did;
 * --version reports what it runs with. */
TEST(test_threads_derfseq_sets_a_short_spin_unless_the_user_chose)
{
    char *spin = getenv("GOMP_SPINCOUNT") ? strdup(getenv("GOMP_SPINCOUNT")) : NULL;
    char *policy = getenv("OMP_WAIT_POLICY") ? strdup(getenv("OMP_WAIT_POLICY")) : NULL;
    unsetenv("GOMP_SPINCOUNT");
    unsetenv("OMP_WAIT_POLICY");
    CHECK_EQ_INT(run("--version"), 0);
    CHECK_MSG(strstr(g_out, "GOMP_SPINCOUNT=" DS_SPINCOUNT ", OMP_WAIT_POLICY=(unset)"), "got '%s'", g_out);
    CHECK_MSG(strstr(g_out, "denormals flushed to zero"), "got '%s'", g_out);
    setenv("GOMP_SPINCOUNT", "7", 1);
    CHECK_EQ_INT(run("--version"), 0);
    CHECK_MSG(strstr(g_out, "GOMP_SPINCOUNT=7,"), "got '%s'", g_out);
    unsetenv("GOMP_SPINCOUNT");
    setenv("OMP_WAIT_POLICY", "active", 1);
    CHECK_EQ_INT(run("--version"), 0);
    CHECK_MSG(strstr(g_out, "GOMP_SPINCOUNT=(unset), OMP_WAIT_POLICY=active"), "got '%s'", g_out);
    if (spin) setenv("GOMP_SPINCOUNT", spin, 1); else unsetenv("GOMP_SPINCOUNT");
    if (policy) setenv("OMP_WAIT_POLICY", policy, 1); else unsetenv("OMP_WAIT_POLICY");
    free(spin);
    free(policy);
}
