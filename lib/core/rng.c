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

/* ds_philox_block: with AVX2, one counter per 64-bit lane, four lanes per
 * vector and four vectors in flight: vpmuludq multiplies the low 32 bits
 * of each lane into the full 64-bit product, whose low half is the next
 * word and whose high half (>> 32) the one xor-ed in, so a round is eight
 * instructions for four counters, and the four vectors are independent
 * chains (ds_philox waits on each product in turn). Bits above a word's 32
 * are never read: vpmuludq ignores them and the output cuts them.
 * Integer arithmetic: bitwise ds_philox's words (tested). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2"))) static void philox_block_avx2(uint64_t seed, uint64_t stream, uint64_t ctr0,
                                                                uint32_t out[DS_PHILOX_BLOCK][4])
{
    enum { V = DS_PHILOX_BLOCK / 4 };
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
    __m256i c0[V], c1[V], c2[V], c3[V];
    for (int v = 0; v < V; v++) {
        uint64_t lo[4], hi[4];
        for (int i = 0; i < 4; i++) {
            uint64_t c = ctr0 + (uint64_t)(4 * v + i);
            lo[i] = c & 0xffffffffu; hi[i] = c >> 32;
        }
        c0[v] = _mm256_loadu_si256((const __m256i *)lo);
        c1[v] = _mm256_loadu_si256((const __m256i *)hi);
        c2[v] = _mm256_set1_epi64x((long long)(stream & 0xffffffffu));
        c3[v] = _mm256_set1_epi64x((long long)(stream >> 32));
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        const __m256i K0 = _mm256_set1_epi64x(k0), K1 = _mm256_set1_epi64x(k1);
        for (int v = 0; v < V; v++) {
            __m256i p0 = _mm256_mul_epu32(c0[v], m0), p1 = _mm256_mul_epu32(c2[v], m1);
            c0[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[v]), K0);
            c2[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[v]), K1);
            c1[v] = p1;
            c3[v] = p0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int v = 0; v < V; v++) {
        uint64_t w[4][4];
        _mm256_storeu_si256((__m256i *)w[0], c0[v]); _mm256_storeu_si256((__m256i *)w[1], c1[v]);
        _mm256_storeu_si256((__m256i *)w[2], c2[v]); _mm256_storeu_si256((__m256i *)w[3], c3[v]);
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) out[4 * v + i][k] = (uint32_t)w[k][i];
    }
}
#endif

void ds_philox_block(uint64_t seed, uint64_t stream, uint64_t ctr0, uint32_t out[DS_PHILOX_BLOCK][4])
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) { philox_block_avx2(seed, stream, ctr0, out); return; }
#endif
    for (int i = 0; i < DS_PHILOX_BLOCK; i++) ds_philox(seed, stream, ctr0 + (uint64_t)i, out[i]);
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
