/* Window sampler and tiler over a reference (genome_windows.h, hyenadna.md
 * §1.8). */
#include "io/genome_windows.h"
#include "core/error.h"
#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TRIES 10000
#define WINDOW_STREAM (0x57494e44ull << 32)   /* "WIND" */

static int in_list(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == n && !strncmp(p, name, n)) return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

/* Every name of the list must be a contig, so a "chr" mismatch is not
 * silently an empty training set. */
static int check_list(const ds_ref *ref, const char *list)
{
    char name[256];
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k >= sizeof name) return ds_err(DS_EINVAL, "contig list: name '%.40s...' is too long", p);
        memcpy(name, p, k);
        name[k] = 0;
        if (k && ds_ref_contig_index(ref, name) < 0) return DS_EINVAL;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

static int add_iv(ds_windows *w, int contig, int64_t beg, int64_t end, int *cap)
{
    if (end - beg < w->W) return 0;   /* too short for one window */
    if (w->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ds_interval *p = realloc(w->iv, (size_t)*cap * sizeof *p);
        if (!p) return ds_err(DS_ENOMEM, "out of memory for windows");
        w->iv = p;
    }
    w->iv[w->n++] = (ds_interval){ contig, beg, end };
    return 0;
}

static int from_bed(ds_windows *w, const ds_regions *bed, const char *contigs, int split, int *cap)
{
    for (int i = 0; i < bed->n; i++) {
        ds_region g = bed->r[i];   /* shallow: resolve only sets g.end */
        if ((split && g.split != split) || !in_list(contigs, g.chrom)) continue;
        int e = ds_region_resolve(w->ref, &g, bed->path);
        if (!e) e = add_iv(w, ds_ref_contig_index(w->ref, g.chrom), g.beg, g.end, cap);
        if (e) return e;
    }
    return 0;
}

static int from_contigs(ds_windows *w, const char *contigs, int split, int *cap)
{
    for (int c = 0; c < ds_ref_ncontigs(w->ref); c++) {
        if (!in_list(contigs, ds_ref_contig_name(w->ref, c))) continue;
        int64_t len = ds_ref_contig_len(w->ref, c);
        int64_t hold = (int64_t)((double)len * DS_WINDOWS_HELD_OUT);
        if (hold < w->W) hold = w->W;
        if (hold > len) hold = len;
        int e = split == DS_SPLIT_TRAIN ? add_iv(w, c, 0, len - hold, cap)
              : split == DS_SPLIT_NONE ? add_iv(w, c, 0, len, cap) : add_iv(w, c, len - hold, len, cap);
        if (e) return e;
    }
    return 0;
}

static int build_tables(ds_windows *w)
{
    w->cum = malloc(sizeof *w->cum * (size_t)(w->n + 1));
    w->tiles = malloc(sizeof *w->tiles * (size_t)(w->n + 1));
    if (!w->cum || !w->tiles) return ds_err(DS_ENOMEM, "out of memory for windows");
    w->cum[0] = w->tiles[0] = 0;
    for (int i = 0; i < w->n; i++) {
        w->cum[i + 1] = w->cum[i] + (w->iv[i].end - w->iv[i].beg - w->W + 1);
        w->tiles[i + 1] = w->tiles[i] + (w->iv[i].end - w->iv[i].beg) / w->W;
    }
    return 0;
}

int ds_windows_init(ds_windows *w, const ds_ref *ref, const ds_regions *bed, const char *contigs, int split, int W,
                    int max_n, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->ref = ref; w->W = W; w->max_n = max_n; w->seed = seed;
    if (W < 1) return ds_err(DS_EINVAL, "window length %d must be positive", W);
    int cap = 0, r = check_list(ref, contigs);
    if (!r) r = bed ? from_bed(w, bed, contigs, split, &cap) : from_contigs(w, contigs, split, &cap);
    if (!r && !w->n)
        r = ds_err(DS_EINVAL, "%s: no %s interval of at least %d bases%s", bed && bed->path ? bed->path : ds_ref_path(ref),
                   split ? ds_split_name(split) : "usable", W, contigs ? " among the listed contigs" : "");
    if (!r) r = build_tables(w);
    if (r) ds_windows_free(w);
    return r;
}

void ds_windows_free(ds_windows *w)
{
    free(w->iv); free(w->cum); free(w->tiles);
    w->iv = NULL; w->cum = w->tiles = NULL;
    w->n = 0;
}

uint64_t ds_windows_state(const ds_windows *w) { return w->draws; }
void ds_windows_set_state(ds_windows *w, uint64_t draws) { w->draws = draws; }

static int count_n(const char *s, int W)
{
    int k = 0;
    for (int i = 0; i < W; i++) k += s[i] == 'N' || s[i] == 'n';
    return k;
}

/* Interval i holding global position x of a cumulative table. */
static int find(const int64_t *cum, int n, int64_t x)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (cum[mid] <= x) lo = mid; else hi = mid - 1;
    }
    return lo;
}

int ds_windows_next(ds_windows *w, char *seq, int *contig, int64_t *beg)
{
    ds_rng r;
    /* window k's own stream: its N rejections never reach into window k+1's
     * numbers, so window k is the same whoever draws it (data parallelism) */
    ds_rng_init(&r, w->seed, WINDOW_STREAM ^ w->draws++);
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        int64_t x = (int64_t)ds_rng_below(&r, (uint64_t)w->cum[w->n]);
        int i = find(w->cum, w->n, x);
        int64_t b = w->iv[i].beg + (x - w->cum[i]);
        int e = ds_ref_fetch_i(w->ref, w->iv[i].contig, b, b + w->W, seq);
        if (e) return e;
        if (count_n(seq, w->W) <= w->max_n) {
            if (contig) *contig = w->iv[i].contig;
            if (beg) *beg = b;
            return 0;
        }
    }
    return ds_err(DS_EINVAL, "%s: %d random windows in a row had more than %d N; use shorter windows or allow more N",
                  ds_ref_path(w->ref), MAX_TRIES, w->max_n);
}

int64_t ds_windows_ntiles(const ds_windows *w) { return w->tiles[w->n]; }

int ds_windows_tile_pos(const ds_windows *w, int64_t k, int *contig, int64_t *beg)
{
    if (k < 0 || k >= w->tiles[w->n])
        return ds_err(DS_EINVAL, "tile %lld out of range (%lld tiles)", (long long)k, (long long)w->tiles[w->n]);
    int i = find(w->tiles, w->n, k);
    *contig = w->iv[i].contig;
    *beg = w->iv[i].beg + (k - w->tiles[i]) * w->W;
    return 0;
}

int ds_windows_tile(const ds_windows *w, int64_t k, char *seq, int *skip)
{
    int c;
    int64_t b;
    int e = ds_windows_tile_pos(w, k, &c, &b);
    if (!e) e = ds_ref_fetch_i(w->ref, c, b, b + w->W, seq);
    if (!e && skip) *skip = count_n(seq, w->W) > w->max_n;
    return e;
}
