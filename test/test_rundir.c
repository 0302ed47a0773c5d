/* Run directories of pretrain and finetune when something goes wrong
 * (cmd/rundir.c): a run that fails before its first save leaves nothing that
 * blocks a rerun or --resume, temp files of a killed write are swept, a
 * diverging run stops with the step and the quantity and keeps its last good
 * checkpoint, and --resume continues exactly: the best checkpoint keeps its
 * real loss, repeated steps are logged once, options it would ignore are
 * refused. */
#include "test.h"
#include "cli.h"
#include "io/safetensors.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"
#define GB "testdata/gb_lambda"
#define SMALL "--model hyenadna-demo --batch-size 4 --seq-len 128 --eval-windows 8 -t 2 --quiet"

static int exists(const char *dir, const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s%s%s", dir, name ? "/" : "", name ? name : "");
    return access(p, F_OK) == 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    CHECK_MSG(fp != NULL, "cannot write %s", path);
    if (fp) { fputs(text, fp); fclose(fp); }
}

/* metadata value `key` of a safetensors file, copied into buf ("" if absent) */
static const char *meta(const char *path, const char *key, char *buf, size_t cap)
{
    ds_st_file f;
    buf[0] = 0;
    if (ds_st_open(&f, path)) { CHECK_MSG(0, "%s", ds_errmsg()); return buf; }
    const char *v = ds_st_meta(&f, key);
    snprintf(buf, cap, "%s", v ? v : "");
    ds_st_close(&f);
    return buf;
}

/* the values of "key" over the lines of a JSONL log, in order */
static int log_values(const char *dir, const char *key, long *v, int cap)
{
    static char buf[1 << 20];
    char p[1200], pat[64];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    slurp(p, buf, sizeof buf);
    int n = 0;
    for (char *line = buf; *line && n < cap; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        char *end = strchr(line, '\n'), *hit = strstr(line, pat);
        if (hit && (!end || hit < end)) v[n++] = strtol(hit + strlen(pat), NULL, 10);
    }
    return n;
}

TEST(test_pretrain_that_fails_before_its_first_save_leaves_no_run_directory)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("failfirst"));
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 --regions testdata/bad/unknown_contig.bed '%s' -o '%s'", LAMBDA, dir),
                1, " pretrain", "unknown contig");
    CHECK_MSG(!exists(dir, NULL), "%s is left behind", dir);
    /* and so neither a rerun nor --resume is blocked */
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 2 '%s' -o '%s'", LAMBDA, dir), 0);
}

TEST(test_pretrain_restarts_a_run_killed_before_its_first_save_and_sweeps_temp_files)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("killed"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 2 '%s' -o '%s'", LAMBDA, dir), 0);
    /* what a SIGKILL during the first save leaves: config, log, a temp file */
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/state.safetensors.tmp.AbC123", dir);
    write_text(p, "half a file");
    CHECK_ERROR(run("pretrain --resume '%s' --quiet", dir), 1, " pretrain", "before its first save");
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 2 '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_MSG(!exists(dir, "state.safetensors.tmp.AbC123"), "the stale temp file is still there");
    CHECK(exists(dir, "state.safetensors"));
    long steps[16];
    /* the new run's log only: steps 1, 2 and the closing validation at 2 */
    CHECK_EQ_INT(log_values(dir, "step", steps, 16), 3);
}

TEST(test_run_directory_with_a_foreign_config_json_is_refused_and_left_intact)
{
    char dir[600], p[700], buf[64];
    snprintf(dir, sizeof dir, "%s", tmp_path("hfdir"));
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, "{\"model_type\": \"hyenadna\"}");
    CHECK_ERROR(run("pretrain " SMALL " --steps 2 '%s' -o '%s'", LAMBDA, dir), 1, " pretrain", "not a derfseq run");
    slurp(p, buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "{\"model_type\": \"hyenadna\"}"), "config.json was changed: '%s'", buf);
}

TEST(test_pretrain_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint)
{
    char dir[600], p[700], v[64];
    snprintf(dir, sizeof dir, "%s", tmp_path("nan"));
    /* lr 1e30: step 1 is finite and saved, step 2 overflows */
    CHECK_ERROR(run("pretrain " SMALL " --steps 6 --lr 1e30 --warmup 0 --save-every 1 '%s' -o '%s'", LAMBDA, dir), 1,
                " pretrain", "step 2: the training loss is NaN");
    CHECK_MSG(strstr(g_err, "keeps step 1, the last saved state"), "%s", g_err);
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    CHECK_MSG(!strcmp(meta(p, "derfseq.step", v, sizeof v), "1"), "last.safetensors is of step '%s'", v);
    /* the weights of step 1 are on disk as they were: every value finite */
    ds_st_file f;
    if (!ds_st_open(&f, p)) {
        for (int i = 0; i < f.n; i++) {
            float *x = malloc(f.t[i].numel * sizeof *x);
            CHECK_EQ_INT(ds_st_read_f32(&f, &f.t[i], x), 0);
            for (size_t k = 0; k < f.t[i].numel; k++)
                if (!isfinite(x[k])) { CHECK_MSG(0, "%s holds a non-finite value", f.t[i].name); break; }
            free(x);
        }
        ds_st_close(&f);
    }
}

TEST(test_pretrain_best_checkpoint_records_its_validation_loss_across_a_resume)
{
    char a[600], b[600], pa[700], pb[700], v[64];
    snprintf(a, sizeof a, "%s", tmp_path("best_whole"));
    snprintf(b, sizeof b, "%s", tmp_path("best_split"));
    const char *opts = SMALL " --steps 24 --eval-every 6 --save-every 6 --lr 3e-3";
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s'", opts, LAMBDA, a), 0);
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s' --stop-at 12", opts, LAMBDA, b), 0);
    snprintf(pb, sizeof pb, "%s/best.safetensors", b);
    double best12 = strtod(meta(pb, "derfseq.val_loss", v, sizeof v), NULL);
    CHECK_MSG(isfinite(best12) && best12 > 0 && best12 < 3, "best.safetensors records val_loss '%s'", v);
    CHECK_EQ_INT(run("pretrain --resume '%s' --quiet", b), 0);
    snprintf(pa, sizeof pa, "%s/best.safetensors", a);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", pa, pb);
    CHECK_MSG(system(cmd) == 0, "best.safetensors of the resumed run differs from the uninterrupted run's");
    CHECK(strtod(meta(pb, "derfseq.val_loss", v, sizeof v), NULL) <= best12);
}

TEST(test_pretrain_resume_logs_each_step_once)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("relog"));
    const char *opts = SMALL " --steps 8 --save-every 4";
    CHECK_EQ_INT(run("pretrain %s '%s' -o '%s' --stop-at 4", opts, LAMBDA, dir), 0);
    /* a run killed at step 6, mid-line: steps 5 and 6 are logged, not saved */
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *fp = fopen(p, "a");
    if (fp) { fputs("{\"step\":5,\"loss\":2.5}\n{\"step\":6,\"loss\":2.4}\n{\"step\":7,\"lo", fp); fclose(fp); }
    CHECK_EQ_INT(run("pretrain --resume '%s' --quiet", dir), 0);
    long s[32];
    int n = log_values(dir, "step", s, 32);
    CHECK_EQ_INT(n, 9);   /* steps 1..8, then the closing validation at step 8 */
    for (int i = 0; i < n && i < 9; i++) CHECK_EQ_INT(s[i], i < 8 ? i + 1 : 8);
}

TEST(test_resume_refuses_options_it_would_ignore_and_warns_about_another_thread_count)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("reopts"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 4 '%s' -o '%s' --stop-at 2", LAMBDA, dir), 0);
    CHECK_ERROR(run("pretrain --resume '%s' --batch-size 8", dir), 2, " pretrain", "--batch-size");
    CHECK_ERROR(run("pretrain --resume '%s' --lr 1", dir), 2, " pretrain", "--lr");
    CHECK_ERROR(run("pretrain --resume '%s' --seed 3", dir), 2, " pretrain", "--seed");
    CHECK_EQ_INT(run("pretrain --resume '%s' -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "[W::pretrain] resuming with 1 threads where the run started with 2"), "%s", g_err);
}

TEST(test_run_config_stores_absolute_input_paths)
{
    char dir[600], p[700];
    static char cfg[1 << 16];
    snprintf(dir, sizeof dir, "%s", tmp_path("abspath"));
    CHECK_EQ_INT(run("pretrain " SMALL " --steps 1 '%s' -o '%s'", LAMBDA, dir), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    slurp(p, cfg, sizeof cfg);
    CHECK_MSG(strstr(cfg, "\"ref\": \"/") && strstr(cfg, "/testdata/lambda_virus.fa.gz\""), "%s", cfg);
    snprintf(dir, sizeof dir, "%s", tmp_path("abspath_ft"));
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 16 -t 2 --quiet " GB
                     "/table -o '%s'", dir), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    slurp(p, cfg, sizeof cfg);
    CHECK_MSG(strstr(cfg, "\"data\": \"/") && strstr(cfg, "/testdata/gb_lambda/table\""), "%s", cfg);
}

TEST(test_finetune_divergence_stops_with_exit_1_and_saves_nothing_diverged)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("ft_nan"));
    CHECK_ERROR(run("finetune --model hyenadna-demo --task gb --epochs 3 --batch-size 16 --lr 1e30 --warmup 0 -t 2 "
                    "--quiet " GB "/table -o '%s'", dir), 1, " finetune", "is NaN");
    CHECK_MSG(strstr(g_err, "stopped before updating the weights"), "%s", g_err);
    CHECK_MSG(!exists(dir, NULL), "a run that never saved left %s", dir);
}

TEST(test_finetune_that_fails_before_its_first_epoch_leaves_no_run_directory)
{
    char dir[600], data[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("ft_fail"));
    snprintf(data, sizeof data, "%s", tmp_path("ft_fail_data"));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf 'sequence,label\\nACGT,a\\nACGA,b\\n' > '%s/train.csv'", data, data);
    CHECK_EQ_INT(system(cmd), 0);
    /* --max-length beyond the model: refused after the run directory was taken */
    CHECK_ERROR(run("finetune --model hyenadna-demo --task gb --epochs 1 --max-length 100000 -t 2 --quiet '%s' -o '%s'",
                    data, dir), 1, " finetune", "--max-length");
    CHECK_MSG(!exists(dir, NULL), "%s is left behind", dir);
}
