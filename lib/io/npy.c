/* NumPy .npy files (npy.h, derfseq.md "Outputs"): version 1.0 float32
 * C-order write; versions 1.0, 2.0 (and 3.0) '<f4'/'<f8' C-order read. */
#include "io/npy.h"
#include "core/error.h"
#include "io/outfile.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAX_HEADER (1u << 20)
#define NPY_MAX_DIM    (INT64_C(1) << 40)
#define NPY_MAX_NUMEL  ((size_t)1 << 50)

/* ---- write ------------------------------------------------------------- */

/* The dict exactly as numpy writes it: shape (3,) for one dimension,
 * (2, 3) for more, () for a scalar. */
static int dict_format(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape)
{
    int k = snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    k += snprintf(buf + k, cap - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    return k;
}

int ds_npy_header_format(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape, int size)
{
    if (ndim < 0 || ndim > 8) return ds_err(DS_EINVAL, "npy: %d dimensions, expected 0 to 8", ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return ds_err(DS_EINVAL, "npy: shape[%d] = %lld, expected >= 0", i, (long long)shape[i]);
    if (strlen(descr) > 16) return ds_err(DS_EINVAL, "npy: dtype '%s' too long", descr);
    char dict[320];
    int k = dict_format(dict, sizeof dict, descr, ndim, shape);
    /* magic(6) + version(2) + length(2) + dict + spaces + '\n': a multiple of
     * 64, so the data that follows is aligned when mapped */
    int total = (10 + k + 1 + 63) / 64 * 64;
    if (size && (size < total || size % 64 || size - 10 > 65535))
        return ds_err(DS_EINVAL, "npy: header needs %d bytes, %d reserved (a multiple of 64 up to 65536 expected)", total, size);
    if (size) total = size;
    if ((size_t)total > cap) return ds_err(DS_EINVAL, "npy: header of %d bytes, buffer of %zu", total, cap);
    int hlen = total - 10;
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    memcpy(buf, pre, 10);
    memcpy(buf + 10, dict, (size_t)k);
    memset(buf + 10 + k, ' ', (size_t)(total - 1 - 10 - k));
    buf[total - 1] = '\n';
    return total;
}

int ds_npy_write_header(FILE *fp, int ndim, const int64_t *shape)
{
    return ds_npy_write_header_sized(fp, ndim, shape, 0);
}

int ds_npy_write_header_sized(FILE *fp, int ndim, const int64_t *shape, int size)
{
    char buf[DS_NPY_HEADER_MAX];
    int total = ds_npy_header_format(buf, sizeof buf, "<f4", ndim, shape, size);
    if (total < 0) return total;
    if (fwrite(buf, 1, (size_t)total, fp) != (size_t)total) return ds_err_errno(DS_EIO, "npy: header write failed");
    return 0;
}

int ds_npy_write(const char *path, const float *data, int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim && ndim <= 8; i++) n *= shape[i] > 0 ? (size_t)shape[i] : 0;
    ds_outfile o;
    int r = ds_outfile_open(&o, path);
    if (r) return r;
    r = ds_npy_write_header(o.fp, ndim, shape);
    if (!r && n && fwrite(data, sizeof(float), n, o.fp) != n) r = ds_err_errno(DS_EIO, "%s: write failed", path);
    if (r) { ds_outfile_abort(&o); return r; }
    return ds_outfile_commit(&o);
}

/* ---- header dict: a Python literal with exactly three keys ------------- */

typedef struct {
    const char *p, *end;
    char descr[32];
    int fortran, ndim;
    int64_t shape[8];
} npy_dict;

static int peek(npy_dict *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
    return d->p < d->end ? *d->p : -1;
}

static int eat(npy_dict *d, char c)
{
    if (peek(d) != c) return 0;
    d->p++;
    return 1;
}

static int str_parse(npy_dict *d, char *out, size_t cap)
{
    int q = peek(d);
    if (q != '\'' && q != '"') return -1;
    const char *s = ++d->p;
    while (d->p < d->end && *d->p != q) d->p++;
    if (d->p == d->end || (size_t)(d->p - s) >= cap) return -1;
    memcpy(out, s, (size_t)(d->p - s));
    out[d->p - s] = 0;
    d->p++;
    return 0;
}

static int bool_parse(npy_dict *d, int *v)
{
    peek(d);
    size_t left = (size_t)(d->end - d->p);
    if (left >= 4 && !memcmp(d->p, "True", 4)) { *v = 1; d->p += 4; return 0; }
    if (left >= 5 && !memcmp(d->p, "False", 5)) { *v = 0; d->p += 5; return 0; }
    return -1;
}

static int int_parse(npy_dict *d, int64_t *v)
{
    peek(d);
    *v = 0;
    const char *s = d->p;
    for (; d->p < d->end && *d->p >= '0' && *d->p <= '9'; d->p++) {
        *v = *v * 10 + (*d->p - '0');
        if (*v > NPY_MAX_DIM) return -1;
    }
    if (d->p < d->end && *d->p == 'L') d->p++;   /* Python 2 long, as old numpy wrote */
    return d->p > s ? 0 : -1;
}

/* "()" or "(n,)" or "(n, m[, ...][,])": a one-element tuple needs its comma. */
static int shape_parse(npy_dict *d)
{
    if (!eat(d, '(')) return -1;
    int comma = 0;
    for (d->ndim = 0; !eat(d, ')');) {
        if (d->ndim == 8 || int_parse(d, &d->shape[d->ndim++])) return -1;
        comma = eat(d, ',');
        if (!comma && peek(d) != ')') return -1;
    }
    return d->ndim == 1 && !comma ? -1 : 0;
}

/* Parses one key: value; `seen` gets the key's bit. */
static int item_parse(const char *path, npy_dict *d, int *seen)
{
    char key[32];
    if (str_parse(d, key, sizeof key) || !eat(d, ':'))
        return ds_err(DS_EFORMAT, "%s: npy header: expected 'key': value", path);
    int bit = !strcmp(key, "descr") ? 1 : !strcmp(key, "fortran_order") ? 2 : !strcmp(key, "shape") ? 4 : 0;
    if (!bit || (*seen & bit))
        return ds_err(DS_EFORMAT, "%s: npy header: key '%s' %s, expected descr, fortran_order and shape once each", path,
                      key, bit ? "repeated" : "unknown");
    *seen |= bit;
    if (bit == 1 && str_parse(d, d->descr, sizeof d->descr))
        return ds_err(DS_EFORMAT, "%s: npy header: descr is not a plain dtype string (structured arrays are not "
                      "supported)", path);
    if (bit == 2 && bool_parse(d, &d->fortran))
        return ds_err(DS_EFORMAT, "%s: npy header: fortran_order: expected True or False", path);
    if (bit == 4 && shape_parse(d))
        return ds_err(DS_EFORMAT, "%s: npy header: shape: expected a tuple of up to 8 non-negative integers", path);
    return 0;
}

static int dict_parse(const char *path, npy_dict *d)
{
    int seen = 0, r = 0;
    if (!eat(d, '{')) return ds_err(DS_EFORMAT, "%s: npy header: expected a dict starting with '{'", path);
    while (!r && !eat(d, '}')) {
        r = item_parse(path, d, &seen);
        if (!r && !eat(d, ',') && peek(d) != '}') r = ds_err(DS_EFORMAT, "%s: npy header: expected ',' or '}'", path);
    }
    if (!r && peek(d) != -1) r = ds_err(DS_EFORMAT, "%s: npy header: text after the closing '}'", path);
    if (!r && seen != 7) r = ds_err(DS_EFORMAT, "%s: npy header: expected keys descr, fortran_order and shape", path);
    return r;
}

/* Element size for the dtypes we read, or an error saying what is accepted. */
static int descr_check(const char *path, const npy_dict *d, size_t *es)
{
    if (d->fortran)
        return ds_err(DS_EFORMAT, "%s: Fortran-order array, expected fortran_order False (save with C order, "
                      "e.g. numpy.ascontiguousarray)", path);
    if (!strcmp(d->descr, "<f4")) *es = 4;
    else if (!strcmp(d->descr, "<f8")) *es = 8;
    else return ds_err(DS_EFORMAT, "%s: npy dtype '%s', expected '<f4' or '<f8' (little-endian float32/float64)", path, d->descr);
    return 0;
}

/* ---- read -------------------------------------------------------------- */

/* The magic, version and header length; leaves fp at the dict. */
static int preamble_read(const char *path, FILE *fp, size_t *hlen, long *data_at)
{
    unsigned char p[12];
    if (fread(p, 1, 10, fp) != 10 || memcmp(p, "\x93NUMPY", 6))
        return ds_err(DS_EFORMAT, "%s: not a .npy file (expected the magic \\x93NUMPY)", path);
    if (p[6] < 1 || p[6] > 3 || p[7] != 0)
        return ds_err(DS_EFORMAT, "%s: npy format version %d.%d, expected 1.0, 2.0 or 3.0", path, p[6], p[7]);
    *hlen = p[8] | (size_t)p[9] << 8;
    *data_at = 10;
    if (p[6] >= 2) {   /* a 4-byte length */
        if (fread(p + 10, 1, 2, fp) != 2) return ds_err(DS_EFORMAT, "%s: npy header truncated", path);
        *hlen |= (size_t)p[10] << 16 | (size_t)p[11] << 24;
        *data_at = 12;
    }
    if (*hlen > NPY_MAX_HEADER)
        return ds_err(DS_EFORMAT, "%s: npy header of %zu bytes, expected at most %u", path, *hlen, NPY_MAX_HEADER);
    *data_at += (long)*hlen;
    return 0;
}

static int header_read(const char *path, FILE *fp, npy_dict *d, long *data_at)
{
    size_t hlen = 0;
    int r = preamble_read(path, fp, &hlen, data_at);
    if (r) return r;
    char *h = malloc(hlen + 1);
    if (!h) return ds_err(DS_ENOMEM, "%s: out of memory", path);
    if (fread(h, 1, hlen, fp) != hlen) r = ds_err(DS_EFORMAT, "%s: npy header truncated (expected %zu bytes)", path, hlen);
    memset(d, 0, sizeof *d);
    d->p = h;
    d->end = h + hlen;
    if (!r) r = dict_parse(path, d);
    d->p = d->end = NULL;
    free(h);
    return r;
}

int ds_npy_read_header(FILE *fp, const char *name, char descr[32], int *ndim, int64_t shape[8], long *data_at)
{
    npy_dict d;
    int r = header_read(name, fp, &d, data_at);
    if (r) return r;
    if (d.fortran) return ds_err(DS_EFORMAT, "%s: Fortran-order array, expected fortran_order False", name);
    memcpy(descr, d.descr, sizeof d.descr);
    *ndim = d.ndim;
    memcpy(shape, d.shape, sizeof d.shape);
    return 0;
}

/* Compares the bytes after the header with what the shape needs, before
 * allocating anything a corrupt shape asks for. */
static int size_check(const char *path, FILE *fp, long data_at, size_t need)
{
    struct stat sb;
    if (fstat(fileno(fp), &sb) || !S_ISREG(sb.st_mode)) return 0;   /* a pipe: fread will tell */
    size_t have = sb.st_size > data_at ? (size_t)(sb.st_size - data_at) : 0;
    if (have != need)
        return ds_err(DS_EFORMAT, "%s: data %s than its shape says (expected %zu bytes, found %zu)", path,
                      have < need ? "shorter" : "longer", need, have);
    return 0;
}

static int data_read(const char *path, FILE *fp, float *x, size_t n, size_t es)
{
    int bad = 0;
    if (es == 4) bad = fread(x, 4, n, fp) != n;
    for (size_t i = 0; es == 8 && i < n && !bad;) {
        double buf[1024];
        size_t m = n - i < 1024 ? n - i : 1024;
        bad = fread(buf, 8, m, fp) != m;
        for (size_t j = 0; j < m && !bad; j++) x[i + j] = (float)buf[j];
        i += m;
    }
    if (bad) return ds_err(DS_EFORMAT, "%s: data shorter than its shape says (%zu values expected)", path, n);
    if (fgetc(fp) != EOF) return ds_err(DS_EFORMAT, "%s: data longer than its shape says (%zu values expected)", path, n);
    return 0;
}

static int numel(const char *path, const npy_dict *d, size_t *n)
{
    *n = 1;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] && *n > NPY_MAX_NUMEL / (size_t)d->shape[i])
            return ds_err(DS_EFORMAT, "%s: npy shape has more than 2^50 elements", path);
        *n *= (size_t)d->shape[i];
    }
    return 0;
}

int ds_npy_read(const char *path, float **data, int *ndim, int64_t shape[8])
{
    *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", path);
    npy_dict d;
    long data_at = 0;
    size_t es = 0, n = 0;
    int r = header_read(path, fp, &d, &data_at);
    if (!r) r = descr_check(path, &d, &es);
    if (!r) r = numel(path, &d, &n);
    if (!r) r = size_check(path, fp, data_at, n * es);
    float *x = r ? NULL : malloc((n ? n : 1) * sizeof *x);
    if (!r && !x) r = ds_err(DS_ENOMEM, "%s: out of memory for %zu values", path, n);
    if (!r) r = data_read(path, fp, x, n, es);
    fclose(fp);
    if (r) { free(x); return r; }
    *data = x;
    *ndim = d.ndim;
    memcpy(shape, d.shape, sizeof d.shape);
    return 0;
}
