/* Inverted dropout whose mask is a pure function of (seed, stream, index),
 * so backward recomputes it instead of storing it, and it does not depend
 * on the thread count. */
#include "nn/ops.h"
#include "core/rng.h"

#include <string.h>

static void apply(float *out, const float *in, long n, float p, uint64_t seed, uint64_t stream, int accumulate)
{
    const float scale = 1.0f / (1.0f - p);
    const uint32_t thresh = (uint32_t)((double)p * 16777216.0);   /* keep iff u24 >= p·2^24 */
#pragma omp parallel for schedule(static)
    for (long g = 0; g < (n + 3) / 4; g++) {
        uint32_t w[4];
        ds_philox(seed, stream, (uint64_t)g, w);
        for (int k = 0; k < 4 && 4 * g + k < n; k++) {
            long i = 4 * g + k;
            float v = (w[k] >> 8) >= thresh ? in[i] * scale : 0.0f;
            out[i] = accumulate ? out[i] + v : v;
        }
    }
}

void ds_dropout_forward(float *out, const float *inp, long n, float p, uint64_t seed, uint64_t stream)
{
    if (p <= 0.0f) { if (out != inp) memmove(out, inp, (size_t)n * sizeof(float)); return; }
    apply(out, inp, n, p, seed, stream, 0);
}

void ds_dropout_backward(float *dinp, const float *dout, long n, float p, uint64_t seed, uint64_t stream)
{
    if (p <= 0.0f) {
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    apply(dinp, dout, n, p, seed, stream, 1);
}
