/* lib/core/progress: plain lines every N steps, a live bar redrawn with \r
 * on a terminal, silence with --quiet, and the [M::main] resource line. */
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "test.h"

static char g_buf[8192];

/* Runs steps 1..total through a reporter writing to a temp file; returns
 * what it wrote. */
static const char *drive(long total, long every, int quiet, int tty)
{
    ds_progress p;
    ds_progress_init(&p, "pretrain", total, "tok/s", every, quiet);
    p.fp = tmpfile();
    p.tty = tty;
    for (long s = 1; s <= total; s++) ds_progress_update(&p, s, 2.5 - 0.1 * s, 1024.0 * s);
    ds_progress_finish(&p);
    rewind(p.fp);
    size_t n = fread(g_buf, 1, sizeof g_buf - 1, p.fp);
    g_buf[n] = 0;
    fclose(p.fp);
    return g_buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *q = s; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

TEST(test_progress_plain_prints_a_line_every_n_steps_and_the_last)
{
    const char *out = drive(5, 2, 0, 0);
    CHECK_EQ_INT(count(out, "\n"), 3);
    CHECK_EQ_INT(count(out, "[M::pretrain] step "), 3);
    CHECK(strstr(out, "step 2/5  loss 2.3000  "));
    CHECK(strstr(out, "step 4/5"));
    CHECK(strstr(out, "step 5/5"));
    CHECK(strstr(out, " tok/s  ETA "));
    CHECK(!strchr(out, '\r'));
}

TEST(test_progress_plain_also_prints_a_line_when_the_interval_has_passed)
{
    ds_progress p;
    ds_progress_init(&p, "pretrain", 1000, "tok/s", 100, 0);
    CHECK(p.interval == DS_PROGRESS_SECONDS);
    p.fp = tmpfile();
    p.tty = 0;
    ds_progress_update(&p, 1, 2.0, 10.0);    /* not a multiple of 100, too soon: nothing */
    p.t_line -= DS_PROGRESS_SECONDS;         /* as if the interval had passed */
    ds_progress_update(&p, 2, 2.0, 20.0);    /* due by time */
    ds_progress_update(&p, 3, 2.0, 30.0);    /* the clock restarted: nothing */
    rewind(p.fp);
    size_t n = fread(g_buf, 1, sizeof g_buf - 1, p.fp);
    g_buf[n] = 0;
    fclose(p.fp);
    CHECK_EQ_INT(count(g_buf, "\n"), 1);
    CHECK_MSG(strstr(g_buf, "[M::pretrain] step 2/1000") != NULL, "got '%s'", g_buf);
}

TEST(test_progress_interval_comes_from_the_environment)
{
    ds_progress p;
    setenv("DERFSEQ_PROGRESS_SECONDS", "2.5", 1);
    ds_progress_init(&p, "pretrain", 10, "tok/s", 1, 0);
    CHECK(p.interval == 2.5);
    setenv("DERFSEQ_PROGRESS_SECONDS", "x", 1);   /* not a number: the default */
    ds_progress_init(&p, "pretrain", 10, "tok/s", 1, 0);
    CHECK(p.interval == DS_PROGRESS_SECONDS);
    unsetenv("DERFSEQ_PROGRESS_SECONDS");
}

TEST(test_progress_quiet_prints_nothing)
{
    CHECK_EQ_INT(strlen(drive(5, 1, 1, 0)), 0);
    CHECK_EQ_INT(strlen(drive(5, 1, 1, 1)), 0);
}

TEST(test_progress_tty_redraws_one_line_in_place)
{
    const char *out = drive(50, 1, 0, 1);
    /* Redraws are rate-limited, but the first and the last step are drawn. */
    CHECK(count(out, "\r[M::pretrain] [") >= 2);
    CHECK(count(out, "\r") < 50);
    CHECK_EQ_INT(count(out, "\n"), 1);
    CHECK(strstr(out, "[########################] step 50/50"));
    CHECK(out[strlen(out) - 1] == '\n');
}

TEST(test_progress_unknown_total_has_no_bar_and_no_eta)
{
    ds_progress p;
    ds_progress_init(&p, "eval", 0, "audio-s/s", 1, 0);
    p.fp = tmpfile();
    p.tty = 0;
    ds_progress_update(&p, 3, NAN, 48.0);
    rewind(p.fp);
    size_t n = fread(g_buf, 1, sizeof g_buf - 1, p.fp);
    g_buf[n] = 0;
    fclose(p.fp);
    CHECK_MSG(strncmp(g_buf, "[M::eval] step 3  ", 18) == 0, "got '%s'", g_buf);
    CHECK(strstr(g_buf, "audio-s/s"));
    CHECK(!strstr(g_buf, "ETA") && !strstr(g_buf, "loss"));
}

TEST(test_progress_resource_line_has_real_cpu_and_rss)
{
    char buf[128];
    double t0 = ds_realtime() - 1.5;
    double real, cpu, rss;
    ds_resource_str(buf, sizeof buf, t0);
    CHECK_MSG(sscanf(buf, "[M::main] real %lf s, CPU %lf s, peak RSS %lf GB", &real, &cpu, &rss) == 3, "got '%s'", buf);
    CHECK(real >= 1.5 && real < 60);
    CHECK(cpu >= 0);
    CHECK(rss > 0 && rss < 64);
}
