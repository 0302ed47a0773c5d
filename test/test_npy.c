/* lib/io/npy.c: float32 files as numpy writes them, v1.0/v2.0 '<f4'/'<f8'
 * reads, and malformed headers refused with the file name. */
#include "test.h"
#include "core/error.h"
#include "io/npy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *tmp(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/npy_%s", ds_test_tmpdir(), name);
    return buf[k];
}

/* A hand-made file: magic, version major.0, the dict padded with spaces and
 * '\n' to a multiple of 64 (as numpy pads), then n data bytes. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = (pre + len + 1 + 63) / 64 * 64, hlen = total - pre;
    FILE *fp = fopen(path, "wb");
    if (!fp) { CHECK_MSG(0, "cannot create %s", path); return; }
    fwrite("\x93NUMPY", 1, 6, fp);
    fputc(major, fp);
    fputc(0, fp);
    for (size_t i = 0; i < pre - 8; i++) fputc((int)(hlen >> (8 * i)) & 0xff, fp);
    fputs(dict, fp);
    for (size_t i = pre + len; i < total - 1; i++) fputc(' ', fp);
    fputc('\n', fp);
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

static int read_fails(const char *path, const char *what, const char *needle)
{
    static float sentinel;
    float *y = &sentinel;   /* must come back NULL */
    int nd;
    int64_t sh[8];
    int r = ds_npy_read(path, &y, &nd, sh);
    if (r == 0) { free(y); CHECK_MSG(0, "%s: read a malformed file", what); return 0; }
    CHECK_MSG(y == NULL, "%s: data pointer not NULL after a failure", what);
    CHECK_MSG(strstr(ds_errmsg(), path) != NULL, "%s: message '%s' does not name the file", what, ds_errmsg());
    CHECK_MSG(!needle || strstr(ds_errmsg(), needle), "%s: message '%s' lacks \"%s\"", what, ds_errmsg(), needle);
    return r;
}

TEST(test_npy_round_trip_keeps_shape_and_values)
{
    float x[24], *y = NULL;
    ds_test_fill_uniform(x, 24, -10, 10, 5);
    int64_t shapes[5][3] = { { 2, 3, 4 }, { 6, 4 }, { 24 }, { 0, 4 }, { 0 } };
    int ndims[5] = { 3, 2, 1, 2, 0 };   /* the last is a 0-dim scalar */
    for (int c = 0; c < 5; c++) {
        const char *path = tmp("rt.npy");
        CHECK_EQ_INT(ds_npy_write(path, x, ndims[c], shapes[c]), 0);
        int nd = -1;
        int64_t got[8];
        int r = ds_npy_read(path, &y, &nd, got);
        CHECK_MSG(r == 0, "case %d: %s", c, ds_errmsg());
        if (r) continue;
        size_t n = 1;
        CHECK_EQ_INT(nd, ndims[c]);
        for (int i = 0; i < nd; i++) { CHECK(got[i] == shapes[c][i]); n *= (size_t)shapes[c][i]; }
        CHECK(!memcmp(x, y, n * sizeof *x));
        free(y);
    }
}

TEST(test_npy_header_is_written_as_numpy_writes_it)
{
    const char *want[3] = { "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }" };
    int64_t s[3][2] = { { 3 }, { 2, 3 }, { 0 } };
    int nd[3] = { 1, 2, 0 };
    float x[6] = { 0 };
    for (int c = 0; c < 3; c++) {
        const char *path = tmp("hdr.npy");
        CHECK_EQ_INT(ds_npy_write(path, x, nd[c], s[c]), 0);
        unsigned char buf[256] = { 0 };
        FILE *fp = fopen(path, "rb");
        size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
        if (fp) fclose(fp);
        size_t hlen = buf[8] | (size_t)buf[9] << 8;
        CHECK(n > 10 && !memcmp(buf, "\x93NUMPY\x01\x00", 8));
        CHECK_EQ_INT((10 + hlen) % 64, 0);
        CHECK(buf[10 + hlen - 1] == '\n');
        CHECK_MSG(!strncmp((char *)buf + 10, want[c], strlen(want[c])), "header '%.60s', expected '%s'", buf + 10, want[c]);
    }
}

TEST(test_npy_reads_a_hand_written_v1_float64_file)
{
    double d[3] = { 0.5, -1.25, 1e10 };
    const char *path = tmp("f8.npy");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
    float *y = NULL;
    int nd;
    int64_t got[8];
    CHECK_EQ_INT(ds_npy_read(path, &y, &nd, got), 0);
    CHECK(nd == 1 && got[0] == 3 && y && y[0] == 0.5f && y[1] == -1.25f && y[2] == 1e10f);
    free(y);
}

TEST(test_npy_reads_a_v2_header_with_keys_in_any_order)
{
    float x[4] = { 1, -2, 3, -4 };
    const char *path = tmp("v2.npy");
    write_npy(path, 2, "{\"shape\": (2L, 2L), \"fortran_order\": False, \"descr\": \"<f4\"}", x, sizeof x);
    float *y = NULL;
    int nd;
    int64_t got[8];
    CHECK_MSG(ds_npy_read(path, &y, &nd, got) == 0, "%s", ds_errmsg());
    CHECK(nd == 2 && got[0] == 2 && got[1] == 2 && y && !memcmp(x, y, sizeof x));
    free(y);
}

TEST(test_npy_fortran_order_is_a_clear_error_naming_the_file)
{
    float x[4] = { 0 };
    const char *path = tmp("fortran.npy");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", x, sizeof x);
    CHECK(read_fails(path, "fortran order", "Fortran-order") == DS_EFORMAT);
}

TEST(test_npy_data_shorter_or_longer_than_the_shape_is_an_error_naming_the_file)
{
    float x[8] = { 0 };
    const char *path = tmp("size.npy");
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    write_npy(path, 1, dict, x, 20);
    CHECK(read_fails(path, "truncated data", "shorter than its shape says (expected 24 bytes, found 20)") == DS_EFORMAT);
    write_npy(path, 1, dict, x, 28);
    CHECK(read_fails(path, "extra data", "longer than its shape says") == DS_EFORMAT);
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", x, 4);
    CHECK(read_fails(path, "absurd shape", "2^50") == DS_EFORMAT);
}

TEST(test_npy_rejects_malformed_headers_naming_the_file)
{
    struct { const char *what, *dict, *needle; } bad[] = {
        { "big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "'>f4', expected '<f4' or '<f8'" },
        { "integers", "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "'<i4'" },
        { "structured dtype", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "descr" },
        { "missing shape", "{'descr': '<f4', 'fortran_order': False, }", "expected keys" },
        { "unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", "key 'x' unknown" },
        { "repeated key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "repeated" },
        { "shape not a tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': 1, }", "shape" },
        { "one-tuple without comma", "{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", "shape" },
        { "negative dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "shape" },
        { "nine dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "shape" },
        { "fortran_order not a bool", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "True or False" },
        { "not a dict", "['descr', '<f4']", "'{'" },
        { "text after the dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", "after" },
        { "unterminated", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "shape" },
    };
    float x = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = tmp("bad.npy");
        write_npy(path, 1, bad[i].dict, &x, 4);
        CHECK_MSG(read_fails(path, bad[i].what, bad[i].needle) == DS_EFORMAT, "%s: expected DS_EFORMAT", bad[i].what);
    }
}

TEST(test_npy_rejects_bad_magic_versions_and_truncated_headers)
{
    const char *path = tmp("pre.npy");
    FILE *fp = fopen(path, "wb");
    if (fp) { fputs("PK\x03\x04 not numpy at all", fp); fclose(fp); }
    CHECK(read_fails(path, "bad magic", "magic") == DS_EFORMAT);
    fp = fopen(path, "wb");
    if (fp) { fwrite("\x93NUMPY\x04\x00\x10\x00", 1, 10, fp); fclose(fp); }
    CHECK(read_fails(path, "version 4.0", "version 4.0") == DS_EFORMAT);
    fp = fopen(path, "wb");
    if (fp) { fwrite("\x93NUMPY\x01\x00\x40\x00{'descr'", 1, 18, fp); fclose(fp); }
    CHECK(read_fails(path, "header past the end", "truncated") == DS_EFORMAT);
    fp = fopen(path, "wb");
    if (fp) { fwrite("\x93NUMPY\x02\x00\x00\x00\x00\x40", 1, 12, fp); fclose(fp); }
    CHECK(read_fails(path, "v2 header of 1 GiB", "expected at most") == DS_EFORMAT);
    fp = fopen(path, "wb");
    if (fp) fclose(fp);
    CHECK(read_fails(path, "empty file", "magic") == DS_EFORMAT);
    CHECK(read_fails(tmp("missing.npy"), "missing file", "cannot open") == DS_EIO);
}

/* embed writes a placeholder header, streams rows, then rewrites the header
 * with the final row count in the same number of bytes. */
TEST(test_npy_sized_header_can_be_rewritten_in_place)
{
    const char *path = tmp("sized.npy");
    FILE *fp = fopen(path, "w+b");
    int64_t s0[2] = { 0, 2 }, s1[2] = { 3, 2 };
    float x[6] = { 1, 2, 3, 4, 5, 6 };
    CHECK_EQ_INT(ds_npy_write_header_sized(fp, 2, s0, 128), 0);
    CHECK_EQ_INT(ftell(fp), 128);
    fwrite(x, sizeof x[0], 6, fp);
    fseek(fp, 0, SEEK_SET);
    CHECK_EQ_INT(ds_npy_write_header_sized(fp, 2, s1, 128), 0);
    CHECK_EQ_INT(ftell(fp), 128);
    CHECK_EQ_INT(ds_npy_write_header_sized(fp, 2, s1, 32), DS_EINVAL);   /* too small */
    CHECK_EQ_INT(ds_npy_write_header_sized(fp, 2, s1, 100), DS_EINVAL);  /* not a multiple of 64 */
    fclose(fp);
    float *y = NULL;
    int nd;
    int64_t got[8];
    CHECK_MSG(ds_npy_read(path, &y, &nd, got) == 0, "%s", ds_errmsg());
    CHECK(nd == 2 && got[0] == 3 && got[1] == 2 && y && !memcmp(x, y, sizeof x));
    free(y);
}

TEST(test_npy_write_refuses_bad_shapes_and_leaves_no_file)
{
    const char *path = tmp("refused.npy");
    int64_t neg[1] = { -2 }, nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    float x = 0;
    CHECK_EQ_INT(ds_npy_write(path, &x, 1, neg), DS_EINVAL);
    CHECK_EQ_INT(ds_npy_write(path, &x, 9, nine), DS_EINVAL);
    CHECK_MSG(access(path, F_OK) != 0, "a refused write left %s", path);
}
