/* wav2vec2's per-step random draws (spanmask.h): fairseq's span mask, the
 * same-utterance negatives and Gumbel noise, all from the Philox counter RNG.
 * Sampling without replacement uses selection sampling (Knuth's Algorithm S:
 * keep item i of n with probability needed/left), which takes no memory and
 * gives every subset the same probability. */
#include "io/spanmask.h"
#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

/* Uniform in [0, n), n >= 1, exactly (Lemire's multiply with rejection). */
static uint32_t below32(ds_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)ds_rng_u32(r) * n;
    if ((uint32_t)m < n) {
        uint32_t thr = (uint32_t)(-n) % n;
        while ((uint32_t)m < thr) m = (uint64_t)ds_rng_u32(r) * n;
    }
    return (uint32_t)(m >> 32);
}

/* U[0, 1) with 53 bits, as numpy's rand(). */
static double uniform53(ds_rng *r) { return (double)(ds_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Masks the spans of one utterance of sz frames; returns the masked count. */
static int mask_row(uint8_t *row, int sz, double mask_prob, int len, int min_masks, ds_rng *r)
{
    int num_mask = (int)(mask_prob * sz / (double)len + uniform53(r));
    if (num_mask < min_masks) num_mask = min_masks;
    if (num_mask <= 0) return 0;
    long n = (long)sz - len;
    if (n <= num_mask) n = (long)num_mask + 1;   /* fairseq: min_len = sz − num_mask − 1 */
    long need = num_mask;
    for (long s = 0; s < n && need > 0; s++) {
        if ((long)below32(r, (uint32_t)(n - s)) >= need) continue;
        need--;
        for (long t = s; t < s + len && t < sz; t++) row[t] = 1;
    }
    int count = 0;
    for (int t = 0; t < sz; t++) count += row[t];
    return count;
}

/* Keeps `keep` of the `have` masked frames of a row, a uniform subset. */
static void subsample_row(uint8_t *row, int sz, int have, int keep, ds_rng *r)
{
    for (int t = 0; t < sz; t++) {
        if (!row[t]) continue;
        if ((int)below32(r, (uint32_t)have) >= keep) row[t] = 0;
        else keep--;
        have--;
    }
}

int ds_span_mask(uint8_t *mask, const int *T_b, int B, int T_max, float mask_prob, int mask_length,
                 int min_masks, uint64_t seed, uint64_t step)
{
    if (B < 1 || T_max < 0) return ds_err(DS_EINVAL, "span mask: batch %d x %d frames", B, T_max);
    if (!(mask_prob >= 0.0f && mask_prob <= 1.0f))
        return ds_err(DS_EINVAL, "span mask: mask_prob %g, expected a value in [0, 1]", mask_prob);
    if (mask_length < 1) return ds_err(DS_EINVAL, "span mask: mask_length %d, expected >= 1", mask_length);
    if (min_masks < 0) return ds_err(DS_EINVAL, "span mask: min_masks %d, expected >= 0", min_masks);
    for (int b = 0; b < B; b++)
        if (T_b[b] < 0 || T_b[b] > T_max)
            return ds_err(DS_EINVAL, "span mask: utterance %d has %d frames, expected 0..%d", b, T_b[b], T_max);
    memset(mask, 0, (size_t)B * T_max);
    ds_rng r;
    ds_rng_init(&r, seed, DS_SPANMASK_STREAM ^ step);
    int least = 0;
    for (int b = 0; b < B; b++) {
        int c = mask_row(mask + (size_t)b * T_max, T_b[b], mask_prob, mask_length, min_masks, &r);
        if (b == 0 || c < least) least = c;
    }
    for (int b = 0; b < B; b++) {   /* require_same_masks */
        uint8_t *row = mask + (size_t)b * T_max;
        int c = 0;
        for (int t = 0; t < T_b[b]; t++) c += row[t];
        if (c > least) subsample_row(row, T_b[b], c, least, &r);
    }
    return least;
}

int ds_sample_negatives(int32_t *neg, const uint8_t *mask, const int *T_b, int B, int T_max, int K,
                        uint64_t seed, uint64_t step)
{
    if (K < 1) return ds_err(DS_EINVAL, "negatives: K = %d, expected >= 1", K);
    ds_rng r;
    ds_rng_init(&r, seed, DS_NEGATIVES_STREAM ^ step);
    long off = 0;
    for (int b = 0; b < B; b++) {
        const uint8_t *row = mask + (size_t)b * T_max;
        int Mb = 0;
        for (int t = 0; t < T_b[b]; t++) Mb += row[t] != 0;
        if (Mb == 1)
            return ds_err(DS_EINVAL, "negatives: utterance %d has 1 masked frame, expected 0 or at least 2", b);
        for (int u = 0; u < Mb; u++)
            for (int k = 0; k < K; k++) {
                uint32_t j = below32(&r, (uint32_t)(Mb - 1));
                j += j >= (uint32_t)u;
                neg[(off + u) * K + k] = (int32_t)(off + j);
            }
        off += Mb;
    }
    if (off > INT32_MAX) return ds_err(DS_EINVAL, "negatives: %ld masked frames, too many", off);
    return (int)off;
}

void ds_gumbel_noise(float *g, long n, uint64_t seed, uint64_t step)
{
    uint64_t stream = DS_GUMBEL_STREAM ^ step;
#pragma omp parallel for schedule(static)
    for (long i0 = 0; i0 < n; i0 += 4) {
        uint32_t w[4];
        ds_philox(seed, stream, (uint64_t)i0 >> 2, w);
        for (long i = i0; i < i0 + 4 && i < n; i++) {
            double u = ((double)w[i - i0] + 0.5) * (1.0 / 4294967296.0);
            g[i] = (float)-log(-log(u));
        }
    }
}
