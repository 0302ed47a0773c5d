/* Test runner: runs every registered TEST (or those whose name contains
 * any argument) and ends with the line "N passed, N failed". */
#include "test.h"
#include "core/threads.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 4096
static struct { const char *name; ds_test_fn fn; } g_tests[MAX_TESTS];
static int g_ntests, g_cur_failed;

void ds_test_register(const char *name, ds_test_fn fn)
{
    if (g_ntests < MAX_TESTS) {
        g_tests[g_ntests].name = name;
        g_tests[g_ntests].fn = fn;
        g_ntests++;
    }
}

void ds_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (++g_cur_failed > 10) {   /* one broken loop should not flood the log */
        if (g_cur_failed == 11) fprintf(stderr, "    (further failures of this test not shown)\n");
        return;
    }
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ds_test_failed_now(void) { return g_cur_failed; }

double ds_norm_rel_err(const float *got, const float *want, long n)
{
    double d2 = 0, w2 = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        d2 += d * d;
        w2 += (double)want[i] * want[i];
    }
    if (w2 == 0) return d2 == 0 ? 0 : INFINITY;   /* an all-zero answer must be met exactly */
    return sqrt(d2 / w2);
}

void ds_check_close(const char *file, int line, const char *name, const float *got, const float *want,
                    long n, double tol)
{
    double e = ds_norm_rel_err(got, want, n);
    if (getenv("DS_TEST_VERBOSE")) fprintf(stderr, "    %-70s normwise rel err %.2e (tol %.0e)\n", name, e, tol);
    if (e <= tol) return;
    long worst = 0;
    double wd = -1;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= wd)) { wd = d; worst = i; }
    }
    ds_test_fail(file, line, "%s: normwise rel err %.3g > %.3g (largest difference at [%ld]: %.9g, want %.9g)", name,
                 e, tol, worst, n ? (double)got[worst] : 0.0, n ? (double)want[worst] : 0.0);
}

void ds_test_fill_uniform(float *x, long n, float lo, float hi, unsigned seed)
{
    uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (long i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

static char g_tmpdir[512];
static void rm_tmpdir(void)
{
    if (g_tmpdir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    }
}
const char *ds_test_tmpdir(void)
{
    if (!g_tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/derfseq-test.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_tmpdir)) { perror("mkdtemp"); exit(1); }
        atexit(rm_tmpdir);
    }
    return g_tmpdir;
}

/* No arguments: every test; otherwise those whose name contains any argument. */
static int selected(const char *name, int n, char **subs)
{
    for (int k = 0; k < n; k++) if (strstr(name, subs[k])) return 1;
    return n == 0;
}

int main(int argc, char **argv)
{
    ds_threads_init(argv);   /* as derfseq's main does: tests run the same way */
    int passed = 0, failed = 0;
    for (int i = 0; i < g_ntests; i++) {
        if (!selected(g_tests[i].name, argc - 1, argv + 1)) continue;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        g_cur_failed = 0;
        g_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (g_cur_failed) { failed++; printf("FAIL %s (%.0f ms)\n", g_tests[i].name, ms); }
        else { passed++; printf("ok   %s (%.0f ms)\n", g_tests[i].name, ms); }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
