/* DNA sequence input through htslib (derfseq.md "Inputs"): streaming
 * FASTA/FASTQ records (plain, gzip or bgzip; "-" is stdin) and faidx random
 * access to a reference (plain or bgzip, .fai/.gzi built when missing). */
#ifndef DS_FASTA_H
#define DS_FASTA_H

#include <stdint.h>

/* ---- streaming ------------------------------------------------------- */
typedef struct ds_fasta_reader ds_fasta_reader;

typedef struct {
    const char *id;       /* first word of the header line */
    const char *seq;      /* bases as in the file (case kept) */
    int64_t len;
    int64_t index;        /* 0-based record number */
} ds_fasta_record;

int ds_fasta_open(ds_fasta_reader **r, const char *path);
/* 1 with *rec filled (valid until the next call), 0 at the end, or a DS_E*
 * code: "x.fa: record 3 (line 17): expected '>' or '@' ...". An input with
 * no record at all is an error. Memory does not grow with the record count. */
int ds_fasta_next(ds_fasta_reader *r, ds_fasta_record *rec);
void ds_fasta_close(ds_fasta_reader *r);

/* ---- random access --------------------------------------------------- */
typedef struct ds_ref ds_ref;

int ds_ref_open(ds_ref **ref, const char *path);
void ds_ref_close(ds_ref *ref);
int ds_ref_ncontigs(const ds_ref *ref);
const char *ds_ref_contig_name(const ds_ref *ref, int i);
int64_t ds_ref_contig_len(const ds_ref *ref, int i);
/* Index of a contig by name, or a DS_EINVAL code whose message names it and
 * suggests the "chr"-prefixed (or unprefixed) name when that one exists. */
int ds_ref_contig_index(const ds_ref *ref, const char *name);
int ds_ref_has_contig(const ds_ref *ref, const char *name);   /* 1 or 0, no error message */
/* Bases [beg, end) (0-based half-open) of contig `name` into buf (end-beg
 * bytes, not terminated). Errors: unknown contig, end < beg, end past the
 * contig's length. */
int ds_ref_fetch(const ds_ref *ref, const char *name, int64_t beg, int64_t end, char *buf);
const char *ds_ref_path(const ds_ref *ref);

/* Reverse complement in place: ACGTN and acgtn, IUPAC codes where defined. */
void ds_revcomp(char *seq, int64_t len);

#endif
