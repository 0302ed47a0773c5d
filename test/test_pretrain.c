/* derfseq pretrain end to end on the bundled lambda genome: it learns, its
 * run directory resumes bit for bit, and bad inputs fail with one line. */
#include "test.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"
#define SMALL "--model hyenadna-demo --batch-size 4 --seq-len 128 --eval-windows 8 -t 2 --quiet"

static int same_file(const char *a, const char *b)
{
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

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

TEST(test_pretrain_resume_is_bitwise_identical_to_an_uninterrupted_run)
{
    char a[600], b[600], fa[700], fb[700];
    snprintf(a, sizeof a, "%s", tmp_path("whole"));
    snprintf(b, sizeof b, "%s", tmp_path("split"));
    const char *opts = SMALL " --norm layernorm --steps 24 --eval-every 12 --save-every 8";
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s'", opts, LAMBDA, a), 0);
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s' --stop-at 12", opts, LAMBDA, b), 0);
    snprintf(fa, sizeof fa, "%s/last.safetensors", a);
    snprintf(fb, sizeof fb, "%s/last.safetensors", b);
    CHECK(!same_file(fa, fb));   /* stopped half way */
    CHECK_EQ_INT(run("pretrain --resume '%s' --quiet -t 2", b), 0);
    CHECK_MSG(same_file(fa, fb), "resumed weights differ from the uninterrupted run's");
    snprintf(fa, sizeof fa, "%s/state.safetensors", a);
    snprintf(fb, sizeof fb, "%s/state.safetensors", b);
    CHECK_MSG(same_file(fa, fb), "resumed optimizer state differs");
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
