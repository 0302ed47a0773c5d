/* Bounded line reading over htslib BGZF (plain, gzip or bgzip input): a
 * line longer than its limit is an error rather than unbounded growth, so
 * a newline-free or endless input cannot exhaust memory. Used by the
 * FASTA/FASTQ and BED readers. */
#ifndef DS_LINEBUF_H
#define DS_LINEBUF_H

#include <htslib/bgzf.h>
#include <htslib/kstring.h>
#include <stddef.h>

typedef struct {
    BGZF *fp;
    char *buf;          /* bytes read ahead; lines are cut from here */
    size_t pos, end;
    char first;         /* first byte of the line last read (which limit applied) */
} ds_linebuf;

enum { DS_LINE_EOF = 0, DS_LINE_OK = 1, DS_LINE_EREAD = -1, DS_LINE_ETOOLONG = -2, DS_LINE_ENOMEM = -3 };

/* 0, or -1 when out of memory; fp stays the caller's. */
int ds_linebuf_init(ds_linebuf *b, BGZF *fp);
void ds_linebuf_free(ds_linebuf *b);
/* The next line into s without its '\n' (a '\r' is kept), NUL-terminated:
 * DS_LINE_OK, DS_LINE_EOF, DS_LINE_ENOMEM, DS_LINE_EREAD (corrupt or truncated data; htslib
 * logs nothing), or DS_LINE_ETOOLONG once the line outgrows its limit:
 * max_header bytes for a line starting with '>' or '@', max for others.
 * Nothing more of a too-long line is read. */
int ds_linebuf_get(ds_linebuf *b, kstring_t *s, size_t max_header, size_t max);

#endif
