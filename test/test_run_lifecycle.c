/* How a training run ends and continues (cmd/rundir.c "the end of a run"):
 * the closing summary line and log record, Ctrl-C and SIGTERM that save a
 * resumable state and exit 130/143 (and --resume then reaches the same
 * weights bitwise), and --resume --steps N that extends a finished run. */
#include "test.h"
#include "cli.h"
#include "io/safetensors.h"
#include "core/error.h"

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

/* Starts `derfseq pretrain TINY --steps N GENOME -o dir` with stderr into
 * errpath, sends sig once dir/log.jsonl holds a step, and returns the exit
 * status (-1 when it did not exit, or never logged). */
static int pretrain_and_signal(const char *dir, long steps, int sig, const char *errpath)
{
    char nsteps[32], logp[700];
    snprintf(nsteps, sizeof nsteps, "%ld", steps);
    snprintf(logp, sizeof logp, "%s/log.jsonl", dir);
    unlink(logp);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        execl(bin(), bin(), "pretrain", "--model", "hyenadna-demo", "--batch-size", "2", "--seq-len", "128",
              "--eval-windows", "8", "-t", "1", "--eval-every", "100", "--steps", nsteps, LAMBDA, "-o", dir, (char *)NULL);
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
    static char text[1 << 16];
    slurp(err, text, sizeof text);
    char want[1400];
    snprintf(want, sizeof want, "; resume with 'derfseq pretrain --resume %s'\n", dir);
    CHECK_MSG(strstr(text, "derfseq pretrain: interrupted at step ") && strstr(text, want), "stderr: '%s'", text);
    long at = 0;
    const char *hit = strstr(text, "interrupted at step ");
    if (hit) at = strtol(hit + 20, NULL, 10);
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
    CHECK(file_has(err, "derfseq pretrain: interrupted at step "));
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
