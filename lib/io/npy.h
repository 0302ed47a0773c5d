/* NumPy .npy version 1.0/2.0: float32 C-order write; read of '<f4' and
 * '<f8' (converted to float32), C order only. */
#ifndef DS_NPY_H
#define DS_NPY_H

#include <stdint.h>
#include <stdio.h>

int ds_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);   /* atomic */
/* Streaming writer for outputs whose row count is known up front: header
 * then rows appended with fwrite by the caller. */
int ds_npy_write_header(FILE *fp, int ndim, const int64_t *shape);
/* The same header padded to exactly `size` bytes (a multiple of 64), so a
 * writer that learns the row count at the end can rewrite it in place. */
int ds_npy_write_header_sized(FILE *fp, int ndim, const int64_t *shape, int size);
/* The bytes of a header of dtype descr ('<f4', '<i8', '<U12'), padded to
 * size (0: the next multiple of 64) into buf; returns its length, or a
 * negative DS_E* code. */
#define DS_NPY_HEADER_MAX 512
int ds_npy_header_format(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape, int size);
/* Parses the header at fp (any plain dtype, C order); *data_at is the
 * offset of the data from the header's start. name is for messages. */
int ds_npy_read_header(FILE *fp, const char *name, char descr[32], int *ndim, int64_t shape[8], long *data_at);
/* Reads a whole file; *data is malloc'd. */
int ds_npy_read(const char *path, float **data, int *ndim, int64_t shape[8]);

#endif
