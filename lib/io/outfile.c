/* Atomic outputs: temp file beside the target, fsync, rename, fsync of the
 * directory; "-" is stdout. */
#include "io/outfile.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ds_outfile_open(ds_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!strcmp(path, "-")) {
        o->fp = stdout;
        return 0;
    }
    o->path = strdup(path);
    size_t n = strlen(path) + 16;
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) { ds_outfile_abort(o); return ds_err(DS_ENOMEM, "%s: out of memory", path); }
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int r = ds_err_errno(DS_EIO, "%s: cannot create a temporary file beside it", path);
        free(o->tmp); o->tmp = NULL;
        ds_outfile_abort(o);
        return r;
    }
    mode_t mask = umask(0);   /* mkstemp makes 0600; give the file what open() would */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask)) { /* keep 0600: still a valid output */ }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) { close(fd); int r = ds_err_errno(DS_EIO, "%s: cannot open", o->tmp); ds_outfile_abort(o); return r; }
    return 0;
}

static void fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
    free(copy);
}

int ds_outfile_commit(ds_outfile *o)
{
    if (!o->fp) return ds_err(DS_EINVAL, "output already closed");
    if (!o->tmp) {   /* stdout */
        int bad = fflush(o->fp) || ferror(o->fp);
        o->fp = NULL;
        return bad ? ds_err_errno(DS_EIO, "error writing to standard output") : 0;
    }
    int bad = fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0;
    int e = errno;
    if (fclose(o->fp)) bad = 1;
    o->fp = NULL;
    errno = e;
    if (bad) return ds_err_errno(DS_EIO, "%s: write failed", o->path);
    if (rename(o->tmp, o->path)) return ds_err_errno(DS_EIO, "%s: cannot rename %s over it", o->path, o->tmp);
    fsync_dir(o->path);
    free(o->tmp); o->tmp = NULL;
    free(o->path); o->path = NULL;
    return 0;
}

void ds_outfile_abort(ds_outfile *o)
{
    if (o->fp && o->fp != stdout) fclose(o->fp);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

int ds_write_file_atomic(const char *path, const void *buf, size_t len)
{
    ds_outfile o;
    int r = ds_outfile_open(&o, path);
    if (r) return r;
    if (fwrite(buf, 1, len, o.fp) != len) { r = ds_err_errno(DS_EIO, "%s: write failed", path); ds_outfile_abort(&o); return r; }
    r = ds_outfile_commit(&o);
    if (r) ds_outfile_abort(&o);
    return r;
}
