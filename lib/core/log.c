/* The JSONL run log (derfseq.md "--log FILE.jsonl"): compact objects, one a
 * line, flushed each time so `tail -f` and a crash both see whole lines. */
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct ds_log {
    FILE *fp;
    char *path;
    int is_stdout;
};

ds_log *ds_log_open(const char *path)
{
    ds_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        ds_err(DS_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    log->is_stdout = strcmp(path, "-") == 0;
    log->fp = log->is_stdout ? stdout : fopen(path, "a");
    if (!log->fp) {
        ds_err_errno(DS_EIO, "%s: cannot open log", path);
        free(log->path);
        free(log);
        return NULL;
    }
    return log;
}

int ds_log_write(ds_log *log, const json_t *obj)
{
    if (json_dumpf(obj, log->fp, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', log->fp) == EOF
        || fflush(log->fp) != 0)
        return ds_err_errno(DS_EIO, "%s: cannot write log", log->path);
    return 0;
}

int ds_log_close(ds_log *log)
{
    if (!log) return 0;
    int bad = ferror(log->fp);
    if (!log->is_stdout && fclose(log->fp) != 0) bad = 1;
    int rc = bad ? ds_err(DS_EIO, "%s: write error on log", log->path) : 0;
    free(log->path);
    free(log);
    return rc;
}
