/* Tiled cblas_sgemm (nn/gemm.h).
 *
 * Why tiles rather than one multithreaded OpenBLAS call:
 * - Thread-count independence. One multithreaded call sums in another order
 *   at partition edges (measured: 1 vs 2 threads differ in the last bits
 *   from 50x64x192 up). Tile edges here depend only on the shape.
 * - Shared machines. OpenBLAS's threaded level-3 driver hands packed panels
 *   from thread to thread inside the call and busy-waits for them; with more
 *   runnable threads than cores a descheduled partner stalls the others for
 *   a whole time slice, many times per product. Tiles share nothing, and
 *   schedule(dynamic) lets the threads that run take the tiles of the one
 *   that does not, so the only wait is the region's end.
 * Cost: every tile packs the operand all tiles share once more, measured on
 * one thread (CPU time) 0-7 % over one plain call at the wav2vec2 and
 * HyenaDNA shapes. About 8 tiles of TILE_MIN..TILE_MAX rows (columns) of
 * C's longer side. */
#include "nn/gemm.h"

#include <cblas.h>

#define TILE_MIN 64
#define TILE_MAX 512

void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    int rows = M >= N, D = rows ? M : N, T = ((D + 7) / 8 + 15) / 16 * 16;
    if (T < TILE_MIN) T = TILE_MIN;
    if (T > TILE_MAX) T = TILE_MAX;
    int nt = (D + T - 1) / T;
    CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    /* a region even for one tile: outside one, OpenBLAS would thread that
     * tile itself, in a thread-count-dependent order */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nt; i++) {
        int a = i * T, n = a + T < D ? T : D - a;
        if (rows)
            cblas_sgemm(CblasRowMajor, opa, opb, n, N, K, 1.0f, ta ? A + a : A + (size_t)a * lda, lda, B, ldb, beta,
                        C + (size_t)a * ldc, ldc);
        else
            cblas_sgemm(CblasRowMajor, opa, opb, M, n, K, 1.0f, A, lda, tb ? B + (size_t)a * ldb : B + a, ldb, beta,
                        C + a, ldc);
    }
}
