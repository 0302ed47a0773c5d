/* derfseq pretrain end to end on the bundled lambda genome: it learns, its
 * run directory resumes bit for bit, and bad inputs fail with one line. */
#include "test.h"
#include "cli.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"
#define SMALL "--model hyenadna-demo --batch-size 4 --seq-len 128 --eval-windows 8 -t 2 --quiet"

/* The "key": value of the last line of a JSONL log containing key. */
static double last_value(const char *log, const char *key)
{
    static char buf[1 << 20];
    slurp(log, buf, sizeof buf);
    double v = NAN;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    for (char *p = strstr(buf, pat); p; p = strstr(p + 1, pat)) v = strtod(p + strlen(pat), NULL);
    return v;
}

static double first_value(const char *log, const char *key)
{
    static char buf[1 << 20];
    slurp(log, buf, sizeof buf);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *p = strstr(buf, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

TEST(test_pretrain_learns_and_writes_a_run_directory)
{
    char dir[600], log[700], path[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("learn"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 80 --lr 3e-3 --eval-every 40 '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_MSG(g_err[0] == 0 && g_out[0] == 0, "--quiet run printed: '%s'", g_err);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    double first = first_value(log, "loss"), last = last_value(log, "loss"), val = last_value(log, "val_loss");
    CHECK_MSG(first > 2.5 && last < 1.45, "loss %.3f -> %.3f: no learning", first, last);   /* ln 16 -> below uniform-ish */
    CHECK_MSG(val < 1.45, "validation loss %.3f", val);
    const char *files[] = { "config.json", "state.safetensors", "last.safetensors", "best.safetensors" };
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *fp = fopen(path, "r");
        CHECK_MSG(fp != NULL, "missing %s", path);
        if (fp) fclose(fp);
    }
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    CHECK_EQ_INT(run("info '%s'", path), 0);
    CHECK(strstr(g_out, "hyena.backbone.layers.1.norm2.shift") && strstr(g_out, "\"norm\": \"derf\""));
    /* a second run into the same directory points to --resume */
    CHECK_ERROR(run("pretrain " SMALL " --steps 80 '%s' -o '%s'", LAMBDA, dir), 1, " pretrain", "--resume");
}

/* `pretrain OPTS` whole into one directory, and stopped at `stop` then
 * resumed into another: weights and optimizer state are byte-identical. */
static void check_resume_is_bitwise(const char *opts, const char *name, int stop)
{
    char a[600], b[600], fa[700], fb[700], wa[40], wb[40];
    snprintf(wa, sizeof wa, "%s_whole", name);
    snprintf(wb, sizeof wb, "%s_split", name);
    snprintf(a, sizeof a, "%s", tmp_path(wa));
    snprintf(b, sizeof b, "%s", tmp_path(wb));
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s'", opts, LAMBDA, a), 0);
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s' --stop-at %d", opts, LAMBDA, b, stop), 0);
    for (int k = 0; k < 2; k++) {
        const char *f = k ? "state.safetensors" : "last.safetensors";
        snprintf(fa, sizeof fa, "%s/%s", a, f);
        snprintf(fb, sizeof fb, "%s/%s", b, f);
        if (!k) CHECK(!same_file(fa, fb));   /* stopped half way */
        if (!k) CHECK_EQ_INT(run("pretrain --resume '%s' --quiet -t 2", b), 0);
        CHECK_MSG(same_file(fa, fb), "%s: resumed %s differs from the uninterrupted run's", name, f);
    }
}

TEST(test_pretrain_resume_is_bitwise_identical_to_an_uninterrupted_run)
{
    check_resume_is_bitwise(SMALL " --norm layernorm --steps 24 --eval-every 12 --save-every 8", "hyena", 12);
}

TEST(test_pretrain_bad_inputs_fail_with_one_line)
{
    char dir[600], bad[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("bad"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 --regions testdata/bad/end_before_start.bed '%s' -o '%s'", LAMBDA, dir),
                1, " pretrain", "end_before_start.bed:1: end (50) < start (100)");
    snprintf(dir, sizeof dir, "%s", tmp_path("bad2"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 --regions testdata/bad/unknown_contig.bed '%s' -o '%s'", LAMBDA, dir),
                1, " pretrain", "unknown contig 'chrUnknown'");
    snprintf(dir, sizeof dir, "%s", tmp_path("bad3"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 testdata/bad/no_header.fa -o '%s'", dir), 1, " pretrain", "no_header.fa");
    snprintf(dir, sizeof dir, "%s", tmp_path("bad4"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 --seq-len 5000 '%s' -o '%s'", LAMBDA, dir), 1, " pretrain",
                "exceeds");
    snprintf(bad, sizeof bad, "%s", tmp_path("empty.fa"));
    FILE *fp = fopen(bad, "w");
    if (fp) fclose(fp);
    snprintf(dir, sizeof dir, "%s", tmp_path("bad5"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 '%s' -o '%s'", bad, dir), 1, " pretrain", "empty.fa");
}

/* The "train" section of a run's config.json, as text. */
static const char *run_config(const char *dir)
{
    static char buf[1 << 16];
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", dir);
    slurp(p, buf, sizeof buf);
    return buf;
}

TEST(test_pretrain_recipe_official_sets_the_hg38_recipe_and_given_options_win)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("recipe"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 10 --eval-every 0 --recipe official '%s' -o '%s'", LAMBDA, dir), 0);
    const char *c = run_config(dir);
    const char *want[] = { "\"recipe\": \"official\"", "\"beta2\": 0.95", "\"schedule\": \"timm-cosine\"", "\"min_lr\": 0.0001",
                           "\"decay_groups\": \"official\"", "\"warmup\": 1", "\"lr\": 0.0006",
                           "\"init_embed_std\": 0.02" };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK_MSG(strstr(c, want[i]), "config lacks %s", want[i]);
    snprintf(dir, sizeof dir, "%s", tmp_path("recipe_lr"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 10 --eval-every 0 --recipe official --lr 0.002 --betas 0.8,0.9 '%s' -o '%s'", LAMBDA,
                     dir), 0);
    c = run_config(dir);
    CHECK(strstr(c, "\"lr\": 0.002") && strstr(c, "\"beta1\": 0.8") && strstr(c, "\"beta2\": 0.9"));
    snprintf(dir, sizeof dir, "%s", tmp_path("recipe_default"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 1 '%s' -o '%s'", LAMBDA, dir), 0);
    c = run_config(dir);
    CHECK(strstr(c, "\"recipe\": \"derfseq\"") && strstr(c, "\"beta2\": 0.999") && strstr(c, "\"init_embed_std\": 0.3"));
    CHECK_ERROR(run("pretrain --recipe fast --model m -o r x"), 2, " pretrain", "--recipe");
    CHECK_ERROR(run("pretrain --betas 0.9 --model m -o r x"), 2, " pretrain", "--betas");
    CHECK_ERROR(run("pretrain --betas 0.9,1.5 --model m -o r x"), 2, " pretrain", "--betas");
}

/* Every tensor of a is in b with the same values (to 1e-6, or 1e-25 near 0). */
static int same_weights(const char *a, const char *b)
{
    ds_st_file fa, fb;
    if (ds_st_open(&fa, a)) return 0;
    if (ds_st_open(&fb, b)) { ds_st_close(&fa); return 0; }
    int same = fa.n == fb.n;
    for (int i = 0; same && i < fa.n; i++) {
        const ds_st_tensor *t = ds_st_find(&fb, fa.t[i].name);
        if (!t || t->numel != fa.t[i].numel) { same = 0; break; }
        float *x = malloc(t->numel * sizeof *x), *y = malloc(t->numel * sizeof *y);
        same = x && y && !ds_st_read_f32(&fa, &fa.t[i], x) && !ds_st_read_f32(&fb, t, y);
        for (size_t k = 0; same && k < t->numel; k++) same = fabsf(x[k] - y[k]) <= 1e-25f + 1e-6f * fabsf(x[k]);
        free(x);
        free(y);
    }
    ds_st_close(&fa);
    ds_st_close(&fb);
    return same;
}

TEST(test_pretrain_init_from_starts_from_the_given_weights)
{
    char a[600], b[600], ck[700], fb[700];
    snprintf(a, sizeof a, "%s", tmp_path("init_a"));
    snprintf(b, sizeof b, "%s", tmp_path("init_b"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 3 --lr 3e-3 '%s' -o '%s'", LAMBDA, a), 0);
    snprintf(ck, sizeof ck, "%s/last.safetensors", a);
    /* lr 1e-30 and no decay: one step leaves the weights where --init-from put them */
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 1 --lr 1e-30 --weight-decay 0 --seed 9 --init-from '%s' '%s' -o '%s'", ck,
                     LAMBDA, b), 0);
    snprintf(fb, sizeof fb, "%s/last.safetensors", b);
    CHECK_MSG(same_weights(ck, fb), "the run did not start from --init-from's weights");
    CHECK(strstr(run_config(b), "\"init_from\": \"/"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 1 --norm layernorm --init-from '%s' '%s' -o '%s'", ck, LAMBDA,
                    tmp_path("init_c")), 1, " pretrain", "--init-from");
}

/* Caduceus: masked-LM pretraining on the same windows learns below the
 * 4-base uniform loss, reports masked-token accuracy, and resumes bit for
 * bit (masks are numbered by the sampler's draws). */
#define CAD "--model caduceus-demo --batch-size 4 --seq-len 128 --eval-windows 8 -t 2 --quiet"

TEST(test_pretrain_caduceus_masked_lm_learns)
{
    char dir[600], log[700], path[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("cad_learn"));
    CHECK_EQ_INT(run("pretrain " CAD " --steps 80 --lr 3e-3 --eval-every 40 '%s' -o '%s'", LAMBDA, dir), 0);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    double first = first_value(log, "loss"), val = last_value(log, "val_loss"), acc = last_value(log, "val_accuracy");
    CHECK_MSG(first > 2.0 && val < 1.37, "MLM loss %.3f -> validation %.3f: not below ln 4", first, val);
    CHECK_MSG(acc > 0.25 && acc < 1, "masked-token accuracy %.3f", acc);
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    CHECK_EQ_INT(run("eval --from '%s' --ref '%s' --max-windows 8 -t 2", path, LAMBDA), 0);
    CHECK(strstr(g_out, "objective\tmasked_lm") && strstr(g_out, "accuracy\t"));
}

TEST(test_pretrain_caduceus_resume_is_bitwise_identical_to_an_uninterrupted_run)
{
    check_resume_is_bitwise(CAD " --norm rmsnorm --steps 12 --eval-every 6 --save-every 4", "cad", 6);
}
