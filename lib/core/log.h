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
/* Closes; returns DS_EIO if any earlier write was lost. NULL is a no-op. */
int ds_log_close(ds_log *log);

#endif
