/* Causal long convolution along time through FFTW (HyenaDNA's fftconv,
 * hyenadna.md §1.3): y[b,t,c] = Σ_{s<=t} k[s,c]·u[b,t−s,c] over token-major
 * [B, L, C] activations and a filter k[L, C]. Real FFTs of size 2L; plans are
 * made once per (L, C) in ds_fftconv_init with FFTW_ESTIMATE (a measured plan
 * could differ from run to run, and with it the last bits of the result).
 * Threads (at most the OpenMP count at init, which sizes the scratch) take
 * (batch, 16-channel group) items; the filter gradient is summed
 * over the batch in order, so results do not depend on the thread count. */
#ifndef DS_FFTCONV_H
#define DS_FFTCONV_H

#include <fftw3.h>

typedef struct {
    int L, C, G, n, nf;        /* length, channels, channels per group, FFT size 2L, n/2+1 */
    int nthreads;
    fftwf_plan r2c, c2r;       /* howmany = G transforms, one after another: a group of channels */
    float **rbuf;              /* per thread [G, n] */
    fftwf_complex **cbuf, **cbuf2, **cbuf3;   /* per thread [G, nf] spectra */
    fftwf_complex *kf;         /* filter spectrum [C/G groups][G, nf], set by forward */
} ds_fftconv;

/* Plans and scratch for sequences of exactly L tokens and C channels. */
int ds_fftconv_init(ds_fftconv *p, int L, int C);
void ds_fftconv_free(ds_fftconv *p);
/* y = k ∗ u (causal). Keeps the filter spectrum for backward. */
void ds_fftconv_forward(ds_fftconv *p, float *y, const float *u, const float *k, int B);
/* du += kᵀ ⋆ dy, dk += Σ_b u ⋆ dy (correlations); either may be NULL.
 * Must follow a forward with the same k. */
void ds_fftconv_backward(ds_fftconv *p, float *du, float *dk, const float *dy, const float *u, int B);

#endif
