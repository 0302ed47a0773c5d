/* Data-parallel training over MPI (README "Running on a cluster"): the ranks
 * of one job, the sum of the gradient block over them, and the few
 * collectives a training loop needs to stay in step.
 *
 * Built with `make MPI=1` (Open MPI, Debian's libopenmpi-dev) this talks to
 * MPI; the plain build is the same interface for one process and links no
 * MPI. Either build starts MPI only when a launcher (mpirun, mpiexec, srun)
 * started the process, so a plain `derfseq ...` never pays MPI's start-up;
 * the plain build started by a launcher with more than one rank refuses to
 * train (ds_dist_check), instead of N processes writing one run directory.
 *
 * Every collective is called by every rank in the same order, from the
 * main thread outside OpenMP regions (MPI_THREAD_FUNNELED). */
#ifndef DS_DIST_H
#define DS_DIST_H

#include "core/arena.h"

#include <stddef.h>
#include <stdint.h>

/* Starts MPI when a launcher started this process (MPI build); reads the
 * launcher's rank and size either way. Call once, first thing in main. */
void ds_dist_init(int *argc, char ***argv);
/* Ends MPI (a no-op when it was not started). */
void ds_dist_finalize(void);
/* Ends every rank's process now with status rc (MPI_Abort), after this
 * rank printed why; a single process just exits. For an error on one rank
 * that the others, waiting in a collective, cannot see. */
void ds_dist_abort(int rc);

int ds_dist_rank(void);
int ds_dist_size(void);
/* 1 on rank 0: the rank that writes run directories, logs and progress. */
int ds_dist_root(void);
/* 1 when this binary was built with MPI. */
int ds_dist_built(void);
/* "Open MPI v4.1.4, ..." (MPI_Get_library_version) or "not built (make MPI=1)". */
const char *ds_dist_library(void);
/* Ranks of this job on this host (the launcher's local size; 1 if unknown):
 * the default thread count divides the cores among them. */
int ds_dist_local_size(void);

/* 0 when this process may run `cmd` as launched: one process, or several
 * ranks of the MPI build when the command trains data-parallel
 * (parallel = 1). Otherwise a DS_EINVAL message saying what to do. */
int ds_dist_check(const char *cmd, int parallel);

/* Rows [*first, *first + *count) of n that rank r of R takes: the r-th of R
 * contiguous near-equal parts, the first n % R one row longer. */
void ds_dist_share(long n, int R, int r, long *first, long *count);

/* In-place sums over the ranks (MPI_Allreduce, MPI_SUM). The float sum
 * runs over buckets of DS_DIST_BUCKET floats, so one message never grows
 * with the model and the reduction of one bucket overlaps the next's
 * transfer inside MPI; every rank gets the same bits. */
#define DS_DIST_BUCKET ((size_t)1 << 22)   /* 4 Mi floats, 16 MiB */
void ds_dist_sum_f32(float *x, size_t n);
void ds_dist_sum_f64(double *x, int n);
void ds_dist_sum_i64(int64_t *x, int n);
/* In-place maximum over the ranks. */
void ds_dist_max_i64(int64_t *x, int n);
/* 1 if e is non-zero on any rank (so that every rank takes the same way
 * after a setup step that can fail on one of them). */
int ds_dist_any(int e);
/* 1 if v is the same on every rank. */
int ds_dist_same_u64(uint64_t v);
/* The sum over the ranks of the one contiguous gradient block of ps (every
 * tensor of the table, buffers' zero gradients included: one span, no
 * gather). */
void ds_dist_sum_grad(ds_params *ps);
/* 1 if every rank holds bitwise the same parameters (a 64-bit hash of the
 * parameter block compared across ranks): checked when a run saves, since
 * only rank 0 writes what all ranks trained. */
int ds_dist_same_params(const ds_params *ps);
/* Seconds this rank has spent in the gradient sum since the start. */
double ds_dist_comm_seconds(void);

#endif
