/* Branch-free float kernels that GCC vectorises (SSE2 and up) inside loops:
 * exp, erf, tanh. Deterministic on every x86-64, unlike libm versions that
 * dispatch on the CPU. Accuracy is tested against libm on a dense grid
 * (test/test_mathfn.c). Internal to lib/nn; inlined into the op loops. */
#ifndef DS_MATHFN_H
#define DS_MATHFN_H

#include <stdint.h>
#include <string.h>

/* Hot elementwise loops get an AVX2 clone beside the baseline one, picked
 * when the library loads (GCC target_clones). AVX2 without FMA performs the
 * same IEEE operations on wider vectors, so both clones give bitwise equal
 * results and outputs stay the same on every x86-64. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(DS_NO_CLONES)
#define DS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DS_CLONES
#endif

static inline float ds_bits_to_float(int32_t i) { float f; memcpy(&f, &i, 4); return f; }

/* e^x, Cephes expf polynomial after reduction x = n·ln2 + r, |r| <= ln2/2.
 * Clamped to the normal range: below about −87.3 the result is ~1e-38, not 0. */
static inline float ds_expf(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    /* round to nearest without floorf (which needs SSE4.1 to vectorise) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* unsigned: a NaN input (a diverged run) must give NaN, not undefined behaviour */
    return p * ds_bits_to_float((int32_t)((uint32_t)((int32_t)n + 127) << 23));
}

/* erf(x): odd rational x·P(x²)/Q(x²) on [−4, 4] (the Eigen/TensorFlow
 * float kernel), ±1 beyond, where erf differs from ±1 by < 2e-8. */
static inline float ds_erff(float x)
{
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return x * p / q;
}

/* tanh(x): odd rational on [−9, 9] (the Eigen float kernel); |tanh| rounds
 * to 1 in float beyond. */
static inline float ds_tanhf(float x)
{
    x = x < -9.0f ? -9.0f : x;
    x = x > 9.0f ? 9.0f : x;
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float t = x * p / q;
    t = t > 1.0f ? 1.0f : t;
    return t < -1.0f ? -1.0f : t;
}

#endif
