/* libFuzzer harness: the safetensors reader (lib/io/safetensors.c) and the
 * checkpoint loader on top of it (lib/io/checkpoint.c). Any file that opens
 * must keep the promises of safetensors.h: tensors inside the data section,
 * sizes matching shapes, every floating tensor convertible. */
#include "fuzz.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

static int is_float(ds_st_dtype d) { return d == DS_ST_F32 || d == DS_ST_F16 || d == DS_ST_BF16 || d == DS_ST_F64; }

static void check_file(const ds_st_file *f)
{
    for (int i = 0; i < f->n; i++) {
        const ds_st_tensor *t = &f->t[i];
        FUZZ_ASSERT(t->name && t->begin <= t->end && t->end <= f->data_size);
        FUZZ_ASSERT(t->ndim >= 0 && t->ndim <= 8);
        FUZZ_ASSERT(ds_st_find(f, t->name) == t);   /* names are unique */
        if (!is_float(t->dtype)) continue;
        float *x = malloc(t->numel * sizeof *x + 1);
        FUZZ_ASSERT(x);
        FUZZ_ASSERT(ds_st_read_f32(f, t, x) == 0);
        free(x);
    }
    for (int i = 0; i < f->nmeta; i++) FUZZ_ASSERT(ds_st_meta(f, f->meta_key[i]) != NULL);
}

/* A two-tensor table to load into: a [2] vector and a scalar. */
static void load_checks(const char *path)
{
    ds_params ps;
    ds_params_init(&ps);
    int64_t two[1] = { 2 };
    FUZZ_ASSERT(ds_params_add(&ps, "w", 1, two, 1) >= 0 && ds_params_add(&ps, "alpha", 0, two, 0) >= 0);
    FUZZ_ASSERT(ds_params_alloc(&ps) == 0);
    FUZZ_ASSERT_MESSAGE(ds_checkpoint_load(path, &ps, 0));
    FUZZ_ASSERT_MESSAGE(ds_checkpoint_load(path, &ps, 1));
    ds_params_free(&ps);
    char *cfg = ds_checkpoint_config(path);
    FUZZ_ASSERT(cfg || ds_errmsg()[0]);
    free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.safetensors", data, size);
    ds_st_file f;
    int e = ds_st_open(&f, path);
    FUZZ_ASSERT_MESSAGE(e);
    if (!e) {
        check_file(&f);
        ds_st_close(&f);
        load_checks(path);
    }
    return 0;
}
