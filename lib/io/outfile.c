/* Atomic outputs (outfile.h, architecture.md "Errors"): temp file beside the
 * target, fsync, rename, fsync of the directory; "-" is stdout. */
#define _GNU_SOURCE   /* fopencookie */
#include "io/outfile.h"
#include "core/error.h"

#include <errno.h>
#include <htslib/bgzf.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- temp files removed when the process is interrupted ------------- */

/* The temp files open right now, so that SIGINT, SIGTERM, SIGHUP or SIGPIPE
 * (Ctrl-C, a job scheduler's kill, a closed pipe) leave no partial file
 * behind: the handler unlinks them (async-signal-safe) and re-raises. A
 * SIGKILL cannot be caught; the run directory sweeps those (rundir.c). */
#define MAX_OPEN_TEMPS 32
static char *volatile g_temps[MAX_OPEN_TEMPS];

static void on_signal(int sig)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (g_temps[i]) unlink(g_temps[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static int done;
    if (done) return;
    done = 1;
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa, old;
        if (sigaction(sigs[i], NULL, &old) || old.sa_handler == SIG_IGN) continue;   /* nohup stays nohup */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static void track(char *tmp)
{
    install_handlers();
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (!g_temps[i]) { g_temps[i] = tmp; return; }
}

static void untrack(const char *tmp)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (g_temps[i] == tmp) g_temps[i] = NULL;
}

/* mkstemp creates 0600; an output should get what open(2) would give it.
 * umask can only be read by setting it, hence the pair of calls. */
static void mode_like_open(int fd)
{
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);   /* on failure 0600 is still a valid output */
}

/* A target that exists and is not a regular file (/dev/null, a FIFO, a
 * process substitution) cannot be replaced by rename: write to it directly. */
static int is_special(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
}

static int open_direct(ds_outfile *o, const char *path)
{
    o->fp = fopen(path, "wb");
    if (!o->fp) { ds_outfile_abort(o); return ds_err_errno(DS_EIO, "%s: cannot open for writing", path); }
    return 0;
}

static int open_temp(ds_outfile *o, const char *path)
{
    size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
    o->tmp = malloc(n);
    if (!o->tmp) { ds_outfile_abort(o); return ds_err(DS_ENOMEM, "%s: out of memory", path); }
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int r = ds_err_errno(DS_EIO, "%s: cannot create a temporary file beside it", path);
        free(o->tmp);
        o->tmp = NULL;   /* nothing to unlink */
        ds_outfile_abort(o);
        return r;
    }
    mode_like_open(fd);
    track(o->tmp);
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        int r = ds_err_errno(DS_EIO, "%s: cannot open", o->tmp);
        close(fd);
        ds_outfile_abort(o);
        return r;
    }
    return 0;
}

int ds_outfile_open(ds_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!strcmp(path, "-")) {
        o->fp = stdout;
        return 0;
    }
    o->path = strdup(path);
    if (!o->path) return ds_err(DS_ENOMEM, "%s: out of memory", path);
    return is_special(path) ? open_direct(o, path) : open_temp(o, path);
}

/* The rename is only durable once the directory entry is on disk. Some file
 * systems refuse fsync on a directory; the data itself is already synced. */
static void dir_sync(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
    free(copy);
}

/* Flushes and closes fp; the first error wins, its errno kept for the message. */
static int close_checked(FILE *fp, int sync)
{
    int bad = fflush(fp) != 0 || ferror(fp) || (sync && fsync(fileno(fp)) != 0);
    int e = errno;
    if (fp != stdout && fclose(fp) != 0 && !bad) { bad = 1; e = errno; }
    errno = e;
    return bad;
}

int ds_outfile_commit(ds_outfile *o)
{
    if (!o->fp) return ds_err(DS_EINVAL, "output already closed");
    FILE *fp = o->fp;
    o->fp = NULL;
    int r = 0;
    if (close_checked(fp, o->tmp != NULL))
        r = ds_err_errno(DS_EIO, "%s: write failed", o->path ? o->path : "standard output");
    else if (o->tmp && rename(o->tmp, o->path))
        r = ds_err_errno(DS_EIO, "%s: cannot rename %s over it", o->path, o->tmp);
    else if (o->tmp) {
        untrack(o->tmp);
        dir_sync(o->path);
        free(o->tmp);
        o->tmp = NULL;
    }
    ds_outfile_abort(o);   /* frees the names; removes the temp file if it is still there */
    return r;
}

void ds_outfile_abort(ds_outfile *o)
{
    if (o->fp && o->fp != stdout) fclose(o->fp);
    if (o->tmp) { unlink(o->tmp); untrack(o->tmp); }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

static ssize_t bgzf_cookie_write(void *bg, const char *buf, size_t n)
{
    return bgzf_write(bg, buf, n) == (ssize_t)n ? (ssize_t)n : -1;
}

static int bgzf_cookie_close(void *bg)
{
    return bgzf_close(bg) ? -1 : 0;
}

FILE *ds_bgzf_stream(FILE *fp)
{
    int fd = dup(fileno(fp));
    BGZF *bg = fd < 0 ? NULL : bgzf_dopen(fd, "w6");
    if (!bg) {
        ds_err_errno(DS_EIO, "cannot start a bgzf stream");
        if (fd >= 0) close(fd);
        return NULL;
    }
    cookie_io_functions_t io = { .write = bgzf_cookie_write, .close = bgzf_cookie_close };
    FILE *s = fopencookie(bg, "w", io);
    if (!s) {
        ds_err_errno(DS_EIO, "cannot start a bgzf stream");
        bgzf_close(bg);
    }
    return s;
}

int ds_write_file_atomic(const char *path, const void *buf, size_t len)
{
    ds_outfile o;
    int r = ds_outfile_open(&o, path);
    if (r) return r;
    if (len && fwrite(buf, 1, len, o.fp) != len) {
        r = ds_err_errno(DS_EIO, "%s: write failed", path);
        ds_outfile_abort(&o);
        return r;
    }
    return ds_outfile_commit(&o);
}

/* Same file as the regular file *o (a path that does not exist is none). */
static int same_file(const struct stat *o, const char *path)
{
    struct stat sb;
    return path && strcmp(path, "-") != 0 && stat(path, &sb) == 0 && sb.st_dev == o->st_dev && sb.st_ino == o->st_ino;
}

/* The input (or its index) that out would overwrite: 0 none, else 1 and
 * what in *which. */
static int clashes(const struct stat *o, const char *in, char *which, size_t cap)
{
    static const char *const SIDECARS[] = { "", ".fai", ".gzi" };
    for (int k = 0; k < 3; k++) {
        snprintf(which, cap, "%s%s", in, SIDECARS[k]);
        if (same_file(o, which)) return 1;
    }
    return 0;
}

int ds_out_check_distinct(const char *out, const char *const *inputs, int n)
{
    struct stat o;
    if (!out || !strcmp(out, "-") || stat(out, &o) != 0 || !S_ISREG(o.st_mode)) return 0;
    char which[4200];
    for (int i = 0; i < n; i++) {
        if (!inputs[i] || !clashes(&o, inputs[i], which, sizeof which)) continue;
        if (!strcmp(which, out)) return ds_err(DS_EINVAL, "%s: is also an input; refusing to overwrite it", out);
        return ds_err(DS_EINVAL, "%s: is also an input (%s); refusing to overwrite it", out, which);
    }
    return 0;
}

int ds_out_check_creatable(const char *out)
{
    struct stat sb;
    if (!out || !strcmp(out, "-")) return 0;
    if (stat(out, &sb) == 0)
        return S_ISDIR(sb.st_mode) ? ds_err(DS_EIO, "%s: is a directory, not a file", out) : 0;
    char *copy = strdup(out);
    if (!copy) return ds_err(DS_ENOMEM, "%s: out of memory", out);
    const char *dir = dirname(copy);
    int r = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(dir, W_OK | X_OK) != 0) {
        if (errno == 0 || (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))) errno = ENOTDIR;
        r = ds_err_errno(DS_EIO, "%s: cannot be created", out);
    }
    free(copy);
    return r;
}
