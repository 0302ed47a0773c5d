/* libFuzzer harness: faidx random access (lib/io/fasta.c, ds_ref_open and
 * ds_ref_fetch*). One input holds a FASTA (plain, or bgzip when it starts
 * with the gzip magic) and optionally its index files:
 *     FASTA [ "\n##fai\n" .fai text [ "\n##gzi\n" .gzi bytes ] ]
 * Without a .fai part the index is built from the FASTA (FAI_CREATE). Every
 * contig the index names is looked up and fetched in part and in full.
 *
 * Preflight: index files that htslib 1.16 trusts blindly crash it: a zero
 * line width divides by zero; an offset past the data trips an assertion in
 * bgzf_useek; a .gzi entry count beyond its size makes it allocate and zero
 * gigabytes; a bgzip FASTA whose .fai is present but .gzi missing makes
 * fai_load3 close the .fai twice when rebuilding fails; and its own builder
 * writes a zero line width for a line without printable bases. The
 * preflight checks the given index and the one htslib would build (built
 * here with fai_build3 into the scratch directory). These are being fixed in
 * lib/io/fasta.c by checking the index before htslib sees it; until then
 * such inputs are skipped here so the rest still gets fuzzed.
 * DS_FUZZ_FAI_ALL=1 in the environment turns the preflight off. */
#include "fuzz.h"
#include "io/fasta.h"

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <inttypes.h>

#define SEP_FAI "\n##fai\n"
#define SEP_GZI "\n##gzi\n"

static void fetch_checks(const ds_ref *ref)
{
    int n = ds_ref_ncontigs(ref);
    FUZZ_ASSERT(n > 0);
    for (int i = 0; i < n && i < 8; i++) {
        const char *name = ds_ref_contig_name(ref, i);
        int64_t len = ds_ref_contig_len(ref, i);
        FUZZ_ASSERT(name && len >= 0);
        FUZZ_ASSERT(ds_ref_has_contig(ref, name));
        FUZZ_ASSERT(ds_ref_contig_index(ref, name) >= 0);
        char one[1];
        FUZZ_ASSERT(ds_ref_fetch_i(ref, i, 0, len + 1, one) < 0);   /* past the end: refused, nothing read */
        FUZZ_ASSERT(ds_ref_fetch_i(ref, i, -1, 0, one) < 0);
        int64_t beg = len / 2, end = beg + 64 < len ? beg + 64 : len;
        char win[64];
        FUZZ_ASSERT_MESSAGE(ds_ref_fetch(ref, name, beg, end, win));
        if (len <= (1 << 16)) {
            char *all = malloc((size_t)len + 1);
            FUZZ_ASSERT(all);
            FUZZ_ASSERT_MESSAGE(ds_ref_fetch_i(ref, i, 0, len, all));
            free(all);
        }
    }
    FUZZ_ASSERT(ds_ref_contig_index(ref, "no such contig\001") < 0 && ds_errmsg()[0]);
}

/* Uncompressed size of a (b)gzip or plain file, -1 if unreadable. */
static int64_t data_size(const char *path)
{
    BGZF *fp = bgzf_open(path, "r");
    if (!fp) return -1;
    char buf[4096];
    int64_t n = 0;
    ssize_t got;
    while ((got = bgzf_read(fp, buf, sizeof buf)) > 0) n += got;
    bgzf_close(fp);
    return got < 0 ? -1 : n;
}

/* 1 for a .fai row htslib cannot survive: zero or inconsistent line
 * widths, or bases reaching past the file's (uncompressed) end. */
static int bad_fai_row(const char *row, int64_t size)
{
    const char *tab = strchr(row, '\t');
    uint64_t len, off, bases, width;
    if (!tab || sscanf(tab, "%" SCNu64 "%" SCNu64 "%" SCNu64 "%" SCNu64, &len, &off, &bases, &width) != 4) return 0;
    if (bases == 0 || width < bases || bases > UINT32_MAX || width > UINT32_MAX) return 1;
    double last = (double)off + (double)(len / bases) * (double)width + (double)(len % bases);
    return size < 0 || last > (double)size;
}

/* 1 for a .gzi whose entry count is not its size (htslib allocates and
 * zeroes count entries first: gigabytes for a corrupt count) or whose
 * entries point past the compressed or plain data. */
static int bad_gzi(const uint8_t *gzi, size_t n, int64_t zsize, int64_t size)
{
    uint64_t count, z, u;
    if (n < 8) return 0;   /* htslib refuses it */
    memcpy(&count, gzi, 8);
    if (count != (n - 8) / 16) return 1;
    for (uint64_t i = 0; i < count && 8 + 16 * (i + 1) <= n; i++) {
        memcpy(&z, gzi + 8 + 16 * i, 8);
        memcpy(&u, gzi + 16 + 16 * i, 8);
        if (size < 0 || z > (uint64_t)zsize || u > (uint64_t)size) return 1;
    }
    return 0;
}

static int bad_fai(const char *fai, size_t n, int64_t size)
{
    char *text = strndup(fai, n), *save = NULL;
    int bad = 0;
    for (char *row = strtok_r(text, "\n", &save); row && !bad; row = strtok_r(NULL, "\n", &save))
        bad = bad_fai_row(row, size);
    free(text);
    return bad;
}

/* The index htslib builds from the FASTA (as ds_ref_open does when the
 * given one is missing or unreadable), checked like a given one. */
static int bad_built_fai(const char *fa, int64_t size)
{
    char fai[600], gzi[600];
    fuzz_path(fai, sizeof fai, "pre.fai");
    fuzz_path(gzi, sizeof gzi, "pre.gzi");
    int bad = 0;
    if (!fai_build3(fa, fai, gzi)) {
        FILE *fp = fopen(fai, "rb");
        static char buf[1 << 16];
        size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
        if (fp) fclose(fp);
        bad = bad_fai(buf, n, size);
    }
    unlink(fai);
    unlink(gzi);
    return bad;
}

static int known_htslib_crash(const char *fa, int compressed, int np, const uint8_t *const *part, const size_t *len)
{
    static int all = -1;
    if (all < 0) all = getenv("DS_FUZZ_FAI_ALL") && !strcmp(getenv("DS_FUZZ_FAI_ALL"), "1");
    if (all) return 0;
    if (compressed && np == 2) return 1;
    int64_t size = data_size(fa);
    if (compressed && np == 3 && bad_gzi(part[2], len[2], (int64_t)len[0], size)) return 1;
    if (np >= 2 && bad_fai((const char *)part[1], len[1], size)) return 1;
    return bad_built_fai(fa, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[3];
    size_t len[3];
    int np = fuzz_split(data, size, SEP_FAI, part, len, 2);
    if (np == 2) np = 1 + fuzz_split(part[1], len[1], SEP_GZI, part + 1, len + 1, 2);
    fuzz_remove("ref");
    fuzz_mkdir("ref");
    int bgzip = len[0] >= 2 && part[0][0] == 0x1f && part[0][1] == 0x8b;
    char fa[600], idx[700];
    fuzz_path(fa, sizeof fa, bgzip ? "ref/ref.fa.gz" : "ref/ref.fa");
    fuzz_write_at(fa, part[0], len[0]);
    if (np >= 2) { snprintf(idx, sizeof idx, "%s.fai", fa); fuzz_write_at(idx, part[1], len[1]); }
    if (np >= 3) { snprintf(idx, sizeof idx, "%s.gzi", fa); fuzz_write_at(idx, part[2], len[2]); }
    if (known_htslib_crash(fa, bgzip, np, part, len)) return 0;
    ds_ref *ref;
    int e = ds_ref_open(&ref, fa);
    FUZZ_ASSERT_MESSAGE(e);
    if (e) { FUZZ_ASSERT(!ref); return 0; }
    fetch_checks(ref);
    ds_ref_close(ref);
    return 0;
}
