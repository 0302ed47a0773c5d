/* faidx index checks (faidx_check.h). htslib believes whatever a .fai or
 * .gzi says, so before one is handed to it every .fai row is checked for
 * sane numbers and against the file itself: the contig's header line sits
 * just before its offset, its first line has the indexed width and its
 * last base (as indexed) ends a line that the next record or the end of
 * the file follows. A .gzi is checked block by block against the BGZF
 * headers (only their 18-byte headers and 4-byte sizes are read). The file
 * modification times are not compared: copies and git checkouts reorder
 * them freely, while the content checks catch an index that no longer fits. */
#include "io/faidx_check.h"
#include "core/error.h"

#include <htslib/bgzf.h>
#include <htslib/hts_log.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROW_MAX 65536          /* htslib reads .fai rows through a 64 KiB buffer */
#define HEADER_MAX 65536       /* the longest header line looked back over */
#define LOOK 1024              /* bytes read after a contig's last base */
#define WIDTH_SCAN 65536       /* bytes of a first line scanned for an early line end */
#define BUF_SIZE (HEADER_MAX + WIDTH_SCAN + 2)
#define NUM_MAX ((int64_t)1 << 60)
#define WIDTH_MAX ((int64_t)1 << 31)   /* htslib keeps line widths in 32 bits */

typedef struct {
    const char *path, *fai, *gzi;   /* names for messages */
    int fastq;
    int fd;                         /* the file itself (compressed for bgzip) */
    BGZF *bg;                       /* bgzip: uncompressed offsets through the .gzi */
    int64_t size;                   /* bytes of text (uncompressed) */
    int64_t row;                    /* .fai line number */
    const char *name;               /* contig of that row */
    char *buf;                      /* BUF_SIZE bytes of scratch (ds_ref_open may run on many threads) */
} chk;

typedef struct { int64_t len, off, lb, lw, qoff; } fai_row;

static const char *g_fix = "delete the index to rebuild it";

/* ---- reading the sequence file --------------------------------------- */

static int64_t pread_all(int fd, char *buf, int64_t n, int64_t off)
{
    int64_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, (size_t)(n - got), (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (!k) break;
        got += k;
    }
    return got;
}

/* Bytes [off, off+n) of the text, cut at its end; -1 on a read error. */
static int64_t text_at(chk *c, int64_t off, char *buf, int64_t n)
{
    if (off < 0 || off >= c->size) return 0;
    if (n > c->size - off) n = c->size - off;
    if (!c->bg) return pread_all(c->fd, buf, n, off);
    if (bgzf_useek(c->bg, (off_t)off, SEEK_SET) < 0) return -1;   /* off < size: safe once the .gzi is checked */
    return bgzf_read(c->bg, buf, (size_t)n) == (ssize_t)n ? n : -1;
}

static int read_failed(chk *c, int64_t off)
{
    return ds_err(DS_EIO, "%s: read error at byte %lld while checking its index %s", c->path, (long long)off, c->fai);
}

/* ---- .gzi ------------------------------------------------------------ */

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The .gzi's entries (compressed, uncompressed offset pairs) into *ent. */
static int gzi_read(chk *c, const char *gzi, uint64_t **ent, int64_t *n)
{
    FILE *fp = fopen(gzi, "rb");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", c->gzi);
    unsigned char b[8];
    struct stat st;
    int e = 0;
    if (fstat(fileno(fp), &st) || fread(b, 1, 8, fp) != 8) {
        e = ds_err(DS_EFORMAT, "%s: expected an 8-byte entry count, the file is shorter; %s", c->gzi, g_fix);
    } else {
        uint64_t k = le(b, 8);
        if (k > (uint64_t)(st.st_size - 8) / 16 || 8 + 16 * k != (uint64_t)st.st_size)
            e = ds_err(DS_EFORMAT, "%s: expected %llu entries of 16 bytes after the count, the file has %lld bytes "
                       "(not a .gzi or truncated?); %s", c->gzi, (unsigned long long)k, (long long)st.st_size, g_fix);
        else if (!(*ent = malloc(16 * (size_t)(k ? k : 1))))
            e = ds_err(DS_ENOMEM, "out of memory for %s", c->gzi);
        else if (fread(*ent, 16, (size_t)k, fp) != (size_t)k)
            e = ds_err_errno(DS_EIO, "%s: read error", c->gzi);
        for (uint64_t i = 0; !e && i < 2 * k; i++) (*ent)[i] = le((unsigned char *)&(*ent)[i], 8);
        *n = (int64_t)k;
    }
    fclose(fp);
    return e;
}

/* The BGZF block at coff: its compressed and uncompressed sizes. */
static int bgzf_block(chk *c, int64_t coff, int64_t csize, int64_t *bsize, int64_t *isize)
{
    unsigned char h[18], t[4];
    if (pread_all(c->fd, (char *)h, 18, coff) != 18 || h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || !(h[3] & 4) ||
        le(h + 10, 2) != 6 || h[12] != 'B' || h[13] != 'C' || le(h + 14, 2) != 2)
        return ds_err(DS_EFORMAT, "%s: expected a BGZF block header at compressed byte %lld (corrupt or truncated "
                      "file?)", c->path, (long long)coff);
    *bsize = (int64_t)le(h + 16, 2) + 1;
    if (coff + *bsize > csize || pread_all(c->fd, (char *)t, 4, coff + *bsize - 4) != 4 || le(t, 4) > 65536)
        return ds_err(DS_EFORMAT, "%s: the BGZF block at compressed byte %lld is cut short (truncated file?)",
                      c->path, (long long)coff);
    *isize = (int64_t)le(t, 4);
    return 0;
}

/* Walks the block headers: every .gzi entry must be a block start with the
 * right uncompressed offset; sets c->size to the uncompressed size. */
static int gzi_match(chk *c, const uint64_t *ent, int64_t n)
{
    struct stat st;
    if (fstat(c->fd, &st)) return ds_err_errno(DS_EIO, "%s: cannot stat", c->path);
    int64_t coff = 0, u = 0, k = 0, bsize = 0, isize = 0, csize = st.st_size;
    while (coff < csize) {
        int e = bgzf_block(c, coff, csize, &bsize, &isize);
        if (e) return e;
        if (k < n && ent[2 * k] < (uint64_t)coff)
            return ds_err(DS_EFORMAT, "%s: entry %lld: compressed offset %llu is not the start of a BGZF block of %s "
                          "(the index belongs to another file?); %s", c->gzi, (long long)k + 1,
                          (unsigned long long)ent[2 * k], c->path, g_fix);
        if (k < n && ent[2 * k] == (uint64_t)coff) {
            if (ent[2 * k + 1] != (uint64_t)u)
                return ds_err(DS_EFORMAT, "%s: entry %lld: the block at compressed offset %lld starts at uncompressed "
                              "offset %lld of %s, not %llu; %s", c->gzi, (long long)k + 1, (long long)coff,
                              (long long)u, c->path, (unsigned long long)ent[2 * k + 1], g_fix);
            k++;
        }
        coff += bsize;
        u += isize;
    }
    if (k < n)
        return ds_err(DS_EFORMAT, "%s: entry %lld: compressed offset %llu is past the end of %s (%lld bytes); %s",
                      c->gzi, (long long)k + 1, (unsigned long long)ent[2 * k], c->path, (long long)csize, g_fix);
    c->size = u;
    return 0;
}

static int open_bgzip(chk *c, const char *gzi)
{
    uint64_t *ent = NULL;
    int64_t n = 0;
    int e = gzi_read(c, gzi, &ent, &n);
    if (!e) e = gzi_match(c, ent, n);
    free(ent);
    if (e) return e;
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    c->bg = bgzf_open(c->path, "r");
    if (c->bg && bgzf_index_load(c->bg, gzi, NULL) < 0) { bgzf_close(c->bg); c->bg = NULL; }
    if (c->bg) bgzf_set_cache_size(c->bg, 4 << 20);
    hts_set_log_level(lv);
    return c->bg ? 0 : ds_err(DS_EIO, "%s: cannot open it with its index %s", c->path, c->gzi);
}

/* ---- .fai rows ------------------------------------------------------- */

static int bad_row(chk *c, const char *what)
{
    return ds_err(DS_EFORMAT, "%s:%lld: contig '%s': %s; %s", c->fai, (long long)c->row, c->name, what, g_fix);
}

/* A non-negative decimal below NUM_MAX, or -1. */
static int64_t number(const char *s)
{
    int64_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > NUM_MAX / 10) return -1;
        v = 10 * v + (*s - '0');
    }
    return v < NUM_MAX ? v : -1;
}

static int parse_row(chk *c, char *s, fai_row *r)
{
    static const char *col_name[] = { "name", "length", "offset", "line bases", "line width", "quality offset" };
    char *col[8];
    int n = 0, want = c->fastq ? 6 : 5;
    for (char *p = s; n < 8; n++) {
        col[n] = p;
        if (!(p = strchr(p, '\t'))) { n++; break; }
        *p++ = 0;
    }
    c->name = col[0];
    if (n != want)
        return ds_err(DS_EFORMAT, "%s:%lld: expected %d tab-separated columns (name, length, offset, line bases, "
                      "line width%s), got %d%s; %s", c->fai, (long long)c->row, want, c->fastq ? ", quality offset" : "",
                      n, n == 11 - want ? (c->fastq ? " (a FASTA index beside a FASTQ file?)" : " (a FASTQ index "
                      "beside a FASTA file?)") : "", g_fix);
    if (!*col[0] || strpbrk(col[0], " \r\v\f"))
        return ds_err(DS_EFORMAT, "%s:%lld: expected a contig name without blanks in column 1, got '%s'; %s", c->fai,
                      (long long)c->row, col[0], g_fix);
    int64_t v[6];
    for (int i = 1; i < want; i++)
        if ((v[i] = number(col[i])) < 0)
            return ds_err(DS_EFORMAT, "%s:%lld: contig '%s': column %d (%s) '%s' is not a non-negative integer; %s",
                          c->fai, (long long)c->row, c->name, i + 1, col_name[i], col[i], g_fix);
    *r = (fai_row){ v[1], v[2], v[3], v[4], c->fastq ? v[5] : 0 };
    return 0;
}

/* Numbers that cannot describe a contig, whatever the file holds. */
static int check_layout(chk *c, const fai_row *r)
{
    char what[300];
    if (!r->len) return 0;   /* an empty record is never fetched from */
    if (!r->lb) snprintf(what, sizeof what, "line bases (column 4) is 0 for a contig of %lld bp", (long long)r->len);
    else if (r->lb >= WIDTH_MAX || r->lw >= WIDTH_MAX)
        snprintf(what, sizeof what, "line bases %lld / line width %lld are too large", (long long)r->lb, (long long)r->lw);
    else if (r->lw - r->lb != 1 && r->lw - r->lb != 2)
        snprintf(what, sizeof what, "line width (column 5) %lld must be line bases %lld plus the 1 or 2 bytes of the "
                 "line end", (long long)r->lw, (long long)r->lb);
    else return 0;
    return bad_row(c, what);
}

/* Offset of the last base of a contig whose first base is at off. */
static int64_t last_base(const fai_row *r, int64_t off)
{
    return off + (r->len - 1) / r->lb * r->lw + (r->len - 1) % r->lb;
}

static int check_bounds(chk *c, const fai_row *r)
{
    if (!r->len) return r->off <= c->size ? 0 : bad_row(c, "its offset is past the end of the file");
    int64_t last = last_base(r, r->off), qlast = c->fastq ? last_base(r, r->qoff) : 0;
    if (last < c->size && qlast < c->size && (!c->fastq || r->qoff > last)) return 0;
    char what[600];
    int q = last < c->size;   /* the qualities overflow, not the bases */
    snprintf(what, sizeof what, "%lld %s from byte %lld, %lld per line, would end at byte %lld, past the end of %s "
             "(%lld bytes%s)", (long long)r->len, q ? "qualities" : "bases", (long long)(q ? r->qoff : r->off),
             (long long)r->lb, (long long)(q ? qlast : last), c->path, (long long)c->size,
             c->bg ? " uncompressed" : "");
    if (q && qlast < c->size)
        snprintf(what, sizeof what, "its quality offset %lld is not after its sequence (which ends at byte %lld)",
                 (long long)r->qoff, (long long)last);
    return bad_row(c, what);
}

/* The line that ends just before byte off (which must follow a '\n'):
 * its first byte must be `mark` and, for a header, its first word `name`. */
static int check_line_before(chk *c, int64_t off, char mark, const char *name)
{
    char *buf = c->buf;
    int64_t back = off < 256 ? off : 256, got, start;
    char what[400];
    for (;;) {
        if ((got = text_at(c, off - back, buf, back)) != back) return read_failed(c, off - back);
        if (!back || buf[back - 1] != '\n') {
            snprintf(what, sizeof what, "expected a line end just before byte %lld of %s, where its %s starts",
                     (long long)off, c->path, name ? "sequence" : "quality");
            return bad_row(c, what);
        }
        for (start = back - 1; start > 0 && buf[start - 1] != '\n'; start--) {}
        if (start > 0 || back == off || back == HEADER_MAX) break;
        back = off < HEADER_MAX ? off : HEADER_MAX;
    }
    int64_t end = back - 1;
    if (end > start && buf[end - 1] == '\r') end--;
    buf[end] = 0;
    const char *line = buf + start;
    size_t k = name ? strlen(name) : 0;
    if (line[0] == mark && (!name || (!strncmp(line + 1, name, k) && (!line[1 + k] || line[1 + k] == ' ' ||
                                                                         line[1 + k] == '\t'))))
        return 0;
    snprintf(what, sizeof what, "expected the line before byte %lld of %s to be %s%c%s, found '%.40s%s'",
             (long long)off, c->path, name ? "its header " : "the '", mark, name ? name : "' line", line,
             strlen(line) > 40 ? "..." : "");
    return bad_row(c, what);
}

static int is_eol(char ch) { return ch == '\n' || ch == '\r'; }

/* The first line holds exactly lb bases (or all len of a one-line contig),
 * then the line end the width promises. */
static int check_first_line(chk *c, const fai_row *r)
{
    char *buf = c->buf, what[400];
    int64_t n1 = r->len > r->lb ? r->lb : r->len, ask = n1 + 2 < WIDTH_SCAN ? n1 + 2 : WIDTH_SCAN, got, k;
    for (;;) {   /* the line and its end; further only to tell how long a longer line is */
        if ((got = text_at(c, r->off, buf, ask)) < 0) return read_failed(c, r->off);
        for (k = 0; k < got && !is_eol(buf[k]); k++) {}
        if (k == n1 || got < ask || ask == WIDTH_SCAN) break;
        ask = WIDTH_SCAN;
    }
    const char *kind = r->len > r->lb ? "line width (bases per line)" : "length of its only line";
    if (k != n1 && (k < got || got < WIDTH_SCAN || n1 < got)) {   /* a line end seen, or none where one belongs */
        snprintf(what, sizeof what, "%s %lld does not match %s (%s%lld)", kind, (long long)n1, c->path,
                 k < got || got < WIDTH_SCAN ? "" : "more than ", (long long)k);
        return bad_row(c, what);
    }
    char eol[2] = { 0, 0 };
    int64_t want = r->lw - r->lb, e = text_at(c, r->off + n1, eol, 2);
    if (e < 0) return read_failed(c, r->off + n1);
    int ok = r->len > r->lb ? e >= want && (want == 1 ? eol[0] == '\n' : eol[0] == '\r' && eol[1] == '\n')
                            : !e || is_eol(eol[0]);
    if (ok) return 0;
    if (e && !is_eol(eol[0]))
        snprintf(what, sizeof what, "%s %lld does not match %s (its first line is longer)", kind, (long long)n1,
                 c->path);
    else
        snprintf(what, sizeof what, "line width %lld promises %s line ends, %s has %s ones after byte %lld",
                 (long long)r->lw, want == 1 ? "1-byte (LF)" : "2-byte (CR LF)", c->path,
                 eol[0] == '\r' ? "CR LF" : "LF", (long long)(r->off + n1));
    return bad_row(c, what);
}

/* The last base as indexed ends its line, and blank lines then the next
 * record (or '+' of a FASTQ record, or the end of the file) follow. */
static int check_end(chk *c, const fai_row *r, int64_t off, const char *next)
{
    char *buf = c->buf;
    int64_t last = last_base(r, off), got = text_at(c, last, buf, LOOK), k = 1;
    if (got < 1) return read_failed(c, last);
    int ok = !is_eol(buf[0]) && (buf[0] != '>' || off != r->off);   /* '>' is a quality, never a base */
    if (ok && k < got && !is_eol(buf[k])) ok = 0;
    while (ok && k < got && (is_eol(buf[k]) || buf[k] == ' ' || buf[k] == '\t')) k++;
    if (ok && k < got && !strchr(next, buf[k])) ok = 0;
    if (ok) return 0;
    char what[400];
    snprintf(what, sizeof what, "its %lld %s as indexed do not end at a line end followed by %s in %s (byte %lld) "
             "(is the contig longer or shorter than indexed?)", (long long)r->len, off == r->off ? "bases" : "qualities",
             c->fastq ? (off == r->off ? "the '+' line" : "the next record") : "the next record", c->path,
             (long long)last + 1);
    return bad_row(c, what);
}

static int check_row(chk *c, char *line, fai_row *r)
{
    int e = parse_row(c, line, r);
    if (!e) e = check_layout(c, r);
    if (!e) e = check_bounds(c, r);
    if (e || !r->len) return e;
    if ((e = check_line_before(c, r->off, c->fastq ? '@' : '>', c->name))) return e;
    if ((e = check_first_line(c, r))) return e;
    if ((e = check_end(c, r, r->off, c->fastq ? "+" : ">"))) return e;
    if (!c->fastq) return 0;
    if ((e = check_line_before(c, r->qoff, '+', NULL))) return e;
    return check_end(c, r, r->qoff, "@");
}

/* Nothing but blank lines after the contig stored last in the file: a
 * record appended since the index was built would be invisible to it. */
static int check_tail(chk *c, const fai_row *r)
{
    char *buf = c->buf, what[400];
    int64_t end = last_base(r, c->fastq ? r->qoff : r->off) + 1, got = text_at(c, end, buf, LOOK), k = 0;
    if (got < 0) return read_failed(c, end);
    while (k < got && (is_eol(buf[k]) || buf[k] == ' ' || buf[k] == '\t')) k++;
    if (k == got) return 0;
    buf[got] = 0;
    buf[k + strcspn(buf + k, "\r\n")] = 0;   /* its first line */
    snprintf(what, sizeof what, "it is the last one indexed, but %s goes on after it at byte %lld ('%.40s'; a "
             "record added since the index was built?)", c->path, (long long)(end + k), buf + k);
    return bad_row(c, what);
}

static int check_rows(chk *c, const char *fai)
{
    FILE *fp = fopen(fai, "r");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", c->fai);
    char *line = malloc(ROW_MAX + 2);
    int e = line ? 0 : ds_err(DS_ENOMEM, "out of memory");
    fai_row r, last = { 0 };
    int64_t last_row = 0;
    char *last_name = NULL;
    while (!e && fgets(line, ROW_MAX + 2, fp)) {
        c->row++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        else if (n > ROW_MAX) {
            e = ds_err(DS_EFORMAT, "%s:%lld: row longer than %d bytes (not a .fai file?); %s", c->fai,
                       (long long)c->row, ROW_MAX, g_fix);
            break;
        }
        if (n && line[n - 1] == '\r') line[--n] = 0;
        e = check_row(c, line, &r);
        if (!e && r.len && (!last_row || r.off > last.off)) {
            free(last_name);
            if (!(last_name = strdup(c->name))) e = ds_err(DS_ENOMEM, "out of memory");
            last = r;
            last_row = c->row;
        }
    }
    if (!e && last_row) {
        c->row = last_row;
        c->name = last_name;
        e = check_tail(c, &last);
    }
    free(last_name);
    if (!e && ferror(fp)) e = ds_err_errno(DS_EIO, "%s: read error", c->fai);
    if (!e && !c->row) e = ds_err(DS_EFORMAT, "%s: empty index, no contigs; %s", c->fai, g_fix);
    free(line);
    fclose(fp);
    return e;
}

int ds_faidx_check(const char *path, int bgzip, int fastq, const char *fai, const char *gzi,
                   const char *shown_fai, const char *shown_gzi)
{
    chk c = { path, shown_fai, shown_gzi, fastq, open(path, O_RDONLY), NULL, 0, 0, "", malloc(BUF_SIZE) };
    if (c.fd < 0 || !c.buf) {
        if (c.fd >= 0) close(c.fd);
        free(c.buf);
        return c.buf ? ds_err_errno(DS_EIO, "%s: cannot open", path) : ds_err(DS_ENOMEM, "out of memory");
    }
    struct stat st;
    int e = fstat(c.fd, &st) ? ds_err_errno(DS_EIO, "%s: cannot stat", path) : 0;
    c.size = st.st_size;
    if (!e && bgzip) e = open_bgzip(&c, gzi);
    if (!e) e = check_rows(&c, fai);
    if (c.bg) bgzf_close(c.bg);
    close(c.fd);
    free(c.buf);
    return e;
}
