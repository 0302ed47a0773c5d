/* Philox4x32-10 (Salmon et al., SC'11), the generator cuRAND and PyTorch use
 * for counter-based streams. */
#include "core/rng.h"

#include <math.h>

void ds_philox(uint64_t seed, uint64_t stream, uint64_t ctr, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

float ds_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t w[4];
    ds_philox(seed, stream, i >> 2, w);
    return (float)(w[i & 3] >> 8) * (1.0f / 16777216.0f);
}

void ds_rng_init(ds_rng *r, uint64_t seed, uint64_t stream)
{
    r->seed = seed; r->stream = stream; r->ctr = 0; r->have = 0;
}

uint32_t ds_rng_u32(ds_rng *r)
{
    if (!r->have) { ds_philox(r->seed, r->stream, r->ctr++, r->buf); r->have = 4; }
    return r->buf[4 - r->have--];
}

uint64_t ds_rng_u64(ds_rng *r) { uint64_t hi = ds_rng_u32(r); return hi << 32 | ds_rng_u32(r); }

uint64_t ds_rng_below(ds_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = ds_rng_u64(r); while (x >= lim);
    return x % n;
}

float ds_rng_uniform(ds_rng *r) { return (float)(ds_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float ds_rng_normal(ds_rng *r)
{
    double u1 = ((ds_rng_u32(r) >> 8) + 1.0) / 16777217.0;  /* (0,1], log is finite */
    double u2 = (ds_rng_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void ds_rng_fill_normal(ds_rng *r, float *x, long n, float mean, float std)
{
    for (long i = 0; i < n; i++) x[i] = mean + std * ds_rng_normal(r);
}

void ds_rng_fill_uniform(ds_rng *r, float *x, long n, float lo, float hi)
{
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * ds_rng_uniform(r);
}
