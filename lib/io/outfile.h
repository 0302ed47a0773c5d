/* Outputs that never exist half-written: data goes to a temp file beside the
 * target, which is fsynced and renamed over it on commit, or removed on
 * abort. The path "-" means stdout (commit only flushes); an existing target
 * that is not a regular file (/dev/null, a FIFO) is written directly. */
#ifndef DS_OUTFILE_H
#define DS_OUTFILE_H

#include <stdio.h>

typedef struct {
    FILE *fp;
    char *path;        /* final name */
    char *tmp;         /* temp name (NULL for stdout or a special file) */
} ds_outfile;

int ds_outfile_open(ds_outfile *o, const char *path);
/* Checks write errors, fsync, rename, fsync dir. Closes and cleans up either
 * way: on failure the temp file is already removed. */
int ds_outfile_commit(ds_outfile *o);
void ds_outfile_abort(ds_outfile *o);   /* removes the temp file; safe after commit */

/* A stream that BGZF-compresses (htslib's bgzf, level 6) what is written to
 * it into fp's file, so that zcat, bgzip -d and tabix read the result;
 * fclose on it writes the BGZF end-of-file block and reports any error. fp
 * itself must not be written meanwhile; commit or abort it after the fclose.
 * NULL with the DS_E* error set on failure. */
FILE *ds_bgzf_stream(FILE *fp);

/* Whole-buffer convenience: writes len bytes atomically. */
int ds_write_file_atomic(const char *path, const void *buf, size_t len);

/* Refuses an output that would overwrite an input, before anything is
 * written: 0 when out is distinct from every inputs[i] and from the
 * .fai/.gzi index beside each; else DS_EINVAL with "OUT: is also an input
 * (...); refusing to overwrite it". Files are compared by st_dev/st_ino, so
 * "./x", "x", a hard link and a symbolic link to x all count as x. "-"
 * (stdout/stdin), NULL entries, paths that do not exist yet and outputs
 * that are not regular files (/dev/null) never clash. */
int ds_out_check_distinct(const char *out, const char *const *inputs, int n);
/* Whether out can be written where it is, checked before any work so that
 * nothing reaches stdout or disk first: 0, or DS_EIO naming out when its
 * directory is missing or not writable, or out is a directory. NULL and "-"
 * are always fine. */
int ds_out_check_creatable(const char *out);

#endif
