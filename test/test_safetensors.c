/* lib/io/safetensors.c: round trips, exact F16/BF16/F64 conversion, and
 * every malformed file refused with DS_EFORMAT and a message naming it. */
#include "test.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *tmp(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/st_%s", ds_test_tmpdir(), name);
    return buf[k];
}

/* A hand-made file: 8-byte little-endian length (the header's own when
 * hlen is -1, else hlen's bits), the header, then n data bytes. */
static void write_raw(const char *path, const char *header, const void *data, size_t n, long long hlen)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) { CHECK_MSG(0, "cannot create %s", path); return; }
    unsigned long long h = hlen == -1 ? strlen(header) : (unsigned long long)hlen;
    for (int i = 0; i < 8; i++) fputc((int)(h >> (8 * i)) & 0xff, fp);
    fputs(header, fp);
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) { CHECK_MSG(0, "cannot create %s", path); return; }
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

/* Returns the code of a failed open; CHECKs that the message names the file
 * and contains `needle` (when given). */
static int open_fails(const char *path, const char *what, const char *needle)
{
    ds_st_file f;
    ds_err_clear();
    int r = ds_st_open(&f, path);
    if (r == 0) { ds_st_close(&f); CHECK_MSG(0, "%s: opened a malformed file", what); return 0; }
    CHECK_MSG(strstr(ds_errmsg(), path) != NULL, "%s: message '%s' does not name the file", what, ds_errmsg());
    CHECK_MSG(!needle || strstr(ds_errmsg(), needle), "%s: message '%s' lacks \"%s\"", what, ds_errmsg(), needle);
    CHECK_MSG(!strchr(ds_errmsg(), '\n'), "%s: message '%s' is more than one line", what, ds_errmsg());
    CHECK_MSG(f.map == NULL && f.t == NULL && f.path == NULL, "%s: a failed open left state behind", what);
    return r;
}

static float f_bits(uint32_t b)
{
    float x;
    memcpy(&x, &b, 4);
    return x;
}

static uint32_t bits_f(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

TEST(test_safetensors_round_trip_keeps_names_shapes_values_and_metadata)
{
    float a[6] = { 1, -2, 3.5f, 1e-30f, -0.0f, 7 }, b[1] = { 0.25f }, c[1] = { -9 }, d[24];
    ds_test_fill_uniform(d, 24, -3, 3, 7);
    int64_t sa[2] = { 2, 3 }, sb[1] = { 1 }, sd[3] = { 2, 3, 4 }, se[2] = { 0, 5 };
    ds_st_entry e[5] = { { "layer.weight", 2, sa, a }, { "layer.alpha", 1, sb, b }, { "scalar", 0, NULL, c },
                         { "block.0.w", 3, sd, d }, { "empty", 2, se, NULL } };
    const char *k[2] = { "derfseq.config", "note" }, *v[2] = { "{\"arch\": \"x\"}", "caf\xc3\xa9 \"quoted\"\n" };
    const char *path = tmp("rt.safetensors");
    CHECK_EQ_INT(ds_st_write(path, e, 5, k, v, 2), 0);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    CHECK_EQ_INT(f.n, 5);
    for (int i = 0; i < 5 && i < f.n; i++) {
        const ds_st_tensor *t = &f.t[i];
        CHECK_MSG(!strcmp(t->name, e[i].name), "tensor %d is '%s', expected '%s' (file order)", i, t->name, e[i].name);
        CHECK(t->dtype == DS_ST_F32 && t->ndim == e[i].ndim);
        for (int j = 0; j < t->ndim; j++) CHECK(t->shape[j] == e[i].shape[j]);
        float got[24] = { 0 };
        CHECK_EQ_INT(ds_st_read_f32(&f, t, got), 0);
        CHECK_MSG(t->numel == 0 || !memcmp(got, e[i].data, t->numel * sizeof(float)), "values of '%s' differ", t->name);
    }
    CHECK(ds_st_find(&f, "scalar") && ds_st_find(&f, "scalar")->numel == 1);
    CHECK(ds_st_find(&f, "empty") && ds_st_find(&f, "empty")->numel == 0);
    CHECK_EQ_INT(f.nmeta, 2);
    CHECK(ds_st_meta(&f, "derfseq.config") && !strcmp(ds_st_meta(&f, "derfseq.config"), v[0]));
    CHECK(ds_st_meta(&f, "note") && !strcmp(ds_st_meta(&f, "note"), v[1]));
    CHECK(ds_st_meta(&f, "nope") == NULL);
    CHECK(ds_st_find(&f, "nope") == NULL);
    ds_st_close(&f);
}

TEST(test_safetensors_header_is_padded_with_spaces_to_a_multiple_of_8)
{
    float a[3] = { 1, 2, 3 };
    int64_t s[1] = { 3 };
    /* names of every length mod 8, so some header needs padding */
    for (int len = 1; len <= 8; len++) {
        char name[16] = "tttttttt";
        name[len] = 0;
        ds_st_entry e = { name, 1, s, a };
        const char *path = tmp("pad.safetensors");
        CHECK_EQ_INT(ds_st_write(path, &e, 1, NULL, NULL, 0), 0);
        FILE *fp = fopen(path, "rb");
        unsigned char buf[256];
        size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
        if (fp) fclose(fp);
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = h << 8 | buf[i];
        CHECK_EQ_INT(h % 8, 0);
        CHECK_EQ_INT(n, 8 + h + sizeof a);
        CHECK(buf[8] == '{');
        size_t close = 8 + h - 1;
        while (close > 8 && buf[close] == ' ') close--;
        CHECK_MSG(buf[close] == '}', "the header ends in '%c', expected '}' then spaces", buf[close]);
        CHECK(!memcmp(buf + 8 + h, a, sizeof a));
    }
}

TEST(test_safetensors_converts_f16_exactly)
{
    /* 1, -2, max 65504, smallest subnormal 2^-24, largest subnormal,
     * negative subnormal, -0, 1/3 rounded, inf, -inf, nan */
    uint16_t h[11] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x8001, 0x8000, 0x3555, 0x7c00, 0xfc00, 0x7e00 };
    float want[10] = { 1.0f, -2.0f, 65504.0f, ldexpf(1, -24), ldexpf(1023, -24), -ldexpf(1, -24), -0.0f,
                       0.333251953125f, INFINITY, -INFINITY };
    const char *path = tmp("f16.safetensors");
    write_raw(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]}}", h, sizeof h, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    float x[11];
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "h"), x), 0);
    for (int i = 0; i < 10; i++)
        CHECK_MSG(bits_f(x[i]) == bits_f(want[i]), "F16 0x%04x -> %.9g, expected %.9g", h[i], x[i], want[i]);
    CHECK(isnan(x[10]));
    ds_st_close(&f);
}

TEST(test_safetensors_converts_bf16_exactly)
{
    /* 1, -3, 1/3 rounded, smallest subnormal 2^-133, -0, inf, -inf, max */
    uint16_t b[8] = { 0x3f80, 0xc040, 0x3eab, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7f7f };
    float want[8] = { 1.0f, -3.0f, 0.333984375f, ldexpf(1, -133), -0.0f, INFINITY, -INFINITY, f_bits(0x7f7f0000u) };
    const char *path = tmp("bf16.safetensors");
    write_raw(path, "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}", b, sizeof b, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    float x[8];
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "b"), x), 0);
    for (int i = 0; i < 8; i++)
        CHECK_MSG(bits_f(x[i]) == bits_f(want[i]), "BF16 0x%04x -> %.9g, expected %.9g", b[i], x[i], want[i]);
    ds_st_close(&f);
}

TEST(test_safetensors_converts_f64_to_the_nearest_float)
{
    double d[4] = { 0.1, -1e-3, 1e300, 16777217.0 };
    const char *path = tmp("f64.safetensors");
    write_raw(path, "{\"d\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]}}", d, sizeof d, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    float x[4];
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "d"), x), 0);
    for (int i = 0; i < 4; i++) CHECK(bits_f(x[i]) == bits_f((float)d[i]));
    ds_st_close(&f);
}

/* Tensors after an odd-sized one start at unaligned addresses in the
 * mapping; the sanitizer build checks that reading them is defined. */
TEST(test_safetensors_reads_tensors_at_unaligned_offsets)
{
    unsigned char data[17];   /* U8, 2 x F16, F32, F64 */
    uint16_t h = 0x3c00;
    float x = -1.5f;
    double d = 2.25;
    data[0] = 7;   /* U8 */
    memcpy(data + 1, &h, 2);
    memcpy(data + 3, &h, 2);
    memcpy(data + 5, &x, 4);
    memcpy(data + 9, &d, 8);
    const char *path = tmp("unaligned.safetensors");
    /* the header is padded so the data section is 8-aligned: offsets 1, 5 and
     * 9 are then odd addresses for F16, F32 and F64 values */
    char hdr[400];
    int k = snprintf(hdr, sizeof hdr, "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                     "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[1,5]},"
                     "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[5,9]},"
                     "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[9,17]}}");
    while (k % 8) hdr[k++] = ' ';
    hdr[k] = 0;
    write_raw(path, hdr, data, 17, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    float hv[2] = { 0 }, xv = 0, dv = 0;
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "h"), hv), 0);
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "x"), &xv), 0);
    CHECK_EQ_INT(ds_st_read_f32(&f, ds_st_find(&f, "d"), &dv), 0);
    CHECK(hv[0] == 1.0f && hv[1] == 1.0f && xv == -1.5f && dv == 2.25f);
    CHECK(ds_st_find(&f, "x")->ndim == 0 && ds_st_find(&f, "x")->numel == 1);
    ds_st_close(&f);
}

TEST(test_safetensors_opens_every_dtype_of_the_format_and_converts_only_floats)
{
    unsigned char z[64] = { 0 };
    const char *names[] = { "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL",
                            "F8_E4M3", "F8_E5M2" };
    size_t sizes[] = { 4, 2, 2, 8, 8, 4, 2, 1, 8, 4, 2, 1, 1, 1, 1 };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%zu]}}", names[i], 2 * sizes[i]);
        const char *path = tmp("dtype.safetensors");
        write_raw(path, hdr, z, 2 * sizes[i], -1);
        ds_st_file f;
        int r = ds_st_open(&f, path);
        CHECK_MSG(r == 0, "dtype %s: %s", names[i], ds_errmsg());
        if (r) continue;
        CHECK(!strcmp(ds_st_dtype_name(f.t[0].dtype), names[i]));
        float x[2];
        int is_float = i < 4;
        r = ds_st_read_f32(&f, &f.t[0], x);
        CHECK_MSG(is_float ? r == 0 : r == DS_EFORMAT && strstr(ds_errmsg(), "tensor 't'") && strstr(ds_errmsg(), path),
                  "dtype %s: read gave %d (%s)", names[i], r, ds_errmsg());
        ds_st_close(&f);
    }
}

TEST(test_safetensors_accepts_no_tensors_and_zero_sized_tensors)
{
    const char *path = tmp("none.safetensors");
    write_raw(path, "{}", NULL, 0, -1);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    CHECK_EQ_INT(f.n, 0);
    ds_st_close(&f);
    float x[2] = { 1, 2 };
    write_raw(path, "{\"__metadata__\":{},\"e\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
                    "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"z\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[8,8]}}", x, 8, -1);
    CHECK_MSG(ds_st_open(&f, path) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(f.n, 3);
    CHECK_EQ_INT(f.nmeta, 0);
    ds_st_close(&f);
}

TEST(test_safetensors_rejects_each_malformed_header_naming_the_file_and_the_tensor)
{
    unsigned char z[32] = { 0 };
    struct { const char *what, *header; size_t ndata; long long hlen; const char *needle; } bad[] = {
        { "header length larger than the file", "{}", 0, 1000, "header length 1000" },
        { "header length over the bound", "{}", 0, (long long)DS_ST_MAX_HEADER + 1, "expected at most" },
        { "header length near 2^64", "{}", 0, -2, "header length" },
        { "invalid JSON", "{\"a\":", 0, -1, "JSON" },
        { "JSON with trailing text", "{} x", 0, -1, "JSON" },
        { "not an object", "[1,2]", 0, -1, "'{'" },
        { "leading space", " {}", 0, -1, "'{'" },
        { "duplicate tensor name", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1, "JSON" },
        { "entry not an object", "{\"a\":[1]}", 0, -1, "tensor 'a'" },
        { "unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, -1, "tensor 'a': dtype F8, expected" },
        { "missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, "tensor 'a': dtype" },
        { "dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, "tensor 'a': dtype" },
        { "shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, -1, "tensor 'a': shape" },
        { "negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, -1, "tensor 'a': shape[0]" },
        { "fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, -1, "tensor 'a': shape[0]" },
        { "nine dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, -1, "tensor 'a': shape" },
        { "shape overflowing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4, -1,
          "tensor 'a': shape" },
        { "missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, -1, "tensor 'a': data_offsets" },
        { "three data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, -1, "tensor 'a': data_offsets" },
        { "negative begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, -1, "tensor 'a': data_offsets" },
        { "end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, -1, "tensor 'a': data_offsets" },
        { "offsets out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1,
          "tensor 'a': data_offsets [0, 16] run past the data section, expected end <= 8" },
        { "size not matching shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1,
          "tensor 'a': data_offsets [0, 8] hold 8 bytes, expected 12" },
        { "size not matching dtype", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1,
          "tensor 'a': data_offsets [0, 8] hold 8 bytes, expected 4" },
        { "overlapping offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1,
          "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8], expected begin 8" },
        { "identical offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, "overlap" },
        { "gap at the start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1,
          "tensor 'a': data_offsets [4, 8] leave 4 unused bytes before it, expected begin 0" },
        { "gap between tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, -1,
          "tensor 'b': data_offsets [8, 12] leave 4 unused bytes before it, expected begin 4" },
        { "trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, -1,
          "data section has 8 bytes but the tensors cover 4" },
        { "metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, -1, "__metadata__: value of 'k' is not a string" },
        { "metadata not an object", "{\"__metadata__\":[\"k\"]}", 0, -1, "__metadata__: expected an object" },
        { "metadata null", "{\"__metadata__\":{\"k\":null}}", 0, -1, "'k'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = tmp("bad.safetensors");
        write_raw(path, bad[i].header, z, bad[i].ndata, bad[i].hlen);
        int r = open_fails(path, bad[i].what, bad[i].needle);
        CHECK_MSG(r == DS_EFORMAT, "%s: code %d, expected DS_EFORMAT", bad[i].what, r);
    }
}

TEST(test_safetensors_rejects_a_truncated_file)
{
    float a[16];
    ds_test_fill_uniform(a, 16, -1, 1, 3);
    int64_t s[1] = { 16 };
    ds_st_entry e = { "w", 1, s, a };
    const char *path = tmp("trunc.safetensors");
    CHECK_EQ_INT(ds_st_write(path, &e, 1, NULL, NULL, 0), 0);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    CHECK_EQ_INT(truncate(path, size - 4), 0);   /* data cut short */
    CHECK(open_fails(path, "data cut short", "tensor 'w'") == DS_EFORMAT);
    CHECK_EQ_INT(truncate(path, 20), 0);          /* inside the header */
    CHECK(open_fails(path, "header cut short", "header length") == DS_EFORMAT);
}

TEST(test_safetensors_rejects_a_file_shorter_than_8_bytes_and_an_empty_file)
{
    const char *path = tmp("short.safetensors");
    write_bytes(path, "abc", 3);
    CHECK(open_fails(path, "file shorter than 8 bytes", "3 bytes, expected at least 8") == DS_EFORMAT);
    write_bytes(path, "", 0);
    CHECK(open_fails(path, "empty file", "0 bytes, expected at least 8") == DS_EFORMAT);
}

TEST(test_safetensors_missing_file_or_directory_is_an_io_error)
{
    CHECK(open_fails(tmp("missing.safetensors"), "missing file", "cannot open") == DS_EIO);
    CHECK(open_fails(ds_test_tmpdir(), "directory", "not a regular file") == DS_EIO);
}

TEST(test_safetensors_write_refuses_bad_entries_and_leaves_no_file)
{
    float a[2] = { 1, 2 };
    int64_t s[1] = { 2 }, neg[1] = { -1 };
    const char *path = tmp("refused.safetensors");
    ds_st_entry dup[2] = { { "w", 1, s, a }, { "w", 1, s, a } };
    CHECK(ds_st_write(path, dup, 2, NULL, NULL, 0) == DS_EINVAL && strstr(ds_errmsg(), "'w'") && strstr(ds_errmsg(), path));
    ds_st_entry reserved = { "__metadata__", 1, s, a };
    CHECK(ds_st_write(path, &reserved, 1, NULL, NULL, 0) == DS_EINVAL);
    ds_st_entry negative = { "n", 1, neg, a };
    CHECK(ds_st_write(path, &negative, 1, NULL, NULL, 0) == DS_EINVAL && strstr(ds_errmsg(), "'n'"));
    ds_st_entry nodata = { "d", 1, s, NULL };
    CHECK(ds_st_write(path, &nodata, 1, NULL, NULL, 0) == DS_EINVAL && strstr(ds_errmsg(), "'d'"));
    const char *k[2] = { "k", "k" }, *v[2] = { "1", "2" };
    CHECK(ds_st_write(path, dup, 1, k, v, 2) == DS_EINVAL && strstr(ds_errmsg(), "'k'"));
    CHECK_MSG(access(path, F_OK) != 0, "a refused write left %s", path);
    CHECK(ds_st_write(tmp("no-such-dir/x.safetensors"), dup, 1, NULL, NULL, 0) == DS_EIO);
}

TEST(test_safetensors_files_written_are_read_back_by_the_strict_reader_for_many_shapes)
{
    float buf[64];
    ds_test_fill_uniform(buf, 64, -5, 5, 11);
    const char *path = tmp("many.safetensors");
    for (int n = 0; n <= 9; n++) {   /* header lengths and data sizes of every residue mod 8 */
        ds_st_entry e[9];
        int64_t shapes[9][2];
        char names[9][16];
        for (int i = 0; i < n; i++) {
            shapes[i][0] = i + 1;
            shapes[i][1] = (i * 3) % 5;
            memset(names[i], 'a' + i, (size_t)i + 1);   /* names of growing length */
            names[i][i + 1] = 0;
            e[i] = (ds_st_entry){ names[i], 2, shapes[i], buf };
        }
        CHECK_EQ_INT(ds_st_write(path, e, n, NULL, NULL, 0), 0);
        ds_st_file f;
        int r = ds_st_open(&f, path);
        CHECK_MSG(r == 0, "%d tensors: %s", n, ds_errmsg());
        if (!r) { CHECK_EQ_INT(f.n, n); ds_st_close(&f); }
    }
}

TEST(test_safetensors_write_refuses_empty_and_non_utf8_names_and_leaves_no_file)
{
    float a[2] = { 1, 2 };
    int64_t s[1] = { 2 };
    const char *path = tmp("names.safetensors");
    struct { const char *name, *msg; } bad[] = {
        { "", "name '' is empty" },
        { "__metadata__", "is reserved for the metadata" },
        { "w\xff", "name 'w\\xff' is not valid UTF-8" },
        { "a\xc0\xaf", "is not valid UTF-8" },           /* overlong '/' */
        { "\xed\xa0\x80", "is not valid UTF-8" },         /* a UTF-16 surrogate */
        { "\xf4\x90\x80\x80", "is not valid UTF-8" },     /* above U+10FFFF */
        { "x\xe2\x82", "is not valid UTF-8" },            /* truncated */
        { "\x80y", "is not valid UTF-8" },                /* a stray continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_st_entry e[2] = { { "ok", 1, s, a }, { bad[i].name, 1, s, a } };
        CHECK(ds_st_write(path, e, 2, NULL, NULL, 0) == DS_EINVAL);
        CHECK_MSG(strstr(ds_errmsg(), path) && strstr(ds_errmsg(), "tensor 1: ") && strstr(ds_errmsg(), bad[i].msg),
                  "name %zu: %s", i, ds_errmsg());
        CHECK_MSG(access(path, F_OK) != 0, "a refused write left %s", path);
    }
    const char *k[1] = { "bad\xfe" }, *v[1] = { "1" };
    ds_st_entry one = { "ok", 1, s, a };
    CHECK(ds_st_write(path, &one, 1, k, v, 1) == DS_EINVAL && strstr(ds_errmsg(), "not valid UTF-8"));
    /* every valid UTF-8 form is a name the strict reader reads back */
    ds_st_entry good[3] = { { "r\xc3\xa9gion", 1, s, a }, { "\xe2\x82\xac", 1, s, a }, { "\xf0\x9f\x98\x80", 1, s, a } };
    CHECK_MSG(ds_st_write(path, good, 3, NULL, NULL, 0) == 0, "%s", ds_errmsg());
    ds_st_file f;
    CHECK_MSG(ds_st_open(&f, path) == 0, "%s", ds_errmsg());
    CHECK(f.n == 3 && ds_st_find(&f, "\xf0\x9f\x98\x80"));
    ds_st_close(&f);
}

TEST(test_utf8_validation_reports_the_first_bad_byte)
{
    size_t at = 99;
    CHECK(ds_utf8_valid("abc", 3, &at) && at == 99);
    CHECK(ds_utf8_valid("\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf", 11, NULL));   /* U+0080, U+07FF, U+FFFF, U+10FFFF */
    CHECK(!ds_utf8_valid("ab\xc1\xbf", 4, &at) && at == 2);    /* overlong */
    CHECK(!ds_utf8_valid("a\xe0\x9f\xbf", 4, &at) && at == 1); /* overlong 3-byte */
    CHECK(!ds_utf8_valid("\xf0\x8f\xbf\xbf", 4, &at) && at == 0);
    CHECK(!ds_utf8_valid("\xf5\x80\x80\x80", 4, &at) && at == 0);
    CHECK(!ds_utf8_valid("ok\xc3", 3, &at) && at == 2);        /* truncated at the end */
    CHECK(!ds_utf8_valid("\xe2\x28\xa1", 3, &at) && at == 0);  /* bad continuation */
}
