/* Progress on stderr (derfseq.md "Long work shows progress"): a live bar
 * redrawn in place when stderr is a terminal, a plain line every N steps
 * otherwise, nothing with --quiet; and the closing resource line. The cmd
 * layer drives it; nothing here writes to stdout. */
#ifndef DS_PROGRESS_H
#define DS_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *fp;            /* stderr; a test may point it elsewhere */
    char label[32];      /* "pretrain" prints as "[M::pretrain]" */
    char unit[24];       /* throughput unit, "tok/s" or "audio-s/s" */
    long total;          /* steps to do; 0 = unknown (no bar, no ETA) */
    long every;          /* plain mode: one line every `every` steps */
    double interval;     /* plain mode: and one at least every `interval` seconds */
    int quiet, tty;
    double t0;           /* ds_realtime() at init */
    double t_draw;       /* last redraw of the live bar */
    double t_line;       /* plain mode: the last line (init: t0) */
    int live;            /* a live line is on screen and needs a newline */
} ds_progress;

/* tty is taken from isatty(stderr); every <= 0 means 100. Off a terminal
 * a line also comes whenever DS_PROGRESS_SECONDS (30) have passed since
 * the last, or the seconds in $DERFSEQ_PROGRESS_SECONDS. */
#define DS_PROGRESS_SECONDS 30.0
void ds_progress_init(ds_progress *p, const char *label, long total, const char *unit, long every,
                      int quiet);
/* Reports `step` steps done (1-based), the latest loss (NaN: not shown) and
 * the units (tokens, audio seconds) processed since init. The live bar is
 * redrawn at most 10 times a second, and always at the last step. */
void ds_progress_update(ds_progress *p, long step, double loss, double units);
/* Ends a live bar with a newline, so other messages start on a clean line. */
void ds_progress_finish(ds_progress *p);

/* Seconds on a monotonic clock; differences are wall time. */
double ds_realtime(void);
/* The peak resident set size of this process so far, in GiB. */
double ds_peak_rss_gb(void);
/* "[M::main] real 12.345 s, CPU 20.1 s, peak RSS 0.123 GB" (minimap2's
 * closing line) for the time since t0, CPU of this process, peak RSS in
 * GiB; into buf, returned. */
const char *ds_resource_str(char *buf, size_t len, double t0);
/* The same line on stderr. */
void ds_resource_line(double t0);

#endif
