/* safetensors, checkpoints, atomic outputs and .npy: round trips, F16/BF16
 * conversion, and every malformed-header case failing with a message that
 * names the file. */
#include "test.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/npy.h"
#include "io/outfile.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ds_test_tmpdir(), name);
    return buf[k];
}

/* Writes 8-byte length + header + data bytes, as a hand-made file. */
static void write_raw(const char *path, const char *header, const void *data, size_t n, long long hlen_override)
{
    FILE *fp = fopen(path, "wb");
    unsigned long long h = hlen_override >= 0 ? (unsigned long long)hlen_override : strlen(header);
    for (int i = 0; i < 8; i++) fputc((int)(h >> (8 * i)) & 0xff, fp);
    fputs(header, fp);
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

static int open_fails_naming_file(const char *path, const char *what)
{
    ds_st_file f;
    int r = ds_st_open(&f, path);
    if (r == 0) { ds_st_close(&f); CHECK_MSG(0, "%s: opened a malformed file", what); return 0; }
    CHECK_MSG(strstr(ds_errmsg(), path) != NULL, "%s: message '%s' does not name the file", what, ds_errmsg());
    return r;
}

TEST(test_safetensors_round_trip_keeps_names_shapes_values_and_metadata)
{
    float a[6] = { 1, -2, 3.5f, 1e-30f, -0.0f, 7 }, b[1] = { 0.25f };
    int64_t sa[2] = { 2, 3 }, sb[1] = { 1 };
    ds_st_entry e[2] = { { "layer.weight", 2, sa, a }, { "layer.alpha", 1, sb, b } };
    const char *k[1] = { "derfseq.config" }, *v[1] = { "{\"arch\": \"x\"}" };
    const char *path = tmp("rt.safetensors");
    CHECK_EQ_INT(ds_st_write(path, e, 2, k, v, 1), 0);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    CHECK_EQ_INT(f.n, 2);
    const ds_st_tensor *t = ds_st_find(&f, "layer.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == DS_ST_F32);
    float got[6];
    CHECK_EQ_INT(ds_st_read_f32(&f, t, got), 0);
    CHECK(!memcmp(got, a, sizeof a));
    CHECK(ds_st_meta(&f, "derfseq.config") && !strcmp(ds_st_meta(&f, "derfseq.config"), v[0]));
    CHECK(ds_st_meta(&f, "nope") == NULL);
    CHECK(ds_st_find(&f, "nope") == NULL);
    CHECK_EQ_INT((8 + (f.data - (const uint8_t *)f.map - 8)) % 8, 0);   /* header padded to 8 */
    ds_st_close(&f);
}

TEST(test_safetensors_converts_f16_and_bf16_exactly)
{
    /* F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), inf; BF16: 1.0, -3.0 */
    uint16_t h[5] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00 }, bf[2] = { 0x3f80, 0xc040 };
    unsigned char data[14];
    memcpy(data, h, 10);
    memcpy(data + 10, bf, 4);
    const char *path = tmp("half.safetensors");
    write_raw(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[10,14]}}", data, 14, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    float x[5], y[2];
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "h"), x), 0);
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "b"), y), 0);
    CHECK(x[0] == 1.0f && x[1] == -2.0f && x[2] == 65504.0f && x[3] == ldexpf(1.0f, -24) && isinf(x[4]));
    CHECK(y[0] == 1.0f && y[1] == -3.0f);
    ds_st_close(&f);
}

TEST(test_safetensors_rejects_each_malformed_header)
{
    unsigned char z[16] = {0};
    struct { const char *what, *header; size_t ndata; long long hlen; } bad[] = {
        { "invalid JSON", "{\"a\":", 0, -1 },
        { "not an object", "[1,2]", 0, -1 },
        { "unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, -1 },
        { "offsets out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1 },
        { "overlapping", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1 },
        { "gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1 },
        { "size not matching shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1 },
        { "end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, -1 },
        { "negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, -1 },
        { "metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, -1 },
        { "trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, -1 },
        { "header longer than file", "{}", 0, 1000 },
        { "header over the bound", "{}", 0, (long long)DS_ST_MAX_HEADER + 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = tmp("bad.safetensors");
        write_raw(path, bad[i].header, z, bad[i].ndata, bad[i].hlen);
        CHECK_MSG(open_fails_naming_file(path, bad[i].what) == DS_EFORMAT, "%s: expected DS_EFORMAT", bad[i].what);
    }
    const char *path = tmp("short.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    CHECK(open_fails_naming_file(path, "file shorter than 8 bytes") == DS_EFORMAT);
    fp = fopen(path, "wb");
    fclose(fp);
    CHECK(open_fails_naming_file(path, "empty file") == DS_EFORMAT);
    CHECK(open_fails_naming_file(tmp("missing.safetensors"), "missing file") == DS_EIO);
}

TEST(test_checkpoint_load_names_the_tensor_with_the_wrong_shape)
{
    ds_params a, b;
    ds_params_init(&a);
    ds_params_init(&b);
    int64_t s1[2] = { 4, 3 }, s2[2] = { 4, 2 }, s3[1] = { 1 };
    ds_params_add(&a, "x.weight", 2, s1, 1);
    ds_params_add(&a, "x.alpha", 1, s3, 0);
    ds_params_alloc(&a);
    ds_params_data(&a, 0)[5] = 42.0f;
    const char *path = tmp("ck.safetensors");
    CHECK_EQ_INT(ds_checkpoint_save(path, &a, "{\"arch\":\"t\"}"), 0);
    char *cfg = ds_checkpoint_config(path);
    CHECK(cfg && !strcmp(cfg, "{\"arch\":\"t\"}"));
    free(cfg);
    /* same table loads, values intact */
    ds_params_add(&b, "x.weight", 2, s1, 1);
    ds_params_add(&b, "x.alpha", 1, s3, 0);
    ds_params_alloc(&b);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 1), 0);
    CHECK(ds_params_data(&b, 0)[5] == 42.0f);
    ds_params_free(&b);
    /* wrong shape */
    ds_params_init(&b);
    ds_params_add(&b, "x.weight", 2, s2, 1);
    ds_params_alloc(&b);
    CHECK(ds_checkpoint_load(path, &b, 0) == DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), "tensor 'x.weight' has wrong shape: expected [4,2], got [4,3]") != NULL, "%s", ds_errmsg());
    ds_params_free(&b);
    /* missing tensor, and an unknown one under strict loading */
    ds_params_init(&b);
    ds_params_add(&b, "y.bias", 1, s3, 0);
    ds_params_alloc(&b);
    CHECK(ds_checkpoint_load(path, &b, 0) == DS_EMISMATCH && strstr(ds_errmsg(), "'y.bias' is missing"));
    ds_params_free(&b);
    ds_params_init(&b);
    ds_params_add(&b, "x.alpha", 1, s3, 0);
    ds_params_alloc(&b);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), 0);
    CHECK(ds_checkpoint_load(path, &b, 1) == DS_EMISMATCH && strstr(ds_errmsg(), "unexpected tensor 'x.weight'"));
    ds_params_free(&b);
    ds_params_free(&a);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

TEST(test_outfile_commit_replaces_and_abort_leaves_nothing)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/out", ds_test_tmpdir());
    CHECK(mkdir(dir, 0755) == 0);
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("first", o.fp);
    CHECK(access(path, F_OK) != 0);           /* nothing at the final name before commit */
    CHECK_EQ_INT(ds_outfile_commit(&o), 0);
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("partial", o.fp);
    ds_outfile_abort(&o);
    CHECK_EQ_INT(count_files(dir), 1);        /* no temp file left */
    char buf[16] = {0};
    FILE *fp = fopen(path, "r");
    CHECK(fp && fread(buf, 1, sizeof buf - 1, fp) == 5 && !strcmp(buf, "first"));
    if (fp) fclose(fp);
    CHECK_EQ_INT(ds_write_file_atomic(path, "second", 6), 0);
    CHECK_EQ_INT(count_files(dir), 1);
    CHECK(ds_outfile_open(&o, "/nonexistent-dir/x") == DS_EIO && strstr(ds_errmsg(), "/nonexistent-dir/x"));
}

TEST(test_npy_round_trip_and_reads_float64)
{
    float x[6] = { 1, 2, 3, 4, 5, -6.5f }, *y = NULL;
    int64_t sh[2] = { 2, 3 }, got[8];
    int nd;
    const char *path = tmp("a.npy");
    CHECK_EQ_INT(ds_npy_write(path, x, 2, sh), 0);
    CHECK_EQ_INT(ds_npy_read(path, &y, &nd, got), 0);
    CHECK(nd == 2 && got[0] == 2 && got[1] == 3 && y && !memcmp(x, y, sizeof x));
    free(y);
    /* hand-written v1.0 '<f8' file, as numpy.save writes it */
    const char *p8 = tmp("b.npy");
    FILE *fp = fopen(p8, "wb");
    const char dict[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
    char hdr[128];
    int hl = 118;
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, dict, sizeof dict - 1);
    hdr[hl - 1] = '\n';
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hl, 0 };
    double d[3] = { 0.5, -1.25, 1e10 };
    fwrite(pre, 1, 10, fp);
    fwrite(hdr, 1, (size_t)hl, fp);
    fwrite(d, sizeof d[0], 3, fp);
    fclose(fp);
    CHECK_EQ_INT(ds_npy_read(p8, &y, &nd, got), 0);
    CHECK(nd == 1 && got[0] == 3 && y && y[0] == 0.5f && y[1] == -1.25f && y[2] == 1e10f);
    free(y);
    /* Fortran order and truncated data are clear errors */
    fp = fopen(p8, "r+b");
    fseek(fp, 10 + (long)(strstr(dict, "False") - dict), SEEK_SET);
    fwrite("True ", 1, 5, fp);
    fclose(fp);
    CHECK(ds_npy_read(p8, &y, &nd, got) == DS_EFORMAT && strstr(ds_errmsg(), "Fortran"));
    CHECK_EQ_INT(truncate(path, 130), 0);   /* 128-byte header + 2 bytes of data */
    CHECK(ds_npy_read(path, &y, &nd, got) == DS_EFORMAT && strstr(ds_errmsg(), "shorter"));
}
