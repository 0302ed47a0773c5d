/* Shared helpers of the libFuzzer harnesses (`make fuzz`, test/fuzz/run.sh).
 * The parsers read files by path, so each harness writes the fuzz input into
 * a scratch directory created once per process and removed at exit; a broken
 * invariant (one the parser promises, not one it may refuse) calls
 * FUZZ_ASSERT, which aborts so libFuzzer saves the input as a crash. */
#ifndef DS_FUZZ_H
#define DS_FUZZ_H

#define _GNU_SOURCE   /* memmem, nftw */
#include "core/error.h"

#include <errno.h>
#include <ftw.h>
#include <htslib/hts_log.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DS_FUZZ_TESTDATA
#define DS_FUZZ_TESTDATA "testdata"
#endif

#define FUZZ_ASSERT(cond)                                                               \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: invariant broken: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, ds_errmsg());                                      \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* A failed parse must say why. */
#define FUZZ_ASSERT_MESSAGE(rc) FUZZ_ASSERT((rc) >= 0 || ds_errmsg()[0])

static char g_fuzz_dir[512];

static inline int fuzz_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static inline void fuzz_cleanup(void)
{
    if (g_fuzz_dir[0]) nftw(g_fuzz_dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_die(const char *what, const char *path)
{
    perror(path);
    fprintf(stderr, "fuzz harness: %s failed (not a parser bug)\n", what);
    exit(2);
}

/* The scratch directory, made on first use; htslib's log is silenced, as
 * derfseq's commands do, so the fuzzer's output stays readable. */
static inline const char *fuzz_dir(void)
{
    if (!g_fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "%s/derfseq-fuzz.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_fuzz_dir)) fuzz_die("mkdtemp", g_fuzz_dir);
        atexit(fuzz_cleanup);
        hts_set_log_level(HTS_LOG_OFF);
    }
    return g_fuzz_dir;
}

/* <scratch>/name into buf. */
static inline const char *fuzz_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
    return buf;
}

static inline void fuzz_write_at(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp)) fuzz_die("writing", path);
}

/* Writes the bytes to <scratch>/name; returns the path (static, one per name slot). */
static inline const char *fuzz_write(const char *name, const void *data, size_t n)
{
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    fuzz_path(buf[k], sizeof buf[k], name);
    fuzz_write_at(buf[k], data, n);
    return buf[k];
}

static inline void fuzz_mkdir(const char *name)
{
    char p[600];
    fuzz_path(p, sizeof p, name);
    if (mkdir(p, 0700) && errno != EEXIST) fuzz_die("mkdir", p);
}

/* Removes <scratch>/name and everything under it (files of the last input). */
static inline void fuzz_remove(const char *name)
{
    char p[600];
    fuzz_path(p, sizeof p, name);
    nftw(p, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copies a testdata file (read-only source) into the scratch directory. */
static inline const char *fuzz_copy_testdata(const char *file, const char *name)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/%s", DS_FUZZ_TESTDATA, file);
    FILE *fp = fopen(src, "rb");
    if (!fp) fuzz_die("opening testdata (run from the repository root)", src);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return fuzz_write(name, buf, n);
}

/* Splits data at each occurrence of sep: up to max parts, the last one
 * keeping any further separators. Returns the number of parts (>= 1). */
static inline int fuzz_split(const uint8_t *data, size_t n, const char *sep, const uint8_t **part, size_t *len, int max)
{
    size_t k = strlen(sep);
    int np = 0;
    while (np < max - 1) {
        const uint8_t *at = memmem(data, n, sep, k);
        if (!at) break;
        part[np] = data;
        len[np++] = (size_t)(at - data);
        n -= (size_t)(at - data) + k;
        data = at + k;
    }
    part[np] = data;
    len[np++] = n;
    return np;
}

#endif
