/* Running the derfseq binary from tests (cli.h). */
#include "cli.h"
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

char g_out[1 << 16], g_err[1 << 16];

static const char *bin(void)
{
    const char *b = getenv("DERFSEQ_BIN");
    return b && *b ? b : "build/derfseq";
}

void slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
    buf[n] = 0;
    if (fp) fclose(fp);
}

/* Runs `derfseq <args>`; stdout and stderr land in g_out and g_err.
 * Returns the exit status, -1 if it did not exit normally. */
int run(const char *fmt, ...)
{
    char args[2048], cmd[4096], out[600], err[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/stdout", ds_test_tmpdir());
    snprintf(err, sizeof err, "%s/stderr", ds_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", bin(), args, out, err);
    int st = system(cmd);
    slurp(out, g_out, sizeof g_out);
    slurp(err, g_err, sizeof g_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int nlines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

const char *tmp_path(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ds_test_tmpdir(), name);
    return buf[k];
}

const char *write_tmp(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *fp = fopen(p, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    return p;
}


int same_file(const char *a, const char *b)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}
