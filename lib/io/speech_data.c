/* Utterance lists from audio files, directories, LibriSpeech trees, fairseq
 * manifests, transcript TSVs and stdin path lists (speech_data.h). Text files are read
 * through htslib BGZF lines with a length bound (io/linebuf.h), so a binary
 * or endless file passed by mistake is an error, not unbounded memory. */
#define _GNU_SOURCE   /* qsort_r */
#include "io/speech_data.h"

#include "core/error.h"
#include "io/audio.h"
#include "io/linebuf.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <htslib/bgzf.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEECH_MAX_LINE (1u << 20)    /* a transcript or manifest line */
#define SPEECH_MAX_DEPTH 64           /* directory levels (symlink loops end here) */

static int oom(void) { return ds_err(DS_ENOMEM, "out of memory listing utterances"); }

static int is_dir(const char *p) { struct stat st; return !stat(p, &st) && S_ISDIR(st.st_mode); }

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int is_audio_name(const char *name)
{
    static const char *ext[] = {"wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc",
                                "au", "snd", "caf", "w64", "rf64"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

static int is_trans_name(const char *name) { return !strcmp(name, "trans.txt") || ends_with(name, ".trans.txt"); }

/* ---- the list ---------------------------------------------------------- */

static const char *intern_src(ds_speech_list *l, const char *src)
{
    for (int i = 0; i < l->nsrc; i++)
        if (!strcmp(l->srcs[i], src)) return l->srcs[i];
    char **s = realloc(l->srcs, sizeof *s * (size_t)(l->nsrc + 1));
    if (!s) return NULL;
    l->srcs = s;
    return (s[l->nsrc] = strdup(src)) ? s[l->nsrc++] : NULL;
}

/* Appends an utterance, copying the strings (text and trans may be NULL). */
static int push(ds_speech_list *l, const char *path, const char *id, const char *text, const char *trans,
                const char *src, long line, long n_samples)
{
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 256;
        ds_utt *u = realloc(l->u, sizeof *u * (size_t)cap);
        if (!u) return oom();
        l->u = u;
        l->cap = cap;
    }
    ds_utt *u = &l->u[l->n];
    memset(u, 0, sizeof *u);
    u->path = strdup(path);
    u->id = strdup(id);
    u->text = text ? strdup(text) : NULL;
    u->trans = trans ? strdup(trans) : NULL;
    u->src = src ? intern_src(l, src) : NULL;
    u->line = line;
    u->n_samples = n_samples;
    if (!u->path || !u->id || (text && !u->text) || (trans && !u->trans) || (src && !u->src)) {
        free(u->path); free(u->id); free(u->text); free(u->trans);
        return oom();
    }
    l->n++;
    return 0;
}

void ds_speech_free(ds_speech_list *l)
{
    for (long i = 0; i < l->n; i++) {
        free(l->u[i].path); free(l->u[i].id); free(l->u[i].text); free(l->u[i].trans);
    }
    free(l->u);
    for (int i = 0; i < l->nsrc; i++) free(l->srcs[i]);
    free(l->srcs);
    free(l->warn);
    memset(l, 0, sizeof *l);
}

/* ---- text lines ---------------------------------------------------------- */

typedef struct {
    BGZF *fp;
    ds_linebuf lb;
    kstring_t s;
    const char *name;
    long line;
} lines_t;

static int lines_open(lines_t *t, const char *path, const char *name)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    if (!strcmp(path, "-")) {
        int fd = dup(STDIN_FILENO);   /* closing the reader leaves stdin open */
        t->fp = fd < 0 ? NULL : bgzf_dopen(fd, "r");
        if (!t->fp && fd >= 0) close(fd);
    } else {
        t->fp = bgzf_open(path, "r");
    }
    hts_set_log_level(lv);
    if (!t->fp) return ds_err_errno(DS_EIO, "%s: cannot open", name);
    if (ds_linebuf_init(&t->lb, t->fp)) { bgzf_close(t->fp); t->fp = NULL; return oom(); }
    return 0;
}

static void lines_close(lines_t *t)
{
    if (t->fp) { ds_linebuf_free(&t->lb); bgzf_close(t->fp); }
    free(t->s.s);
    memset(t, 0, sizeof *t);
}

/* 1 with the next line in t->s.s (CR and a UTF-8 BOM removed), 0 at the end,
 * or a negative error. */
static int lines_next(lines_t *t)
{
    int g = ds_linebuf_get(&t->lb, &t->s, SPEECH_MAX_LINE, SPEECH_MAX_LINE);
    if (g == DS_LINE_EOF) return 0;
    if (g == DS_LINE_ETOOLONG)
        return ds_err(DS_EFORMAT, "%s:%ld: a line longer than %u KiB (not a text file?)", t->name, t->line + 1,
                      SPEECH_MAX_LINE >> 10);
    if (g == DS_LINE_EREAD) return ds_err(DS_EIO, "%s: read error after line %ld", t->name, t->line);
    if (g != DS_LINE_OK) return oom();
    t->line++;
    char *s = t->s.s;
    size_t n = t->s.l;
    if (n && s[n - 1] == '\r') s[--n] = 0;
    if (t->line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) memmove(s, s + 3, (n -= 3) + 1);
    t->s.l = n;
    if (memchr(s, 0, n)) return ds_err(DS_EFORMAT, "%s:%ld: a NUL byte (not a text file?)", t->name, t->line);
    return 1;
}

/* ---- directories and LibriSpeech trees ----------------------------------- */

typedef struct { char **v; long n, cap; } strvec;

static int strvec_push(strvec *s, const char *x)
{
    if (s->n == s->cap) {
        long cap = s->cap ? 2 * s->cap : 256;
        char **v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) return oom();
        s->v = v;
        s->cap = cap;
    }
    return (s->v[s->n] = strdup(x)) ? (s->n++, 0) : oom();
}

static void strvec_free(strvec *s)
{
    for (long i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Audio files and transcript files below dir. */
static int walk(const char *dir, int depth, strvec *audio, strvec *trans)
{
    if (depth > SPEECH_MAX_DEPTH) return ds_err(DS_EINVAL, "%s: more than %d directory levels", dir, SPEECH_MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d) return ds_err_errno(DS_EIO, "%s: cannot open directory", dir);
    int r = 0;
    struct dirent *e;
    kstring_t p = {0};
    while (!r && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        p.l = 0;
        if (ksprintf(&p, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", e->d_name) < 0) { r = oom(); break; }
        struct stat st;
        if (stat(p.s, &st)) continue;   /* a dangling link is no input */
        if (S_ISDIR(st.st_mode)) r = walk(p.s, depth + 1, audio, trans);
        else if (!S_ISREG(st.st_mode)) continue;
        else if (is_trans_name(e->d_name)) r = strvec_push(trans, p.s);
        else if (is_audio_name(e->d_name)) r = strvec_push(audio, p.s);
    }
    free(p.s);
    closedir(d);
    return r;
}

/* One transcript line, keyed "DIR/ID" (the audio file's path without its
 * extension), so the lookup for an audio file is one binary search. */
typedef struct {
    char *key;
    char *text;
    const char *file;
    long line;
    int used;
} trans_line;

typedef struct { trans_line *v; long n, cap; } trans_table;

static int cmp_trans(const void *a, const void *b) { return strcmp(((const trans_line *)a)->key, ((const trans_line *)b)->key); }

static void dirname_len(const char *path, size_t *n)
{
    const char *s = strrchr(path, '/');
    *n = s ? (size_t)(s - path) : 0;
}

static int trans_read(trans_table *t, const char *path)
{
    lines_t in;
    int r = lines_open(&in, path, path), g;
    if (r) return r;
    size_t dl;
    dirname_len(path, &dl);
    while ((g = lines_next(&in)) == 1) {
        char *s = in.s.s;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) continue;
        char *sep = s + strcspn(s, " \t");
        char *text = sep;
        if (*sep) { *sep = 0; text = sep + 1; }
        while (*text == ' ' || *text == '\t') text++;
        for (size_t k = strlen(text); k && (text[k - 1] == ' ' || text[k - 1] == '\t'); k--) text[k - 1] = 0;
        if (t->n == t->cap) {
            long cap = t->cap ? 2 * t->cap : 1024;
            trans_line *v = realloc(t->v, sizeof *v * (size_t)cap);
            if (!v) { r = oom(); break; }
            t->v = v;
            t->cap = cap;
        }
        trans_line *x = &t->v[t->n];
        memset(x, 0, sizeof *x);
        kstring_t k = {0};
        if (dl) kputsn(path, dl, &k), kputc('/', &k);
        kputs(s, &k);
        x->key = k.s;
        x->text = strdup(text);
        x->file = path;
        x->line = in.line;
        if (!x->key || !x->text) { free(x->key); free(x->text); r = oom(); break; }
        t->n++;
    }
    if (g < 0) r = g;
    lines_close(&in);
    return r;
}

static void trans_free(trans_table *t)
{
    for (long i = 0; i < t->n; i++) { free(t->v[i].key); free(t->v[i].text); }
    free(t->v);
}

/* Where the line of an audio file without one belongs: <spk>-<chapter>.trans.txt
 * for a LibriSpeech name, else the directory's trans.txt. */
static void expected_trans(const char *path, const char *stem, kstring_t *out)
{
    size_t dl;
    dirname_len(path, &dl);
    out->l = 0;
    if (dl) kputsn(path, dl, out), kputc('/', out);
    const char *last = strrchr(stem, '-');
    if (last && last != stem && memchr(stem, '-', (size_t)(last - stem))) {
        kputsn(stem, (size_t)(last - stem), out);
        kputs(".trans.txt", out);
    } else {
        kputs("trans.txt", out);
    }
}

static void add_warn(ds_speech_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_librispeech(ds_speech_list *l, strvec *audio, strvec *trans)
{
    trans_table t = {0};
    int r = 0;
    for (long i = 0; !r && i < trans->n; i++) r = trans_read(&t, trans->v[i]);
    if (!r && t.n) qsort(t.v, (size_t)t.n, sizeof *t.v, cmp_trans);
    for (long i = 1; !r && i < t.n; i++)
        if (!strcmp(t.v[i].key, t.v[i - 1].key)) {
            const char *id = strrchr(t.v[i].key, '/');
            r = ds_err(DS_EFORMAT, "%s:%ld: utterance %s already has a line at %s:%ld", t.v[i].file, t.v[i].line,
                       id ? id + 1 : t.v[i].key, t.v[i - 1].file, t.v[i - 1].line);
        }
    kstring_t key = {0}, exp = {0};
    for (long i = 0; !r && i < audio->n; i++) {
        const char *p = audio->v[i], *base = strrchr(p, '/');
        base = base ? base + 1 : p;
        size_t stem_len = (size_t)(strrchr(base, '.') - base);
        key.l = 0;
        kputsn(p, (size_t)(base - p) + stem_len, &key);
        char *stem = key.s + (base - p);
        trans_line probe = {.key = key.s}, *hit = t.n ? bsearch(&probe, t.v, (size_t)t.n, sizeof *t.v, cmp_trans) : NULL;
        if (hit) {
            hit->used = 1;
            r = push(l, p, stem, hit->text, hit->file, NULL, 0, -1);
        } else {
            expected_trans(p, stem, &exp);
            r = push(l, p, stem, NULL, exp.s, NULL, 0, -1);
            if (!r && !l->n_untranscribed++)
                add_warn(l, "%s: utterance %s has no line in %s", p, stem, exp.s);
        }
    }
    for (long i = 0; !r && i < t.n; i++)
        if (!t.v[i].used && !l->n_orphan_lines++) {
            const char *id = strrchr(t.v[i].key, '/');
            add_warn(l, "%s:%ld: transcript of %s has no audio file beside it (ignored)", t.v[i].file, t.v[i].line,
                     id ? id + 1 : t.v[i].key);
        }
    free(key.s);
    free(exp.s);
    trans_free(&t);
    return r;
}

static int add_dir(ds_speech_list *l, const char *dir)
{
    strvec audio = {0}, trans = {0};
    int r = walk(dir, 0, &audio, &trans);
    if (!r && !audio.n) r = ds_err(DS_EFORMAT, "%s: no audio files (.wav .flac .ogg .mp3 ...) in this directory", dir);
    if (!r) {
        qsort(audio.v, (size_t)audio.n, sizeof *audio.v, cmp_str);
        if (trans.n) {
            qsort(trans.v, (size_t)trans.n, sizeof *trans.v, cmp_str);
            r = add_librispeech(l, &audio, &trans);
        } else {
            for (long i = 0; !r && i < audio.n; i++) r = push(l, audio.v[i], audio.v[i], NULL, NULL, NULL, 0, -1);
        }
    }
    strvec_free(&audio);
    strvec_free(&trans);
    return r;
}

/* ---- fairseq manifests ------------------------------------------------- */

static int parse_count(const char *s, long *v)
{
    if (!*s) return -1;
    long x = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || x > (INT32_MAX - 9) / 10) return -1;
        x = 10 * x + (*p - '0');
    }
    *v = x;
    return x > 0 ? 0 : -1;
}

static int read_wrd(ds_speech_list *l, const char *wrd, const char *tsv, long first, long count)
{
    lines_t in;
    int r = lines_open(&in, wrd, wrd), g;
    if (r) return r;
    long k = 0;
    while ((g = lines_next(&in)) == 1) {
        if (k == count) {
            r = ds_err(DS_EFORMAT, "%s:%ld: more lines than the %ld utterances of %s", wrd, in.line, count, tsv);
            break;
        }
        char *text = strdup(in.s.s);
        if (!text) { r = oom(); break; }
        l->u[first + k++].text = text;
    }
    if (g < 0) r = g;
    if (!r && k < count) r = ds_err(DS_EFORMAT, "%s: %ld lines for the %ld utterances of %s", wrd, k, count, tsv);
    lines_close(&in);
    return r;
}

static int add_manifest(ds_speech_list *l, const char *path)
{
    lines_t in;
    int r = lines_open(&in, path, path), g;
    if (r) return r;
    kstring_t root = {0}, full = {0};
    long first = l->n;
    if ((g = lines_next(&in)) != 1 || !in.s.l)
        r = g < 0 ? g : ds_err(DS_EFORMAT, "%s:1: expected the root directory of a fairseq manifest", path);
    else if (kputs(in.s.s, &root) < 0)
        r = oom();
    else if (!is_dir(root.s))
        r = ds_err(DS_EFORMAT, "%s:1: root directory %s does not exist", path, root.s);
    while (!r && (g = lines_next(&in)) == 1) {
        char *s = in.s.s, *tab = strchr(s, '\t');
        long ns;
        if (!tab)
            r = ds_err(DS_EFORMAT, "%s:%ld: expected RELPATH<TAB>N_SAMPLES, got %s", path, in.line,
                       in.s.l ? "no TAB" : "an empty line");
        else if (tab == s)
            r = ds_err(DS_EFORMAT, "%s:%ld: expected RELPATH<TAB>N_SAMPLES, got an empty RELPATH", path, in.line);
        else if (strchr(tab + 1, '\t'))
            r = ds_err(DS_EFORMAT, "%s:%ld: expected RELPATH<TAB>N_SAMPLES, got more than 2 fields", path, in.line);
        else if (*tab = 0, parse_count(tab + 1, &ns))
            r = ds_err(DS_EFORMAT, "%s:%ld: N_SAMPLES '%.40s' is not a positive sample count", path, in.line, tab + 1);
        else {
            full.l = 0;
            if (s[0] != '/') kputs(root.s, &full), kputs(ends_with(root.s, "/") ? "" : "/", &full);
            kputs(s, &full);
            r = full.s ? push(l, full.s, s, NULL, NULL, path, in.line, ns) : oom();
        }
    }
    if (!r && g < 0) r = g;
    if (!r && l->n == first) r = ds_err(DS_EFORMAT, "%s: a manifest without utterances", path);
    lines_close(&in);
    if (!r) {
        full.l = 0;
        kputsn(path, strlen(path) - 4, &full);
        kputs(".wrd", &full);
        struct stat st;
        if (!stat(full.s, &st)) r = read_wrd(l, full.s, path, first, l->n - first);
    }
    free(root.s);
    free(full.s);
    return r;
}

/* ---- transcript TSVs ----------------------------------------------------- */

static int is_blank(const char *s) { return !s[strspn(s, " \t")]; }

static int is_transcript_header(const char *s)
{
    return !strcasecmp(s, "path\ttranscript") || !strcasecmp(s, "path\ttext");
}

/* PATH<TAB>TRANSCRIPT lines (speech_data.h); PATH joined to the TSV's own
 * folder unless absolute, and checked here so a typo names its line. */
static int add_transcripts(ds_speech_list *l, const char *path)
{
    lines_t in;
    int r = lines_open(&in, path, path), g;
    if (r) return r;
    size_t dl;
    dirname_len(path, &dl);
    kstring_t full = {0};
    long first = l->n;
    while (!r && (g = lines_next(&in)) == 1) {
        char *s = in.s.s, *tab = strchr(s, '\t');
        if (is_blank(s) || (in.line == 1 && is_transcript_header(s))) continue;
        struct stat st;
        if (!tab) {
            r = ds_err(DS_EFORMAT, "%s:%ld: expected PATH<TAB>TRANSCRIPT, got no TAB", path, in.line);
            break;
        }
        if (tab == s) {
            r = ds_err(DS_EFORMAT, "%s:%ld: expected PATH<TAB>TRANSCRIPT, got an empty PATH", path, in.line);
            break;
        }
        *tab = 0;
        if (is_blank(tab + 1)) {
            r = ds_err(DS_EFORMAT, "%s:%ld: expected PATH<TAB>TRANSCRIPT, got an empty transcript for %s (every "
                       "utterance of a transcript TSV needs its words)", path, in.line, s);
            break;
        }
        full.l = 0;
        if (s[0] != '/' && dl) kputsn(path, dl, &full), kputc('/', &full);
        if (kputs(s, &full) < 0) { r = oom(); break; }
        if (stat(full.s, &st))
            r = ds_err_errno(DS_EIO, "%s:%ld: %s", path, in.line, full.s);
        else if (!S_ISREG(st.st_mode))
            r = ds_err(DS_EFORMAT, "%s:%ld: %s is not a file (expected PATH<TAB>TRANSCRIPT of an audio file)", path,
                       in.line, full.s);
        else
            r = push(l, full.s, s, tab + 1, NULL, path, in.line, -1);
    }
    if (!r && g < 0) r = g;
    if (!r && l->n == first) r = ds_err(DS_EFORMAT, "%s: a transcript TSV without utterances", path);
    lines_close(&in);
    free(full.s);
    return r;
}

/* A .tsv is a transcript TSV when its first line holds a TAB, else a
 * fairseq manifest (whose first line is a directory); a first line
 * RELPATH<TAB>N_SAMPLES is a manifest that lost its root line. */
static int add_tsv(ds_speech_list *l, const char *path)
{
    lines_t in;
    int r = lines_open(&in, path, path), g;
    if (r) return r;
    g = lines_next(&in);
    char *tab = g == 1 ? strchr(in.s.s, '\t') : NULL;
    long ns;
    /* RELPATH<TAB>N_SAMPLES first: a manifest without its root line, not
     * an utterance whose words are a number (the vocabulary has no digits) */
    int headless = tab && !strchr(tab + 1, '\t') && !parse_count(tab + 1, &ns);
    lines_close(&in);
    if (g < 0) return g;
    if (g == 0)
        return ds_err(DS_EFORMAT, "%s: an empty file (expected a fairseq manifest or PATH<TAB>TRANSCRIPT lines)", path);
    if (headless)
        return ds_err(DS_EFORMAT, "%s:1: expected the root directory of a fairseq manifest, got RELPATH<TAB>N_SAMPLES "
                      "(or PATH<TAB>TRANSCRIPT, with words)", path);
    return tab ? add_transcripts(l, path) : add_manifest(l, path);
}

/* ---- path lists and single files ----------------------------------------- */

int ds_speech_add_list(ds_speech_list *l, FILE *fp, const char *name)
{
    lines_t in;
    int r = 0, g;
    memset(&in, 0, sizeof in);
    int fd = dup(fileno(fp));
    in.name = name;
    in.fp = fd < 0 ? NULL : bgzf_dopen(fd, "r");
    if (!in.fp) { if (fd >= 0) close(fd); return ds_err_errno(DS_EIO, "%s: cannot read", name); }
    if (ds_linebuf_init(&in.lb, in.fp)) { bgzf_close(in.fp); return oom(); }
    long before = l->n;
    while (!r && (g = lines_next(&in)) == 1) {
        if (!in.s.l) continue;
        struct stat st;
        if (stat(in.s.s, &st))
            r = ds_err_errno(DS_EIO, "%s:%ld: %s", name, in.line, in.s.s);
        else if (!S_ISREG(st.st_mode))
            r = ds_err(DS_EFORMAT, "%s:%ld: %s is not a file (list audio files, one per line)", name, in.line, in.s.s);
        else
            r = push(l, in.s.s, in.s.s, NULL, NULL, name, in.line, -1);
    }
    if (!r && g < 0) r = g;
    if (!r && l->n == before) r = ds_err(DS_EFORMAT, "%s: no audio file paths", name);
    lines_close(&in);
    return r;
}

int ds_speech_add(ds_speech_list *l, const char *input)
{
    if (!strcmp(input, "-")) return ds_speech_add_list(l, stdin, "(stdin)");
    struct stat st;
    if (stat(input, &st)) return ds_err_errno(DS_EIO, "%s: cannot open", input);
    if (S_ISDIR(st.st_mode)) return add_dir(l, input);
    if (ends_with(input, ".tsv")) return add_tsv(l, input);
    return push(l, input, input, NULL, NULL, NULL, 0, -1);
}

/* ---- checks ------------------------------------------------------------ */

static void add_warn(ds_speech_list *l, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kstring_t k = {0};
    if (l->warn) kputs(l->warn, &k), kputs("; ", &k);
    kputs(buf, &k);
    free(l->warn);
    l->warn = k.s;
}

static int cmp_by_id(const void *a, const void *b, void *ctx)
{
    const ds_speech_list *l = ctx;
    long i = *(const long *)a, j = *(const long *)b;
    int c = strcmp(l->u[i].id, l->u[j].id);
    return c ? c : (i > j) - (i < j);
}

static const char *where(const ds_utt *u, char *buf, size_t n)
{
    if (u->src) snprintf(buf, n, "%s:%ld", u->src, u->line);
    else snprintf(buf, n, "%s", u->path);
    return buf;
}

int ds_speech_finish(ds_speech_list *l)
{
    if (!l->n) return ds_err(DS_EINVAL, "no utterances");
    long *ix = malloc(sizeof *ix * (size_t)l->n);
    if (!ix) return oom();
    for (long i = 0; i < l->n; i++) ix[i] = i;
    qsort_r(ix, (size_t)l->n, sizeof *ix, cmp_by_id, l);
    int r = 0;
    for (long k = 1; !r && k < l->n; k++) {
        const ds_utt *a = &l->u[ix[k - 1]], *b = &l->u[ix[k]];
        if (strcmp(a->id, b->id)) continue;
        char wa[1200], wb[1200];
        r = ds_err(DS_EINVAL, "%s: utterance id %s is also that of %s (ids must be unique)", where(b, wb, sizeof wb),
                   b->id, where(a, wa, sizeof wa));
    }
    free(ix);
    if (r) return r;
    if (l->n_untranscribed > 1 || l->n_orphan_lines > 1) {
        char buf[200];
        snprintf(buf, sizeof buf, " (%ld audio files without a transcript line, %ld transcript lines without audio)",
                 l->n_untranscribed, l->n_orphan_lines);
        add_warn(l, "%s", buf);
    }
    return 0;
}

int ds_speech_open(ds_speech_list *l, char *const *inputs, int n)
{
    memset(l, 0, sizeof *l);
    int r = 0;
    for (int i = 0; !r && i < n; i++) r = ds_speech_add(l, inputs[i]);
    if (!r) r = ds_speech_finish(l);
    if (r) ds_speech_free(l);
    return r;
}

int ds_speech_require_text(const ds_speech_list *l)
{
    for (long i = 0; i < l->n; i++) {
        const ds_utt *u = &l->u[i];
        if (u->text) continue;
        if (u->trans) {
            struct stat st;
            if (stat(u->trans, &st))
                return ds_err(DS_EFORMAT, "%s: utterance %s has no transcript: %s does not exist", u->path, u->id,
                              u->trans);
            return ds_err(DS_EFORMAT, "%s: utterance %s has no line in %s", u->path, u->id, u->trans);
        }
        char w[1200];
        return ds_err(DS_EFORMAT,
                      "%s: utterance %s has no transcript (transcripts come from a LibriSpeech tree's trans.txt, "
                      "a manifest's .wrd file or a PATH<TAB>TRANSCRIPT .tsv)", where(u, w, sizeof w), u->id);
    }
    return 0;
}

int ds_speech_load(const ds_speech_list *l, long i, int rate, long min_samples, float **samples, long *n)
{
    *samples = NULL;
    *n = 0;
    if (i < 0 || i >= l->n) return ds_err(DS_EINVAL, "utterance %ld of %ld", i, l->n);
    const ds_utt *u = &l->u[i];
    if (u->n_samples >= 0) {
        ds_audio_info in;
        int e = ds_audio_probe(u->path, &in);
        if (e) return e;
        /* libsndfile only estimates an MP3's frame count */
        if (in.frames != u->n_samples && !strstr(in.format, "MPEG"))
            return ds_err(DS_EFORMAT, "%s:%ld: %s has %ld frames, the manifest says %ld", u->src, u->line, u->path,
                          in.frames, u->n_samples);
    }
    return ds_audio_read(u->path, rate, min_samples, samples, n);
}
