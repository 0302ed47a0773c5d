/* One thread count for OpenMP and the OpenMP build of OpenBLAS, so that
 * `-t N` means the same everywhere (architecture.md "Threads"). */
#ifndef DS_THREADS_H
#define DS_THREADS_H

/* Sets both to n; n <= 0 keeps the OpenMP default (OMP_NUM_THREADS, or all
 * cores divided among the MPI ranks on this host, lib/core/dist.h). Also flushes denormals on every thread (ds_threads_flush_denormals). */
void ds_threads_set(int n);
/* Sets FTZ and DAZ in the MXCSR of the calling thread and of every OpenMP
 * thread (which OpenBLAS's OpenMP build also runs on; threads created later
 * inherit the caller's setting). A saturated Derf/DyT backward produces
 * float32 subnormals, which stall SSE/AVX arithmetic, sgemm included, 4-5x;
 * flushed to zero they change no result above 1.2e-38. */
void ds_threads_flush_denormals(void);
/* Call first thing in main (derfseq, the tests, the benchmarks). If neither
 * GOMP_SPINCOUNT nor OMP_WAIT_POLICY is set, sets GOMP_SPINCOUNT to
 * DS_SPINCOUNT and re-executes the program (/proc/self/exe, same argv), since
 * libgomp reads them once, before main. libgomp's default spins 300,000
 * times in every barrier before it sleeps: on a machine shared with other
 * jobs a waiting thread then burns the core the thread it waits for needs,
 * and -t 2 ran 3x slower than -t 1 (bench/README.md "Threads"). Returns only
 * when no re-execution happened (already set, or exec failed). */
#define DS_SPINCOUNT "300"
void ds_threads_short_spin(char **argv);
/* ds_threads_short_spin, then ds_threads_flush_denormals. */
void ds_threads_init(char **argv);
/* 1 if FTZ and DAZ are both set on the calling thread. */
int ds_threads_denormals_flushed(void);
/* The number of threads a parallel region gets now. */
int ds_threads_get(void);

#endif
