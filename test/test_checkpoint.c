/* lib/io/checkpoint.c: a parameter table saved and loaded by name, and every
 * refusal naming the file and the tensor (ggml-style shape messages). */
#include "test.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

static const char *tmp(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/ck_%s", ds_test_tmpdir(), name);
    return buf[k];
}

/* A table of (name, ndim, d0, d1) rows, allocated, values i + 0.5 * j. */
typedef struct { const char *name; int ndim; int64_t d0, d1; } row;

static void table_make(ds_params *ps, const row *rows, int n)
{
    ds_params_init(ps);
    for (int i = 0; i < n; i++) {
        int64_t s[2] = { rows[i].d0, rows[i].d1 };
        CHECK_MSG(ds_params_add(ps, rows[i].name, rows[i].ndim, s, 1) >= 0, "%s", ds_errmsg());
    }
    CHECK_EQ_INT(ds_params_alloc(ps), 0);
    for (int i = 0; i < ps->n; i++)
        for (size_t j = 0; j < ps->p[i].numel; j++) ds_params_data(ps, i)[j] = (float)i + 0.5f * (float)j;
}

static void table_fill(ds_params *ps, float v)
{
    for (int i = 0; i < ps->n; i++)
        for (size_t j = 0; j < ps->p[i].numel; j++) ds_params_data(ps, i)[j] = v;
}

static const row g_rows[] = { { "x.weight", 2, 4, 3 }, { "x.bias", 1, 4, 0 }, { "x.alpha", 1, 1, 0 } };

static const char *saved(void)
{
    ds_params a;
    table_make(&a, g_rows, 3);
    const char *path = tmp("model.safetensors");
    CHECK_EQ_INT(ds_checkpoint_save(path, &a, "{\"arch\":\"t\"}"), 0);
    ds_params_free(&a);
    return path;
}

TEST(test_checkpoint_round_trip_restores_every_value_and_the_config)
{
    const char *path = saved();
    ds_params a, b;
    table_make(&a, g_rows, 3);
    table_make(&b, g_rows, 3);
    table_fill(&b, -1);
    CHECK_MSG(ds_checkpoint_load(path, &b, 1) == 0, "%s", ds_errmsg());
    CHECK(!memcmp(a.data, b.data, a.total * sizeof(float)));
    char *cfg = ds_checkpoint_config(path);
    CHECK(cfg && !strcmp(cfg, "{\"arch\":\"t\"}"));
    free(cfg);
    ds_params_free(&a);
    ds_params_free(&b);
}

TEST(test_checkpoint_load_with_a_wrong_shape_names_the_tensor_and_both_shapes)
{
    const char *path = saved();
    const row r[] = { { "x.weight", 2, 4, 2 } };
    ds_params b;
    table_make(&b, r, 1);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    char want[700];
    snprintf(want, sizeof want, "%s: tensor 'x.weight' has wrong shape: expected [4,2], got [4,3]", path);
    CHECK_MSG(!strcmp(ds_errmsg(), want), "message '%s', expected '%s'", ds_errmsg(), want);
    ds_params_free(&b);
    const row rank[] = { { "x.bias", 2, 4, 1 } };
    table_make(&b, rank, 1);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), "tensor 'x.bias' has wrong shape: expected [4,1], got [4]"), "%s", ds_errmsg());
    ds_params_free(&b);
}

TEST(test_checkpoint_load_names_a_missing_tensor)
{
    const char *path = saved();
    const row r[] = { { "x.weight", 2, 4, 3 }, { "y.bias", 1, 1, 0 } };
    ds_params b;
    table_make(&b, r, 2);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), path) && strstr(ds_errmsg(), "tensor 'y.bias' is missing"), "%s", ds_errmsg());
    ds_params_free(&b);
}

TEST(test_checkpoint_strict_load_names_the_first_unknown_tensor)
{
    const char *path = saved();
    const row r[] = { { "x.alpha", 1, 1, 0 } };
    ds_params b;
    table_make(&b, r, 1);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), 0);   /* unknown tensors are ignored unless strict */
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 1), DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), path) && strstr(ds_errmsg(), "unexpected tensor 'x.weight'"), "%s", ds_errmsg());
    ds_params_free(&b);
}

TEST(test_checkpoint_refused_load_leaves_the_parameters_unchanged)
{
    const char *path = saved();
    const row r[] = { { "x.weight", 2, 4, 3 }, { "x.bias", 1, 5, 0 } };
    ds_params b;
    table_make(&b, r, 2);
    table_fill(&b, 7);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    int same = 1;
    for (size_t j = 0; j < b.p[0].numel; j++) same &= ds_params_data(&b, 0)[j] == 7.0f;
    CHECK_MSG(same, "x.weight was overwritten by a load that failed on x.bias");
    ds_params_free(&b);
}

/* Official Derf alpha/shift are [1]; some exporters write scalars as []. */
TEST(test_checkpoint_scalar_tensor_matches_shape_one_and_half_precision_loads)
{
    const char *path = tmp("scalar.safetensors");
    uint16_t bf[2] = { 0x3f00, 0xc000 };   /* 0.5 and -2.0 in BF16 */
    unsigned char buf[8 + 128];
    const char *hdr = "{\"n.alpha\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]},"
                      "\"n.shift\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}}";
    size_t h = strlen(hdr);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
    memcpy(buf + 8, hdr, h);
    memcpy(buf + 8 + h, bf, 4);
    FILE *fp = fopen(path, "wb");
    if (fp) { fwrite(buf, 1, 8 + h + 4, fp); fclose(fp); }
    const row r[] = { { "n.alpha", 1, 1, 0 }, { "n.shift", 1, 1, 0 } };
    ds_params b;
    table_make(&b, r, 2);
    CHECK_MSG(ds_checkpoint_load(path, &b, 1) == 0, "%s", ds_errmsg());
    CHECK(ds_params_data(&b, 0)[0] == 0.5f && ds_params_data(&b, 1)[0] == -2.0f);
    ds_params_free(&b);
    const row r0[] = { { "n.shift", 0, 0, 0 } };   /* and [1] in the file fits a 0-dim parameter */
    table_make(&b, r0, 1);
    CHECK_MSG(ds_checkpoint_load(path, &b, 0) == 0, "%s", ds_errmsg());
    ds_params_free(&b);
    const row r2[] = { { "n.alpha", 2, 1, 1 } };   /* but not any shape with one element */
    table_make(&b, r2, 1);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), "tensor 'n.alpha' has wrong shape: expected [1,1], got []"), "%s", ds_errmsg());
    ds_params_free(&b);
}

TEST(test_checkpoint_integer_tensor_is_refused_naming_it)
{
    const char *path = tmp("int.safetensors");
    int32_t v = 3;
    const char *hdr = "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned long long h = strlen(hdr);
    FILE *fp = fopen(path, "wb");
    for (int i = 0; fp && i < 8; i++) fputc((int)(h >> (8 * i)) & 0xff, fp);
    if (fp) { fputs(hdr, fp); fwrite(&v, 4, 1, fp); fclose(fp); }
    const row r[] = { { "w", 1, 1, 0 } };
    ds_params b;
    table_make(&b, r, 1);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 0), DS_EMISMATCH);
    CHECK_MSG(strstr(ds_errmsg(), "tensor 'w' has dtype I32"), "%s", ds_errmsg());
    ds_params_free(&b);
}

TEST(test_checkpoint_saves_and_loads_an_alias_under_its_own_name)
{
    ds_params a, b;
    int64_t s[1] = { 3 };
    ds_params_init(&a);
    int t = ds_params_add_buffer(&a, "freq", 1, s);
    ds_params_add_alias(&a, "layer.1.freq", t);
    ds_params_alloc(&a);
    ds_params_data(&a, 0)[2] = 9;
    const char *path = tmp("alias.safetensors");
    CHECK_EQ_INT(ds_checkpoint_save(path, &a, NULL), 0);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, path), 0);
    CHECK(f.n == 2 && ds_st_find(&f, "layer.1.freq") && f.nmeta == 0);
    ds_st_close(&f);
    ds_params_init(&b);
    t = ds_params_add_buffer(&b, "freq", 1, s);
    ds_params_add_alias(&b, "layer.1.freq", t);
    ds_params_alloc(&b);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 1), 0);
    CHECK(ds_params_data(&b, 1)[2] == 9.0f);
    ds_params_free(&a);
    ds_params_free(&b);
}

TEST(test_checkpoint_config_absent_or_unreadable_file_is_an_error_naming_it)
{
    ds_params a;
    table_make(&a, g_rows, 1);
    const char *path = tmp("noconfig.safetensors");
    CHECK_EQ_INT(ds_checkpoint_save(path, &a, NULL), 0);
    ds_params_free(&a);
    ds_err_clear();
    CHECK(ds_checkpoint_config(path) == NULL);
    CHECK_MSG(strstr(ds_errmsg(), path) && strstr(ds_errmsg(), DS_CKPT_CONFIG_KEY), "%s", ds_errmsg());
    const char *missing = tmp("missing.safetensors");
    CHECK(ds_checkpoint_config(missing) == NULL && strstr(ds_errmsg(), missing));
    ds_params b;
    table_make(&b, g_rows, 1);
    CHECK(ds_checkpoint_load(missing, &b, 0) == DS_EIO && strstr(ds_errmsg(), missing));
    ds_params_free(&b);
}
