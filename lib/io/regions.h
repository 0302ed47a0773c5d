/* Genomic regions: "chr:beg-end" strings (1-based inclusive, samtools style)
 * and BED files (0-based half-open; optional name, score, strand; or the
 * Basenji layout whose 4th column is train/valid/test), all stored 0-based
 * half-open. */
#ifndef DS_REGIONS_H
#define DS_REGIONS_H

#include <stdint.h>

enum { DS_SPLIT_NONE = 0, DS_SPLIT_TRAIN, DS_SPLIT_VALID, DS_SPLIT_TEST };

typedef struct {
    char *chrom;
    int64_t beg, end;    /* end = -1: to the end of the contig */
    char *name;          /* NULL when absent */
    char strand;         /* '+', '-' or '.' */
    int split;           /* DS_SPLIT_* */
    int line;            /* BED line number, 0 for a region string */
} ds_region;

typedef struct {
    ds_region *r;
    int n, cap;
} ds_regions;

/* "chr1:1,001-2,000" → chr1 [1000, 2000); "chr1" → whole contig;
 * "chr1:1001" → [1000, end). */
int ds_region_parse(const char *s, ds_region *out);
/* The whole contig named s, whatever characters its name holds. */
int ds_region_parse_whole(const char *s, ds_region *out);
/* Appends every region of a BED file (plain or gzip); errors name file:line. */
int ds_bed_read(const char *path, ds_regions *out);
int ds_regions_add(ds_regions *rs, const ds_region *r);   /* takes ownership of its strings */
void ds_regions_free(ds_regions *rs);
void ds_region_free(ds_region *r);
const char *ds_split_name(int split);
int ds_split_parse(const char *s);   /* "train"/"valid"/"val"/"test" → DS_SPLIT_*, else 0 */

#endif
