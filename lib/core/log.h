/* The JSONL run log (derfseq.md "--log FILE.jsonl"): one JSON object per
 * line, flushed after each, so a crashed run keeps every step it logged. */
#ifndef DS_LOG_H
#define DS_LOG_H

#include <jansson.h>

typedef struct ds_log ds_log;

/* Opens path for appending (a resumed run continues its log); "-" is
 * stdout. NULL with ds_errmsg() set on failure. */
ds_log *ds_log_open(const char *path);
/* Appends obj as one compact line and flushes; obj stays the caller's. */
int ds_log_write(ds_log *log, const json_t *obj);
/* A JSON number for x, or null when x is NaN or infinite (JSON has no
 * such numbers, and jansson refuses them: a json_pack with "f" of an
 * overflowed perplexity would build nothing and the line would be lost). */
json_t *ds_json_real(double x);
/* Keeps the lines of a run log whose "step" (and "epoch") counters are at
 * most those given (a negative limit ignores that counter), drops a torn
 * last line and the {"event": "done"} record of the run that stopped, and rewrites the file atomically: a resumed run then logs the
 * steps it repeats once, not twice. A missing file is not an error. */
int ds_log_rewind(const char *path, long max_step, long max_epoch);
/* Closes; returns DS_EIO if any earlier write was lost. NULL is a no-op. */
int ds_log_close(ds_log *log);

/* A training run's two logs: its own RUN/log.jsonl and the user's --log
 * (optional), written line for line alike. */
typedef struct { ds_log *run, *user; } ds_log_pair;
/* Opens both (user_path NULL: none); an error names the file. On MPI ranks
 * other than 0 it opens neither and writes are no-ops: rank 0 logs. */
int ds_log_pair_open(ds_log_pair *p, const char *run_path, const char *user_path);
/* Writes obj to both and releases it (NULL: an out-of-memory error). */
int ds_log_pair_write(ds_log_pair *p, json_t *obj);
int ds_log_pair_close(ds_log_pair *p);

#endif
