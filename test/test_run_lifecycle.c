/* How a training run ends and continues (cmd/rundir.c "the end of a run"):
 * the closing summary line and log record, Ctrl-C and SIGTERM that save a
 * resumable state and exit 130/143 (and --resume then reaches the same
 * weights bitwise), and --resume --steps N that extends a finished run. */
#include "test.h"
#include "cli.h"
#include "io/safetensors.h"
#include "core/error.h"
#include "config.h"

#include <jansson.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"
#define TINY "--model hyenadna-demo --batch-size 2 --seq-len 128 --eval-windows 8 -t 1"

static const char *bin(void)
{
    const char *b = getenv("DERFSEQ_BIN");
    return b && *b ? b : "build/derfseq";
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int file_has(const char *path, const char *needle)
{
    static char buf[1 << 20];
    slurp(path, buf, sizeof buf);
    return strstr(buf, needle) != NULL;
}

/* Starts derfseq with argv (argv[0] is ignored) and stderr into errpath,
 * sends sig once dir/log.jsonl holds a step, and returns the exit status
 * (-1 when it did not exit, or never logged). */
static int start_and_signal(char **argv, const char *dir, int sig, const char *errpath)
{
    char logp[700];
    snprintf(logp, sizeof logp, "%s/log.jsonl", dir);
    unlink(logp);
    argv[0] = (char *)bin();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        execv(bin(), argv);
        _exit(127);
    }
    int logged = 0;
    for (int i = 0; i < 3000 && !logged; i++) {   /* at most 30 s */
        logged = file_has(logp, "\"step\":");
        if (!logged) sleep_ms(10);
    }
    if (logged) kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
    return logged && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int pretrain_and_signal(const char *dir, long steps, int sig, const char *errpath)
{
    char nsteps[32];
    snprintf(nsteps, sizeof nsteps, "%ld", steps);
    char *argv[] = { NULL, "pretrain", "--model", "hyenadna-demo", "--batch-size", "2", "--seq-len", "128",
                     "--eval-windows", "8", "-t", "1", "--eval-every", "100", "--steps", nsteps, LAMBDA, "-o",
                     (char *)dir, NULL };
    return start_and_signal(argv, dir, sig, errpath);
}

/* The number of the step in "interrupted at step N" of errpath; 0 if none. */
static long interrupted_at(const char *errpath, const char *cmd, const char *dir)
{
    static char text[1 << 16];
    slurp(errpath, text, sizeof text);
    char want[1400];
    snprintf(want, sizeof want, "; resume with 'derfseq %s --resume %s'\n", cmd, dir);
    const char *hit = strstr(text, "interrupted at step ");
    CHECK_MSG(hit && strstr(text, want), "stderr: '%s'", text);
    return hit ? strtol(hit + 20, NULL, 10) : 0;
}

static int count_of(const char *path, const char *needle)
{
    static char buf[1 << 20];
    slurp(path, buf, sizeof buf);
    int n = 0;
    for (const char *q = buf; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

TEST(test_pretrain_ends_with_a_summary_line_and_a_done_record)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("summary"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 20 --eval-every 10 '%s' -o '%s'", LAMBDA, dir), 0);
    char want[1400];
    snprintf(want, sizeof want, "derfseq pretrain: done: 20 steps, best step ");
    CHECK_MSG(strstr(g_err, want), "no summary line in '%s'", g_err);
    snprintf(want, sizeof want, " nats/token) -> %s/best.safetensors, last %s/last.safetensors\n", dir, dir);
    CHECK_MSG(strstr(g_err, want), "summary lacks '%s': '%s'", want, g_err);
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    CHECK_MSG(file_has(p, "{\"event\":\"done\",\"steps\":20,\"of\":20,"), "no done record in %s", p);
    CHECK_MSG(file_has(p, "\"best_step\":"), "the done record lacks best_step");
    /* --stop-at says the run stopped early */
    snprintf(dir, sizeof dir, "%s", tmp_path("summary_stop"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 20 --stop-at 5 '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_MSG(strstr(g_err, "derfseq pretrain: done: 5 of 20 steps (stopped early) (no validation) -> last "), "%s", g_err);
    /* --quiet: no line, but the record */
    snprintf(dir, sizeof dir, "%s", tmp_path("summary_quiet"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 2 --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_MSG(g_err[0] == 0, "--quiet printed '%s'", g_err);
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    CHECK(file_has(p, "\"event\":\"done\""));
    /* a run stopped and resumed keeps one done record, the resumed run's */
    snprintf(dir, sizeof dir, "%s", tmp_path("summary_stop"));
    CHECK_EQ_INT(run("pretrain --resume '%s' -t 1 --quiet", dir), 0);
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    CHECK_EQ_INT(count_of(p, "\"event\":\"done\""), 1);
    CHECK(file_has(p, "\"event\":\"done\",\"steps\":20,\"of\":20,"));
}

/* Ctrl-C in the middle of a run: exit 130, the message, a resumable state;
 * --resume then ends with the weights of an uninterrupted run, bitwise. */
TEST(test_pretrain_ctrl_c_saves_a_resumable_state_and_resume_is_bitwise)
{
    char dir[600], ref[600], err[600], a[700], b[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("sigint"));
    snprintf(ref, sizeof ref, "%s", tmp_path("sigint_ref"));
    snprintf(err, sizeof err, "%s", tmp_path("sigint_err"));
    const long steps = 400;
    CHECK_EQ_INT(pretrain_and_signal(dir, steps, SIGINT, err), 130);
    CHECK(file_has(err, "derfseq pretrain: interrupted at step "));
    long at = interrupted_at(err, "pretrain", dir);
    CHECK_MSG(at > 0 && at < steps, "interrupted at step %ld of %ld (the machine was too fast?)", at, steps);
    snprintf(a, sizeof a, "%s/state.safetensors", dir);
    CHECK_MSG(access(a, F_OK) == 0, "no %s", a);
    CHECK_EQ_INT(run("pretrain --resume '%s' -t 1", dir), 0);
    char resumed[700];
    snprintf(resumed, sizeof resumed, "resuming %s at step %ld", dir, at);
    CHECK_MSG(strstr(g_err, resumed), "'%s' not in '%s'", resumed, g_err);
    CHECK_EQ_INT(run("pretrain " TINY " --eval-every 100 --steps %ld --quiet '%s' -o '%s'", steps, LAMBDA, ref), 0);
    snprintf(a, sizeof a, "%s/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/last.safetensors", ref);
    CHECK_MSG(same_file(a, b), "the resumed run's last.safetensors differs from the uninterrupted run's");
    snprintf(a, sizeof a, "%s/best.safetensors", dir);
    snprintf(b, sizeof b, "%s/best.safetensors", ref);
    CHECK_MSG(same_file(a, b), "the resumed run's best.safetensors differs from the uninterrupted run's");
}

TEST(test_pretrain_sigterm_exits_143_with_a_resumable_state)
{
    char dir[600], err[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("sigterm"));
    snprintf(err, sizeof err, "%s", tmp_path("sigterm_err"));
    CHECK_EQ_INT(pretrain_and_signal(dir, 400, SIGTERM, err), 143);
    CHECK(interrupted_at(err, "pretrain", dir) > 0);
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    CHECK_MSG(access(p, F_OK) == 0, "no %s", p);
    CHECK_EQ_INT(run("pretrain --resume '%s' --quiet", dir), 0);
}

/* A finished run extended with --resume --steps: with a constant schedule
 * (nothing to re-lay) it equals the longer run bitwise. */
TEST(test_pretrain_resume_with_more_steps_extends_the_run)
{
    char dir[600], ref[600], a[700], b[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("extend"));
    snprintf(ref, sizeof ref, "%s", tmp_path("extend_ref"));
    CHECK_EQ_INT(run("pretrain " TINY " --schedule constant --steps 20 --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_EQ_INT(run("pretrain --resume '%s' --steps 30 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "[M::pretrain] extending the run from 20 to 30 steps\n"), "%s", g_err);
    CHECK_MSG(strstr(g_err, "derfseq pretrain: done: 30 steps"), "%s", g_err);
    CHECK_EQ_INT(run("pretrain " TINY " --schedule constant --steps 30 --quiet '%s' -o '%s'", LAMBDA, ref), 0);
    snprintf(a, sizeof a, "%s/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/last.safetensors", ref);
    CHECK_MSG(same_file(a, b), "20 + 10 extended steps differ from 30 steps");
    snprintf(a, sizeof a, "%s/config.json", dir);
    CHECK_MSG(file_has(a, "\"steps\": 30,"), "config.json keeps the old total");
    /* other settings still are the run's */
    CHECK_ERROR(run("pretrain --resume '%s' --steps 40 --schedule cosine", dir), 2, " pretrain", "--schedule");
    /* a decaying schedule is laid anew, and says so */
    snprintf(dir, sizeof dir, "%s", tmp_path("extend_cos"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 10 --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    CHECK_EQ_INT(run("pretrain --resume '%s' --steps 15 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "extending the run from 10 to 15 steps; the cosine schedule is laid anew over 15 steps"),
              "%s", g_err);
    /* fewer steps than done: refused */
    CHECK_ERROR(run("pretrain --resume '%s' --steps 5 -t 1 --quiet", dir), 1, " pretrain", "already at step 15");
    CHECK_ERROR(run("pretrain --resume '%s' --epochs 5", dir), 2, " pretrain", "--steps, not --epochs");
}

#define GB "testdata/gb_lambda/table"

/* finetune: Ctrl-C mid-epoch saves the state after the step in progress;
 * --resume goes on from the next batch to the uninterrupted run's weights. */
TEST(test_finetune_ctrl_c_mid_epoch_resumes_bitwise)
{
    char dir[600], ref[600], err[600], a[700], b[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("ft_sigint"));
    snprintf(ref, sizeof ref, "%s", tmp_path("ft_sigint_ref"));
    snprintf(err, sizeof err, "%s", tmp_path("ft_sigint_err"));
    char *argv[] = { NULL, "finetune", "--model", "hyenadna-demo", "--task", "gb", "--epochs", "8", "--batch-size",
                     "16", "-t", "1", GB, "-o", dir, NULL };
    CHECK_EQ_INT(start_and_signal(argv, dir, SIGINT, err), 130);
    long at = interrupted_at(err, "finetune", dir);
    CHECK_MSG(at > 0 && at < 8 * 7, "interrupted at step %ld", at);
    CHECK_EQ_INT(run("finetune --resume '%s' -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "derfseq finetune: done: ") && strstr(g_err, ", best epoch "), "%s", g_err);
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 8 --batch-size 16 -t 1 --quiet " GB " -o '%s'",
                     ref), 0);
    static const char *const files[2] = { "last.safetensors", "best.safetensors" };
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", ref, files[i]);
        CHECK_MSG(same_file(a, b), "%s of the resumed fine-tune differs from the uninterrupted one", files[i]);
    }
    /* each step logged once */
    snprintf(a, sizeof a, "%s/log.jsonl", dir);
    snprintf(b, sizeof b, "%s/log.jsonl", ref);
    CHECK_EQ_INT(count_of(a, "\"step\":"), count_of(b, "\"step\":"));
    CHECK_EQ_INT(count_of(a, "\"val_accuracy\":"), count_of(b, "\"val_accuracy\":"));
}

TEST(test_finetune_resume_with_more_epochs_extends_the_run)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("ft_extend"));
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 16 -t 1 --quiet " GB " -o '%s'",
                     dir), 0);
    CHECK_EQ_INT(run("finetune --resume '%s' --epochs 2 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "[M::finetune] extending the run from 1 to 2 epochs; the cosine schedule is laid anew"),
              "%s", g_err);
    CHECK_MSG(strstr(g_err, "derfseq finetune: done: 2 epochs, best epoch "), "%s", g_err);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(file_has(p, "\"epochs\": 2,"));
    CHECK_ERROR(run("finetune --resume '%s' --steps 9", dir), 2, " finetune", "--epochs, not --steps");
    CHECK_ERROR(run("finetune --resume '%s' --epochs 1 -t 1 --quiet", dir), 1, " finetune", "already at epoch 2");
}

/* Model and run configs print each float as the shortest decimal that
 * reads back to the same float32. */
TEST(test_config_floats_print_as_the_shortest_float32_decimal)
{
    static const double vals[] = { 0.1, 6e-5, 3e-5, 1e-8, 0.9, 0.98, 2e-3, 1.0 / 3.0, 1e-5, 10.0 };
    static const char *const want[] = { "0.1", "6e-5", "3e-5", "1e-8", "0.9", "0.98", "0.002", "0.33333334", "1e-5",
                                        "10.0" };
    for (int i = 0; i < 10; i++) {
        json_t *o = json_pack("{s:f, s:[f]}", "v", (double)(float)vals[i], "a", (double)(float)vals[i]);
        char *text = ds_cfg_dump_flags(o, JSON_COMPACT);
        char expect[128];
        snprintf(expect, sizeof expect, "{\"v\":%s,\"a\":[%s]}", want[i], want[i]);
        CHECK_MSG(text && !strcmp(text, expect), "%.17g: got %s, want %s", vals[i], text ? text : "NULL", expect);
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        CHECK((float)json_real_value(json_object_get(back, "v")) == (float)vals[i]);
        json_decref(back);
        free(text);
        json_decref(o);
    }
}

TEST(test_run_config_stores_schedule_names_and_reads_the_old_numbers)
{
    char dir[600], p[700], cmd[2000];
    snprintf(dir, sizeof dir, "%s", tmp_path("cfgnames"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 4 --lr 2e-3 --min-lr 3e-5 --betas 0.9,0.98 --weight-decay 0.1 "
                     "--alpha-init 0.3333333333 --schedule linear --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    static const char *const keys[] = { "\"schedule\": \"linear\",", "\"lr\": 0.002,", "\"min_lr\": 3e-5,",
                                        "\"beta1\": 0.9,", "\"beta2\": 0.98,", "\"weight_decay\": 0.1,",
                                        "\"decay_groups\": \"derfseq\",", "\"recipe\": \"derfseq\",",
                                        "\"alpha_init\": 0.33333334," };
    for (int i = 0; i < 9; i++) CHECK_MSG(file_has(p, keys[i]), "config.json lacks %s", keys[i]);
    /* a run directory of derfseq 0.1.0 stored the enum's number: it still resumes */
    snprintf(cmd, sizeof cmd, "sed -i 's/\"schedule\": \"linear\"/\"schedule\": 1/' '%s'", p);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK(file_has(p, "\"schedule\": 1,"));
    CHECK_EQ_INT(run("pretrain --resume '%s' --steps 6 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "the linear schedule is laid anew"), "%s", g_err);
    CHECK(file_has(p, "\"schedule\": \"linear\","));
    snprintf(cmd, sizeof cmd, "sed -i 's/\"schedule\": \"linear\"/\"schedule\": \"wavy\"/' '%s'", p);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_ERROR(run("pretrain --resume '%s' --steps 8 -t 1", dir), 1, " pretrain", "schedule: expected cosine, linear");
    /* finetune's config.json too */
    snprintf(dir, sizeof dir, "%s", tmp_path("cfgnames_ft"));
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 16 -t 1 --quiet " GB " -o '%s'",
                     dir), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(file_has(p, "\"schedule\": \"cosine\","));
    snprintf(cmd, sizeof cmd, "sed -i 's/\"schedule\": \"cosine\"/\"schedule\": 0/' '%s'", p);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(run("finetune --resume '%s' --epochs 2 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "the cosine schedule is laid anew"), "%s", g_err);
}

/* Checkpoints of a run record its step or epoch and validation metric;
 * info shows them, with arch, preset and norm, ahead of the config. */
TEST(test_info_shows_the_run_metadata_of_a_checkpoint)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("info_meta"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 20 --eval-every 10 --norm layernorm --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    CHECK_EQ_INT(run("info --quiet '%s'", p), 0);
    static const char *const want[] = { "\narch: hyenadna\npreset: hyenadna-demo\nnorm: layernorm\ntokenizer: derfseq\nstep: 20\nval loss: ",
                                        "\ntensors: ", "\nparameters: ", "\nconfig:\n{" };
    for (int i = 0; i < 4; i++) CHECK_MSG(strstr(g_out, want[i]), "info lacks '%s': %s", want[i], g_out);
    CHECK(strstr(g_out, "parameters: ") < strstr(g_out, "config:"));
    /* --json: the same facts under "run" */
    CHECK_EQ_INT(run("info --quiet --json - '%s'", p), 0);
    json_t *root = json_loads(g_out, 0, NULL);
    json_t *r = json_object_get(root, "run");
    CHECK_EQ_INT(json_integer_value(json_object_get(r, "step")), 20);
    CHECK(json_is_real(json_object_get(r, "val_loss")));
    json_decref(root);
    /* a step with no validation: no metric */
    snprintf(dir, sizeof dir, "%s", tmp_path("info_meta_stop"));
    CHECK_EQ_INT(run("pretrain " TINY " --steps 20 --eval-every 10 --stop-at 5 --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    CHECK_EQ_INT(run("info --quiet '%s'", p), 0);
    CHECK_MSG(strstr(g_out, "\nstep: 5\n") && !strstr(g_out, "val loss"), "%s", g_out);
    /* finetune: epoch and accuracy */
    snprintf(dir, sizeof dir, "%s", tmp_path("info_meta_ft"));
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 16 -t 1 --quiet " GB " -o '%s'",
                     dir), 0);
    snprintf(p, sizeof p, "%s/best.safetensors", dir);
    CHECK_EQ_INT(run("info --quiet '%s'", p), 0);
    CHECK_MSG(strstr(g_out, "\nepoch: 1\n") && strstr(g_out, "\nval accuracy: ") && strstr(g_out, "\nstep: 7\n"), "%s",
              g_out);
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    CHECK_EQ_INT(run("info --quiet '%s'", p), 0);
    CHECK_MSG(strstr(g_out, "\nepoch: 1\n"), "%s", g_out);
}

#define SPEECH "testdata/speech/LibriSpeech-mini"

/* CTC fine-tuning: the summary names the best WER, --resume --steps
 * extends the tri-stage schedule, and best.safetensors records the WER. */
TEST(test_finetune_ctc_summary_extension_and_checkpoint_metadata)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("ctc_life"));
    CHECK_EQ_INT(run("finetune --task ctc --model wav2vec2-demo " SPEECH " --valid " SPEECH " --steps 2 --eval-every 2"
                     " --lr 1e-3 --batch-size 2 -t 1 -o '%s'", dir), 0);
    CHECK_MSG(strstr(g_err, "derfseq finetune: done: 2 steps, best step 2 (val WER ") && strstr(g_err, "%) -> "), "%s",
              g_err);
    CHECK_EQ_INT(run("finetune --resume '%s' --steps 4 -t 1", dir), 0);
    CHECK_MSG(strstr(g_err, "extending the run from 2 to 4 steps; the tri-stage schedule is laid anew over 4 steps"),
              "%s", g_err);
    CHECK_MSG(strstr(g_err, "derfseq finetune: done: 4 steps, best step "), "%s", g_err);
    snprintf(p, sizeof p, "%s/best.safetensors", dir);
    CHECK_EQ_INT(run("info --quiet '%s'", p), 0);
    CHECK_MSG(strstr(g_out, "\nval WER: ") && strstr(g_out, "\narch: wav2vec2\n"), "%s", g_out);
}
