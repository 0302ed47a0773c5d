/* Matrix products for every layer: cblas_sgemm on fixed tiles of the output,
 * one single-threaded OpenBLAS call per tile (OpenBLAS runs one thread
 * inside a parallel region), the tiles handed out dynamically. */
#ifndef DS_GEMM_H
#define DS_GEMM_H

/* C[M,N] = op(A)·op(B) + beta·C, row-major, alpha 1; ta/tb transpose A/B as
 * cblas_sgemm's CblasTrans would. Results do not depend on the thread count
 * (tile edges depend only on the shape), and a thread the kernel has taken
 * away from us holds up the others by one tile at most. */
void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

#endif
