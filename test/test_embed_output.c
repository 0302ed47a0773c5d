/* derfseq embed outputs that join back (issue 13): -o's extension picks the
 * format, .npz carries the ids (and pos) with the embeddings as a valid
 * STORED zip, .npy gets an .ids.tsv, .tsv.gz is bgzf of the same TSV,
 * --header names the columns, and a failed run leaves no file at all. The
 * zip and npy structure are checked here in C (no numpy needed). */
#include "test.h"
#include "cli.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <htslib/bgzf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

const char *embed_test_ckpt(void);   /* test_embed_eval.c: a 16-step pretraining run */

#define TWO ">x\nACGTACGTAC\n>y\nTTTTACGTAC\n"

/* The two-record FASTA, in a buffer of its own (tmp_path's rotate). */
static const char *two_fa(void)
{
    static char path[700];
    snprintf(path, sizeof path, "%s", write_tmp("out_two.fa", TWO));
    return path;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    rewind(fp);
    b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, fp) == (size_t)len) *n = (size_t)len;
    fclose(fp);
    return b;
}

static unsigned get16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }
static uint32_t get32(const unsigned char *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }

typedef struct {
    char name[32];
    const unsigned char *data;
    size_t size;
} member;

/* The members of a STORED zip through its central directory, each checked
 * against its local header and its CRC-32; returns how many (-1: broken). */
static int zip_members(const unsigned char *z, size_t n, member *m, int max)
{
    if (n < 22 || get32(z + n - 22) != 0x06054b50) return -1;   /* no comment: EOCD last */
    const unsigned char *e = z + n - 22;
    int count = (int)get16(e + 10);
    size_t at = get32(e + 16);
    if (count > max || at + get32(e + 12) != n - 22) return -1;
    for (int i = 0; i < count; i++) {
        const unsigned char *c = z + at;
        if (at + 46 > n || get32(c) != 0x02014b50 || get16(c + 10) != 0) return -1;   /* method 0: stored */
        size_t nl = get16(c + 28), size = get32(c + 24), lo = get32(c + 42);
        if (get32(c + 20) != size || nl >= sizeof m[i].name || get16(c + 30) || get16(c + 32)) return -1;
        memcpy(m[i].name, c + 46, nl);
        m[i].name[nl] = 0;
        const unsigned char *l = z + lo;
        if (lo + 30 + nl > n || get32(l) != 0x04034b50 || memcmp(l + 14, c + 16, 12) || memcmp(l + 30, c + 46, nl))
            return -1;   /* local header: same CRC and sizes, same name */
        m[i].data = l + 30 + nl + get16(l + 28);
        m[i].size = size;
        if (m[i].data + size > z + n || crc32(0L, m[i].data, (uInt)size) != get32(c + 16)) return -1;
        at += 46 + nl;
    }
    return count;
}

static const member *find(const member *m, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].name, name)) return &m[i];
    return NULL;
}

/* The npy header of a member; returns the data offset (-1: not npy). */
static long member_header(const member *m, char descr[32], int *nd, int64_t shape[8])
{
    FILE *fp = fmemopen((void *)m->data, m->size, "rb");
    long at = -1;
    if (fp && ds_npy_read_header(fp, m->name, descr, nd, shape, &at)) at = -1;
    if (fp) fclose(fp);
    return at;
}

/* The first TSV column of every line of text, joined with '\n'. */
static void tsv_ids(const char *text, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = text; *p && k + 1 < cap;) {
        size_t w = strcspn(p, "\t\n");
        k += (size_t)snprintf(out + k, cap - k, "%.*s\n", (int)w, p);
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
}

TEST(test_embed_output_format_follows_the_extension)
{
    const char *fa = two_fa(), *ck = embed_test_ckpt();
    static const char *const EXT[] = { "tsv", "tsv.gz", "npy", "npz", "safetensors" };
    static const char *const MAGIC[] = { "x\t", "\x1f\x8b\x08\x04", "\x93NUMPY", "PK\x03\x04", NULL };
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "out_ext.%s", EXT[i]);
        const char *out = tmp_path(name);
        CHECK_MSG(run("embed --from '%s' -o '%s' --quiet '%s'", ck, out, fa) == 0, "%s: %s", out, g_err);
        size_t n;
        unsigned char *b = read_all(out, &n);
        if (MAGIC[i]) CHECK_MSG(b && n > 4 && !memcmp(b, MAGIC[i], strlen(MAGIC[i])), "%s: not %s", out, EXT[i]);
        free(b);
        /* the same format named explicitly agrees */
        CHECK_EQ_INT(run("embed --from '%s' --format %s -o '%s' --quiet '%s'", ck, EXT[i], out, fa), 0);
    }
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, tmp_path("out_ext.safetensors")), 0);
    CHECK(f.n == 2 && ds_st_find(&f, "x") && ds_st_find(&f, "y"));
    ds_st_close(&f);
    /* another name: --format says what it is; no --format: TSV */
    const char *bin = tmp_path("out_ext.bin");
    CHECK_EQ_INT(run("embed --from '%s' --format npz -o '%s' --quiet '%s'", ck, bin, fa), 0);
    size_t n;
    unsigned char *b = read_all(bin, &n);
    CHECK(b && n > 4 && !memcmp(b, "PK\x03\x04", 4));
    free(b);
    CHECK_EQ_INT(run("embed --from '%s' -o '%s' --quiet '%s'", ck, bin, fa), 0);
    slurp(bin, g_out, sizeof g_out);
    CHECK(!strncmp(g_out, "x\t", 2));
}

TEST(test_embed_output_format_conflicting_with_the_extension_is_a_usage_error)
{
    const char *fa = two_fa(), *ck = embed_test_ckpt(), *npz = tmp_path("out_conflict.npz");
    CHECK_ERROR(run("embed --from '%s' --format tsv -o '%s' '%s'", ck, npz, fa), 2, " embed", "names npz output, --format says tsv");
    CHECK_MSG(access(npz, F_OK) != 0, "a refused run created %s", npz);
    CHECK_ERROR(run("embed --from '%s' --format npy -o '%s' '%s'", ck, tmp_path("out_conflict.tsv.gz"), fa), 2, " embed",
                "names tsv.gz output, --format says npy");
    CHECK_ERROR(run("embed --from '%s' --format npz '%s'", ck, fa), 2, " embed", "-o FILE");
    CHECK_ERROR(run("embed --from '%s' --format zip -o x.zip '%s'", ck, fa), 2, " embed", "tsv.gz");
}

TEST(test_embed_npz_holds_ids_in_tsv_order_and_the_npy_array)
{
    const char *fa = write_tmp("out_three.fa", ">x\nACGTACGTAC\n>long_id_é\nTTTTACGTAC\n>z\nGGGGACGTAC\n");
    const char *ck = embed_test_ckpt(), *npz = tmp_path("out_m.npz"), *npy = tmp_path("out_m.npy");
    for (int none = 0; none < 2; none++) {
        const char *pool = none ? "none" : "mean";
        CHECK_EQ_INT(run("embed --from '%s' --pool %s -o '%s' --quiet '%s'", ck, pool, npz, fa), 0);
        CHECK_EQ_INT(run("embed --from '%s' --pool %s -o '%s' --quiet '%s'", ck, pool, npy, fa), 0);
        size_t nz, ny;
        unsigned char *z = read_all(npz, &nz), *y = read_all(npy, &ny);
        member m[8];
        int k = z ? zip_members(z, nz, m, 8) : -1;
        CHECK_EQ_INT(k, none ? 3 : 2);
        const member *emb = find(m, k, "embeddings.npy"), *ids = find(m, k, "ids.npy"), *pos = find(m, k, "pos.npy");
        /* embeddings: byte for byte the .npy output */
        CHECK_MSG(emb && y && emb->size == ny && !memcmp(emb->data, y, ny), "embeddings.npy differs from the .npy");
        char descr[32];
        int nd = 0;
        int64_t shape[8];
        long at = ids ? member_header(ids, descr, &nd, shape) : -1;
        CHECK(at > 0 && !strcmp(descr, "<U9") && nd == 1 && shape[0] == 3);   /* long_id_é: 9 code points */
        CHECK(at > 0 && ids->size == (size_t)at + 3 * 9 * 4);
        if (at > 0 && ids->size == (size_t)at + 3 * 9 * 4) {
            uint32_t u[27];   /* a zip member's data need not be aligned: copy it out */
            memcpy(u, ids->data + at, sizeof u);
            CHECK(u[0] == 'x' && u[1] == 0 && u[8] == 0 && u[9] == 'l' && u[9 + 8] == 0xe9 && u[18] == 'z');
        }
        CHECK_EQ_INT(pos != NULL, none);
        if (pos) {
            at = member_header(pos, descr, &nd, shape);
            CHECK(at > 0 && !strcmp(descr, "<i8") && nd == 2 && shape[0] == 3 && shape[1] == 10);
            int64_t p[30] = {0};
            int whole = at > 0 && pos->size == (size_t)at + sizeof p;
            if (whole) memcpy(p, pos->data + at, sizeof p);
            CHECK(whole && p[0] == 0 && p[9] == 9 && p[10] == 0 && p[29] == 9);
        }
        free(z);
        free(y);
    }
    /* the ids are the TSV's, in order */
    CHECK_EQ_INT(run("embed --from '%s' --quiet '%s'", ck, fa), 0);
    char want[256];
    tsv_ids(g_out, want, sizeof want);
    CHECK(!strcmp(want, "x\nlong_id_é\nz\n"));
    /* an id numpy cannot decode is refused before anything is written */
    const char *bad = write_tmp("out_latin1.fa", ">caf\xe9\nACGTACGTAC\n");
    unlink(npz);
    CHECK_ERROR(run("embed --from '%s' -o '%s' '%s'", ck, npz, bad), 1, " embed", "not UTF-8");
    CHECK_MSG(access(npz, F_OK) != 0, "a failed run left %s", npz);
}

TEST(test_embed_npy_writes_its_ids_beside_it)
{
    const char *fa = two_fa(), *ck = embed_test_ckpt();
    const char *npy = tmp_path("out_side.npy"), *side = tmp_path("out_side.ids.tsv");
    char text[4096], want[4096] = "";
    CHECK_EQ_INT(run("embed --from '%s' -o '%s' --quiet '%s'", ck, npy, fa), 0);
    slurp(side, text, sizeof text);
    CHECK(!strcmp(text, "x\ny\n"));
    CHECK_EQ_INT(run("embed --from '%s' --pool none -o '%s' --quiet '%s'", ck, npy, fa), 0);
    slurp(side, text, sizeof text);
    for (int r = 0; r < 20; r++) snprintf(want + strlen(want), sizeof want - strlen(want), "%c\t%d\n", r < 10 ? 'x' : 'y', r % 10);
    CHECK(!strcmp(text, want));
    /* the TSV's id and pos columns, row for row */
    CHECK_EQ_INT(run("embed --from '%s' --pool none --quiet '%s'", ck, fa), 0);
    char *p = g_out;
    int same = 1;
    for (char *l = text; *l && p; l = strchr(l, '\n') + 1) {
        size_t w = strcspn(l, "\n");
        same &= !strncmp(p, l, w) && p[w] == '\t';
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    CHECK(same);
    /* any other name: NAME.ids.tsv */
    const char *bin = tmp_path("out_side.bin");
    CHECK_EQ_INT(run("embed --from '%s' --format npy -o '%s' --quiet '%s'", ck, bin, fa), 0);
    char bside[700];
    snprintf(bside, sizeof bside, "%s.ids.tsv", bin);
    slurp(bside, text, sizeof text);
    CHECK(!strcmp(text, "x\ny\n"));
    /* a special file gets no sidecar */
    CHECK_EQ_INT(run("embed --from '%s' --format npy -o /dev/null --quiet '%s'", ck, fa), 0);
    CHECK(access("/dev/null.ids.tsv", F_OK) != 0);
}

/* The bytes of a bgzf file, after checking it is bgzf (not plain gzip). */
static size_t bgzf_text(const char *path, char *buf, size_t cap)
{
    BGZF *fp = bgzf_open(path, "r");
    if (!fp) return 0;
    int is_bgzf = bgzf_compression(fp) == 2;   /* 0: plain, 1: gzip, 2: bgzf */
    ssize_t n = bgzf_read(fp, buf, cap - 1);
    bgzf_close(fp);
    if (n < 0 || !is_bgzf) return 0;
    buf[n] = 0;
    return (size_t)n;
}

TEST(test_embed_tsv_gz_is_bgzf_of_the_tsv)
{
    const char *fa = two_fa(), *ck = embed_test_ckpt(), *gz = tmp_path("out_z.tsv.gz");
    static char text[1 << 16];
    for (int none = 0; none < 2; none++) {
        CHECK_EQ_INT(run("embed --from '%s' --pool %s --header --quiet '%s'", ck, none ? "none" : "mean", fa), 0);
        CHECK(nlines(g_out) == (none ? 21 : 3));
        static char want[sizeof g_out];
        memcpy(want, g_out, sizeof want);
        CHECK_EQ_INT(run("embed --from '%s' --pool %s --header -o '%s' --quiet '%s'", ck, none ? "none" : "mean", gz,
                         fa), 0);
        size_t n = bgzf_text(gz, text, sizeof text);
        CHECK_MSG(n > 0 && !strcmp(text, want), "%s is not bgzf of the TSV", gz);
    }
    /* zcat reads it too (the BGZF EOF block ends it) */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "zcat '%s' | tail -1 | cut -f1,2 | grep -qx 'y\t9'", gz);
    CHECK_EQ_INT(system(cmd), 0);
}

TEST(test_embed_header_names_the_columns)
{
    const char *fa = two_fa(), *ck = embed_test_ckpt();
    CHECK_EQ_INT(run("embed --from '%s' --header --quiet '%s'", ck, fa), 0);
    char want[1024] = "id";
    for (int k = 1; k <= 64; k++) snprintf(want + strlen(want), sizeof want - strlen(want), "\tv%d", k);
    CHECK(!strncmp(g_out, want, strlen(want)) && g_out[strlen(want)] == '\n');
    CHECK(!strncmp(g_out + strlen(want) + 1, "x\t", 2));
    CHECK_EQ_INT(run("embed --from '%s' --header --pool none --quiet '%s'", ck, fa), 0);
    CHECK(!strncmp(g_out, "id\tpos\tv1\tv2\t", 13) && strstr(g_out, "\tv64\nx\t0\t"));
    CHECK_EQ_INT(run("embed --from '%s' --quiet '%s'", ck, fa), 0);
    CHECK(!strncmp(g_out, "x\t", 2));   /* off by default */
    CHECK_ERROR(run("embed --from '%s' --header -o '%s' '%s'", ck, tmp_path("out_h.npz"), fa), 2, " embed",
                "--header applies to TSV");
}

/* Whether dir holds no entry but . and .. */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return d && n == 0;
}

TEST(test_embed_failed_outputs_leave_no_file_in_any_format)
{
    char longseq[2100] = ">ok\nACGTACGTAC\n>long\n";
    size_t h = strlen(longseq);
    for (int i = 0; i < 2000; i++) longseq[h + i] = "ACGT"[i % 4];   /* longer than l_max 1026, after a good record */
    longseq[h + 2000] = '\n';
    longseq[h + 2001] = 0;
    const char *fa = write_tmp("out_long.fa", longseq), *ck = embed_test_ckpt();
    char dir[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("out_atomic"));
    mkdir(dir, 0777);
    static const char *const EXT[] = { "tsv", "tsv.gz", "npy", "npz", "safetensors" };
    for (int i = 0; i < 5; i++) {
        CHECK_ERROR(run("embed --from '%s' -o '%s/e.%s' '%s'", ck, dir, EXT[i], fa), 1, " embed", "--chunk");
        CHECK_MSG(dir_empty(dir), "a failed .%s run left a file in %s", EXT[i], dir);
    }
}
