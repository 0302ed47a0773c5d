/* Pretraining windows from a reference genome (hyenadna.md §1.8): random
 * windows of W bases drawn from the usable intervals of one split, skipping
 * windows with more than max_n N bases; and the deterministic tiling of the
 * held-out split for evaluation.
 *
 * Splits: with a BED, its intervals (optionally only those of one Basenji
 * split column value); without, every contig (or --contigs) where the last
 * 5% of each contig (at least one window) is held out: "valid" = that tail,
 * "train" = the rest, so training windows never overlap held-out bases.
 * Draws depend only on (seed, draw counter): the counter is the whole state. */
#ifndef DS_GENOME_WINDOWS_H
#define DS_GENOME_WINDOWS_H

#include "io/fasta.h"
#include "io/regions.h"

#include <stdint.h>

typedef struct {
    int contig;
    int64_t beg, end;
} ds_interval;

typedef struct {
    const ds_ref *ref;          /* not owned */
    ds_interval *iv;
    int n;
    int64_t *cum;               /* cumulative count of window starts, n + 1 */
    int64_t *tiles;             /* cumulative count of whole tiles, n + 1 */
    int W;
    int max_n;                  /* most N (any case) allowed in a window */
    uint64_t seed;
    uint64_t draws;             /* random draws made so far: the sampler state */
} ds_windows;

/* bed may be NULL; split is DS_SPLIT_* (NONE with a BED: every row). contigs
 * is a comma-separated list or NULL for all. */
int ds_windows_init(ds_windows *w, const ds_ref *ref, const ds_regions *bed, const char *contigs, int split, int W,
                    int max_n, uint64_t seed);
void ds_windows_free(ds_windows *w);
/* The next random window into seq (W bytes); its contig and start. */
int ds_windows_next(ds_windows *w, char *seq, int *contig, int64_t *beg);
/* Number of non-overlapping tiles of the split, and the k-th (0-based). A
 * tile with more than max_n N is reported through *skip = 1. */
int64_t ds_windows_ntiles(const ds_windows *w);
int ds_windows_tile(const ds_windows *w, int64_t k, char *seq, int *skip);

#endif
