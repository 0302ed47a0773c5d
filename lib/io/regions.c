/* Region strings and BED files (regions.h, derfseq.md "Inputs"). BED lines
 * are read through htslib's BGZF, so plain, gzip and bgzip files all work,
 * with a bounded line reader (linebuf.h): a newline-free input cannot
 * exhaust memory. */
#include "io/regions.h"
#include "core/error.h"
#include "io/linebuf.h"

#include <htslib/bgzf.h>
#include <htslib/kstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    free(rs->path);
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

/* ---- region strings -------------------------------------------------- */

/* A position with optional thousands commas; 0 on success. */
static int parse_pos(const char *s, const char *end, int64_t *v)
{
    int64_t x = 0;
    int digits = 0;
    for (const char *p = s; p < end; p++) {
        if (*p == ',' && digits) continue;
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
    /* samtools' braced form, {name}:beg-end, for names that contain ':' */
    const char *close = s[0] == '{' ? strchr(s, '}') : NULL;
    if (s[0] == '{' && (!close || (close[1] && close[1] != ':')))
        return ds_err(DS_EINVAL, "region '%s': expected {name}, {name}:beg or {name}:beg-end", s);
    const char *colon = close ? (close[1] ? close + 1 : NULL) : strrchr(s, ':');
    int64_t beg = 1, end = -1;
    if (colon) {
        const char *dash = strchr(colon + 1, '-'), *stop = colon + strlen(colon);
        if (parse_pos(colon + 1, dash ? dash : stop, &beg) || (dash && dash[1] && parse_pos(dash + 1, stop, &end)))
            return ds_err(DS_EINVAL, "region '%s': expected chr, chr:beg or chr:beg-end with 1-based positions", s);
        if (beg < 1) return ds_err(DS_EINVAL, "region '%s': positions are 1-based, start must be >= 1", s);
        if (end >= 0 && end < beg)
            return ds_err(DS_EINVAL, "region '%s': end (%lld) < start (%lld)", s, (long long)end, (long long)beg);
    }
    const char *name = close ? s + 1 : s;
    size_t n = close ? (size_t)(close - name) : colon ? (size_t)(colon - s) : strlen(s);
    if (!n) return ds_err(DS_EINVAL, "region '%s': no contig name", s);
    out->chrom = strndup(name, n);
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

/* ---- BED ------------------------------------------------------------- */

/* A BED coordinate: digits only (no sign, no blanks). */
static int parse_coord(const char *path, int line, const char *what, const char *s, int64_t *v)
{
    int64_t x = 0;
    if (!*s) return ds_err(DS_EFORMAT, "%s:%d: %s is empty", path, line, what);
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return ds_err(DS_EFORMAT, "%s:%d: %s '%s' is not a non-negative integer", path, line, what, s);
        if (x > (INT64_MAX - 9) / 10) return ds_err(DS_EFORMAT, "%s:%d: %s '%s' is too large", path, line, what, s);
        x = 10 * x + (*p - '0');
    }
    *v = x;
    return 0;
}

/* Splits s on tabs in place; returns the number of columns (at most max). */
static int split_tabs(char *s, char **col, int max)
{
    int n = 0;
    for (char *p = s; n < max;) {
        col[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    return n;
}

typedef struct {
    const char *path;
    int line;
    int rows;           /* data rows so far */
    int basenji;
} bed_ctx;

/* Column 4: a split in a Basenji file (decided on its first row), else a name. */
static int set_col4(bed_ctx *b, char **col, int n, ds_region *r)
{
    if (!b->rows++) b->basenji = n == 4 && ds_split_parse(col[3]);
    if (b->basenji) {
        r->split = n >= 4 ? ds_split_parse(col[3]) : 0;
        if (!r->split)
            return ds_err(DS_EFORMAT, "%s:%d: expected a split (train, valid or test) in column 4 as on the first "
                          "row, got '%s'", b->path, b->line, n >= 4 ? col[3] : "");
    } else if (n >= 4 && *col[3] && strcmp(col[3], ".") && !(r->name = strdup(col[3]))) {
        return ds_err(DS_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_bed_line(bed_ctx *b, char *s, ds_region *r)
{
    char *col[7] = {0};
    int spaces = strchr(s, ' ') != NULL, n = split_tabs(s, col, 7);
    memset(r, 0, sizeof *r);
    if (n < 3)
        return ds_err(DS_EFORMAT, "%s:%d: expected at least 3 tab-separated columns, got %d%s", b->path, b->line, n,
                      spaces ? " (columns must be separated by tabs, not spaces)" : "");
    if (!*col[0]) return ds_err(DS_EFORMAT, "%s:%d: empty chrom column", b->path, b->line);
    int e = parse_coord(b->path, b->line, "start", col[1], &r->beg);
    if (!e) e = parse_coord(b->path, b->line, "end", col[2], &r->end);
    if (e) return e;
    if (r->end < r->beg)
        return ds_err(DS_EFORMAT, "%s:%d: end (%lld) < start (%lld)", b->path, b->line, (long long)r->end,
                      (long long)r->beg);
    if (n >= 6 && strcmp(col[5], "+") && strcmp(col[5], "-") && strcmp(col[5], "."))
        return ds_err(DS_EFORMAT, "%s:%d: strand '%s', expected '+', '-' or '.'", b->path, b->line, col[5]);
    r->line = b->line;
    r->strand = n >= 6 ? col[5][0] : '.';   /* '.': no strand column (BED3-5), fetched as given */
    if ((e = set_col4(b, col, n, r))) return e;
    if (!(r->chrom = strdup(col[0]))) { ds_region_free(r); return ds_err(DS_ENOMEM, "out of memory"); }
    return 0;
}

static int is_skipped(const kstring_t *s)
{
    return !s->l || s->s[0] == '#' || !strncmp(s->s, "track", 5) || !strncmp(s->s, "browser", 7);
}

static BGZF *open_bed(const char *path)
{
    if (strcmp(path, "-")) return bgzf_open(path, "r");
    int fd = dup(STDIN_FILENO);   /* closing the file leaves stdin open */
    BGZF *fp = fd < 0 ? NULL : bgzf_dopen(fd, "r");
    if (!fp && fd >= 0) close(fd);
    return fp;
}

struct ds_bed_reader {
    BGZF *fp;
    char *path;
    kstring_t s;
    bed_ctx b;
    ds_linebuf lb;
};

int ds_bed_open(ds_bed_reader **out, const char *path)
{
    *out = NULL;
    ds_bed_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) { free(r); return ds_err(DS_ENOMEM, "out of memory"); }
    if (!(r->fp = open_bed(path))) {
        int e = ds_err_errno(DS_EIO, "%s: cannot open", path);
        free(r->path); free(r);
        return e;
    }
    r->b = (bed_ctx){ r->path, 0, 0, 0 };
    if (ds_linebuf_init(&r->lb, r->fp)) { bgzf_close(r->fp); free(r->path); free(r); return ds_err(DS_ENOMEM, "out of memory"); }
    *out = r;
    return 0;
}

int ds_bed_next(ds_bed_reader *r, ds_region *reg)
{
    int got;
    while ((got = ds_linebuf_get(&r->lb, &r->s, DS_BED_MAX_LINE, DS_BED_MAX_LINE)) == DS_LINE_OK) {
        r->b.line++;
        kstring_t *s = &r->s;
        while (s->l && (s->s[s->l - 1] == '\r' || s->s[s->l - 1] == ' ')) s->s[--s->l] = 0;
        if (is_skipped(s)) continue;
        int e = parse_bed_line(&r->b, s->s, reg);
        if (e) { ds_region_free(reg); return e; }
        return 1;
    }
    if (got == DS_LINE_EREAD) return ds_err(DS_EIO, "%s: read error after line %d", r->path, r->b.line);
    if (got == DS_LINE_ENOMEM) return ds_err(DS_ENOMEM, "out of memory");
    if (got == DS_LINE_ETOOLONG)
        return ds_err(DS_EFORMAT, "%s:%d: line longer than %zu bytes (not a BED file, or no line breaks?)", r->path,
                      r->b.line + 1, (size_t)DS_BED_MAX_LINE);
    return 0;
}

int ds_bed_basenji(const ds_bed_reader *r) { return r->b.basenji; }

void ds_bed_close(ds_bed_reader *r)
{
    if (!r) return;
    ds_linebuf_free(&r->lb);
    free(r->s.s);
    bgzf_close(r->fp);
    free(r->path);
    free(r);
}

int ds_bed_read(const char *path, ds_regions *out)
{
    ds_bed_reader *rd;
    int r = ds_bed_open(&rd, path);
    if (r) return r;
    if (!out->path && !(out->path = strdup(path))) { ds_bed_close(rd); return ds_err(DS_ENOMEM, "out of memory"); }
    ds_region reg;
    while ((r = ds_bed_next(rd, &reg)) == 1)
        if ((r = ds_regions_add(out, &reg))) { ds_region_free(&reg); break; }
    out->basenji |= ds_bed_basenji(rd);
    ds_bed_close(rd);
    return r;
}

/* ---- against a reference --------------------------------------------- */

/* "regions.bed:17: " for a BED row, "region chr1:1001-2000: " for a string. */
static void where(const ds_region *g, const char *src, char *buf, size_t n)
{
    if (g->line) snprintf(buf, n, "%s:%d: ", src ? src : "BED", g->line);
    else if (g->end < 0) snprintf(buf, n, "region %s:%lld-: ", g->chrom, (long long)g->beg + 1);
    else snprintf(buf, n, "region %s:%lld-%lld: ", g->chrom, (long long)g->beg + 1, (long long)g->end);
}

/* The pending message with the region's place in front (copied first:
 * ds_err writes the buffer ds_errmsg points into). */
static int with_where(int code, const ds_region *g, const char *src)
{
    char at[600], msg[1024];
    where(g, src, at, sizeof at);
    snprintf(msg, sizeof msg, "%s", ds_errmsg());
    return ds_err(code, "%s%s", at, msg);
}

int ds_region_resolve(const ds_ref *ref, ds_region *g, const char *src)
{
    int c = ds_ref_contig_index(ref, g->chrom);   /* its message names the contig, with a "chr" hint */
    if (c < 0) return with_where(c, g, src);
    int64_t len = ds_ref_contig_len(ref, c), end = g->end < 0 ? len : g->end;
    if (end > len || g->beg > len) {
        char at[600];
        where(g, src, at, sizeof at);
        return ds_err(DS_EINVAL, "%s%s (%lld) is past the contig's end (%s has %lld bp)", at,
                      g->beg > len ? "start" : "end", (long long)(g->beg > len ? g->beg : end), g->chrom,
                      (long long)len);
    }
    g->end = end;
    return 0;
}

int ds_regions_resolve(const ds_ref *ref, ds_regions *rs)
{
    for (int i = 0; i < rs->n; i++) {
        int e = ds_region_resolve(ref, &rs->r[i], rs->path);
        if (e) return e;
    }
    return 0;
}

int ds_region_fetch(const ds_ref *ref, const ds_region *g, const char *src, char *buf)
{
    if (g->end < 0) return ds_err(DS_EINVAL, "region %s: not resolved against the reference", g->chrom);
    int e = ds_ref_fetch(ref, g->chrom, g->beg, g->end, buf);
    if (e) return with_where(e, g, src);
    if (g->strand == '-') ds_revcomp(buf, g->end - g->beg);
    return 0;
}
