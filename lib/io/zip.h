/* A minimal ZIP writer for NumPy .npz outputs: members STORED (no
 * compression), CRC-32 from zlib, written one after another to a seekable
 * FILE; each member's local header is rewritten with its CRC and size when
 * the member ends, so a member can be streamed. Plain ZIP (no ZIP64): a
 * member or the whole archive over 4 GiB is refused (DS_EINVAL). */
#ifndef DS_ZIP_H
#define DS_ZIP_H

#include <stdint.h>
#include <stdio.h>

#define DS_ZIP_MAX_MEMBERS 8

typedef struct {
    FILE *fp;
    int n, open;
    struct {
        char name[32];
        uint32_t crc;
        uint64_t size, local_at;
    } m[DS_ZIP_MAX_MEMBERS];
    int reserve;          /* bytes at the start of the open member filled at its end */
    uint32_t crc;         /* of the open member's bytes after the reserve */
    uint64_t size;
} ds_zip;

void ds_zip_init(ds_zip *z, FILE *fp);
/* Starts member name, leaving `reserve` bytes (e.g. an .npy header whose
 * shape is known only at the end) to be written by ds_zip_end. */
int ds_zip_begin(ds_zip *z, const char *name, int reserve);
int ds_zip_write(ds_zip *z, const void *p, size_t n);
/* Fills the reserve with prefix (reserve bytes), fixes the local header. */
int ds_zip_end(ds_zip *z, const void *prefix);
/* The central directory and its end record. */
int ds_zip_finish(ds_zip *z);

#endif
