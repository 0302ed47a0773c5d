/* One thread count for OpenMP and the OpenMP build of OpenBLAS, so that
 * `-t N` means the same everywhere (architecture.md "Threads"). */
#ifndef DS_THREADS_H
#define DS_THREADS_H

/* Sets both to n; n <= 0 keeps the OpenMP default (OMP_NUM_THREADS or all
 * cores). */
void ds_threads_set(int n);
/* The number of threads a parallel region gets now. */
int ds_threads_get(void);

#endif
