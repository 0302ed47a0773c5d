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

/* What is done around the product: before, C := bias (per column, length
 * N) + res (an M x N matrix, leading dimension ldres), either may be NULL,
 * and the product is added; after, post(ctx, C, ldc, r0, nr, c0, nc) on a
 * block of C (rows r0 .. r0+nr−1, columns c0 .. c0+nc−1). On row tiles
 * both run inside each tile while its block is in cache, saving the
 * separate passes over C (and their fork/joins) a bias copy, a residual add
 * or an activation would make; around a K split and on column tiles they
 * are one pass over C before and one after. */
typedef struct {
    const float *bias;
    const float *res;
    int ldres;
    void (*post)(void *ctx, float *C, int ldc, int r0, int nr, int c0, int nc);
    void *ctx;
} ds_gemm_epilogue;

/* C = init + op(A)·op(B), then post, as ds_gemm_epilogue says (beta is
 * implied: 0 without bias and res, else the init is added to). */
void ds_sgemm_epi(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                  int ldc, const ds_gemm_epilogue *e);

#endif
