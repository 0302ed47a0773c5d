/* FASTA/FASTQ streaming and faidx reference access (fasta.h, derfseq.md
 * "Inputs"). Records are parsed from htslib BGZF lines (BGZF reads plain,
 * gzip and bgzip alike) rather than with kseq, so every error can name its
 * line; htslib's own log lines are silenced: errors come back as one
 * derfseq message. */
#define _GNU_SOURCE   /* qsort_r */
#include "io/fasta.h"
#include "core/error.h"
#include "io/faidx_check.h"
#include "io/linebuf.h"

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- streaming ------------------------------------------------------- */

/* Memory bounds (fasta.h, ds_fasta_set_limits): the longest header line
 * and the longest record (bases, and as many qualities). */
static size_t g_max_header = DS_FASTA_MAX_HEADER;
static size_t g_max_record = DS_FASTA_MAX_RECORD;

void ds_fasta_set_limits(size_t max_header, size_t max_record)
{
    g_max_header = max_header ? max_header : DS_FASTA_MAX_HEADER;
    g_max_record = max_record ? max_record : DS_FASTA_MAX_RECORD;
}

#define READ_BUF (1 << 16)

struct ds_fasta_reader {
    BGZF *fp;
    ds_linebuf lb;
    char *path;             /* as given, "(stdin)" for "-" */
    kstring_t line, id, seq, qual;
    int64_t lineno;         /* number of the line held in `line` */
    int64_t n;              /* records returned so far */
    int pending;            /* `line` holds the next record's header */
};

static BGZF *open_quiet(const char *path)
{
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    BGZF *fp;
    if (strcmp(path, "-")) fp = bgzf_open(path, "r");
    else {
        int fd = dup(STDIN_FILENO);   /* closing the reader leaves stdin open */
        fp = fd < 0 ? NULL : bgzf_dopen(fd, "r");
        if (!fp && fd >= 0) close(fd);
    }
    hts_set_log_level(lv);
    return fp;
}

/* The next line into r->line without its '\n': 1, 0 at the end, or an
 * error once it outgrows its limit (a header, '>' or '@' first outside
 * FASTQ qualities, or any line longer than a record), so memory stays
 * bounded whatever the input. */
static int get_line(ds_fasta_reader *r, int qual)
{
    int e = ds_linebuf_get(&r->lb, &r->line, qual ? g_max_record : g_max_header, g_max_record);
    if (e >= 0) return e;
    if (e == DS_LINE_ENOMEM) return ds_err(DS_ENOMEM, "out of memory");
    if (e == DS_LINE_EREAD)
        return ds_err(DS_EIO, "%s: read error after line %lld (truncated or corrupt compressed data?)", r->path,
                      (long long)r->lineno);
    if (!qual && (r->lb.first == '>' || r->lb.first == '@'))
        return ds_err(DS_EFORMAT, "%s:%lld: header line longer than %zu bytes", r->path, (long long)r->lineno + 1,
                      g_max_header);
    return ds_err(DS_EFORMAT, "%s:%lld: line longer than %zu bytes, the longest record derfseq reads (no line "
                  "breaks? a whole genome on one line is read with --ref)", r->path, (long long)r->lineno + 1,
                  g_max_record);
}

/* 1 with the next line (CR and trailing blanks cut) in r->line, 0 at end. */
static int read_line_as(ds_fasta_reader *r, int qual)
{
    int got = get_line(r, qual);
    if (got <= 0) return got;
    r->lineno++;
    while (r->line.l && (r->line.s[r->line.l - 1] == '\r' || r->line.s[r->line.l - 1] == ' ' ||
                         r->line.s[r->line.l - 1] == '\t'))
        r->line.s[--r->line.l] = 0;
    return 1;
}

static int read_line(ds_fasta_reader *r) { return read_line_as(r, 0); }

static int read_nonblank(ds_fasta_reader *r)
{
    int e;
    while ((e = read_line(r)) == 1 && !r->line.l) {}
    return e;
}

/* What a file that is not FASTA/FASTQ is, from the first line of its
 * (decompressed: BGZF undoes a BAM's compression) bytes; NULL if unknown.
 * *audio is set for sound files. */
static const char *foreign_kind(const char *s, size_t n, int *audio)
{
    static const struct { const char *magic; size_t len; size_t at; const char *kind; int audio; } K[] = {
        { "BAM\1", 4, 0, "a BAM file", 0 },      { "CRAM", 4, 0, "a CRAM file", 0 },
        { "BCF\2", 4, 0, "a BCF file", 0 },      { "@HD\t", 4, 0, "a SAM file", 0 },
        { "@SQ\t", 4, 0, "a SAM file", 0 },      { "##fileformat=VCF", 16, 0, "a VCF file", 0 },
        { "WAVE", 4, 8, "audio (WAV)", 1 },      { "fLaC", 4, 0, "audio (FLAC)", 1 },
        { "OggS", 4, 0, "audio (Ogg)", 1 },      { "ID3", 3, 0, "audio (MP3)", 1 },
        { "FORM", 4, 0, "audio (AIFF)", 1 },
    };
    for (size_t i = 0; i < sizeof K / sizeof *K; i++)
        if (n >= K[i].at + K[i].len && !memcmp(s + K[i].at, K[i].magic, K[i].len)) {
            *audio = K[i].audio;
            return K[i].kind;
        }
    if (n >= 2 && (unsigned char)s[0] == 0xFF && ((unsigned char)s[1] & 0xE0) == 0xE0) { *audio = 1; return "audio (MP3)"; }
    return NULL;
}

/* The first line of the input: alignments and audio are named with what
 * to do, rather than as a FASTA without '>'. */
static int expect_first_header(const ds_fasta_reader *r)
{
    int audio = 0;
    const char *kind = foreign_kind(r->line.s, r->line.l, &audio);
    if (kind && audio)
        return ds_err(DS_EFORMAT, "%s: this is %s, not FASTA/FASTQ: a DNA model embeds sequences; give audio to a "
                      "wav2vec2 checkpoint", r->path, kind);
    if (kind && !strcmp(kind, "a VCF file"))
        return ds_err(DS_EFORMAT, "%s: this is a VCF file, not FASTA/FASTQ: give the sequences, e.g. with "
                      "'bcftools consensus'", r->path);
    if (kind)
        return ds_err(DS_EFORMAT, "%s: this is %s, not FASTA/FASTQ: convert it with 'samtools fasta %s' (or "
                      "pipe that into '-')", r->path, kind, strcmp(r->path, "(stdin)") ? r->path : "-");
    return 0;
}

static int expect_header(const ds_fasta_reader *r)
{
    char c = r->line.s[0];
    if (r->n == 0) {
        int e = expect_first_header(r);
        if (e) return e;
    }
    if (c == '>' || c == '@') return 0;
    return ds_err(DS_EFORMAT, "%s:%lld: expected '>' or '@' at the start of a record", r->path, (long long)r->lineno);
}

int ds_fasta_open(ds_fasta_reader **out, const char *path)
{
    *out = NULL;
    ds_fasta_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(strcmp(path, "-") ? path : "(stdin)"))) {
        free(r);
        return ds_err(DS_ENOMEM, "out of memory");
    }
    r->fp = open_quiet(path);
    if (r->fp && ds_linebuf_init(&r->lb, r->fp)) { ds_fasta_close(r); return ds_err(DS_ENOMEM, "out of memory"); }
    int e = r->fp ? read_nonblank(r) : ds_err_errno(DS_EIO, "%s: cannot open", r->path);
    if (!e) e = ds_err(DS_EFORMAT, "%s: no sequence records", r->path);
    if (e == 1) e = expect_header(r);
    if (e) { ds_fasta_close(r); return e; }
    r->pending = 1;
    *out = r;
    return 0;
}

void ds_fasta_close(ds_fasta_reader *r)
{
    if (!r) return;
    if (r->fp) bgzf_close(r->fp);
    free(r->line.s); free(r->id.s); free(r->seq.s); free(r->qual.s);
    ds_linebuf_free(&r->lb);
    free(r->path);
    free(r);
}

/* Sequence letters of one line, or an error naming the first odd byte. */
static int append_bases(ds_fasta_reader *r, kstring_t *to)
{
    const char *s = r->line.s;
    for (size_t i = 0; i < r->line.l; i++) {
        char c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '*' || c == '.') continue;
        char shown[8];
        snprintf(shown, sizeof shown, c > ' ' && c < 127 ? "'%c'" : "0x%02x", (unsigned char)c);
        return ds_err(DS_EFORMAT, "%s:%lld: unexpected character %s in the sequence of record %lld '%s' "
                      "(expected letters, '-', '*' or '.')", r->path, (long long)r->lineno, shown,
                      (long long)r->n + 1, r->id.s);
    }
    if (to->l + r->line.l > g_max_record)
        return ds_err(DS_EFORMAT, "%s:%lld: record %lld '%s' is longer than %zu bases, the longest record derfseq "
                      "reads from a stream (use --ref with its index)", r->path, (long long)r->lineno,
                      (long long)r->n + 1, r->id.s, g_max_record);
    return kputsn(s, r->line.l, to) < 0 ? ds_err(DS_ENOMEM, "out of memory") : 0;
}

/* FASTA: every line up to the next '>' header (kept pending) or the end. */
static int read_fasta_body(ds_fasta_reader *r)
{
    int e;
    while ((e = read_line(r)) == 1) {
        if (r->line.l && r->line.s[0] == '>') { r->pending = 1; return 0; }
        if ((e = append_bases(r, &r->seq))) return e;
    }
    return e;
}

static int read_fastq_seq(ds_fasta_reader *r)
{
    int e;
    while ((e = read_line(r)) == 1) {
        if (r->line.l && r->line.s[0] == '+') return 0;
        if (r->line.l && r->line.s[0] == '@')
            return ds_err(DS_EFORMAT, "%s:%lld: expected the '+' line of record %lld '%s', got a new record",
                          r->path, (long long)r->lineno, (long long)r->n + 1, r->id.s);
        if ((e = append_bases(r, &r->seq))) return e;
    }
    return e ? e : ds_err(DS_EFORMAT, "%s:%lld: record %lld '%s' ends before its '+' line (truncated FASTQ?)", r->path,
                          (long long)r->lineno, (long long)r->n + 1, r->id.s);
}

/* Quality lines until they are as long as the sequence; a quality line may
 * start with '@' or '+', so only lengths tell where it ends. */
static int read_fastq_qual(ds_fasta_reader *r)
{
    int e = 0;
    while (r->qual.l < r->seq.l && (e = read_line_as(r, 1)) == 1)
        if (kputsn(r->line.s, r->line.l, &r->qual) < 0) return ds_err(DS_ENOMEM, "out of memory");
    if (e < 0) return e;
    if (r->qual.l != r->seq.l)
        return ds_err(DS_EFORMAT, "%s:%lld: record %lld '%s': quality length %zu differs from sequence length %zu%s",
                      r->path, (long long)r->lineno, (long long)r->n + 1, r->id.s, r->qual.l, r->seq.l,
                      r->qual.l < r->seq.l ? " at the end of the input" : "");
    return 0;
}

/* The first word of the header in r->line. */
static int set_id(ds_fasta_reader *r)
{
    size_t k = strcspn(r->line.s + 1, " \t");
    r->id.l = 0;
    if (kputsn(r->line.s + 1, k, &r->id) < 0) return ds_err(DS_ENOMEM, "out of memory");
    if (!k)
        return ds_err(DS_EFORMAT, "%s:%lld: empty record name after '%c'", r->path, (long long)r->lineno, r->line.s[0]);
    return 0;
}

int ds_fasta_next(ds_fasta_reader *r, ds_fasta_record *rec)
{
    int e;
    if (!r->pending) {
        if ((e = read_nonblank(r)) <= 0) return e;
        if ((e = expect_header(r))) return e;
    }
    r->pending = 0;
    int64_t header = r->lineno;
    int fastq = r->line.s[0] == '@';
    if ((e = set_id(r))) return e;
    r->seq.l = r->qual.l = 0;
    if (kputs("", &r->seq) < 0 || kputs("", &r->qual) < 0) return ds_err(DS_ENOMEM, "out of memory");
    if (!fastq) e = read_fasta_body(r);
    else if (!(e = read_fastq_seq(r))) e = read_fastq_qual(r);
    if (e) return e;
    *rec = (ds_fasta_record){ r->id.s, r->seq.s, fastq ? r->qual.s : NULL, (int64_t)r->seq.l, r->n++, header };
    return 1;
}

/* ---- random access --------------------------------------------------- */

struct ds_ref {
    faidx_t *fai;
    char *path;
    int n;
    int64_t *len;       /* per contig */
    int *by_name;       /* contig indices sorted by name, for bsearch */
    int temp_index;
};

static int cmp_by_name(const void *a, const void *b, void *fai)
{
    return strcmp(faidx_iseq(fai, *(const int *)a), faidx_iseq(fai, *(const int *)b));
}

static int find_contig(const ds_ref *r, const char *name)
{
    int lo = 0, hi = r->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, faidx_iseq(r->fai, r->by_name[mid]));
        if (!c) return r->by_name[mid];
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    return -1;
}

/* Compression of path (0 plain, 1 gzip, 2 bgzip) and its first non-blank
 * byte (-1 at the end, -2 for a read error). */
static int sniff(const char *path, int *first)
{
    BGZF *fp = open_quiet(path);
    *first = -1;
    if (!fp) return -1;
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    int comp = bgzf_compression(fp), c;
    while ((c = bgzf_getc(fp)) == '\n' || c == '\r' || c == ' ' || c == '\t') {}
    *first = c < -1 ? -2 : c;
    bgzf_close(fp);
    hts_set_log_level(lv);
    return comp;
}

/* 1 when the whole file decompresses (read only after indexing failed). */
static int reads_through(const char *path)
{
    BGZF *fp = open_quiet(path);
    char *buf = malloc(READ_BUF);
    ssize_t n = -1;
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    while (fp && buf && (n = bgzf_read(fp, buf, READ_BUF)) > 0) {}
    if (fp) bgzf_close(fp);
    hts_set_log_level(lv);
    free(buf);
    return n == 0;
}

static int explain_no_index(const char *path, int comp, int first)
{
    if (comp == 1)
        return ds_err(DS_EFORMAT, "%s: gzip-compressed but not bgzip, so it cannot be indexed; recompress it with "
                      "'zcat %s | bgzip > new.fa.gz' (or decompress it)", path, path);
    if (first == -2 || (comp == 2 && !reads_through(path)))
        return ds_err(DS_EIO, "%s: read error (truncated or corrupt compressed data?)", path);
    if (first == -1) return ds_err(DS_EFORMAT, "%s: empty file, no sequences", path);
    if (first != '>' && first != '@')
        return ds_err(DS_EFORMAT, "%s: not a FASTA file (it does not start with '>')", path);
    return ds_err(DS_EFORMAT, "%s: cannot be indexed (lines of different lengths, or blank lines, within a record?); "
                  "'samtools faidx %s' says where", path, path);
}

static int is_file(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* The index files ds_ref_open hands to htslib. */
typedef struct {
    char fai[4200], gzi[4200];   /* beside the reference, or built under another name */
    char tmp_fai[4200], tmp_gzi[4200], tmp_dir[4096];   /* built here; removed once loaded */
} index_files;

static void remove_temp(index_files *f)
{
    if (f->tmp_fai[0]) unlink(f->tmp_fai);
    if (f->tmp_gzi[0]) unlink(f->tmp_gzi);
    if (f->tmp_dir[0]) rmdir(f->tmp_dir);
    f->tmp_fai[0] = f->tmp_gzi[0] = f->tmp_dir[0] = 0;
}

/* Fresh names for a build: beside the reference (renamed into place after
 * the check, so no half-written or unusable index is ever left there), or
 * in a new $TMPDIR folder when that directory is not writable. */
static int temp_names(const char *path, int bgz, index_files *f)
{
    snprintf(f->tmp_fai, sizeof f->tmp_fai, "%s.fai.XXXXXX", path);
    snprintf(f->tmp_gzi, sizeof f->tmp_gzi, "%s.gzi.XXXXXX", path);
    int a = mkstemp(f->tmp_fai), b = bgz ? mkstemp(f->tmp_gzi) : -1;
    mode_t mask = umask(0);   /* mkstemp makes 0600; an index should be readable as htslib would leave it */
    umask(mask);
    if (a >= 0) { (void)fchmod(a, 0666 & ~mask); close(a); }
    if (b >= 0) { (void)fchmod(b, 0666 & ~mask); close(b); }
    if (a < 0) f->tmp_fai[0] = 0;
    if (b < 0) f->tmp_gzi[0] = 0;
    if (a >= 0 && (b >= 0 || !bgz)) return 0;
    remove_temp(f);
    const char *t = getenv("TMPDIR");
    snprintf(f->tmp_dir, sizeof f->tmp_dir, "%s/derfseq-fai.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(f->tmp_dir)) {
        f->tmp_dir[0] = 0;
        return ds_err_errno(DS_EIO, "%s: cannot write its index beside it nor in %s", path, t && *t ? t : "/tmp");
    }
    snprintf(f->tmp_fai, sizeof f->tmp_fai, "%s/ref.fai", f->tmp_dir);
    if (bgz) snprintf(f->tmp_gzi, sizeof f->tmp_gzi, "%s/ref.gzi", f->tmp_dir);
    return 0;
}

/* A built file moved to its place when that place is free; otherwise the
 * existing file is used (and checked) and the built one dropped, or, when
 * the rename fails, the built one is used for this process only. */
static void install(char *tmp, char *final, int had)
{
    if (had) { unlink(tmp); tmp[0] = 0; return; }
    if (strncmp(tmp, final, strlen(final)) || rename(tmp, final)) {   /* a $TMPDIR file stays there */
        snprintf(final, 4200, "%s", tmp);   /* the temporary one, removed after loading */
        return;
    }
    tmp[0] = 0;
}

/* Builds the missing .fai and/or .gzi with htslib and checks the result
 * (htslib writes an unusable index for some files it cannot really index,
 * e.g. one whose first sequence line holds only blanks). */
static int build_index(const char *path, int comp, int first, int had_fai, int had_gzi, index_files *f)
{
    int bgz = comp == 2, e = temp_names(path, bgz, f);
    if (e) return e;
    if (fai_build3(path, f->tmp_fai, bgz ? f->tmp_gzi : NULL) ||
        ds_faidx_check(path, bgz, first == '@', f->tmp_fai, f->tmp_gzi, f->fai, f->gzi)) {
        remove_temp(f);
        return explain_no_index(path, comp, first);
    }
    install(f->tmp_fai, f->fai, had_fai);
    if (bgz) install(f->tmp_gzi, f->gzi, had_gzi);
    return 0;
}

/* The index checked against the file (ds_faidx_check) and loaded, built
 * first when missing; an existing index that does not fit the file is
 * refused, never rebuilt: it may be someone else's file. */
static int load_index(ds_ref *r, int comp, int first)
{
    index_files f = { 0 };
    int bgz = comp == 2;
    if (strlen(r->path) > 4000) return ds_err(DS_EINVAL, "%.200s...: path too long", r->path);
    snprintf(f.fai, sizeof f.fai, "%s.fai", r->path);
    snprintf(f.gzi, sizeof f.gzi, "%s.gzi", r->path);
    int had_fai = is_file(f.fai), had_gzi = bgz && is_file(f.gzi), e = 0;
    if (!had_fai || (bgz && !had_gzi)) e = build_index(r->path, comp, first, had_fai, had_gzi, &f);
    if (!e && (had_fai || had_gzi)) e = ds_faidx_check(r->path, bgz, first == '@', f.fai, f.gzi, f.fai, f.gzi);
    if (!e) {
        r->fai = fai_load3(r->path, f.fai, bgz ? f.gzi : NULL, 0);
        if (!r->fai) e = ds_err(DS_EIO, "%s: cannot load its index %s", r->path, f.fai);
    }
    r->temp_index = f.tmp_fai[0] || f.tmp_gzi[0];
    remove_temp(&f);
    return e;
}

static int load_lengths(ds_ref *r)
{
    r->n = faidx_nseq(r->fai);
    r->len = malloc(sizeof *r->len * (size_t)(r->n ? r->n : 1));
    r->by_name = malloc(sizeof *r->by_name * (size_t)(r->n ? r->n : 1));
    if (!r->len || !r->by_name) return ds_err(DS_ENOMEM, "out of memory for %d contigs", r->n);
    for (int i = 0; i < r->n; i++) {
        const char *name = faidx_iseq(r->fai, i);
#if HTS_VERSION >= 101800
        r->len[i] = faidx_seq_len64(r->fai, name);
#else
        r->len[i] = faidx_seq_len(r->fai, name);   /* int: contigs up to 2^31-1 bases */
#endif
        if (r->len[i] < 0)
            return ds_err(DS_ENOTSUP, "%s: contig '%s' is too long for this htslib (%s); build derfseq with htslib "
                          ">= 1.18", r->path, name, hts_version());
        r->by_name[i] = i;
    }
    qsort_r(r->by_name, (size_t)r->n, sizeof *r->by_name, cmp_by_name, r->fai);
    return r->n ? 0 : ds_err(DS_EFORMAT, "%s: no sequences in its index", r->path);
}

int ds_ref_open(ds_ref **out, const char *path)
{
    *out = NULL;
    if (access(path, R_OK)) return ds_err_errno(DS_EIO, "%s: cannot open reference", path);
    ds_ref *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) { free(r); return ds_err(DS_ENOMEM, "out of memory"); }
    int first, comp = sniff(path, &first), e;
    if (comp < 0) e = ds_err_errno(DS_EIO, "%s: cannot open reference", path);
    else if (comp == 1 || (first != '>' && first != '@')) e = explain_no_index(path, comp, first);
    else {
        enum htsLogLevel lv = hts_get_log_level();
        hts_set_log_level(HTS_LOG_OFF);   /* failures come back as one derfseq message */
        e = load_index(r, comp, first);
        hts_set_log_level(lv);
    }
    if (!e) e = load_lengths(r);
    if (e) { ds_ref_close(r); return e; }
    if (comp == 2) fai_set_cache_size(r->fai, 8 << 20);   /* neighbouring windows share BGZF blocks */
    *out = r;
    return 0;
}

void ds_ref_close(ds_ref *r)
{
    if (!r) return;
    if (r->fai) fai_destroy(r->fai);
    free(r->len);
    free(r->by_name);
    free(r->path);
    free(r);
}

int ds_ref_ncontigs(const ds_ref *r) { return r->n; }
const char *ds_ref_contig_name(const ds_ref *r, int i) { return faidx_iseq(r->fai, i); }
int64_t ds_ref_contig_len(const ds_ref *r, int i) { return r->len[i]; }
const char *ds_ref_path(const ds_ref *r) { return r->path; }
int ds_ref_index_is_temporary(const ds_ref *r) { return r->temp_index; }
int ds_ref_has_contig(const ds_ref *r, const char *name) { return find_contig(r, name) >= 0; }

/* The name a user probably meant: with or without "chr", or chrM ↔ MT. */
static const char *near_name(const ds_ref *r, const char *name, char *alt, size_t n)
{
    if (!strcmp(name, "chrM") || !strcmp(name, "chrMT")) snprintf(alt, n, "MT");
    else if (!strcmp(name, "MT")) snprintf(alt, n, "chrM");
    else if (!strncmp(name, "chr", 3)) snprintf(alt, n, "%s", name + 3);
    else snprintf(alt, n, "chr%s", name);
    return find_contig(r, alt) >= 0 ? alt : NULL;
}

int ds_ref_contig_index(const ds_ref *r, const char *name)
{
    int i = find_contig(r, name);
    if (i >= 0) return i;
    char alt[256];
    if (near_name(r, name, alt, sizeof alt))
        return ds_err(DS_EINVAL, "unknown contig '%s' in %s (the reference has '%s')", name, r->path, alt);
    return ds_err(DS_EINVAL, "unknown contig '%s' in %s (it has %d contig%s, e.g. '%s')", name, r->path, r->n,
                  r->n == 1 ? "" : "s", faidx_iseq(r->fai, 0));
}

int ds_ref_fetch_i(const ds_ref *r, int c, int64_t beg, int64_t end, char *buf)
{
    const char *name = faidx_iseq(r->fai, c);
    if (beg < 0) return ds_err(DS_EINVAL, "%s: %s [%lld, %lld): start (%lld) is negative", r->path, name,
                               (long long)beg, (long long)end, (long long)beg);
    if (end < beg) return ds_err(DS_EINVAL, "%s: %s [%lld, %lld): end (%lld) < start (%lld)", r->path, name,
                                 (long long)beg, (long long)end, (long long)end, (long long)beg);
    if (end > r->len[c]) return ds_err(DS_EINVAL, "%s: %s [%lld, %lld): end (%lld) is past the contig's end (%lld bp)",
                                       r->path, name, (long long)beg, (long long)end, (long long)end, (long long)r->len[c]);
    if (end == beg) return 0;
    hts_pos_t len = 0;
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);   /* a read error is reported once, below */
    char *s = faidx_fetch_seq64(r->fai, name, beg, end - 1, &len);
    hts_set_log_level(lv);
    if (!s || len != end - beg) {
        free(s);
        return ds_err(DS_EIO, "%s: cannot read %s [%lld, %lld) (corrupt compressed data, or a file changed since it "
                      "was opened?)", r->path, name, (long long)beg, (long long)end);
    }
    memcpy(buf, s, (size_t)len);
    free(s);
    return 0;
}

int ds_ref_fetch(const ds_ref *r, const char *name, int64_t beg, int64_t end, char *buf)
{
    int c = ds_ref_contig_index(r, name);
    return c < 0 ? c : ds_ref_fetch_i(r, c, beg, end, buf);
}

/* ---- reverse complement ---------------------------------------------- */

static const char g_comp[256] = {
    ['A'] = 'T', ['C'] = 'G', ['G'] = 'C', ['T'] = 'A', ['U'] = 'A', ['N'] = 'N',
    ['R'] = 'Y', ['Y'] = 'R', ['K'] = 'M', ['M'] = 'K', ['B'] = 'V', ['V'] = 'B', ['D'] = 'H', ['H'] = 'D',
    ['S'] = 'S', ['W'] = 'W',
    ['a'] = 't', ['c'] = 'g', ['g'] = 'c', ['t'] = 'a', ['u'] = 'a', ['n'] = 'n',
    ['r'] = 'y', ['y'] = 'r', ['k'] = 'm', ['m'] = 'k', ['b'] = 'v', ['v'] = 'b', ['d'] = 'h', ['h'] = 'd',
    ['s'] = 's', ['w'] = 'w',
};

static char complement(char c)
{
    char k = g_comp[(unsigned char)c];
    return k ? k : c;
}

void ds_revcomp(char *s, int64_t n)
{
    for (int64_t i = 0, j = n - 1; i <= j; i++, j--) {
        char a = complement(s[i]), b = complement(s[j]);
        s[i] = b;
        s[j] = a;
    }
}
