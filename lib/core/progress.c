/* Progress bar / plain progress lines and the closing resource line on
 * stderr (derfseq.md "Long work shows progress"; minimap2's [M::main]). */
#define _GNU_SOURCE
#include "core/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_SECONDS 0.1

double ds_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ds_progress_init(ds_progress *p, const char *label, long total, const char *unit, long every,
                      int quiet)
{
    memset(p, 0, sizeof *p);
    p->fp = stderr;
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "tok/s");
    p->total = total > 0 ? total : 0;
    p->every = every > 0 ? every : 100;
    const char *env = getenv("DERFSEQ_PROGRESS_SECONDS");
    char *end = NULL;
    double iv = env ? strtod(env, &end) : 0;
    p->interval = env && end != env && !*end && iv > 0 ? iv : DS_PROGRESS_SECONDS;
    p->quiet = quiet;
    p->tty = isatty(fileno(stderr));
    p->t0 = ds_realtime();
    p->t_draw = -1e30;
    p->t_line = p->t0;
}

/* 12345.6 → "12.3k"; SI prefixes keep the line a fixed width. */
static void fmt_rate(char *buf, size_t len, double v)
{
    static const char *pre[] = { "", "k", "M", "G", "T" };
    int i = 0;
    while (v >= 1000 && i < 4) { v /= 1000; i++; }
    snprintf(buf, len, "%.*f%s", v < 10 ? 2 : v < 100 ? 1 : 0, v, pre[i]);
}

/* Seconds → "1h02m", "3m05s", "12s". */
static void fmt_eta(char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 1e8) { snprintf(buf, len, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
}

/* "step 120/1000  loss 2.3456  12.3k tok/s  ETA 1m23s" (fields that are
 * unknown are left out). */
static void fmt_fields(const ds_progress *p, char *buf, size_t len, long step, double loss, double units,
                       double elapsed)
{
    char rate[32], eta[32];
    int n = p->total ? snprintf(buf, len, "step %ld/%ld", step, p->total) : snprintf(buf, len, "step %ld", step);
    if (!isnan(loss) && n < (int)len) n += snprintf(buf + n, len - n, "  loss %.4f", loss);
    if (elapsed > 0 && n < (int)len) {
        fmt_rate(rate, sizeof rate, units / elapsed);
        n += snprintf(buf + n, len - n, "  %s %s", rate, p->unit);
    }
    if (p->total && step > 0 && n < (int)len) {
        fmt_eta(eta, sizeof eta, elapsed / step * (p->total - step));
        snprintf(buf + n, len - n, "  ETA %s", eta);
    }
}

static void draw_bar(ds_progress *p, const char *fields, long step)
{
    char bar[BAR_WIDTH + 1];
    int fill = p->total ? (int)((double)step / p->total * BAR_WIDTH) : 0;
    if (fill > BAR_WIDTH) fill = BAR_WIDTH;
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    /* \033[K clears what a longer previous line left behind. */
    if (p->total) fprintf(p->fp, "\r[M::%s] [%s] %s\033[K", p->label, bar, fields);
    else fprintf(p->fp, "\r[M::%s] %s\033[K", p->label, fields);
    fflush(p->fp);
    p->live = 1;
}

void ds_progress_update(ds_progress *p, long step, double loss, double units)
{
    if (p->quiet) return;
    double now = ds_realtime();
    int last = p->total && step >= p->total;
    int due = p->tty ? now - p->t_draw >= REDRAW_SECONDS : step % p->every == 0 || now - p->t_line >= p->interval;
    if (!due && !last) return;
    char fields[256];
    fmt_fields(p, fields, sizeof fields, step, loss, units, now - p->t0);
    p->t_draw = p->t_line = now;
    if (p->tty) draw_bar(p, fields, step);
    else fprintf(p->fp, "[M::%s] %s\n", p->label, fields);
}

void ds_progress_finish(ds_progress *p)
{
    if (p->live) fputc('\n', p->fp);
    p->live = 0;
    fflush(p->fp);
}

double ds_peak_rss_gb(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_maxrss / 1024.0 / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

const char *ds_resource_str(char *buf, size_t len, double t0)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    double cpu = r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
    snprintf(buf, len, "[M::main] real %.3f s, CPU %.1f s, peak RSS %.3f GB", ds_realtime() - t0, cpu, ds_peak_rss_gb());
    return buf;
}

void ds_resource_line(double t0)
{
    char buf[128];
    fprintf(stderr, "%s\n", ds_resource_str(buf, sizeof buf, t0));
}
