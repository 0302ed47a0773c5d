/* safetensors read (mmap; F32, F16, BF16, F64 converted to F32) and write (F32),
 * with strict header validation: header length bounded, JSON well formed,
 * dtypes known, offsets in range, non-overlapping, covering the data, sizes
 * matching shapes. Format: 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype", "shape", "data_offsets": [b, e]}, "__metadata__":
 * {str: str}}, then the data. */
#ifndef DS_SAFETENSORS_H
#define DS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define DS_ST_MAX_HEADER (100u << 20)   /* 100 MB, the reference library's bound */

/* Every dtype of the format, so any valid file opens; ds_st_read_f32 converts
 * the floating ones F32, F16, BF16, F64. */
typedef enum {
    DS_ST_F32, DS_ST_F16, DS_ST_BF16, DS_ST_F64, DS_ST_I64, DS_ST_I32, DS_ST_U8, DS_ST_BOOL,
    DS_ST_I8, DS_ST_I16, DS_ST_U16, DS_ST_U32, DS_ST_U64, DS_ST_F8_E4M3, DS_ST_F8_E5M2
} ds_st_dtype;

typedef struct {
    char *name;
    ds_st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t numel;
    size_t begin, end;          /* byte offsets into the data section */
} ds_st_tensor;

typedef struct {
    char *path;
    int n;
    ds_st_tensor *t;            /* in file order */
    int nmeta;
    char **meta_key, **meta_val;
    void *map;                  /* whole file */
    size_t map_size;
    const uint8_t *data;        /* start of the data section */
    size_t data_size;
} ds_st_file;

/* Opens and validates; on error nothing is left open and ds_errmsg() names
 * the file and what is wrong. */
int ds_st_open(ds_st_file *f, const char *path);
void ds_st_close(ds_st_file *f);
const ds_st_tensor *ds_st_find(const ds_st_file *f, const char *name);
const char *ds_st_meta(const ds_st_file *f, const char *key);   /* NULL when absent */
/* Converts a floating tensor to float32 into dst (t->numel floats). */
int ds_st_read_f32(const ds_st_file *f, const ds_st_tensor *t, float *dst);
const char *ds_st_dtype_name(ds_st_dtype d);

/* Writing: n F32 tensors in the given order plus string metadata,
 * atomically (temp file, fsync, rename). A duplicate, empty, reserved
 * (__metadata__) or non-UTF-8 name, a negative dimension or missing data
 * is DS_EINVAL and leaves no file. */
typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} ds_st_entry;

/* Why `name` cannot name a tensor: "is empty", "is reserved for the
 * metadata" (__metadata__), "is not valid UTF-8"; NULL when it can.
 * Uniqueness is the caller's (ds_st_write checks it). */
const char *ds_st_name_problem(const char *name);
/* 1 when s[0, n) is strict UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF); else 0 with the first bad byte's offset. */
int ds_utf8_valid(const char *s, size_t n, size_t *bad_at);
/* name for a one-line message: control bytes (and, if the name is not
 * UTF-8, bytes >= 0x80) as \xNN, cut to fit buf. */
const char *ds_st_name_show(const char *name, char *buf, size_t n);

int ds_st_write(const char *path, const ds_st_entry *e, int n, const char *const *meta_keys,
                const char *const *meta_vals, int nmeta);

#endif
