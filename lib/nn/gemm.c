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
 * C's longer side.
 *
 * Weight gradients are the exception: C = doutᵀ·inp is small (out × in)
 * and K (the batch's rows) is long, so row tiles are narrow and each packs
 * the whole K × N operand again (384x128x8192: 74 GF/s against 88 for one
 * pass over K). There K is split into fixed chunks instead: each chunk's
 * product goes to its own slice of a workspace, and the slices are added
 * to C in chunk order, so the sum's order depends on the shape alone. */
#include "nn/gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define TILE_MIN 64
#define TILE_MAX 512
#define KSPLIT_MAX 8          /* chunks of K */
#define KCHUNK_MIN 1024       /* rows of K a chunk has at least */
#define KSPLIT_WS_MAX (1 << 24)   /* floats of workspace at most (64 MiB) */

/* The K-split workspace of the calling thread: grown to the largest product
 * it has seen, then reused, so a training step allocates only in its first
 * call. Thread-local, so concurrent callers of ds_sgemm do not share it. */
static _Thread_local float *ws;
static _Thread_local size_t ws_cap;

static float *workspace(size_t n)
{
    if (n > ws_cap) {
        float *p = realloc(ws, n * sizeof *p);
        if (!p) return NULL;
        ws = p; ws_cap = n;
    }
    return ws;
}

/* C = (((beta·C + P_0) + P_1) + …) with P_k = op(A_k)·op(B_k) over nk fixed
 * chunks of K; 0 if done, −1 (nothing written) if the split does not apply. */
static int ksplit(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc)
{
    int nk = K / KCHUNK_MIN;
    if (nk > KSPLIT_MAX) nk = KSPLIT_MAX;
    int Kc = ((K + nk - 1) / nk + 15) / 16 * 16;
    nk = (K + Kc - 1) / Kc;
    size_t mn = (size_t)M * N;
    float *P = nk > 1 && mn * nk <= KSPLIT_WS_MAX ? workspace(mn * nk) : NULL;
    if (!P) return -1;
    CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < nk; c++) {
        int k0 = c * Kc, kn = k0 + Kc < K ? Kc : K - k0;
        /* op(A) is M × K: A is K × M (ta) or M × K; op(B) is K × N likewise */
        const float *a = ta ? A + (size_t)k0 * lda : A + k0, *b = tb ? B + k0 : B + (size_t)k0 * ldb;
        cblas_sgemm(CblasRowMajor, opa, opb, M, N, kn, 1.0f, a, lda, b, ldb, 0.0f, P + (size_t)c * mn, N);
    }
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        float *ci = C + (size_t)i * ldc;
        const float *p0 = P + (size_t)i * N;
        if (beta == 0.0f)
            for (int j = 0; j < N; j++) ci[j] = p0[j];
        else
            for (int j = 0; j < N; j++) ci[j] = beta * ci[j] + p0[j];
        for (int c = 1; c < nk; c++) {
            const float *pc = p0 + (size_t)c * mn;
            for (int j = 0; j < N; j++) ci[j] += pc[j];
        }
    }
    return 0;
}

/* C's block [r0, r0+nr) x [c0, c0+nc) := bias + res (what is given) */
static void init_block(const ds_gemm_epilogue *e, float *C, int ldc, int r0, int nr, int c0, int nc)
{
    for (int r = r0; r < r0 + nr; r++) {
        float *c = C + (size_t)r * ldc + c0;
        const float *b = e->bias ? e->bias + c0 : NULL, *x = e->res ? e->res + (size_t)r * e->ldres + c0 : NULL;
        if (b && x)
            for (int j = 0; j < nc; j++) c[j] = b[j] + x[j];
        else if (b)
            memcpy(c, b, sizeof(float) * (size_t)nc);
        else if (c != x)   /* res may be C itself: then C already holds it */
            memcpy(c, x, sizeof(float) * (size_t)nc);
    }
}

/* The init or the post as one pass over all of C's rows. */
static void init_all(const ds_gemm_epilogue *e, float *C, int ldc, int M, int N)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < M; r++) init_block(e, C, ldc, r, 1, 0, N);
}

static void post_all(const ds_gemm_epilogue *e, float *C, int ldc, int M, int N)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < M; r++) e->post(e->ctx, C, ldc, r, 1, 0, N);
}

/* The epilogue runs inside row tiles only. Around a K split it cannot, and
 * column tiles (few rows: wav2vec2's frames) would init and post short
 * strided pieces of rows: there it is a pass before and one after. */
static void tiles(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc, const ds_gemm_epilogue *e)
{
    if (M <= 0 || N <= 0) return;
    int init = e && (e->bias || e->res), post = e && e->post;
    if (init) beta = 1.0f;
    int split = K >= 2 * KCHUNK_MIN && K >= 4 * (M > N ? M : N);
    int rows = M >= N, D = rows ? M : N, T = ((D + 7) / 8 + 15) / 16 * 16;
    if (init && (split || !rows)) { init_all(e, C, ldc, M, N); init = 0; }
    if (split && !ksplit(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) {
        if (post) post_all(e, C, ldc, M, N);
        return;
    }   /* else no workspace: the tiles below, on the initialised C */
    if (T < TILE_MIN) T = TILE_MIN;
    if (T > TILE_MAX) T = TILE_MAX;
    int nt = (D + T - 1) / T, tile_post = post && rows;
    CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    /* a region even for one tile: outside one, OpenBLAS would thread that
     * tile itself, in a thread-count-dependent order */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nt; i++) {
        int a = i * T, n = a + T < D ? T : D - a;
        if (rows) {
            if (init) init_block(e, C, ldc, a, n, 0, N);
            cblas_sgemm(CblasRowMajor, opa, opb, n, N, K, 1.0f, ta ? A + a : A + (size_t)a * lda, lda, B, ldb, beta,
                        C + (size_t)a * ldc, ldc);
            if (tile_post) e->post(e->ctx, C, ldc, a, n, 0, N);
        } else
            cblas_sgemm(CblasRowMajor, opa, opb, M, n, K, 1.0f, A, lda, tb ? B + (size_t)a * ldb : B + a, ldb, beta,
                        C + a, ldc);
    }
    if (post && !rows) post_all(e, C, ldc, M, N);
}

void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    tiles(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

void ds_sgemm_epi(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                  int ldc, const ds_gemm_epilogue *e)
{
    tiles(ta, tb, M, N, K, A, lda, B, ldb, 0.0f, C, ldc, e);
}
