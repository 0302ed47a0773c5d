/* GenomicBenchmarks readers for the tree, coordinate and table layouts
 * (gb.h). Coordinate rows are 0-based half-open, '-' is reverse-complemented,
 * and region names are matched with the chr-prefix and transcript-version
 * rules of genomic_benchmarks.md §4.2. */
#include "io/gb.h"
#include "core/error.h"
#include "io/linebuf.h"
#include "io/fasta.h"

#include <dirent.h>
#include <errno.h>
#include <htslib/bgzf.h>
#include <htslib/kstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *ds_gb_layout_name(int l)
{
    return l == DS_GB_TREE ? "tree" : l == DS_GB_COORDS ? "coords" : l == DS_GB_TABLE ? "table" : "auto";
}

int ds_gb_layout_parse(const char *s)
{
    if (!strcmp(s, "tree")) return DS_GB_TREE;
    if (!strcmp(s, "coords")) return DS_GB_COORDS;
    if (!strcmp(s, "table")) return DS_GB_TABLE;
    if (!strcmp(s, "auto")) return DS_GB_AUTO;
    return -1;
}

static int is_dir(const char *p) { struct stat st; return !stat(p, &st) && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return !stat(p, &st) && S_ISREG(st.st_mode); }

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir (no dot files); keep: 1 for directories, 2 for
 * "*.csv"/"*.csv.gz" files, 3 for any regular file. */
static int list_dir(const char *dir, int keep, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return ds_err_errno(DS_EIO, "%s: cannot open directory", dir);
    int cap = 0, r = 0;
    struct dirent *e;
    while (!r && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[8192];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        int ok = keep == 1 ? is_dir(p) : keep == 2 ? is_file(p) && (ends_with(p, ".csv") || ends_with(p, ".csv.gz"))
                                                   : is_file(p);
        if (!ok) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **q = realloc(*out, sizeof *q * (size_t)cap);
            if (!q) { r = ds_err(DS_ENOMEM, "out of memory listing %s", dir); break; }
            *out = q;
        }
        if (!((*out)[*n] = strdup(e->d_name))) { r = ds_err(DS_ENOMEM, "out of memory listing %s", dir); break; }
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return r;
}

static void free_list(char **l, int n)
{
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

int ds_gb_detect(const char *dir, int *layout)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/train", dir);
    if (is_dir(p)) {
        char **l;
        int n, r = list_dir(p, 1, &l, &n);
        free_list(l, n);
        if (r) return r;
        if (n) { *layout = DS_GB_TREE; return 0; }
        r = list_dir(p, 2, &l, &n);
        free_list(l, n);
        if (r) return r;
        if (n) { *layout = DS_GB_COORDS; return 0; }
        return ds_err(DS_EFORMAT, "%s: neither class folders nor <class>.csv[.gz] files", p);
    }
    const char *ext[] = { "csv", "tsv", "csv.gz", "tsv.gz" };
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/train.%s", dir, ext[i]);
        if (is_file(p)) { *layout = DS_GB_TABLE; return 0; }
    }
    return ds_err(DS_EFORMAT, "%s: not a GenomicBenchmarks dataset (expected train/<class>/*.txt, "
                              "train/<class>.csv[.gz] or train.csv|tsv[.gz])", dir);
}

void ds_gb_free(ds_gb_split *s)
{
    for (long i = 0; i < s->n; i++) { free(s->r[i].id); free(s->r[i].seq); }
    free(s->r);
    free(s->warn);
    free_list(s->classes, s->nclass);
    memset(s, 0, sizeof *s);
}

/* The first byte of seq that is not text: a control byte other than tab,
 * CR or LF, DEL, or a byte >= 0x80 (DNA is ASCII; the official loader's
 * UTF-8 read would fail or turn it into [UNK]). -1 when there is none. */
static int64_t binary_at(const char *seq, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)seq[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c >= 0x7F) return i;
    }
    return -1;
}

/* Takes id and seq (freed on error). `where` names the source ("file" or
 * "file:line") for messages: binary bytes are refused, an empty sequence
 * is kept (the official loader takes it: all [PAD]) and counted for a
 * warning. */
static int add_record(ds_gb_split *s, const char *where, char *id, char *seq, int64_t len, int label)
{
    int64_t at = seq ? binary_at(seq, len) : -1;
    int r = !id || !seq ? ds_err(DS_ENOMEM, "%s: out of memory for record %ld", where, s->n + 1)
          : at >= 0 ? ds_err(DS_EFORMAT, "%s: byte 0x%02x at offset %lld of the sequence is not text (expected DNA "
                                         "letters such as A/C/G/T/N; is this a binary file?)",
                             where, (unsigned char)seq[at], (long long)at)
                    : 0;
    if (!r && s->n == s->cap) {
        long cap = s->cap ? 2 * s->cap : 1024;
        ds_gb_record *q = realloc(s->r, sizeof *q * (size_t)cap);
        if (!q) r = ds_err(DS_ENOMEM, "%s: out of memory for %ld records", where, cap);
        else { s->r = q; s->cap = cap; }
    }
    if (r) { free(id); free(seq); return r; }
    if (!len && !s->n_empty++) snprintf(s->first_empty, sizeof s->first_empty, "%s", where);
    s->r[s->n++] = (ds_gb_record){ id, seq, len, label };
    return 0;
}

/* The index of a class name in the (fixed or derived) class list. */
static int class_index(const ds_gb_split *s, const char *name)
{
    for (int i = 0; i < s->nclass; i++)
        if (!strcmp(s->classes[i], name)) return i;
    return -1;
}

/* ---- label maps (gb.h) ---- */

void ds_gb_labels_free(ds_gb_labels *m)
{
    for (int i = 0; i < m->n; i++) { free(m->raw[i]); free(m->name[i]); }
    free(m->raw);
    free(m->name);
    memset(m, 0, sizeof *m);
}

int ds_gb_labels_parse(ds_gb_labels *m, const char *text)
{
    memset(m, 0, sizeof *m);
    char *copy = strdup(text), *save = NULL;
    int r = copy ? 0 : ds_err(DS_ENOMEM, "out of memory");
    for (char *p = copy ? strtok_r(copy, ",", &save) : NULL; !r && p; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');
        if (!eq || eq == p || !eq[1] || strchr(eq + 1, '=')) {
            r = ds_err(DS_EINVAL, "expected RAW=NAME[,RAW=NAME...] (e.g. 0=negative,1=positive), got '%s' in '%s'", p, text);
            break;
        }
        *eq = 0;
        for (int i = 0; !r && i < m->n; i++)
            if (!strcmp(m->raw[i], p) || !strcmp(m->name[i], eq + 1))
                r = ds_err(DS_EINVAL, "'%s' is named twice, or two labels are named '%s', in '%s'", p, eq + 1, text);
        char **a = r ? NULL : realloc(m->raw, sizeof *a * (size_t)(m->n + 1));
        if (a) m->raw = a;
        char **b = a ? realloc(m->name, sizeof *b * (size_t)(m->n + 1)) : NULL;
        if (b) m->name = b;
        if (!r && (!a || !b || !(m->raw[m->n] = strdup(p)) || !(m->name[m->n] = strdup(eq + 1)))) {
            if (a && b) free(m->raw[m->n]);
            r = ds_err(DS_ENOMEM, "out of memory for the label map");
        }
        if (!r) m->n++;
    }
    if (!r && !m->n) r = ds_err(DS_EINVAL, "expected RAW=NAME[,RAW=NAME...] (e.g. 0=negative,1=positive), got '%s'", text);
    free(copy);
    if (r) ds_gb_labels_free(m);
    return r;
}

/* The class name of a raw label (a table value, a folder or file name):
 * itself without a map, else its name in the map (NULL when it has none). */
static const char *mapped(const ds_gb_split *s, const char *raw)
{
    if (!s->map) return raw;
    for (int i = 0; i < s->map->n; i++)
        if (!strcmp(s->map->raw[i], raw)) return s->map->name[i];
    return NULL;
}

/* The class index of raw label `raw` found at `where`; noun: "class" or
 * "label" for the message. */
static int label_of(const ds_gb_split *s, const char *where, const char *noun, const char *raw, int *label)
{
    const char *name = mapped(s, raw);
    if (!name) return ds_err(DS_EFORMAT, "%s: %s '%s' has no name in the label map (--labels)", where, noun, raw);
    if ((*label = class_index(s, name)) >= 0) return 0;
    return ds_err(DS_EFORMAT, "%s: %s '%s' is not one of the model's classes", where, noun, name);
}

static int set_classes(ds_gb_split *s, char *const *names, int n);

/* Classes derived from the data's raw labels, through the label map. */
static int derive_classes(ds_gb_split *s, const char *where, char *const *raw, int n)
{
    char **names = malloc(sizeof *names * (size_t)(n > 0 ? n : 1));
    if (!names) return ds_err(DS_ENOMEM, "out of memory for %d class names", n);
    int r = 0;
    for (int i = 0; !r && i < n; i++)
        if (!(names[i] = (char *)mapped(s, raw[i])))
            r = ds_err(DS_EFORMAT, "%s: label '%s' has no name in the label map (--labels)", where, raw[i]);
    if (!r) r = set_classes(s, names, n);
    free(names);
    return r;
}

static int set_classes(ds_gb_split *s, char *const *names, int n)
{
    s->classes = calloc(n > 0 ? (size_t)n : 1, sizeof *s->classes);
    if (!s->classes) return ds_err(DS_ENOMEM, "out of memory for %d class names", n);
    s->nclass = n;
    for (int i = 0; i < n; i++)
        if (!(s->classes[i] = strdup(names[i]))) return ds_err(DS_ENOMEM, "out of memory for %d class names", n);
    if (n > 1) qsort(s->classes, (size_t)n, sizeof *s->classes, cmp_str);
    return 0;
}

/* Reads a whole small file into a string (trailing whitespace dropped). */
static int slurp(const char *path, char **out, int64_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", path);
    kstring_t s = { 0, 0, NULL };
    char buf[65536];
    size_t k;
    int oom = 0;
    while (!oom && (k = fread(buf, 1, sizeof buf, fp)) > 0) oom = kputsn(buf, k, &s) < 0;
    int bad = ferror(fp);
    fclose(fp);
    if (bad) { free(s.s); return ds_err_errno(DS_EIO, "%s: read error", path); }
    if (oom || (!s.s && kputs("", &s) < 0)) { free(s.s); return ds_err(DS_ENOMEM, "%s: out of memory reading the sequence", path); }
    while (s.l && (s.s[s.l - 1] == '\n' || s.s[s.l - 1] == '\r' || s.s[s.l - 1] == ' ')) s.l--;
    s.s[s.l] = 0;
    *out = s.s;
    *len = (int64_t)s.l;
    return 0;
}

static int read_tree(ds_gb_split *s, const char *dir, int fixed)
{
    char **cls;
    int nc, r = list_dir(dir, 1, &cls, &nc);
    if (!r && !nc) r = ds_err(DS_EFORMAT, "%s: no class folders", dir);
    if (!r && !fixed) r = derive_classes(s, dir, cls, nc);
    for (int c = 0; !r && c < nc; c++) {
        int label;
        char cdir[8192];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, cls[c]);
        if ((r = label_of(s, cdir, "class", cls[c], &label))) break;
        char **files;
        int nf;
        /* an empty class folder is kept, as the official loader keeps it
         * (a class index without sequences); ds_gb_read decides if that
         * leaves enough classes */
        r = list_dir(cdir, 3, &files, &nf);
        for (int f = 0; !r && f < nf; f++) {
            char path[16384], *seq = NULL, id[4096];
            int64_t len = 0;
            snprintf(path, sizeof path, "%s/%s", cdir, files[f]);
            if ((r = slurp(path, &seq, &len))) break;
            snprintf(id, sizeof id, "%s/%.*s", s->classes[label], (int)(ends_with(files[f], ".txt") ? strlen(files[f]) - 4 : strlen(files[f])), files[f]);
            r = add_record(s, path, strdup(id), seq, len, label);
        }
        free_list(files, nf);
    }
    free_list(cls, nc);
    return r;
}

/* Region name → reference contig: exact, then without/with "chr", chrM/chrMT
 * ↔ MT / mitochondrion_genome, then a versionless transcript id against the
 * reference's versioned names (genomic_benchmarks.md §4.2). */
static const char *resolve_contig(const ds_ref *ref, const char *name, char *buf, size_t n)
{
    if (ds_ref_has_contig(ref, name)) return name;
    const char *bare = !strncmp(name, "chr", 3) ? name + 3 : NULL;
    if (bare && ds_ref_has_contig(ref, bare)) return bare;
    snprintf(buf, n, "chr%s", name);
    if (!bare && ds_ref_has_contig(ref, buf)) return buf;
    if (!strcmp(name, "chrM") || !strcmp(name, "chrMT")) {
        if (ds_ref_has_contig(ref, "MT")) return "MT";
        if (ds_ref_has_contig(ref, "mitochondrion_genome")) return "mitochondrion_genome";
    }
    size_t k = strlen(name);
    for (int i = 0; i < ds_ref_ncontigs(ref); i++) {
        const char *c = ds_ref_contig_name(ref, i);
        if (!strncmp(c, name, k) && c[k] == '.') return c;
    }
    return NULL;
}

/* Lines of a coords or table file, bounded (io/linebuf.h): a newline-free
 * or endless file is refused instead of filling memory, and a truncated
 * gzip is an error, not a quiet end of the data. 1 with the line in ks, 0 at
 * the end or (with *r set) on an error. */
#define GB_MAX_LINE (16u << 20)
static int next_line(ds_linebuf *lb, kstring_t *ks, const char *path, int line, int *r)
{
    int g = ds_linebuf_get(lb, ks, GB_MAX_LINE, GB_MAX_LINE);
    if (g == DS_LINE_OK) return 1;
    if (g == DS_LINE_ETOOLONG)
        *r = ds_err(DS_EFORMAT, "%s:%d: a line longer than %u MiB (not a GenomicBenchmarks file?)", path, line + 1,
                    GB_MAX_LINE >> 20);
    else if (g == DS_LINE_EREAD)
        *r = ds_err(DS_EIO, "%s: read error after line %d (truncated or corrupt compressed data?)", path, line);
    else if (g == DS_LINE_ENOMEM)
        *r = ds_err(DS_ENOMEM, "%s:%d: out of memory for a line", path, line + 1);
    return 0;
}

/* Splits a line in place on `sep`; returns the number of fields. */
static int split_fields(char *s, char sep, char **f, int max)
{
    int n = 0;
    for (char *p = s; n < max;) {
        f[n++] = p;
        char *q = strchr(p, sep);
        if (!q) break;
        *q = 0;
        p = q + 1;
    }
    return n;
}

static int coord_row(ds_gb_split *s, const ds_ref *ref, const char *path, int line, char *text, int label,
                     const char *cls)
{
    char *f[8];
    int n = split_fields(text, ',', f, 8);
    if (n != 5) return ds_err(DS_EFORMAT, "%s:%d: expected 5 columns id,region,start,end,strand, got %d", path, line, n);
    char *e1, *e2;
    long long beg = strtoll(f[2], &e1, 10), end = strtoll(f[3], &e2, 10);
    if (!*f[2] || *e1 || !*f[3] || *e2 || beg < 0 || end < 0)
        return ds_err(DS_EFORMAT, "%s:%d: start '%s' and end '%s' must be non-negative integers", path, line, f[2], f[3]);
    if (end < beg) return ds_err(DS_EFORMAT, "%s:%d: start (%lld) > end (%lld)", path, line, beg, end);
    char buf[512];
    const char *contig = resolve_contig(ref, f[1], buf, sizeof buf);
    if (!contig) return ds_err(DS_EFORMAT, "%s:%d: region '%s' is not in the reference %s (also tried the chr-prefix "
                                           "and transcript-version rules)", path, line, f[1], ds_ref_path(ref));
    int64_t clen = ds_ref_contig_len(ref, ds_ref_contig_index(ref, contig));
    if (end > clen)   /* before allocating end - beg bytes, which a bad row can make exabytes */
        return ds_err(DS_EFORMAT, "%s:%d: end (%lld) is past the end of '%s' (%lld bp in %s)", path, line, end, contig,
                      (long long)clen, ds_ref_path(ref));
    char *seq = malloc((size_t)(end - beg) + 1);
    if (!seq) return ds_err(DS_ENOMEM, "%s:%d: out of memory for a %lld-base region", path, line, end - beg);
    int r = ds_ref_fetch(ref, contig, beg, end, seq);
    if (r) { free(seq); return ds_err(DS_EFORMAT, "%s:%d: %s", path, line, ds_errmsg()); }
    seq[end - beg] = 0;
    /* GB builds its sequences from unmasked (upper-case) Ensembl FASTA; a
     * soft-masked reference such as UCSC hg38 gives the same sequences only
     * once upper-cased */
    for (int64_t i = 0; i < end - beg; i++)
        if (seq[i] >= 'a' && seq[i] <= 'z') seq[i] = (char)(seq[i] - 'a' + 'A');
    if (!strcmp(f[4], "-")) ds_revcomp(seq, end - beg);   /* '+', '' (pandas NaN) or anything else: forward */
    char id[600], where[8300];
    if (snprintf(id, sizeof id, "%s/%s", cls, f[0]) >= (int)sizeof id) id[sizeof id - 1] = 0;
    snprintf(where, sizeof where, "%s:%d", path, line);
    return add_record(s, where, strdup(id), seq, end - beg, label);
}

static int read_coords(ds_gb_split *s, const char *dir, const char *refpath, int fixed)
{
    if (!refpath) return ds_err(DS_EINVAL, "%s: the coordinate layout needs --ref FASTA (the genome the CSVs point into)", dir);
    ds_ref *ref;
    int r = ds_ref_open(&ref, refpath);
    if (r) return r;
    char **files;
    int nf;
    r = list_dir(dir, 2, &files, &nf);
    if (!r && !nf) r = ds_err(DS_EFORMAT, "%s: no <class>.csv[.gz] files", dir);
    if (!r && !fixed) {
        for (int i = 0; i < nf; i++) *strstr(files[i], ".csv") = 0;   /* class names */
        r = derive_classes(s, dir, files, nf);
        for (int i = 0; i < nf; i++) files[i][strlen(files[i])] = '.';
    }
    kstring_t ks = { 0, 0, NULL };
    for (int i = 0; !r && i < nf; i++) {
        char cls[1024], path[8192];
        snprintf(cls, sizeof cls, "%.*s", (int)(strstr(files[i], ".csv") - files[i]), files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int label;
        if ((r = label_of(s, path, "class", cls, &label))) break;
        BGZF *fp = bgzf_open(path, "r");
        if (!fp) { r = ds_err_errno(DS_EIO, "%s: cannot open", path); break; }
        ds_linebuf lb;
        if (ds_linebuf_init(&lb, fp)) { bgzf_close(fp); r = ds_err(DS_ENOMEM, "%s: out of memory", path); break; }
        int line = 0;
        while (!r && next_line(&lb, &ks, path, line, &r)) {
            line++;
            if (ks.l && ks.s[ks.l - 1] == '\r') ks.s[--ks.l] = 0;
            if (line == 1) {
                if (strcmp(ks.s, "id,region,start,end,strand"))
                    r = ds_err(DS_EFORMAT, "%s:1: expected the header id,region,start,end,strand", path);
                continue;
            }
            if (!ks.l) continue;
            r = coord_row(s, ref, path, line, ks.s, label, s->classes[label]);
        }
        ds_linebuf_free(&lb);
        bgzf_close(fp);   /* a class may have no rows in a subset; an empty split is caught by the caller */
    }
    free(ks.s);
    free_list(files, nf);
    ds_ref_close(ref);
    return r;
}

static int find_table(const char *dir, const char *split, char *path, size_t n, char *sep)
{
    const char *ext[] = { "csv", "tsv", "csv.gz", "tsv.gz" };
    for (int i = 0; i < 4; i++) {
        snprintf(path, n, "%s/%s.%s", dir, split, ext[i]);
        if (is_file(path)) { *sep = ext[i][0] == 't' ? '\t' : ','; return 0; }
    }
    return ds_err(DS_EIO, "%s: no %s.csv, %s.tsv (or .gz)", dir, split, split);
}

/* Table layout: header with "sequence" and "label" (and optionally "id");
 * derived classes are the sorted distinct labels, so the file is read
 * twice when deriving. */
static int read_table(ds_gb_split *s, const char *dir, const char *split, int fixed)
{
    char path[4096], sep = ',';
    int r = find_table(dir, split, path, sizeof path, &sep);
    if (r) return r;
    for (int pass = fixed ? 1 : 0; pass < 2 && !r; pass++) {
        BGZF *fp = bgzf_open(path, "r");
        if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", path);
        ds_linebuf lb;
        if (ds_linebuf_init(&lb, fp)) { bgzf_close(fp); return ds_err(DS_ENOMEM, "%s: out of memory", path); }
        kstring_t ks = { 0, 0, NULL };
        int line = 0, cs = -1, cl = -1, ci = -1, ncol = 0, nlab = 0;
        char **labels = NULL;
        while (!r && next_line(&lb, &ks, path, line, &r)) {
            line++;
            if (ks.l && ks.s[ks.l - 1] == '\r') ks.s[--ks.l] = 0;
            char *f[64];
            int n = split_fields(ks.s, sep, f, 64);
            if (line == 1) {
                ncol = n;
                for (int i = 0; i < n; i++) {
                    if (!strcmp(f[i], "sequence") || !strcmp(f[i], "seq")) cs = i;
                    if (!strcmp(f[i], "label") || !strcmp(f[i], "class")) cl = i;
                    if (!strcmp(f[i], "id") || !strcmp(f[i], "name")) ci = i;
                }
                if (cs < 0 || cl < 0) r = ds_err(DS_EFORMAT, "%s:1: expected a header with 'sequence' and 'label' columns", path);
                continue;
            }
            if (!ks.l) continue;
            if (n != ncol) { r = ds_err(DS_EFORMAT, "%s:%d: expected %d columns, got %d", path, line, ncol, n); break; }
            if (pass == 0) {
                int seen = 0;
                for (int i = 0; i < nlab && !seen; i++) seen = !strcmp(labels[i], f[cl]);
                char **q = seen ? labels : realloc(labels, sizeof *labels * (size_t)(nlab + 1));
                if (q) labels = q;
                if (!seen && (!q || !(labels[nlab] = strdup(f[cl]))))
                    r = ds_err(DS_ENOMEM, "%s:%d: out of memory for the class names", path, line);
                else if (!seen) nlab++;
                continue;
            }
            int label;
            char id[600], where[4200], num[16];
            snprintf(where, sizeof where, "%s:%d", path, line);
            if ((r = label_of(s, where, "label", f[cl], &label))) break;
            snprintf(num, sizeof num, "%d", line);
            if (snprintf(id, sizeof id, "%s/%s", s->classes[label], ci >= 0 ? f[ci] : num) >= (int)sizeof id)
                id[sizeof id - 1] = 0;
            r = add_record(s, where, strdup(id), strdup(f[cs]), (int64_t)strlen(f[cs]), label);
        }
        free(ks.s);
        ds_linebuf_free(&lb);
        bgzf_close(fp);
        if (pass == 0 && !r) r = nlab ? derive_classes(s, path, labels, nlab) : ds_err(DS_EFORMAT, "%s: no rows", path);
        free_list(labels, nlab);
    }
    return r;
}

/* Classes without sequences are what the official loader accepts (a class
 * file or folder with no rows), so they only warn; but a split whose
 * classes are derived, i.e. one a classifier is trained on, needs two
 * classes that have sequences. Builds s->warn. */
static int check_classes(ds_gb_split *s, const char *dir, const char *split, int training)
{
    long *count = calloc((size_t)s->nclass, sizeof *count);
    if (!count) return ds_err(DS_ENOMEM, "%s: out of memory for %d class counts", dir, s->nclass);
    for (long i = 0; i < s->n; i++) count[s->r[i].label]++;
    kstring_t empty = { 0, 0, NULL }, w = { 0, 0, NULL };
    int with = 0, first = -1;
    for (int c = 0; c < s->nclass; c++) {
        if (count[c] && !with++) first = c;
        if (!count[c]) ksprintf(&empty, "%s'%s'", empty.l ? ", " : "", s->classes[c]);
    }
    int r = 0;
    if (training && with < 2)
        r = ds_err(DS_EFORMAT, "%s: the %s split has sequences of one class only ('%s'%s%s%s); a classifier needs at "
                               "least two classes with sequences", dir, split, s->classes[first],
                   empty.l ? "; no sequences in " : "", empty.l ? empty.s : "", empty.l ? "" : ", no other class");
    if (!r && empty.l) ksprintf(&w, "%s: %s split: no sequences in class %s", dir, split, empty.s);
    if (!r && s->n_empty)
        ksprintf(&w, "%s%ld empty sequence%s (first: %s), read as all [PAD]", w.l ? "; " : "", s->n_empty,
                 s->n_empty > 1 ? "s" : "", s->first_empty);
    free(empty.s);
    free(count);
    if (r) { free(w.s); return r; }
    s->warn = w.s;
    return 0;
}

int ds_gb_read(ds_gb_split *s, const char *dir, const char *split, int layout, const char *ref,
               char *const *classes, int nclass)
{
    return ds_gb_read_labels(s, dir, split, layout, ref, classes, nclass, NULL);
}

int ds_gb_read_labels(ds_gb_split *s, const char *dir, const char *split, int layout, const char *ref,
                      char *const *classes, int nclass, const ds_gb_labels *map)
{
    memset(s, 0, sizeof *s);
    s->map = map && map->n ? map : NULL;
    int r = layout == DS_GB_AUTO ? ds_gb_detect(dir, &layout) : 0;
    if (r) return r;
    s->layout = layout;
    if (classes && (r = set_classes(s, classes, nclass))) return r;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", dir, split);
    if (layout != DS_GB_TABLE && !is_dir(sub)) { ds_gb_free(s); return ds_err(DS_EIO, "%s: no such directory", sub); }
    r = layout == DS_GB_TREE ? read_tree(s, sub, classes != NULL)
      : layout == DS_GB_COORDS ? read_coords(s, sub, ref, classes != NULL)
                               : read_table(s, dir, split, classes != NULL);
    if (!r && !s->n) r = ds_err(DS_EFORMAT, "%s: no sequences in the %s split", dir, split);
    if (!r) r = check_classes(s, dir, split, classes == NULL);
    if (r) ds_gb_free(s);
    else s->layout = layout;
    s->map = NULL;   /* the caller's; not kept past the read */
    return r;
}
