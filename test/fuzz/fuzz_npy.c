/* libFuzzer harness: the .npy reader (lib/io/npy.c, ds_npy_read). A file
 * that reads must have returned exactly the values its shape asks for. */
#include "fuzz.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.npy", data, size);
    float *x = NULL;
    int ndim = -1;
    int64_t shape[8];
    int e = ds_npy_read(path, &x, &ndim, shape);
    FUZZ_ASSERT_MESSAGE(e);
    if (e) { FUZZ_ASSERT(!x); return 0; }
    FUZZ_ASSERT(x && ndim >= 0 && ndim <= 8);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        FUZZ_ASSERT(shape[i] >= 0);
        n *= (size_t)shape[i];
    }
    FUZZ_ASSERT(n * 4 <= size);   /* at least 4 bytes of input per float32 value */
    if (n) { volatile float last = x[n - 1]; (void)last; }
    free(x);
    return 0;
}
