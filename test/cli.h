/* Runs the derfseq binary named by $DERFSEQ_BIN (default build/derfseq) for
 * the command-line tests, capturing its stdout and stderr. */
#ifndef DS_TEST_CLI_H
#define DS_TEST_CLI_H

#include <stddef.h>
#include <string.h>

extern char g_out[1 << 16], g_err[1 << 16];

/* Runs `derfseq <args>`; stdout and stderr land in g_out and g_err.
 * Returns the exit status, -1 if it did not exit normally. */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int nlines(const char *s);
/* The file at path into buf (NUL-terminated, cut at cap - 1 bytes). */
void slurp(const char *path, char *buf, size_t cap);
/* A file name in the test's scratch directory (4 rotating buffers). */
const char *tmp_path(const char *name);
/* Writes text to tmp_path(name) and returns that path. */
const char *write_tmp(const char *name, const char *text);

/* 1 when the two files have the same bytes (cmp -s). */
int same_file(const char *a, const char *b);

/* A usage or runtime error: the status, one line on stderr, nothing on stdout. */
#define CHECK_ERROR(status, want_status, cmd, needle)                                               \
    do {                                                                                          \
        CHECK_EQ_INT(status, want_status);                                                        \
        CHECK_MSG(nlines(g_err) == 1, "stderr is not one line: '%s'", g_err);                     \
        CHECK_MSG(strncmp(g_err, "derfseq" cmd ": ", strlen("derfseq" cmd ": ")) == 0,            \
                  "stderr lacks the 'derfseq%s: ' prefix: '%s'", cmd, g_err);                      \
        CHECK_MSG(strstr(g_err, needle), "stderr '%s' does not name '%s'", g_err, needle);        \
        CHECK_MSG(g_out[0] == 0, "stdout is not empty: '%s'", g_out);                             \
    } while (0)

#endif
