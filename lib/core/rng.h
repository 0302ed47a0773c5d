/* Counter-based random numbers (Philox4x32-10): a value depends only on
 * (seed, stream, counter), so results do not depend on thread scheduling.
 * Give each consumer its own stream (dropout of layer 3, data sampler,
 * init of tensor 17, ...) and index elements by counter. */
#ifndef DS_RNG_H
#define DS_RNG_H

#include <stdint.h>

/* The four 32-bit words of Philox4x32-10 at counter (ctr, stream) under key seed. */
void ds_philox(uint64_t seed, uint64_t stream, uint64_t ctr, uint32_t out[4]);

/* Counters ctr0 .. ctr0 + DS_PHILOX_BLOCK − 1 at once: out[i] is
 * ds_philox(seed, stream, ctr0 + i), bitwise, several times faster per
 * word where the CPU has AVX2. */
#define DS_PHILOX_BLOCK 16
void ds_philox_block(uint64_t seed, uint64_t stream, uint64_t ctr0, uint32_t out[DS_PHILOX_BLOCK][4]);

/* Stateless: the i-th uniform in [0,1) of a stream (24-bit resolution). */
float ds_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i);

/* A sequential generator over one stream; its state is three integers,
 * so it can be saved with a run and restored exactly. */
typedef struct {
    uint64_t seed, stream, ctr;
    uint32_t buf[4];
    int have;      /* words left in buf */
} ds_rng;

void ds_rng_init(ds_rng *r, uint64_t seed, uint64_t stream);
uint32_t ds_rng_u32(ds_rng *r);
uint64_t ds_rng_u64(ds_rng *r);
uint64_t ds_rng_below(ds_rng *r, uint64_t n);      /* uniform in [0, n), unbiased */
float ds_rng_uniform(ds_rng *r);                    /* [0, 1) */
float ds_rng_normal(ds_rng *r);                     /* N(0, 1), Box-Muller */
void ds_rng_fill_normal(ds_rng *r, float *x, long n, float mean, float std);
void ds_rng_fill_uniform(ds_rng *r, float *x, long n, float lo, float hi);

#endif
