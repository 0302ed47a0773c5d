/* safetensors reader (mmap; validation as strict as the reference Rust
 * library; F32/F16/BF16/F64 → F32) and atomic F32 writer (safetensors.h). */
#include "io/safetensors.h"
#include "core/error.h"
#include "io/outfile.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The format is little-endian and F32 tensors are copied as raw bytes. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define MAX_DIM   (INT64_C(1) << 40)
#define MAX_BYTES ((size_t)1 << 53)   /* keeps numel * 8 far from size_t overflow */

static const struct { const char *name; ds_st_dtype dt; size_t size; } g_dtypes[] = {
    { "F32", DS_ST_F32, 4 },   { "F16", DS_ST_F16, 2 },   { "BF16", DS_ST_BF16, 2 },
    { "F64", DS_ST_F64, 8 },   { "I64", DS_ST_I64, 8 },   { "I32", DS_ST_I32, 4 },
    { "U8", DS_ST_U8, 1 },     { "BOOL", DS_ST_BOOL, 1 }, { "I8", DS_ST_I8, 1 },
    { "I16", DS_ST_I16, 2 },   { "U16", DS_ST_U16, 2 },   { "U32", DS_ST_U32, 4 },
    { "U64", DS_ST_U64, 8 },   { "F8_E4M3", DS_ST_F8_E4M3, 1 }, { "F8_E5M2", DS_ST_F8_E5M2, 1 },
};
#define NDTYPES (sizeof g_dtypes / sizeof g_dtypes[0])

const char *ds_st_dtype_name(ds_st_dtype d)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (g_dtypes[i].dt == d) return g_dtypes[i].name;
    return "?";
}

static size_t dtype_size(ds_st_dtype d)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (g_dtypes[i].dt == d) return g_dtypes[i].size;
    return 0;
}

static int dtype_parse(const char *s, ds_st_dtype *d)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (!strcmp(s, g_dtypes[i].name)) { *d = g_dtypes[i].dt; return 0; }
    return -1;
}

void ds_st_close(ds_st_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->t); free(f->meta_key); free(f->meta_val); free(f->path);
    if (f->map) munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

/* ---- header ------------------------------------------------------------ */

static int meta_parse(ds_st_file *f, json_t *meta)
{
    if (!json_is_object(meta))
        return ds_err(DS_EFORMAT, "%s: __metadata__: expected an object of string to string", f->path);
    size_t n = json_object_size(meta);
    f->meta_key = calloc(n + 1, sizeof *f->meta_key);
    f->meta_val = calloc(n + 1, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val) return ds_err(DS_ENOMEM, "%s: out of memory for %zu metadata entries", f->path, n);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return ds_err(DS_EFORMAT, "%s: __metadata__: value of '%s' is not a string, expected string to string",
                          f->path, k);
        char *key = strdup(k), *val = strdup(json_string_value(v));
        f->meta_key[f->nmeta] = key;   /* stored before the check so ds_st_close frees them */
        f->meta_val[f->nmeta++] = val;
        if (!key || !val) return ds_err(DS_ENOMEM, "%s: out of memory for __metadata__ '%s'", f->path, k);
    }
    return 0;
}

static int shape_parse(ds_st_file *f, ds_st_tensor *t, json_t *sh)
{
    if (!json_is_array(sh) || json_array_size(sh) > 8)
        return ds_err(DS_EFORMAT, "%s: tensor '%s': shape: expected an array of at most 8 non-negative integers",
                      f->path, t->name);
    t->ndim = (int)json_array_size(sh);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > MAX_DIM)
            return ds_err(DS_EFORMAT, "%s: tensor '%s': shape[%d]: expected a non-negative integer", f->path, t->name, i);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] && t->numel > MAX_BYTES / 8 / (size_t)t->shape[i])
            return ds_err(DS_EFORMAT, "%s: tensor '%s': shape: expected fewer than 2^50 elements", f->path, t->name);
        t->numel *= (size_t)t->shape[i];
    }
    return 0;
}

static int offsets_parse(ds_st_file *f, ds_st_tensor *t, json_t *off)
{
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
        json_integer_value(b) < 0 || json_integer_value(e) < json_integer_value(b))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets: expected [begin, end] with 0 <= begin <= end",
                      f->path, t->name);
    t->begin = (size_t)json_integer_value(b);
    t->end = (size_t)json_integer_value(e);
    if (t->end > f->data_size)
        return ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] run past the data section, "
                      "expected end <= %zu", f->path, t->name, t->begin, t->end, f->data_size);
    size_t want = t->numel * dtype_size(t->dtype);
    if (t->end - t->begin != want)
        return ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, expected %zu (%zu x %s)",
                      f->path, t->name, t->begin, t->end, t->end - t->begin, want, t->numel, ds_st_dtype_name(t->dtype));
    return 0;
}

/* One "name": {"dtype", "shape", "data_offsets"} entry. */
static int tensor_parse(ds_st_file *f, ds_st_tensor *t, const char *name, json_t *e)
{
    t->name = strdup(name);
    if (!t->name) return ds_err(DS_ENOMEM, "%s: out of memory for a tensor name", f->path);
    if (!json_is_object(e))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': expected an object {dtype, shape, data_offsets}", f->path, name);
    json_t *dt = json_object_get(e, "dtype");
    if (!json_is_string(dt) || dtype_parse(json_string_value(dt), &t->dtype))
        return ds_err(DS_EFORMAT, "%s: tensor '%s': dtype %s, expected one of F32 F16 BF16 F64 I64 I32 I16 I8 U64 U32 "
                      "U16 U8 BOOL F8_E4M3 F8_E5M2", f->path, name, json_is_string(dt) ? json_string_value(dt) : "missing");
    int r = shape_parse(f, t, json_object_get(e, "shape"));
    return r ? r : offsets_parse(f, t, json_object_get(e, "data_offsets"));
}

static int cmp_offsets(const void *a, const void *b)
{
    const ds_st_tensor *x = *(ds_st_tensor *const *)a, *y = *(ds_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The reference library's rule: sorted by offset, each tensor starts where
 * the previous one ended and the last one ends at the end of the file, so
 * no byte is shared by two tensors and none is unaccounted for. */
static int coverage_check(ds_st_file *f)
{
    ds_st_tensor **s = malloc(sizeof *s * (size_t)(f->n + 1));
    if (!s) return ds_err(DS_ENOMEM, "%s: out of memory sorting %d tensors", f->path, f->n);
    for (int i = 0; i < f->n; i++) s[i] = &f->t[i];
    qsort(s, (size_t)f->n, sizeof *s, cmp_offsets);
    size_t at = 0;
    int r = 0;
    for (int i = 0; i < f->n && !r; i++) {
        if (s[i]->begin < at)
            r = ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu], "
                       "expected begin %zu", f->path, s[i]->name, s[i]->begin, s[i]->end, s[i - 1]->name,
                       s[i - 1]->begin, s[i - 1]->end, at);
        else if (s[i]->begin > at)
            r = ds_err(DS_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] leave %zu unused bytes before it, "
                       "expected begin %zu", f->path, s[i]->name, s[i]->begin, s[i]->end, s[i]->begin - at, at);
        at = s[i]->end;
    }
    if (!r && at != f->data_size)
        r = ds_err(DS_EFORMAT, "%s: data section has %zu bytes but the tensors cover %zu, "
                   "expected them to cover it exactly", f->path, f->data_size, at);
    free(s);
    return r;
}

static int header_parse(ds_st_file *f, const char *hdr, size_t len)
{
    if (len == 0 || hdr[0] != '{') return ds_err(DS_EFORMAT, "%s: header: expected a JSON object starting with '{'", f->path);
    json_error_t e;
    json_t *root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) return ds_err(DS_EFORMAT, "%s: header is not valid JSON (byte %d: %s)", f->path, e.position, e.text);
    int r = json_is_object(root) ? 0 : ds_err(DS_EFORMAT, "%s: header: expected a JSON object", f->path);
    f->t = r ? NULL : calloc(json_object_size(root) + 1, sizeof *f->t);
    if (!r && !f->t) r = ds_err(DS_ENOMEM, "%s: out of memory for the table of %zu tensors", f->path, json_object_size(root));
    const char *k;
    json_t *v;
    if (!r) json_object_foreach(root, k, v) {
        r = strcmp(k, "__metadata__") ? tensor_parse(f, &f->t[f->n++], k, v) : meta_parse(f, v);
        if (r) break;
    }
    if (!r) r = coverage_check(f);
    json_decref(root);
    return r;
}

/* ---- open -------------------------------------------------------------- */

static int file_map(ds_st_file *f)
{
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) return ds_err_errno(DS_EIO, "%s: cannot open", f->path);
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) r = ds_err(DS_EIO, "%s: not a regular file", f->path);
    else if (sb.st_size < 8)
        r = ds_err(DS_EFORMAT, "%s: %lld bytes, expected at least 8 (the header length)", f->path, (long long)sb.st_size);
    if (!r) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) r = ds_err_errno(DS_EIO, "%s: cannot map", f->path);
        else { f->map = m; f->map_size = (size_t)sb.st_size; }
    }
    close(fd);
    return r;
}

int ds_st_open(ds_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return ds_err(DS_ENOMEM, "%s: out of memory opening it", path);
    int r = file_map(f);
    uint64_t hlen = 0;
    for (int i = 7; !r && i >= 0; i--) hlen = hlen << 8 | ((const uint8_t *)f->map)[i];
    if (!r && hlen > DS_ST_MAX_HEADER)
        r = ds_err(DS_EFORMAT, "%s: not a safetensors file (its first 8 bytes give a header length of %llu, "
                   "expected at most %u)", path, (unsigned long long)hlen, DS_ST_MAX_HEADER);
    else if (!r && hlen > f->map_size - 8)
        r = ds_err(DS_EFORMAT, "%s: header length %llu, expected at most the %zu bytes that follow it "
                   "(truncated file?)", path, (unsigned long long)hlen, f->map_size - 8);
    else if (!r && hlen > 0 && ((const char *)f->map)[8] != '{')
        r = ds_err(DS_EFORMAT, "%s: not a safetensors file (its header, after the 8-byte length, does not start "
                   "with '{')", path);
    if (!r) {
        f->data = (const uint8_t *)f->map + 8 + hlen;
        f->data_size = f->map_size - 8 - hlen;
        r = header_parse(f, (const char *)f->map + 8, hlen);
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

/* ---- conversion to float32 --------------------------------------------- */

static float bits_float(uint32_t b)
{
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* Every half value is exactly representable in float; subnormal halves
 * become normal floats. */
static float half_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | man << 13);   /* inf, nan */
    if (exp) return bits_float(sign | (exp + 112) << 23 | man << 13);
    if (!man) return bits_float(sign);
    int shift = 0;
    while (!(man & 0x400)) { man <<= 1; shift++; }
    return bits_float(sign | (uint32_t)(113 - shift) << 23 | (man & 0x3ff) << 13);
}

/* Mapped bytes may be unaligned for their type: every load is a memcpy. */
static uint16_t load16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return h; }
static double load64(const uint8_t *p) { double d; memcpy(&d, p, 8); return d; }

int ds_st_read_f32(const ds_st_file *f, const ds_st_tensor *t, float *dst)
{
    const uint8_t *src = f->data + t->begin;
    size_t n = t->numel;
    switch (t->dtype) {
    case DS_ST_F32: if (n) memcpy(dst, src, 4 * n); break;
    case DS_ST_F64: for (size_t i = 0; i < n; i++) dst[i] = (float)load64(src + 8 * i); break;
    case DS_ST_F16: for (size_t i = 0; i < n; i++) dst[i] = half_float(load16(src + 2 * i)); break;
    case DS_ST_BF16: for (size_t i = 0; i < n; i++) dst[i] = bits_float((uint32_t)load16(src + 2 * i) << 16); break;
    default:
        return ds_err(DS_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64", f->path, t->name,
                      ds_st_dtype_name(t->dtype));
    }
    return 0;
}

/* ---- names ------------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): no stray continuation bytes, no truncated or
 * overlong sequences, no surrogates, nothing above U+10FFFF. */
int ds_utf8_valid(const char *str, size_t n, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        unsigned lo = 0x80, hi = 0xBF;   /* the second byte's range */
        if (c == 0xE0) lo = 0xA0;
        else if (c == 0xED) hi = 0x9F;   /* U+D800..U+DFFF are surrogates */
        else if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;   /* above U+10FFFF */
        int ok = k != 9 && i + k < n;   /* the whole sequence is there */
        for (size_t j = 1; ok && j <= k; j++) {
            unsigned b = s[i + j];
            ok = j == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xBF;
        }
        if (!ok) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        i += k + 1;
    }
    return 1;
}

const char *ds_st_name_problem(const char *name)
{
    if (!name) return "is missing";
    if (!*name) return "is empty";
    if (!strcmp(name, "__metadata__")) return "is reserved for the metadata";
    if (!ds_utf8_valid(name, strlen(name), NULL)) return "is not valid UTF-8";
    return NULL;
}

const char *ds_st_name_show(const char *name, char *buf, size_t n)
{
    size_t k = 0, len = name ? strlen(name) : 0;
    int valid = name && ds_utf8_valid(name, len, NULL);
    for (size_t i = 0; i < len && k + 5 < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7F || (!valid && c >= 0x80)) k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
        else buf[k++] = (char)c;
    }
    if (n) buf[k < n ? k : n - 1] = 0;
    return buf;
}

/* ---- write ------------------------------------------------------------- */

static int entry_bytes(const char *path, const ds_st_entry *e, size_t *bytes)
{
    if (!e->name) return ds_err(DS_EINVAL, "%s: a tensor without a name", path);
    if (e->ndim < 0 || e->ndim > 8 || (e->ndim && !e->shape))
        return ds_err(DS_EINVAL, "%s: tensor '%s': %d dimensions, expected 0 to 8", path, e->name, e->ndim);
    size_t numel = 1;
    for (int k = 0; k < e->ndim; k++) {
        if (e->shape[k] < 0 || e->shape[k] > MAX_DIM || (e->shape[k] && numel > MAX_BYTES / 8 / (size_t)e->shape[k]))
            return ds_err(DS_EINVAL, "%s: tensor '%s': shape[%d] = %lld", path, e->name, k, (long long)e->shape[k]);
        numel *= (size_t)e->shape[k];
    }
    if (numel && !e->data) return ds_err(DS_EINVAL, "%s: tensor '%s' has no data", path, e->name);
    *bytes = 4 * numel;
    return 0;
}

static json_t *entry_json(const ds_st_entry *e, size_t begin, size_t end)
{
    json_t *shape = json_array();
    for (int k = 0; shape && k < e->ndim; k++)
        if (json_array_append_new(shape, json_integer(e->shape[k]))) { json_decref(shape); return NULL; }
    return shape ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
                             (json_int_t)begin, (json_int_t)end) : NULL;
}

static int meta_json(const char *path, json_t *root, const char *const *keys, const char *const *vals, int nmeta)
{
    json_t *meta = json_object();
    if (!meta || json_object_set_new(root, "__metadata__", meta)) return ds_err(DS_ENOMEM, "%s: out of memory for the metadata", path);
    for (int i = 0; i < nmeta; i++) {
        if (!keys[i] || !vals[i]) return ds_err(DS_EINVAL, "%s: __metadata__ entry %d is NULL", path, i);
        char shown[256];
        if (!ds_utf8_valid(keys[i], strlen(keys[i]), NULL) || !ds_utf8_valid(vals[i], strlen(vals[i]), NULL))
            return ds_err(DS_EINVAL, "%s: __metadata__ '%s' is not valid UTF-8", path, ds_st_name_show(keys[i], shown, sizeof shown));
        if (json_object_get(meta, keys[i])) return ds_err(DS_EINVAL, "%s: __metadata__ key '%s' given twice", path, keys[i]);
        if (json_object_set_new(meta, keys[i], json_string(vals[i])))
            return ds_err(DS_EINVAL, "%s: __metadata__ '%s' is not valid UTF-8", path, keys[i]);
    }
    return 0;
}

/* The header JSON, metadata first as the reference library writes it. */
static int header_build(const char *path, const ds_st_entry *e, int n, const char *const *keys,
                        const char *const *vals, int nmeta, char **out)
{
    json_t *root = json_object();
    int r = root ? 0 : ds_err(DS_ENOMEM, "%s: out of memory for the header", path);
    if (!r && nmeta > 0) r = meta_json(path, root, keys, vals, nmeta);
    size_t off = 0, bytes = 0;
    for (int i = 0; i < n && !r; i++) {
        char shown[256];
        const char *why = e[i].name ? ds_st_name_problem(e[i].name) : NULL;
        r = entry_bytes(path, &e[i], &bytes);
        if (!r && why)
            r = ds_err(DS_EINVAL, "%s: tensor %d: name '%s' %s", path, i, ds_st_name_show(e[i].name, shown, sizeof shown), why);
        if (!r && json_object_get(root, e[i].name))
            r = ds_err(DS_EINVAL, "%s: tensor name '%s' is given twice", path, e[i].name);
        if (!r && json_object_set_new(root, e[i].name, entry_json(&e[i], off, off + bytes)))
            r = ds_err(DS_EINVAL, "%s: tensor '%s': name is not valid UTF-8 (or out of memory)", path, e[i].name);
        off += bytes;
    }
    *out = r ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!r && !*out) r = ds_err(DS_ENOMEM, "%s: out of memory for the header", path);
    json_decref(root);
    return r;
}

static int body_write(FILE *fp, const char *hdr, const ds_st_entry *e, int n)
{
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7, bytes;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(padded >> (8 * i));
    int bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr, 1, hlen, fp) != hlen ||
              fwrite("       ", 1, padded - hlen, fp) != padded - hlen;
    for (int i = 0; i < n && !bad; i++) {
        entry_bytes("", &e[i], &bytes);
        bad = fwrite(e[i].data ? (const void *)e[i].data : "", 1, bytes, fp) != bytes;
    }
    return bad;
}

int ds_st_write(const char *path, const ds_st_entry *e, int n, const char *const *meta_keys,
                const char *const *meta_vals, int nmeta)
{
    char *hdr = NULL;
    if (n < 0 || nmeta < 0 || (n && !e) || (nmeta && (!meta_keys || !meta_vals)))
        return ds_err(DS_EINVAL, "%s: bad tensor or metadata list", path);
    int r = header_build(path, e, n, meta_keys, meta_vals, nmeta, &hdr);
    if (r) return r;
    if (strlen(hdr) > DS_ST_MAX_HEADER - 8) r = ds_err(DS_EINVAL, "%s: header over %u bytes", path, DS_ST_MAX_HEADER);
    ds_outfile o;
    if (!r) r = ds_outfile_open(&o, path);
    if (!r && body_write(o.fp, hdr, e, n)) {
        r = ds_err_errno(DS_EIO, "%s: write failed", path);
        ds_outfile_abort(&o);
    } else if (!r) r = ds_outfile_commit(&o);
    free(hdr);
    return r;
}
