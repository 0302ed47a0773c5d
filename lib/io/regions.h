/* Genomic regions (derfseq.md "Inputs", hyenadna.md §1.8): "chr:beg-end"
 * strings (1-based inclusive, samtools style) and BED files (0-based
 * half-open; optional name, score, strand; or the Basenji layout whose 4th
 * column is train/valid/test), all stored 0-based half-open. */
#ifndef DS_REGIONS_H
#define DS_REGIONS_H

#include "fasta.h"

#include <stdint.h>

enum { DS_SPLIT_NONE = 0, DS_SPLIT_TRAIN, DS_SPLIT_VALID, DS_SPLIT_TEST };

typedef struct {
    char *chrom;
    int64_t beg, end;    /* end = -1: to the end of the contig (until resolved) */
    char *name;          /* NULL when absent or '.' */
    char strand;         /* '+', '-' or '.'; '-' is fetched reverse-complemented */
    int split;           /* DS_SPLIT_* (Basenji layout), else DS_SPLIT_NONE */
    int line;            /* BED line number, 0 for a region string */
} ds_region;

typedef struct {
    ds_region *r;
    int n, cap;
    char *path;          /* the BED file (set by ds_bed_read), for file:line messages */
    int basenji;         /* 1 when column 4 is the split (chrom start end split) */
} ds_regions;

/* "chr1:1,001-2,000" → chr1 [1000, 2000); "chr1" → whole contig;
 * "chr1:1001" and "chr1:1001-" → [1000, end of contig). A contig whose
 * name holds ':' takes samtools' braces, "{HLA-A*01:01}:1-100" or
 * "{HLA-A*01:01}"; unbraced, check ds_ref_has_contig(s) first and use
 * ds_region_parse_whole, as samtools does. */
int ds_region_parse(const char *s, ds_region *out);
/* The whole contig named s, whatever characters its name holds. */
int ds_region_parse_whole(const char *s, ds_region *out);

/* Appends every region of a BED file (plain, gzip or bgzip; "-" = stdin).
 * Skips blank, '#', 'track' and 'browser' lines. The Basenji layout is
 * recognised on the first data row (exactly 4 columns, the 4th one of
 * train/valid/val/validation/test); every later row must then carry a split
 * too. Otherwise column 4 is a name. Errors name file:line:
 * "regions.bed:17: end (120) < start (300)". A line longer than
 * DS_BED_MAX_LINE bytes is an error too (read no further). */
#define DS_BED_MAX_LINE ((size_t)1 << 20)
int ds_bed_read(const char *path, ds_regions *out);
/* The same rows one at a time, in constant memory (embed --regions over a
 * BED of any size): ds_bed_next fills *reg (the caller frees it with
 * ds_region_free) and returns 1, 0 at the end, or a DS_E* code. */
typedef struct ds_bed_reader ds_bed_reader;
int ds_bed_open(ds_bed_reader **r, const char *path);
int ds_bed_next(ds_bed_reader *r, ds_region *reg);
int ds_bed_basenji(const ds_bed_reader *r);   /* column 4 is the split (decided on the first row) */
void ds_bed_close(ds_bed_reader *r);
int ds_regions_add(ds_regions *rs, const ds_region *r);   /* takes ownership of its strings */
void ds_regions_free(ds_regions *rs);
void ds_region_free(ds_region *r);
const char *ds_split_name(int split);
int ds_split_parse(const char *s);   /* "train"/"valid"/"val"/"validation"/"test" → DS_SPLIT_*, else 0 */

/* Checks a region against the reference (unknown contig, with a "chr"
 * hint; past the contig's end) and resolves end = -1 to the contig's
 * length. src is the BED path for BED rows ("src:line: ..." messages) or
 * NULL for a region string. */
int ds_region_resolve(const ds_ref *ref, ds_region *g, const char *src);
/* Resolves every row, so a bad row at line 9000 fails before any work. */
int ds_regions_resolve(const ds_ref *ref, ds_regions *rs);
/* Bases of a resolved region into buf (end - beg bytes, not terminated),
 * reverse-complemented on the '-' strand. */
int ds_region_fetch(const ds_ref *ref, const ds_region *g, const char *src, char *buf);

#endif
