/* FFT causal long convolution with plans made once (see fftconv.h). */
#include "nn/fftconv.h"
#include "core/error.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define TB 16   /* times per block of the layout transposes */

static int pick_group(int C)
{
    for (int g = 16; g > 1; g /= 2)
        if (C % g == 0) return g;
    return 1;
}

void ds_fftconv_free(ds_fftconv *p)
{
    for (int t = 0; t < p->nthreads; t++) {
        if (p->rbuf) fftwf_free(p->rbuf[t]);
        if (p->cbuf) fftwf_free(p->cbuf[t]);
        if (p->cbuf2) fftwf_free(p->cbuf2[t]);
        if (p->cbuf3) fftwf_free(p->cbuf3[t]);
    }
    free(p->rbuf); free(p->cbuf); free(p->cbuf2); free(p->cbuf3);
    if (p->kf) fftwf_free(p->kf);
    if (p->r2c) fftwf_destroy_plan(p->r2c);
    if (p->c2r) fftwf_destroy_plan(p->c2r);
    memset(p, 0, sizeof *p);
}

int ds_fftconv_init(ds_fftconv *p, int L, int C)
{
    memset(p, 0, sizeof *p);
    if (L < 1 || C < 1) return ds_err(DS_EINVAL, "fftconv: length %d and channels %d must be positive", L, C);
    p->L = L; p->C = C; p->G = pick_group(C);
    p->n = 2 * L; p->nf = L + 1;
    p->nthreads = omp_get_max_threads();
    p->rbuf = calloc((size_t)p->nthreads, sizeof *p->rbuf);
    p->cbuf = calloc((size_t)p->nthreads, sizeof *p->cbuf);
    p->cbuf2 = calloc((size_t)p->nthreads, sizeof *p->cbuf2);
    p->cbuf3 = calloc((size_t)p->nthreads, sizeof *p->cbuf3);
    p->kf = fftwf_malloc(sizeof(fftwf_complex) * (size_t)p->nf * C);
    int ok = p->rbuf && p->cbuf && p->cbuf2 && p->cbuf3 && p->kf;
    for (int t = 0; ok && t < p->nthreads; t++) {
        p->rbuf[t] = fftwf_malloc(sizeof(float) * (size_t)p->n * p->G);
        p->cbuf[t] = fftwf_malloc(sizeof(fftwf_complex) * (size_t)p->nf * p->G);
        p->cbuf2[t] = fftwf_malloc(sizeof(fftwf_complex) * (size_t)p->nf * p->G);
        p->cbuf3[t] = fftwf_malloc(sizeof(fftwf_complex) * (size_t)p->nf * p->G);
        ok = p->rbuf[t] && p->cbuf[t] && p->cbuf2[t] && p->cbuf3[t];
    }
    if (!ok) {
        ds_fftconv_free(p);
        return ds_err(DS_ENOMEM, "fftconv: out of memory for length %d x %d channels", L, C);
    }
    /* channel-contiguous batches: G transforms of n (nf) values one after
     * another run 2x faster in FFTW than G interleaved ones (stride G) */
    int n = p->n, G = p->G, nf = p->nf;
    p->r2c = fftwf_plan_many_dft_r2c(1, &n, G, p->rbuf[0], NULL, 1, n, p->cbuf[0], NULL, 1, nf, FFTW_ESTIMATE);
    p->c2r = fftwf_plan_many_dft_c2r(1, &n, G, p->cbuf[0], NULL, 1, nf, p->rbuf[0], NULL, 1, n, FFTW_ESTIMATE);
    if (!p->r2c || !p->c2r) {
        ds_fftconv_free(p);
        return ds_err(DS_ENOTSUP, "fftconv: FFTW could not plan a transform of size %d", n);
    }
    return 0;
}

/* Loads channels [g·G, g·G+G) of x[L, C] into r[G, n] (channel j's n
 * values contiguous), zero-padding times L..n−1. */
static void load(const ds_fftconv *p, float *r, const float *x, int g)
{
    int L = p->L, C = p->C, G = p->G, n = p->n;
    const float *xg = x + (size_t)g * G;
    for (int t0 = 0; t0 < L; t0 += TB) {   /* TB x G blocks: full cache lines both ways */
        int t1 = t0 + TB < L ? t0 + TB : L;
        for (int j = 0; j < G; j++) {
            float *rj = r + (size_t)j * n;
            for (int t = t0; t < t1; t++) rj[t] = xg[(size_t)t * C + j];
        }
    }
    for (int j = 0; j < G; j++) memset(r + (size_t)j * n + L, 0, sizeof(float) * (size_t)(n - L));
}

/* a[i] = a[i]·b[i] (conj_b: a·conj(b)) over nf·G complex values */
static void cmul(fftwf_complex *a, const fftwf_complex *b, size_t m, int conj_b)
{
    float s = conj_b ? -1.0f : 1.0f;
    for (size_t i = 0; i < m; i++) {
        float ar = a[i][0], ai = a[i][1], br = b[i][0], bi = s * b[i][1];
        a[i][0] = ar * br - ai * bi;
        a[i][1] = ar * bi + ai * br;
    }
}

/* out[L, C] (+)= the first L times of c2r(c) / n for group g */
static void store(const ds_fftconv *p, float *out, float *r, fftwf_complex *c, int g, int accumulate)
{
    int L = p->L, C = p->C, G = p->G, n = p->n;
    fftwf_execute_dft_c2r(p->c2r, c, r);
    const float scale = 1.0f / (float)n;
    float *og = out + (size_t)g * G;
    for (int t0 = 0; t0 < L; t0 += TB) {
        int t1 = t0 + TB < L ? t0 + TB : L;
        for (int j = 0; j < G; j++) {
            const float *rj = r + (size_t)j * n;
            if (accumulate)
                for (int t = t0; t < t1; t++) og[(size_t)t * C + j] += rj[t] * scale;
            else
                for (int t = t0; t < t1; t++) og[(size_t)t * C + j] = rj[t] * scale;
        }
    }
}

void ds_fftconv_forward(ds_fftconv *p, float *y, const float *u, const float *k, int B)
{
    const int ng = p->C / p->G;
    const size_t gsz = (size_t)p->nf * p->G, seq = (size_t)p->L * p->C;
#pragma omp parallel for schedule(static) num_threads(p->nthreads)
    for (int g = 0; g < ng; g++) {
        int t = omp_get_thread_num();
        load(p, p->rbuf[t], k, g);
        fftwf_execute_dft_r2c(p->r2c, p->rbuf[t], p->kf + (size_t)g * gsz);
    }
#pragma omp parallel for collapse(2) schedule(static) num_threads(p->nthreads)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < ng; g++) {
            int t = omp_get_thread_num();
            load(p, p->rbuf[t], u + (size_t)b * seq, g);
            fftwf_execute_dft_r2c(p->r2c, p->rbuf[t], p->cbuf[t]);
            cmul(p->cbuf[t], p->kf + (size_t)g * gsz, gsz, 0);
            store(p, y + (size_t)b * seq, p->rbuf[t], p->cbuf[t], g, 0);
        }
}

void ds_fftconv_backward(ds_fftconv *p, float *du, float *dk, const float *dy, const float *u, int B)
{
    const int ng = p->C / p->G;
    const size_t gsz = (size_t)p->nf * p->G, seq = (size_t)p->L * p->C;
    /* One channel group per item with the batch in order inside, so dk's sum
     * over b has a fixed order. */
#pragma omp parallel for schedule(static) num_threads(p->nthreads)
    for (int g = 0; g < ng; g++) {
        int t = omp_get_thread_num();
        float *r = p->rbuf[t];
        fftwf_complex *DY = p->cbuf[t], *T = p->cbuf2[t], *acc = p->cbuf3[t];
        if (dk) memset(acc, 0, sizeof(fftwf_complex) * gsz);
        for (int b = 0; b < B; b++) {
            load(p, r, dy + (size_t)b * seq, g);
            fftwf_execute_dft_r2c(p->r2c, r, DY);
            if (du) { /* du[t] = Σ_{t'>=t} k[t'−t]·dy[t']: spectrum DY·conj(K) */
                memcpy(T, DY, sizeof(fftwf_complex) * gsz);
                cmul(T, p->kf + (size_t)g * gsz, gsz, 1);
                store(p, du + (size_t)b * seq, r, T, g, 1);
            }
            if (dk) { /* dk[s] = Σ_t dy[t]·u[t−s]: spectrum DY·conj(U), summed over b */
                load(p, r, u + (size_t)b * seq, g);
                fftwf_execute_dft_r2c(p->r2c, r, T);
                for (size_t i = 0; i < gsz; i++) {
                    acc[i][0] += DY[i][0] * T[i][0] + DY[i][1] * T[i][1];
                    acc[i][1] += DY[i][1] * T[i][0] - DY[i][0] * T[i][1];
                }
            }
        }
        if (dk) store(p, dk, r, acc, g, 1);
    }
}
