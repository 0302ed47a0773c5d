/* A tiny test framework: TEST(name) registers a function; CHECK* record
 * failures with file:line and keep going. test/main.c runs everything and
 * ends with "N passed, N failed". */
#ifndef DS_TEST_H
#define DS_TEST_H

#include <math.h>
#include <stdio.h>

typedef void (*ds_test_fn)(void);
void ds_test_register(const char *name, ds_test_fn fn);
void ds_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ds_test_failed_now(void);

#define TEST(name)                                                            \
    static void name(void);                                                   \
    __attribute__((constructor)) static void name##_register(void)            \
    { ds_test_register(#name, name); }                                        \
    static void name(void)

#define CHECK(cond)                                                           \
    do { if (!(cond)) ds_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_MSG(cond, ...)                                                  \
    do { if (!(cond)) ds_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b)                                                    \
    do { long long _a = (long long)(a), _b = (long long)(b);                  \
         if (_a != _b) ds_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b); } while (0)
#define CHECK_NEAR(a, b, tol)                                                 \
    do { double _a = (a), _b = (b);                                           \
         if (!(fabs(_a - _b) <= (tol)))                                       \
             ds_test_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a, _a, _b, (double)(tol)); } while (0)

/* Normwise relative error ||got - want||_2 / ||want||_2, in double. It is
 * the metric every float32 result is judged by: it does not depend on which
 * elements happen to be near zero, so it holds for any correct summation
 * order, BLAS kernel or thread count (an elementwise relative error does
 * not: one tiny entry decides it). NaN anywhere gives NaN. */
double ds_norm_rel_err(const float *got, const float *want, long n);
/* CHECKs ds_norm_rel_err(got, want) <= tol and names the tensor; on failure
 * it also prints the element that differs most, to show where it starts.
 * DS_TEST_VERBOSE=1 prints every comparison. */
#define CHECK_CLOSE(name, got, want, n, tol) ds_check_close(__FILE__, __LINE__, name, got, want, n, tol)
void ds_check_close(const char *file, int line, const char *name, const float *got, const float *want,
                    long n, double tol);

/* Deterministic test inputs. */
void ds_test_fill_uniform(float *x, long n, float lo, float hi, unsigned seed);

/* A scratch directory under $TMPDIR, removed at exit; returns its path. */
const char *ds_test_tmpdir(void);

#endif
