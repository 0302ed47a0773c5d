/* Per-thread error message behind every negative DS_E* code. */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

/* Messages are formatted into a local buffer first: callers wrap an
 * earlier message ("%s", ds_errmsg()), which must not be the buffer being
 * written (overlapping vsnprintf is undefined and garbles the text). */
int ds_err(int code, const char *fmt, ...)
{
    char buf[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(g_msg, buf, sizeof g_msg);
    return code;
}

int ds_err_errno(int code, const char *fmt, ...)
{
    int e = errno;
    char buf[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, ": %s", strerror(e));
    memcpy(g_msg, buf, sizeof g_msg);
    return code;
}

const char *ds_errmsg(void) { return g_msg[0] ? g_msg : "unknown error"; }
void ds_err_clear(void) { g_msg[0] = 0; }
