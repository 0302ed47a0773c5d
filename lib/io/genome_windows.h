/* Pretraining windows from a reference genome (hyenadna.md §1.8, derfseq.md
 * "Inputs"): random windows of W bases drawn from the usable intervals of one
 * split, skipping windows with more than max_n N bases; and the deterministic
 * tiling of a held-out split for evaluation.
 *
 * Intervals: with a BED, its rows (only those of one split when the file has
 * the Basenji split column and a split is asked for); without, every contig
 * (or those of a comma-separated list) where the last DS_WINDOWS_HELD_OUT
 * (5%) of each contig, and at least W bases, are held out: DS_SPLIT_TRAIN is
 * the head, DS_SPLIT_VALID and DS_SPLIT_TEST are both that tail, and
 * DS_SPLIT_NONE the whole contig. Training windows therefore never overlap
 * held-out bases. Intervals shorter than W are dropped.
 *
 * Sampling: a window start is uniform over every start that fits inside an
 * interval, so contigs and regions are drawn in proportion to their usable
 * length; a start whose window has more than max_n N is drawn again, so
 * starts are uniform over the windows that pass, and contigs are weighted
 * by their length less their N runs. Window k uses its own Philox stream
 * ("WIND" | k) under the seed, rejected draws included, so a window depends
 * only on (seed, k): the counter of windows drawn is the whole state (save
 * it with ds_windows_state, restore it with ds_windows_set_state and the
 * run continues with the same windows), and setting it to k reads window k
 * directly, which is how each data-parallel rank takes its own share of a
 * global batch (cmd/pretrain.c). */
#ifndef DS_GENOME_WINDOWS_H
#define DS_GENOME_WINDOWS_H

#include "fasta.h"
#include "regions.h"

#include <stdint.h>

#define DS_WINDOWS_HELD_OUT 0.05

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
    int max_n;                  /* most N (either case) allowed in a window */
    uint64_t seed;
    uint64_t draws;             /* windows drawn so far: the sampler state */
} ds_windows;

/* bed may be NULL; split is DS_SPLIT_* (DS_SPLIT_NONE with a BED: every
 * row). contigs is a comma-separated list or NULL for all; a name that is
 * not in the reference is an error. */
int ds_windows_init(ds_windows *w, const ds_ref *ref, const ds_regions *bed, const char *contigs, int split, int W,
                    int max_n, uint64_t seed);
void ds_windows_free(ds_windows *w);
/* The next random window into seq (W bytes, not terminated); its contig
 * index and 0-based start (either may be NULL). */
int ds_windows_next(ds_windows *w, char *seq, int *contig, int64_t *beg);
uint64_t ds_windows_state(const ds_windows *w);
void ds_windows_set_state(ds_windows *w, uint64_t draws);
/* Number of non-overlapping tiles of W bases over the intervals (each
 * interval tiled from its start, a shorter remainder dropped), and the k-th
 * (0-based) into seq. A tile with more than max_n N sets *skip = 1. */
int64_t ds_windows_ntiles(const ds_windows *w);
int ds_windows_tile(const ds_windows *w, int64_t k, char *seq, int *skip);
/* Contig index and start of tile k, without reading it. */
int ds_windows_tile_pos(const ds_windows *w, int64_t k, int *contig, int64_t *beg);

#endif
