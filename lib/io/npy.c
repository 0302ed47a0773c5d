/* NumPy .npy files (format versions 1.0 and 2.0): float32 C-order write,
 * '<f4' / '<f8' C-order read. */
#include "io/npy.h"
#include "core/error.h"
#include "io/outfile.h"

#include <stdlib.h>
#include <string.h>

int ds_npy_write_header(FILE *fp, int ndim, const int64_t *shape) { return ds_npy_write_header_sized(fp, ndim, shape, 0); }

int ds_npy_write_header_sized(FILE *fp, int ndim, const int64_t *shape, int size)
{
    char dict[256];
    int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    /* magic(6) + version(2) + len(2) + dict + padding + '\n', total a multiple of 64 */
    int total = (10 + k + 1 + 63) / 64 * 64, hlen;
    if (size) {
        if (size < total || size % 64) return ds_err(DS_EINVAL, "npy: header needs %d bytes, %d reserved", total, size);
        total = size;
    }
    hlen = total - 10;
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    if (fwrite(pre, 1, 10, fp) != 10 || fwrite(dict, 1, (size_t)k, fp) != (size_t)k) return ds_err(DS_EIO, "npy: write failed");
    for (int i = 10 + k; i < total - 1; i++) fputc(' ', fp);
    fputc('\n', fp);
    return 0;
}

int ds_npy_write(const char *path, const float *data, int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    ds_outfile o;
    int r = ds_outfile_open(&o, path);
    if (r) return r;
    r = ds_npy_write_header(o.fp, ndim, shape);
    if (!r && fwrite(data, sizeof(float), n, o.fp) != n) r = ds_err(DS_EIO, "%s: write failed", path);
    if (!r) r = ds_outfile_commit(&o);
    if (r) ds_outfile_abort(&o);
    return r;
}

/* Parses the header dict: descr, fortran_order, shape. */
static int parse_dict(const char *path, const char *h, int *f8, int *ndim, int64_t shape[8])
{
    const char *d = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"), *sh = strstr(h, "'shape'");
    if (!d || !fo || !sh) return ds_err(DS_EFORMAT, "%s: npy header lacks descr, fortran_order or shape", path);
    const char *q = strchr(d + strlen("'descr'"), '\'');   /* the value's opening quote */
    if (q && !strncmp(q, "'<f4'", 5)) *f8 = 0;
    else if (q && !strncmp(q, "'<f8'", 5)) *f8 = 1;
    else return ds_err(DS_EFORMAT, "%s: npy dtype is not '<f4' or '<f8' (little-endian float32/float64)", path);
    const char *v = fo + strlen("'fortran_order'");
    v += strspn(v, " :");
    if (!strncmp(v, "True", 4)) return ds_err(DS_EFORMAT, "%s: Fortran-order arrays are not supported; save with C order", path);
    const char *p = strchr(sh, '(');
    if (!p) return ds_err(DS_EFORMAT, "%s: npy shape is not a tuple", path);
    *ndim = 0;
    for (p++; *p && *p != ')';) {
        p += strspn(p, " ,");
        if (*p == ')') break;
        char *end;
        long long x = strtoll(p, &end, 10);
        if (end == p || x < 0 || *ndim == 8) return ds_err(DS_EFORMAT, "%s: npy shape is not a tuple of up to 8 sizes", path);
        shape[(*ndim)++] = x;
        p = end;
    }
    return 0;
}

int ds_npy_read(const char *path, float **data, int *ndim, int64_t shape[8])
{
    *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_errno(DS_EIO, "%s: cannot open", path);
    unsigned char pre[12];
    int r = 0, f8 = 0;
    size_t hlen = 0;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6))
        r = ds_err(DS_EFORMAT, "%s: not a .npy file (bad magic)", path);
    else if (pre[6] == 1) hlen = pre[8] | (size_t)pre[9] << 8;
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) r = ds_err(DS_EFORMAT, "%s: truncated header", path);
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else r = ds_err(DS_EFORMAT, "%s: npy format version %d.%d is not supported", path, pre[6], pre[7]);
    char *h = NULL;
    if (!r && hlen > (1u << 20)) r = ds_err(DS_EFORMAT, "%s: npy header of %zu bytes is too large", path, hlen);
    if (!r && !(h = calloc(hlen + 1, 1))) r = ds_err(DS_ENOMEM, "%s: out of memory", path);
    if (!r && fread(h, 1, hlen, fp) != hlen) r = ds_err(DS_EFORMAT, "%s: truncated npy header", path);
    if (!r) r = parse_dict(path, h, &f8, ndim, shape);
    free(h);
    size_t n = 1;
    for (int i = 0; !r && i < *ndim; i++) n *= (size_t)shape[i];
    size_t es = f8 ? 8 : 4;
    void *raw = r ? NULL : malloc(n * es + 1);
    if (!r && !raw) r = ds_err(DS_ENOMEM, "%s: out of memory for %zu values", path, n);
    if (!r && fread(raw, es, n, fp) != n) r = ds_err(DS_EFORMAT, "%s: data shorter than its shape says (%zu values)", path, n);
    if (!r && fgetc(fp) != EOF) r = ds_err(DS_EFORMAT, "%s: data longer than its shape says", path);
    if (!r && f8) {
        float *x = malloc(n * sizeof *x + 1);
        if (!x) r = ds_err(DS_ENOMEM, "%s: out of memory", path);
        for (size_t i = 0; !r && i < n; i++) { double v; memcpy(&v, (char *)raw + 8 * i, 8); x[i] = (float)v; }
        free(raw);
        raw = r ? NULL : x;
    }
    fclose(fp);
    if (r) { free(raw); return r; }
    *data = raw;
    return 0;
}
