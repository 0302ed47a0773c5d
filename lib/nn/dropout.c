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
    const long per = 4 * DS_PHILOX_BLOCK;   /* elements per block of counters */
#pragma omp parallel for schedule(static)
    for (long g = 0; g < (n + per - 1) / per; g++) {
        uint32_t w[DS_PHILOX_BLOCK][4];   /* element i: word i & 3 of counter i >> 2, as ever */
        ds_philox_block(seed, stream, (uint64_t)g * DS_PHILOX_BLOCK, w);
        const uint32_t *u = &w[0][0];
        long i0 = g * per, m = n - i0 < per ? n - i0 : per;
        for (long k = 0; k < m; k++) {
            float v = (u[k] >> 8) >= thresh ? in[i0 + k] * scale : 0.0f;
            out[i0 + k] = accumulate ? out[i0 + k] + v : v;
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
