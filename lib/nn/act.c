/* Elementwise activations: GELU (erf and tanh forms), SiLU, and HyenaDNA's
 * Sin with a per-channel frequency. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>
#include <omp.h>

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define SQRT_2_OVER_PI 0.79788456080286536f
#define GELU_C 0.044715f

/* [a, b) of n for this OpenMP thread (static, contiguous). */
static void span(long n, long *a, long *b)
{
    long t = omp_get_thread_num(), k = omp_get_num_threads(), per = (n + k - 1) / k;
    *a = t * per < n ? t * per : n;
    *b = *a + per < n ? *a + per : n;
}

/* a parallel region in which each thread runs `call` on its span [a_, b_) */
#define SPANS(call)                \
    _Pragma("omp parallel")        \
    {                              \
        long a_, b_;               \
        span(n, &a_, &b_);         \
        call;                      \
    }

static DS_CLONES void gelu_tanh_fwd_span(float *out, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + ds_tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
    }
}

/* The exact (erf) GELU, wav2vec2's: AVX2 clones as the tanh form's. */
static DS_CLONES void gelu_fwd_span(float *out, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) out[i] = 0.5f * inp[i] * (1.0f + ds_erff(inp[i] * INV_SQRT2));
}

static DS_CLONES void gelu_bwd_span(float *dinp, const float *dout, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + ds_erff(x * INV_SQRT2));
        float pdf = INV_SQRT_2PI * ds_expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

static DS_CLONES void silu_fwd_span(float *out, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) out[i] = inp[i] / (1.0f + ds_expf(-inp[i]));
}

static DS_CLONES void silu_bwd_span(float *dinp, const float *dout, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) {
        float s = 1.0f / (1.0f + ds_expf(-inp[i]));
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

void ds_gelu_forward(float *out, const float *inp, long n) { SPANS(gelu_fwd_span(out, inp, a_, b_)) }
void ds_gelu_backward(float *dinp, const float *dout, const float *inp, long n)
{
    SPANS(gelu_bwd_span(dinp, dout, inp, a_, b_))
}

static DS_CLONES void gelu_tanh_bwd_span(float *dinp, const float *dout, const float *inp, long a, long b)
{
    for (long i = a; i < b; i++) {
        float x = inp[i];
        float u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
        /* tanh and 1 − tanh² from one e = e^(−2|u|): tanh|u| = (1 − e)/(1 + e),
         * sech² u = 4e/(1 + e)². 1 − t·t would cancel where |t| ≈ 1 and x·du
         * is large (|x| ≈ 5 gives errors of 1e-5); 4e/(1 + e)² does not. */
        float e = ds_expf(-2.0f * fabsf(u)), inv = 1.0f / (1.0f + e);
        float th = (1.0f - e) * inv, t = u < 0.0f ? -th : th;
        float s2 = 4.0f * e * inv * inv;
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * s2 * du);
    }
}

void ds_gelu_tanh_forward(float *out, const float *inp, long n) { SPANS(gelu_tanh_fwd_span(out, inp, a_, b_)) }
void ds_gelu_tanh_forward_serial(float *out, const float *inp, long n) { gelu_tanh_fwd_span(out, inp, 0, n); }

void ds_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, long n)
{
    SPANS(gelu_tanh_bwd_span(dinp, dout, inp, a_, b_))
}

void ds_silu_forward(float *out, const float *inp, long n) { SPANS(silu_fwd_span(out, inp, a_, b_)) }
void ds_silu_backward(float *dinp, const float *dout, const float *inp, long n)
{
    SPANS(silu_bwd_span(dinp, dout, inp, a_, b_))
}

void ds_sin_forward(float *out, const float *inp, const float *freq, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = sinf(freq[c] * inp[(size_t)n * C + c]);
}

void ds_sin_backward(float *dinp, float *dfreq, const float *dout, const float *inp, const float *freq,
                     int N, int C)
{
    /* Threads split channels so dfreq[c] is summed in row order by one thread. */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float df = 0;
        for (int n = 0; n < N; n++) {
            size_t i = (size_t)n * C + c;
            float g = dout[i] * cosf(freq[c] * inp[i]);
            if (dinp) dinp[i] += g * freq[c];
            df += g * inp[i];
        }
        if (dfreq) dfreq[c] += df;
    }
}

void ds_erf_vec(float *out, const float *inp, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) out[i] = ds_erff(inp[i]);
}

void ds_tanh_vec(float *out, const float *inp, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) out[i] = ds_tanhf(inp[i]);
}

void ds_exp_vec(float *out, const float *inp, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) out[i] = ds_expf(inp[i]);
}
