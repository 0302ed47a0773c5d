/* Region strings and BED files (regions.h); BED lines are read through
 * htslib's BGZF, so plain and gzipped files both work. */
#include "io/regions.h"
#include "core/error.h"

#include <errno.h>
#include <htslib/bgzf.h>
#include <htslib/kstring.h>
#include <stdlib.h>
#include <string.h>

const char *ds_split_name(int s)
{
    return s == DS_SPLIT_TRAIN ? "train" : s == DS_SPLIT_VALID ? "valid" : s == DS_SPLIT_TEST ? "test" : "none";
}

int ds_split_parse(const char *s)
{
    if (!strcmp(s, "train")) return DS_SPLIT_TRAIN;
    if (!strcmp(s, "valid") || !strcmp(s, "val") || !strcmp(s, "validation")) return DS_SPLIT_VALID;
    if (!strcmp(s, "test")) return DS_SPLIT_TEST;
    return DS_SPLIT_NONE;
}

void ds_region_free(ds_region *r)
{
    free(r->chrom);
    free(r->name);
    r->chrom = r->name = NULL;
}

void ds_regions_free(ds_regions *rs)
{
    for (int i = 0; i < rs->n; i++) ds_region_free(&rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

int ds_regions_add(ds_regions *rs, const ds_region *r)
{
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 64;
        ds_region *p = realloc(rs->r, (size_t)cap * sizeof *p);
        if (!p) return ds_err(DS_ENOMEM, "out of memory for %d regions", cap);
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = *r;
    return 0;
}

/* A 1-based position with optional thousands commas; 0 on success. */
static int parse_pos(const char *s, const char *end, int64_t *v)
{
    int64_t x = 0;
    int digits = 0;
    for (const char *p = s; p < end; p++) {
        if (*p == ',') continue;
        if (*p < '0' || *p > '9' || x > (INT64_MAX - 9) / 10) return -1;
        x = 10 * x + (*p - '0');
        digits++;
    }
    *v = x;
    return digits ? 0 : -1;
}

int ds_region_parse(const char *s, ds_region *out)
{
    memset(out, 0, sizeof *out);
    out->strand = '+';
    const char *colon = strrchr(s, ':');
    int64_t beg = 1, end = -1;
    if (colon) {
        const char *dash = strchr(colon + 1, '-');
        if (parse_pos(colon + 1, dash ? dash : colon + strlen(colon), &beg) ||
            (dash && parse_pos(dash + 1, dash + strlen(dash), &end)))
            return ds_err(DS_EINVAL, "region '%s': expected chr, chr:beg or chr:beg-end with 1-based positions", s);
        if (beg < 1) return ds_err(DS_EINVAL, "region '%s': positions are 1-based, start must be >= 1", s);
        if (end >= 0 && end < beg)
            return ds_err(DS_EINVAL, "region '%s': end (%lld) < start (%lld)", s, (long long)end, (long long)beg);
    }
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    if (!n) return ds_err(DS_EINVAL, "region '%s': no contig name", s);
    out->chrom = strndup(s, n);
    out->beg = beg - 1;
    out->end = end;
    return out->chrom ? 0 : ds_err(DS_ENOMEM, "out of memory");
}

int ds_region_parse_whole(const char *s, ds_region *out)
{
    memset(out, 0, sizeof *out);
    out->strand = '+';
    out->end = -1;
    out->chrom = strdup(s);
    return out->chrom ? 0 : ds_err(DS_ENOMEM, "out of memory");
}

/* A non-negative integer column; -1 if it is not one. */
static int64_t parse_coord(const char *s)
{
    if (!*s) return -1;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    return *e || v < 0 || errno ? -1 : v;
}

static int parse_bed_line(const char *path, int line, char *s, ds_region *r)
{
    char *col[7] = {0};
    int n = 0;
    for (char *p = s; n < 7;) {
        col[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    if (n < 3) return ds_err(DS_EFORMAT, "%s:%d: expected at least 3 tab-separated columns (chrom, start, end), got %d", path, line, n);
    int64_t beg = parse_coord(col[1]), end = parse_coord(col[2]);
    if (beg < 0) return ds_err(DS_EFORMAT, "%s:%d: start '%s' is not a non-negative integer", path, line, col[1]);
    if (end < 0) return ds_err(DS_EFORMAT, "%s:%d: end '%s' is not a non-negative integer", path, line, col[2]);
    if (end < beg) return ds_err(DS_EFORMAT, "%s:%d: end (%lld) < start (%lld)", path, line, (long long)end, (long long)beg);
    if (!*col[0]) return ds_err(DS_EFORMAT, "%s:%d: empty chrom column", path, line);
    if (n >= 6 && strcmp(col[5], "+") && strcmp(col[5], "-") && strcmp(col[5], "."))
        return ds_err(DS_EFORMAT, "%s:%d: strand '%s', expected '+', '-' or '.'", path, line, col[5]);
    memset(r, 0, sizeof *r);
    r->beg = beg;
    r->end = end;
    r->line = line;
    r->strand = n >= 6 ? col[5][0] : '+';
    if (n == 4 && ds_split_parse(col[3])) r->split = ds_split_parse(col[3]);   /* Basenji: chrom start end split */
    else if (n >= 4 && strcmp(col[3], ".")) r->name = strdup(col[3]);
    r->chrom = strdup(col[0]);
    if (!r->chrom) { ds_region_free(r); return ds_err(DS_ENOMEM, "out of memory"); }
    return 0;
}

int ds_bed_read(const char *path, ds_regions *out)
{
    BGZF *fp = bgzf_open(path, "r");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", path);
    kstring_t s = { 0, 0, NULL };
    int line = 0, r = 0, got;
    while (!r && (got = bgzf_getline(fp, '\n', &s)) >= 0) {
        line++;
        if (s.l && s.s[s.l - 1] == '\r') s.s[--s.l] = 0;
        if (!s.l || s.s[0] == '#' || !strncmp(s.s, "track", 5) || !strncmp(s.s, "browser", 7)) continue;
        ds_region reg;
        r = parse_bed_line(path, line, s.s, &reg);
        if (!r && (r = ds_regions_add(out, &reg))) ds_region_free(&reg);
    }
    if (!r && got < -1) r = ds_err(DS_EIO, "%s: read error after line %d", path, line);
    free(s.s);
    bgzf_close(fp);
    return r;
}
