/* One thread count for OpenMP and the OpenMP build of OpenBLAS, so that
 * `-t N` means the same everywhere (architecture.md "Threads"). */
#ifndef DS_THREADS_H
#define DS_THREADS_H

/* Sets both to n; n <= 0 keeps the OpenMP default (OMP_NUM_THREADS or all
 * cores). Also flushes denormals on every thread (ds_threads_flush_denormals). */
void ds_threads_set(int n);
/* Sets FTZ and DAZ in the MXCSR of the calling thread and of every OpenMP
 * thread (which OpenBLAS's OpenMP build also runs on; threads created later
 * inherit the caller's setting). A saturated Derf/DyT backward produces
 * float32 subnormals, which stall SSE/AVX arithmetic, sgemm included, 4-5x;
 * flushed to zero they change no result above 1.2e-38. */
void ds_threads_flush_denormals(void);
/* 1 if FTZ and DAZ are both set on the calling thread. */
int ds_threads_denormals_flushed(void);
/* The number of threads a parallel region gets now. */
int ds_threads_get(void);

#endif
