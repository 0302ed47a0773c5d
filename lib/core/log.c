/* The JSONL run log (derfseq.md "--log FILE.jsonl"): compact objects, one a
 * line, flushed each time so `tail -f` and a crash both see whole lines. */
#include "core/log.h"
#include "core/dist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/outfile.h"

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

json_t *ds_json_real(double x) { return isfinite(x) ? json_real(x) : json_null(); }

int ds_log_write(ds_log *log, const json_t *obj)
{
    if (!obj) return ds_err(DS_ENOMEM, "%s: could not build a log record (out of memory)", log->path);
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

static int keep_line(const char *line, size_t len, long max_step, long max_epoch)
{
    json_error_t e;
    json_t *o = json_loadb(line, len, 0, &e);
    if (!json_is_object(o)) { json_decref(o); return 0; }   /* torn by a kill */
    json_t *s = json_object_get(o, "step"), *ep = json_object_get(o, "epoch"), *ev = json_object_get(o, "event");
    /* the "done" record of the process that stopped: the resumed run writes its own */
    int keep = !(json_is_string(ev) && !strcmp(json_string_value(ev), "done")) && !(max_step >= 0 && json_is_integer(s) && json_integer_value(s) > max_step) &&
               !(max_epoch >= 0 && json_is_integer(ep) && json_integer_value(ep) > max_epoch);
    json_decref(o);
    return keep;
}

int ds_log_rewind(const char *path, long max_step, long max_epoch)
{
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : ds_err_errno(DS_EIO, "%s: cannot read the run log", path);
    ds_outfile out;
    int e = ds_outfile_open(&out, path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!e && (n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break;   /* a last line without its newline was cut off */
        if (keep_line(line, (size_t)n, max_step, max_epoch) && fwrite(line, 1, (size_t)n, out.fp) != (size_t)n)
            e = ds_err_errno(DS_EIO, "%s: cannot write", out.tmp);
    }
    if (!e && ferror(in)) e = ds_err_errno(DS_EIO, "%s: read error", path);
    free(line);
    fclose(in);
    if (!e) e = ds_outfile_commit(&out);
    else ds_outfile_abort(&out);
    return e;
}

int ds_log_pair_open(ds_log_pair *p, const char *run_path, const char *user_path)
{
    p->run = p->user = NULL;
    if (!ds_dist_root()) return 0;   /* rank 0 logs for the job (lib/core/dist.h) */
    if (!(p->run = ds_log_open(run_path))) return ds_err_errno(DS_EIO, "%s: cannot open the run log", run_path);
    if (user_path && !(p->user = ds_log_open(user_path))) return ds_err_errno(DS_EIO, "%s: cannot open", user_path);
    return 0;
}

int ds_log_pair_write(ds_log_pair *p, json_t *obj)
{
    if (!obj) return ds_err(DS_ENOMEM, "out of memory for a log line");
    int e = p->run ? ds_log_write(p->run, obj) : 0;
    if (!e && p->user) e = ds_log_write(p->user, obj);
    json_decref(obj);
    return e;
}

int ds_log_pair_close(ds_log_pair *p)
{
    int a = ds_log_close(p->run), b = ds_log_close(p->user);
    p->run = p->user = NULL;
    return a ? a : b;
}
