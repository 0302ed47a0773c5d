/* safetensors reader (mmap, strict validation, F32/F16/BF16/F64 → F32) and
 * atomic F32 writer; the format is described in safetensors.h. */
#include "io/safetensors.h"
#include "core/error.h"
#include "io/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name; ds_st_dtype dt; size_t size; } g_dtypes[] = {
    { "F32", DS_ST_F32, 4 }, { "F16", DS_ST_F16, 2 }, { "BF16", DS_ST_BF16, 2 }, { "F64", DS_ST_F64, 8 },
    { "I64", DS_ST_I64, 8 }, { "I32", DS_ST_I32, 4 }, { "U8", DS_ST_U8, 1 }, { "BOOL", DS_ST_BOOL, 1 },
};

const char *ds_st_dtype_name(ds_st_dtype d)
{
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (g_dtypes[i].dt == d) return g_dtypes[i].name;
    return "?";
}

static size_t dtype_size(ds_st_dtype d)
{
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (g_dtypes[i].dt == d) return g_dtypes[i].size;
    return 0;
}

static int dtype_parse(const char *s, ds_st_dtype *d)
{
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (!strcmp(s, g_dtypes[i].name)) { *d = g_dtypes[i].dt; return 0; }
    return -1;
}

void ds_st_close(ds_st_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->t); free(f->meta_key); free(f->meta_val); free(f->path);
    if (f->map && f->map != MAP_FAILED) munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

static int parse_metadata(ds_st_file *f, json_t *meta)
{
    if (!json_is_object(meta)) return ds_err(DS_EFORMAT, "%s: __metadata__ must be an object of strings", f->path);
    size_t n = json_object_size(meta);
    f->meta_key = calloc(n ? n : 1, sizeof *f->meta_key);
    f->meta_val = calloc(n ? n : 1, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val) return ds_err(DS_ENOMEM, "%s: out of memory", f->path);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v)) return ds_err(DS_EFORMAT, "%s: __metadata__ value of '%s' is not a string", f->path, k);
        f->meta_key[f->nmeta] = strdup(k);
        f->meta_val[f->nmeta] = strdup(json_string_value(v));
        f->nmeta++;
    }
    return 0;
}

/* One "name": {"dtype", "shape", "data_offsets"} entry. */
static int parse_tensor(ds_st_file *f, ds_st_tensor *t, const char *name, json_t *e)
{
    t->name = strdup(name);
    if (!t->name) return ds_err(DS_ENOMEM, "%s: out of memory", f->path);
    if (!json_is_object(e)) return ds_err(DS_EFORMAT, "%s: tensor '%s': expected an object", f->path, name);
    json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"), *off = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || dtype_parse(json_string_value(dt), &t->dtype))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': unknown dtype %s (expected F32, F16, BF16, F64, I64, I32, U8 or BOOL)",
                      f->path, name, json_is_string(dt) ? json_string_value(dt) : "(missing)");
    if (!json_is_array(sh) || json_array_size(sh) > 8)
        return ds_err(DS_EFORMAT, "%s: tensor '%s': shape must be an array of at most 8 integers", f->path, name);
    t->ndim = (int)json_array_size(sh);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > (1ll << 40))
            return ds_err(DS_EFORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", f->path, name, i);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] && t->numel > ((size_t)1 << 50) / (size_t)t->shape[i])
            return ds_err(DS_EFORMAT, "%s: tensor '%s': shape too large", f->path, name);
        t->numel *= (size_t)t->shape[i];
    }
    json_t *b = json_array_get(off, 0), *en = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(en) ||
        json_integer_value(b) < 0 || json_integer_value(en) < json_integer_value(b))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end",
                      f->path, name);
    t->begin = (size_t)json_integer_value(b);
    t->end = (size_t)json_integer_value(en);
    if (t->end > f->data_size)
        return ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] past the data section (%zu bytes)",
                      f->path, name, t->begin, t->end, f->data_size);
    if (t->end - t->begin != t->numel * dtype_size(t->dtype))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': %zu bytes of data, expected %zu for shape and dtype %s",
                      f->path, name, t->end - t->begin, t->numel * dtype_size(t->dtype), ds_st_dtype_name(t->dtype));
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const ds_st_tensor *x = *(ds_st_tensor *const *)a, *y = *(ds_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Tensors must tile the data section: no overlap, no gap (as the reference
 * implementation requires). */
static int check_coverage(ds_st_file *f)
{
    ds_st_tensor **s = malloc(sizeof *s * (size_t)(f->n ? f->n : 1));
    if (!s) return ds_err(DS_ENOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) s[i] = &f->t[i];
    qsort(s, (size_t)f->n, sizeof *s, cmp_begin);
    size_t at = 0;
    int r = 0;
    for (int i = 0; i < f->n && !r; i++) {
        if (s[i]->begin < at)
            r = ds_err(DS_EFORMAT, "%s: tensor '%s' overlaps '%s' (data_offsets [%zu, %zu])", f->path, s[i]->name,
                       s[i - 1]->name, s[i]->begin, s[i]->end);
        else if (s[i]->begin > at)
            r = ds_err(DS_EFORMAT, "%s: %zu unused bytes before tensor '%s'", f->path, s[i]->begin - at, s[i]->name);
        at = s[i]->end > at ? s[i]->end : at;
    }
    if (!r && at != f->data_size)
        r = ds_err(DS_EFORMAT, "%s: data section has %zu bytes, tensors cover %zu", f->path, f->data_size, at);
    free(s);
    return r;
}

static int parse_header(ds_st_file *f, const char *hdr, size_t len)
{
    json_error_t e;
    json_t *root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) return ds_err(DS_EFORMAT, "%s: header is not valid JSON (column %d: %s)", f->path, e.column, e.text);
    int r = 0;
    if (!json_is_object(root)) r = ds_err(DS_EFORMAT, "%s: header must be a JSON object", f->path);
    size_t n = r ? 0 : json_object_size(root);
    f->t = calloc(n ? n : 1, sizeof *f->t);
    if (!r && !f->t) r = ds_err(DS_ENOMEM, "%s: out of memory", f->path);
    const char *k;
    json_t *v;
    if (!r) json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) r = parse_metadata(f, v);
        else r = parse_tensor(f, &f->t[f->n++], k, v);
        if (r) break;
    }
    if (!r) r = check_coverage(f);
    json_decref(root);
    return r;
}

int ds_st_open(ds_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return ds_err(DS_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY);
    if (fd < 0) { ds_st_close(f); return ds_err_errno(DS_EIO, "%s: cannot open", path); }
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) r = ds_err(DS_EIO, "%s: not a regular file", path);
    else if (sb.st_size < 8) r = ds_err(DS_EFORMAT, "%s: %lld bytes, too short for a safetensors header", path, (long long)sb.st_size);
    if (!r) {
        f->map_size = (size_t)sb.st_size;
        f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) { f->map = NULL; r = ds_err_errno(DS_EIO, "%s: cannot map", path); }
    }
    close(fd);
    if (r) { ds_st_close(f); return r; }
    uint64_t hlen = 0;
    const uint8_t *p = f->map;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > DS_ST_MAX_HEADER) r = ds_err(DS_EFORMAT, "%s: header length %llu exceeds the %u-byte limit", path, (unsigned long long)hlen, DS_ST_MAX_HEADER);
    else if (hlen > f->map_size - 8) r = ds_err(DS_EFORMAT, "%s: header length %llu but the file has %zu bytes after it (truncated?)", path, (unsigned long long)hlen, f->map_size - 8);
    if (!r) {
        f->data = p + 8 + hlen;
        f->data_size = f->map_size - 8 - hlen;
        r = parse_header(f, (const char *)p + 8, hlen);
    }
    if (r) ds_st_close(f);
    return r;
}

const ds_st_tensor *ds_st_find(const ds_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *ds_st_meta(const ds_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | man << 13;              /* inf, nan */
    else if (exp) bits = sign | (exp + 112) << 23 | man << 13;            /* normal */
    else if (!man) bits = sign;                                           /* zero */
    else {                                                                /* subnormal: renormalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

int ds_st_read_f32(const ds_st_file *f, const ds_st_tensor *t, float *dst)
{
    const uint8_t *src = f->data + t->begin;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case DS_ST_F32: memcpy(&dst[i], src + 4 * i, 4); break;
        case DS_ST_F64: { double d; memcpy(&d, src + 8 * i, 8); dst[i] = (float)d; break; }
        case DS_ST_F16: { uint16_t h; memcpy(&h, src + 2 * i, 2); dst[i] = half_to_float(h); break; }
        case DS_ST_BF16: { uint16_t h; memcpy(&h, src + 2 * i, 2); uint32_t b = (uint32_t)h << 16; memcpy(&dst[i], &b, 4); break; }
        default:
            return ds_err(DS_EFORMAT, "%s: tensor '%s' has dtype %s, expected a floating-point type", f->path, t->name,
                          ds_st_dtype_name(t->dtype));
        }
    }
    return 0;
}

int ds_st_write(const char *path, const ds_st_entry *e, int n, const char *const *meta_keys,
                const char *const *meta_vals, int nmeta)
{
    json_t *root = json_object(), *meta = json_object();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        size_t numel = 1;
        for (int k = 0; k < e[i].ndim; k++) {
            json_array_append_new(shape, json_integer(e[i].shape[k]));
            numel *= (size_t)e[i].shape[k];
        }
        json_object_set_new(root, e[i].name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                                                        "data_offsets", (json_int_t)off, (json_int_t)(off + 4 * numel)));
        off += 4 * numel;
    }
    for (int i = 0; i < nmeta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_vals[i]));
    if (nmeta) json_object_set(root, "__metadata__", meta);
    json_decref(meta);
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return ds_err(DS_ENOMEM, "%s: cannot build the safetensors header", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    ds_outfile o;
    int r = ds_outfile_open(&o, path);
    if (r) { free(hdr); return r; }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(padded >> (8 * i));
    fwrite(len8, 1, 8, o.fp);
    fwrite(hdr, 1, hlen, o.fp);
    for (size_t i = hlen; i < padded; i++) fputc(' ', o.fp);
    free(hdr);
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int k = 0; k < e[i].ndim; k++) numel *= (size_t)e[i].shape[k];
        fwrite(e[i].data, sizeof(float), numel, o.fp);
    }
    r = ds_outfile_commit(&o);
    if (r) ds_outfile_abort(&o);
    return r;
}
