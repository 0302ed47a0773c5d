/* DNA sequence input through htslib (derfseq.md "Inputs"): streaming
 * FASTA/FASTQ records (plain, gzip or bgzip; "-" is stdin) and faidx random
 * access to a reference (plain or bgzip, .fai/.gzi built when missing). */
#ifndef DS_FASTA_H
#define DS_FASTA_H

#include <stddef.h>
#include <stdint.h>

/* ---- streaming ------------------------------------------------------- */
typedef struct ds_fasta_reader ds_fasta_reader;

typedef struct {
    const char *id;       /* first word of the header line */
    const char *seq;      /* bases as in the file (case kept), NUL-terminated */
    const char *qual;     /* FASTQ quality (len bytes), NULL for FASTA */
    int64_t len;
    int64_t index;        /* 0-based record number */
    int64_t line;         /* line number of the header */
} ds_fasta_record;

/* Opens path (or stdin for "-") and reads up to the first header, so an
 * empty input ("x.fa: no sequence records") or one that does not start with
 * '>' or '@' ("x.fa:1: expected '>' or '@' ...") fails here. */
int ds_fasta_open(ds_fasta_reader **r, const char *path);
/* 1 with *rec filled (valid until the next call), 0 at the end, or a DS_E*
 * code whose message names the file, line and record. Sequence lines hold
 * letters, '-', '*' or '.'; FASTQ may wrap its sequence and quality over
 * several lines. Memory does not grow with the record count. */
int ds_fasta_next(ds_fasta_reader *r, ds_fasta_record *rec);
void ds_fasta_close(ds_fasta_reader *r);

/* Streaming keeps memory bounded whatever the input (no line breaks, an
 * endless stream): a header line longer than DS_FASTA_MAX_HEADER bytes, a
 * record of more than DS_FASTA_MAX_RECORD bases (or a line that long) is
 * an error naming the file and line, read no further. Longer contigs are
 * read with ds_ref (faidx), which loads only the bases asked for. */
#define DS_FASTA_MAX_HEADER ((size_t)64 << 10)
#define DS_FASTA_MAX_RECORD ((size_t)4 << 30)
/* Lowers (or restores, with 0) both limits for every reader opened
 * afterwards; for tests, not thread-safe. */
void ds_fasta_set_limits(size_t max_header, size_t max_record);

/* ---- random access --------------------------------------------------- */
/* One reference; not thread-safe (faidx keeps one file position): give each
 * thread its own ds_ref. */
typedef struct ds_ref ds_ref;

/* Opens a plain or bgzip FASTA with faidx (FASTQ works too, as with
 * 'samtools fqidx'). A missing .fai (and .gzi) is built beside the file
 * (under a temporary name, renamed once checked); when that directory is
 * not writable, in $TMPDIR for this process only (ds_ref_index_is_temporary).
 * A gzip file that is not bgzip, or a FASTA whose line lengths vary within
 * a record, cannot be indexed: the message says so and how to fix it.
 * An existing index is checked against the file first (faidx_check.h:
 * every row's numbers, bounds, header line, first-line width and end) and
 * refused, never rebuilt, when it does not fit: "x.fa.fai:3: contig 'chr2':
 * line width (bases per line) 70 does not match x.fa (60); delete the index
 * to rebuild it". htslib's own log lines are kept off stderr. */
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
 * bytes, not terminated). Errors: unknown contig, negative start,
 * end < start, end past the contig's length. */
int ds_ref_fetch(const ds_ref *ref, const char *name, int64_t beg, int64_t end, char *buf);
/* The same by contig index (no name lookup). */
int ds_ref_fetch_i(const ds_ref *ref, int contig, int64_t beg, int64_t end, char *buf);
const char *ds_ref_path(const ds_ref *ref);
/* 1 when the index was built in $TMPDIR and is gone at close, so every run
 * pays for building it again ('samtools faidx' beside the file avoids that). */
int ds_ref_index_is_temporary(const ds_ref *ref);

/* Reverse complement in place: ACGTN and acgtn, the IUPAC codes
 * (RYKMBVDHSW, U→A) in either case; any other byte is kept. */
void ds_revcomp(char *seq, int64_t len);

#endif
