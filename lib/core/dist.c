/* Ranks and collectives for data-parallel training (dist.h). DS_MPI is
 * defined by `make MPI=1`; without it every collective is the identity of
 * one process. */
#include "core/dist.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef DS_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local = 1, g_started;
static int g_launched_rank = 0, g_launched_size = 1;   /* what the launcher said */
static double g_comm_s;

/* A positive integer from the first of these environment variables set. */
static int env_int(const char *const *names, int dflt)
{
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            char *end;
            long x = strtol(v, &end, 10);
            if (!*end && x >= 0 && x < (1 << 30)) return (int)x;
        }
    }
    return dflt;
}

/* Open MPI's mpirun, MPICH/Hydra and Intel MPI, and Slurm's srun (PMI or
 * PMIx: SLURM_STEP_NUM_TASKS is set only inside a job step, not in the
 * batch script itself). */
static const char *const SIZE_VARS[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                         "SLURM_STEP_NUM_TASKS", NULL };
static const char *const RANK_VARS[] = { "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID", NULL };
static const char *const LOCAL_VARS[] = { "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE",
                                          NULL };

static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_RANK") || getenv("PMIX_RANK") || getenv("PMI_SIZE") ||
           (getenv("SLURM_STEP_ID") && getenv("SLURM_PROCID"));
}

void ds_dist_init(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    if (!launched()) return;
    g_launched_size = env_int(SIZE_VARS, 1);
    g_launched_rank = env_int(RANK_VARS, 0);
    g_local = env_int(LOCAL_VARS, 1);
    if (g_local < 1) g_local = 1;
#ifdef DS_MPI
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "derfseq: MPI_Init_thread failed\n");
        exit(1);
    }
    g_started = 1;
    atexit(ds_dist_finalize);   /* every return from main, --version and --help included */
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &g_local);
        MPI_Comm_free(&local);
    }
#endif
}

void ds_dist_finalize(void)
{
#ifdef DS_MPI
    if (g_started) MPI_Finalize();
#endif
    g_started = 0;
}

void ds_dist_abort(int rc)
{
    fflush(NULL);
#ifdef DS_MPI
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
#endif
    exit(rc);
}

int ds_dist_rank(void) { return g_rank; }
int ds_dist_size(void) { return g_size; }
int ds_dist_root(void) { return g_rank == 0; }
int ds_dist_local_size(void) { return g_local; }
double ds_dist_comm_seconds(void) { return g_comm_s; }

int ds_dist_built(void)
{
#ifdef DS_MPI
    return 1;
#else
    return 0;
#endif
}

const char *ds_dist_library(void)
{
#ifdef DS_MPI
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (!v[0] && MPI_Get_library_version(v, &n) == MPI_SUCCESS) {
        char *nl = strchr(v, '\n');   /* Open MPI appends its repository and date: the first line */
        if (nl) *nl = 0;
        char *c = strchr(v, ',');
        if (c && c > v) *c = 0;
    }
    return v;
#else
    return "not built (make MPI=1)";
#endif
}

int ds_dist_check(const char *cmd, int parallel)
{
    if (g_launched_size <= 1 && g_size <= 1) return 0;
    if (!ds_dist_built())
        return ds_err(DS_EINVAL, "started as rank %d of %d by an MPI launcher, but this derfseq was built without "
                      "MPI: build it with 'make MPI=1' (libopenmpi-dev), or run one process", g_launched_rank,
                      g_launched_size);
    if (!parallel)
        return ds_err(DS_EINVAL, "'%s' runs in one process, not under mpirun/srun with %d ranks (only pretrain and "
                      "finetune train data-parallel)", cmd, g_size);
    return 0;
}

void ds_dist_share(long n, int R, int r, long *first, long *count)
{
    long q = n / R, extra = n % R;
    *first = r * q + (r < extra ? r : extra);
    *count = q + (r < extra);
}

#ifdef DS_MPI
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#endif

void ds_dist_sum_f32(float *x, size_t n)
{
#ifdef DS_MPI
    if (g_size <= 1) return;
    double t0 = now();
    size_t nb = (n + DS_DIST_BUCKET - 1) / DS_DIST_BUCKET;
    MPI_Request req[64];
    for (size_t b0 = 0; b0 < nb; b0 += 64) {
        int k = 0;
        for (size_t b = b0; b < nb && k < 64; b++, k++) {
            size_t off = b * DS_DIST_BUCKET, len = n - off < DS_DIST_BUCKET ? n - off : DS_DIST_BUCKET;
            MPI_Iallreduce(MPI_IN_PLACE, x + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req[k]);
        }
        MPI_Waitall(k, req, MPI_STATUSES_IGNORE);
    }
    g_comm_s += now() - t0;
#else
    (void)x; (void)n;
#endif
}

void ds_dist_sum_f64(double *x, int n)
{
#ifdef DS_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
}

void ds_dist_sum_i64(int64_t *x, int n)
{
#ifdef DS_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
}

void ds_dist_max_i64(int64_t *x, int n)
{
#ifdef DS_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
}

int ds_dist_any(int e)
{
    int64_t v = e != 0;
    ds_dist_max_i64(&v, 1);
    return v != 0;
}

int ds_dist_same_u64(uint64_t v)
{
#ifdef DS_MPI
    if (g_size <= 1) return 1;
    uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
#else
    (void)v;
    return 1;
#endif
}

void ds_dist_sum_grad(ds_params *ps)
{
    ds_dist_sum_f32(ps->grad, ps->total);
}

int ds_dist_same_params(const ds_params *ps)
{
    if (g_size <= 1) return 1;
    const uint32_t *w = (const uint32_t *)ps->data;
    uint64_t h = 1469598103934665603ull;   /* FNV-1a over 32-bit words */
    for (size_t i = 0; i < ps->total; i++) h = (h ^ w[i]) * 1099511628211ull;
    return ds_dist_same_u64(h);
}
