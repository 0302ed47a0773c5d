/* lib/io/checkpoint.c: a parameter table saved and loaded by name, and every
 * refusal naming the file and the tensor (ggml-style shape messages); then
 * checkpoints whose config or task metadata parse but are wrong, through
 * the commands that read them: each refusal names the file and the key. */
#include "test.h"
#include "cli.h"
#include "core/error.h"
#include "heads.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "presets.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

TEST(test_checkpoint_with_a_nan_weight_is_refused_naming_the_tensor)
{
    ds_params a, b;
    table_make(&a, g_rows, 3);
    ds_params_data(&a, 1)[2] = NAN;
    const char *path = tmp("nan.safetensors");
    CHECK_EQ_INT(ds_checkpoint_save(path, &a, "{\"arch\":\"t\"}"), 0);
    table_make(&b, g_rows, 3);
    CHECK_EQ_INT(ds_checkpoint_load(path, &b, 1), DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "nan.safetensors: tensor 'x.bias' holds NaN"), "%s", ds_errmsg());
    ds_params_free(&a);
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

/* ---- configs and task metadata that parse but are wrong ----------------
 * A hyenadna-demo encoder (and, with nclass > 0, a classification head)
 * saved under a config edited after the tensors were made: `key` set to the
 * JSON `value` ("" removes it), and `task` (JSON text, or NULL for none) as
 * the classifier's task object. */
static const char *edited_checkpoint(const char *name, const char *key, const char *value, int nclass,
                                     const char *task)
{
    char *json = NULL;
    ds_model *m = NULL;
    ds_cls_head head;
    memset(&head, 0, sizeof head);
    CHECK_EQ_INT(ds_preset_config_json("hyenadna-demo", NULL, NAN, &json), 0);
    CHECK_MSG(json && ds_model_from_json(&m, json) == 0, "%s", ds_errmsg());
    if (!m) { free(json); return tmp(name); }
    m->vt->init_weights(m, 1);
    if (nclass) CHECK_EQ_INT(ds_cls_head_init(&head, m->d_model, nclass), 0);
    json_t *o = json_loads(json, 0, NULL);
    if (key && !*value) json_object_del(o, key);
    else if (key) json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
    if (task) json_object_set_new(o, "task", json_loads(task, 0, NULL));
    char *cfg = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int n = m->params.n + (nclass ? head.params.n : 0);
    ds_st_entry *e = calloc((size_t)n, sizeof *e);
    for (int i = 0; i < m->params.n; i++)
        e[i] = (ds_st_entry){ m->params.p[i].name, m->params.p[i].ndim, m->params.p[i].shape, ds_params_data(&m->params, i) };
    for (int i = 0; nclass && i < head.params.n; i++)
        e[m->params.n + i] = (ds_st_entry){ head.params.p[i].name, head.params.p[i].ndim, head.params.p[i].shape,
                                            ds_params_data(&head.params, i) };
    const char *path = tmp(name), *k[1] = { DS_CKPT_CONFIG_KEY }, *v[1] = { cfg };
    CHECK_MSG(ds_st_write(path, e, n, k, v, 1) == 0, "%s", ds_errmsg());
    free(e);
    free(cfg);
    free(json);
    if (nclass) ds_cls_head_free(&head);
    ds_model_free(m);
    return path;
}

#define GB_TREE "testdata/gb_lambda/tree"
#define TASK(classes) "{\"name\": \"gb\", \"classes\": " classes ", \"max_length\": 64}"

static const char *fasta(void)
{
    const char *path = tmp("one.fa");
    FILE *fp = fopen(path, "w");
    if (fp) { fputs(">a\nACGTACGTAC\n", fp); fclose(fp); }
    return path;
}

TEST(test_eval_of_a_classifier_whose_task_classes_are_numbers_fails_naming_the_file_and_key)
{
    /* was a SIGSEGV: strdup(NULL) for each non-string class */
    const char *ck = edited_checkpoint("numbers.safetensors", NULL, NULL, 2, TASK("[0, 1]"));
    CHECK_ERROR(run("eval --from '%s' --quiet " GB_TREE, ck), 1, " eval", "task.classes");
    CHECK_MSG(strstr(g_err, ck), "'%s' does not name the file", g_err);
}

TEST(test_classifier_task_metadata_is_checked_naming_the_file_and_the_key)
{
    struct { const char *task; int nclass; const char *msg; } bad[] = {
        { TASK("[\"left_arm\", \"left_arm\"]"), 2, "'left_arm' is listed twice" },
        { TASK("[\"\", \"right_arm\"]"), 2, "entry 0 is not a non-empty string" },
        { TASK("[\"left_arm\"]"), 1, "expected 2 to 4096 class names, got 1" },
        { TASK("\"left_arm,right_arm\""), 2, "no task.classes" },
        { TASK("[\"left_arm\", \"right_arm\", \"other\"]"), 2, "names 3 classes but tensor 'decoder.0.output_transform.weight' has 2" },
        { "{\"name\": \"gb\", \"classes\": [\"left_arm\", \"right_arm\"], \"max_length\": \"64\"}", 2, "'task.max_length'" },
        { "{\"name\": \"gb\", \"classes\": [\"left_arm\", \"right_arm\"], \"max_length\": 0}", 2, "'task.max_length'" },
        { "{\"name\": \"gb\", \"classes\": [\"left_arm\", \"right_arm\"], \"max_length\": 5000}", 2, "in [1, 1026]" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "task%zu.safetensors", i);
        const char *ck = edited_checkpoint(name, NULL, NULL, bad[i].nclass, bad[i].task);
        CHECK_ERROR(run("eval --from '%s' --quiet " GB_TREE, ck), 1, " eval", bad[i].msg);
        CHECK_MSG(strstr(g_err, ck), "'%s' does not name the file", g_err);
    }
    /* the same checkpoint with sound metadata evaluates */
    const char *ok = edited_checkpoint("task_ok.safetensors", NULL, NULL, 2, TASK("[\"left_arm\", \"right_arm\"]"));
    CHECK_MSG(run("eval --from '%s' --quiet " GB_TREE, ok) == 0, "%s", g_err);
}

TEST(test_checkpoint_config_errors_name_the_file_the_key_and_the_value)
{
    struct { const char *key, *value, *cmd, *msg; } bad[] = {
        { "d_model", "\"abc\"", "eval", "config key 'd_model': expected an integer in [1, 16384], got \"abc\"" },
        { "n_layer", "0", "embed", "config key 'n_layer': expected an integer in [1, 256], got 0" },
        { "norm", "\"batchnorm\"", "eval", "config key 'norm': expected derf, dyt, layernorm or rmsnorm, got \"batchnorm\"" },
        { "norm", "3", "embed", "config key 'norm': expected a string, got 3" },
        { "arch", "\"transformer\"", "embed", "config key 'arch': model architecture 'transformer' is not built" },
        { "arch", "[1]", "eval", "config key 'arch': expected a string" },
        { "arch", "", "eval", "no \"arch\" key" },
        { "embed_dropout", "1.5", "embed", "config key 'embed_dropout': expected a number in [0, 0.999], got 1.5" },
        { "emb_dim", "4", "eval", "config key 'emb_dim': expected an odd number" },
        { "d_model", "", "embed", "config key 'd_model' is missing" },
        { "l_max", "", "eval", "config key 'l_max' is missing" },
    };
    const char *fa = fasta();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "cfg%zu.safetensors", i);
        const char *ck = edited_checkpoint(name, bad[i].key, bad[i].value, 0, NULL);
        char want[16];
        snprintf(want, sizeof want, " %s", bad[i].cmd);
        int rc = run("%s --from '%s' --quiet '%s'", bad[i].cmd, ck, fa);
        CHECK_EQ_INT(rc, 1);
        CHECK_MSG(nlines(g_err) == 1 && strstr(g_err, bad[i].msg) && strstr(g_err, ck) && !g_out[0],
                  "%s %s=%s: '%s'", bad[i].cmd, bad[i].key, bad[i].value, g_err);
        CHECK_MSG(!strncmp(g_err, "derfseq", 7) && !strncmp(g_err + 7, want, strlen(want)), "'%s'", g_err);
    }
    /* info still shows the file, with a warning that names file and key */
    const char *ck = edited_checkpoint("cfg_info.safetensors", "d_model", "\"abc\"", 0, NULL);
    CHECK_EQ_INT(run("info --quiet '%s'", ck), 0);
    CHECK_MSG(nlines(g_err) == 1 && strstr(g_err, "derfseq info: warning: ") && strstr(g_err, ck) &&
              strstr(g_err, "config key 'd_model'"), "'%s'", g_err);
    CHECK(strstr(g_out, "\"d_model\":\"abc\"") || strstr(g_out, "\"d_model\": \"abc\""));
}

TEST(test_config_asking_for_an_absurd_size_is_refused_naming_the_key)
{
    const char *fa = fasta();
    const char *ck = edited_checkpoint("huge_d.safetensors", "d_model", "1000000", 0, NULL);
    CHECK_ERROR(run("embed --from '%s' --quiet '%s'", ck, fa), 1, " embed", "config key 'd_model'");
    ck = edited_checkpoint("huge_l.safetensors", "l_max", "1000000000000", 0, NULL);
    CHECK_ERROR(run("eval --from '%s' --quiet '%s'", ck, fa), 1, " eval", "config key 'l_max'");
    /* each key in range, together far beyond any memory: refused before allocating */
    ds_model *m = NULL;
    const char *big = "{\"arch\": \"hyenadna\", \"d_model\": 16384, \"n_layer\": 256, \"d_inner\": 65536}";
    CHECK(ds_model_from_json(&m, big) == DS_ENOMEM && m == NULL);
    CHECK_MSG(strstr(ds_errmsg(), "config keys d_model 16384, n_layer 256, d_inner 65536") &&
              strstr(ds_errmsg(), "GiB, more than the"), "%s", ds_errmsg());
}

TEST(test_activations_beyond_memory_are_refused_saying_what_was_asked)
{
    const char *ck = edited_checkpoint("demo.safetensors", NULL, NULL, 0, NULL);
    CHECK_ERROR(run("eval --from '%s' --batch-size 1000000000 --seq-len 1000 --quiet testdata/lambda_virus.fa.gz", ck), 1,
                " eval", "activations for batch 1000000000 x length 1000");
    CHECK(strstr(g_err, "GiB, more than the"));
}

TEST(test_embed_safetensors_refuses_ids_that_cannot_name_a_tensor_and_writes_nothing)
{
    char ck[600], out[600], fa[600];
    snprintf(ck, sizeof ck, "%s", edited_checkpoint("embed.safetensors", NULL, NULL, 0, NULL));
    snprintf(out, sizeof out, "%s", tmp("emb.safetensors"));
    snprintf(fa, sizeof fa, "%s", tmp("ids.fa"));
    struct { const char *fasta, *msg; } bad[] = {
        { ">__metadata__\nACGT\n", "record 1: id '__metadata__' is reserved for the metadata" },
        { ">a\nACGT\n>a\nGGCC\n", "record 2: id 'a' appears twice" },
        { ">ok\nACGT\n>\xff\xfe\nACGT\n", "record 2: id '\\xff\\xfe' is not valid UTF-8" },
        { ">bad\xc0\xaf\nACGT\n", "is not valid UTF-8" },   /* an overlong '/' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *fp = fopen(fa, "w");
        if (fp) { fputs(bad[i].fasta, fp); fclose(fp); }
        CHECK_ERROR(run("embed --from '%s' --format safetensors -o '%s' --quiet '%s'", ck, out, fa), 1, " embed",
                    bad[i].msg);
        CHECK_MSG(access(out, F_OK) != 0, "a refused embed left %s", out);
    }
    /* a UTF-8 id is a valid name, and the file opens in the strict reader */
    FILE *fp = fopen(fa, "w");
    if (fp) { fputs(">r\xc3\xa9gion\nACGT\n", fp); fclose(fp); }
    CHECK_MSG(run("embed --from '%s' --format safetensors -o '%s' --quiet '%s'", ck, out, fa) == 0, "%s", g_err);
    ds_st_file f;
    CHECK_MSG(ds_st_open(&f, out) == 0, "%s", ds_errmsg());
    CHECK(f.n == 1 && !strcmp(f.t[0].name, "r\xc3\xa9gion"));
    ds_st_close(&f);
}
