/* Outputs that never exist half-written: data goes to a temp file beside the
 * target, which is fsynced and renamed over it on commit, or removed on
 * abort. The path "-" means stdout (commit only flushes). */
#ifndef DS_OUTFILE_H
#define DS_OUTFILE_H

#include <stdio.h>

typedef struct {
    FILE *fp;
    char *path;        /* final name */
    char *tmp;         /* temp name (NULL for stdout) */
} ds_outfile;

int ds_outfile_open(ds_outfile *o, const char *path);
int ds_outfile_commit(ds_outfile *o);   /* checks write errors, fsync, rename, fsync dir */
void ds_outfile_abort(ds_outfile *o);   /* removes the temp file; safe after commit */

/* Whole-buffer convenience: writes len bytes atomically. */
int ds_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
