/* STORED ZIP members for .npz (zip.h; PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16). */
#include "io/zip.h"
#include "core/error.h"

#include <string.h>
#include <zlib.h>

#define ZIP32_MAX 0xffffffffu
/* 1980-01-01 00:00, the DOS epoch: the same bytes on every run */
#define DOS_TIME 0
#define DOS_DATE 0x21

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

/* The fields a local header (sig 0x04034b50) and a central entry share,
 * from "version needed" to the name length: 26 bytes. */
static void common_fields(unsigned char *p, uint32_t crc, uint32_t size, size_t name_len)
{
    put16(p, 20);            /* version needed: 2.0 */
    put16(p + 2, 0);         /* flags */
    put16(p + 4, 0);         /* method: stored */
    put16(p + 6, DOS_TIME);
    put16(p + 8, DOS_DATE);
    put32(p + 10, crc);
    put32(p + 14, size);     /* compressed */
    put32(p + 18, size);     /* uncompressed */
    put16(p + 22, (unsigned)name_len);
    put16(p + 24, 0);        /* extra field length */
}

static int local_header(ds_zip *z, int i)
{
    unsigned char h[30];
    size_t nl = strlen(z->m[i].name);
    put32(h, 0x04034b50);
    common_fields(h + 4, z->m[i].crc, (uint32_t)z->m[i].size, nl);
    if (fwrite(h, 1, 30, z->fp) != 30 || fwrite(z->m[i].name, 1, nl, z->fp) != nl)
        return ds_err_errno(DS_EIO, "zip: write failed");
    return 0;
}

void ds_zip_init(ds_zip *z, FILE *fp)
{
    memset(z, 0, sizeof *z);
    z->fp = fp;
}

int ds_zip_begin(ds_zip *z, const char *name, int reserve)
{
    if (z->open || z->n == DS_ZIP_MAX_MEMBERS || strlen(name) >= sizeof z->m[0].name)
        return ds_err(DS_EINVAL, "zip: cannot start member '%s'", name);
    long at = ftell(z->fp);
    if (at < 0) return ds_err_errno(DS_EIO, "zip: output is not seekable");
    if ((uint64_t)at > ZIP32_MAX) return ds_err(DS_EINVAL, "zip: archive over 4 GiB (ZIP64 is not written)");
    int i = z->n++;
    memset(&z->m[i], 0, sizeof z->m[i]);
    strcpy(z->m[i].name, name);
    z->m[i].local_at = (uint64_t)at;
    z->open = 1;
    z->reserve = reserve;
    z->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    z->size = 0;
    int e = local_header(z, i);
    for (int k = 0; k < reserve && !e; k++)
        if (fputc(0, z->fp) == EOF) e = ds_err_errno(DS_EIO, "zip: write failed");
    return e;
}

int ds_zip_write(ds_zip *z, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (fwrite(p, 1, n, z->fp) != n) return ds_err_errno(DS_EIO, "zip: write failed");
    z->size += n;
    for (size_t off = 0; off < n;) {   /* crc32 takes a uInt length */
        size_t k = n - off < (1u << 30) ? n - off : (1u << 30);
        z->crc = (uint32_t)crc32(z->crc, b + off, (uInt)k);
        off += k;
    }
    return 0;
}

int ds_zip_end(ds_zip *z, const void *prefix)
{
    int i = z->n - 1;
    uint64_t total = z->size + (uint64_t)z->reserve;
    if (total > ZIP32_MAX)
        return ds_err(DS_EINVAL, "zip: member '%s' of %llu bytes is over 4 GiB (ZIP64 is not written)", z->m[i].name,
                      (unsigned long long)total);
    uint32_t crc = z->crc;
    if (z->reserve) {
        uint32_t pc = (uint32_t)crc32(0L, prefix, (uInt)z->reserve);
        crc = (uint32_t)crc32_combine(pc, crc, (z_off_t)z->size);
    }
    z->m[i].crc = crc;
    z->m[i].size = total;
    z->open = 0;
    if (fseek(z->fp, (long)z->m[i].local_at, SEEK_SET)) return ds_err_errno(DS_EIO, "zip: seek failed");
    int e = local_header(z, i);
    if (!e && z->reserve && fwrite(prefix, 1, (size_t)z->reserve, z->fp) != (size_t)z->reserve)
        e = ds_err_errno(DS_EIO, "zip: write failed");
    if (!e && fseek(z->fp, 0, SEEK_END)) e = ds_err_errno(DS_EIO, "zip: seek failed");
    return e;
}

int ds_zip_finish(ds_zip *z)
{
    if (z->open) return ds_err(DS_EINVAL, "zip: member '%s' not ended", z->m[z->n - 1].name);
    long cd_at = ftell(z->fp);
    if (cd_at < 0) return ds_err_errno(DS_EIO, "zip: output is not seekable");
    uint64_t cd_size = 0;
    for (int i = 0; i < z->n; i++) {
        unsigned char h[46];
        size_t nl = strlen(z->m[i].name);
        put32(h, 0x02014b50);
        put16(h + 4, 20);    /* made by: MS-DOS/FAT attributes, version 2.0 */
        common_fields(h + 6, z->m[i].crc, (uint32_t)z->m[i].size, nl);
        put16(h + 32, 0);    /* comment length */
        put16(h + 34, 0);    /* disk */
        put16(h + 36, 0);    /* internal attributes */
        put32(h + 38, 0);    /* external attributes */
        put32(h + 42, (uint32_t)z->m[i].local_at);
        if (fwrite(h, 1, 46, z->fp) != 46 || fwrite(z->m[i].name, 1, nl, z->fp) != nl)
            return ds_err_errno(DS_EIO, "zip: write failed");
        cd_size += 46 + nl;
    }
    if ((uint64_t)cd_at + cd_size > ZIP32_MAX) return ds_err(DS_EINVAL, "zip: archive over 4 GiB (ZIP64 is not written)");
    unsigned char e[22];
    put32(e, 0x06054b50);
    put16(e + 4, 0);
    put16(e + 6, 0);
    put16(e + 8, (unsigned)z->n);
    put16(e + 10, (unsigned)z->n);
    put32(e + 12, (uint32_t)cd_size);
    put32(e + 16, (uint32_t)cd_at);
    put16(e + 20, 0);
    if (fwrite(e, 1, 22, z->fp) != 22) return ds_err_errno(DS_EIO, "zip: write failed");
    return 0;
}
