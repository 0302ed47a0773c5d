/* Checks a faidx index (.fai, and the .gzi of a bgzip file) against the
 * sequence file before it reaches htslib, which trusts both: a zero line
 * width divides by zero, an offset past the data trips an assertion in
 * bgzf_useek, and a stale index silently reads other bases. Internal to
 * lib/io (fasta.c and its tests). */
#ifndef DS_FAIDX_CHECK_H
#define DS_FAIDX_CHECK_H

/* 0, or a DS_EFORMAT/DS_EIO code with a one-line message naming the index
 * file and its row ("x.fa.fai:3: contig 'chr2': ..."; for a .gzi, its
 * entry). path: the plain or bgzip FASTA/FASTQ; bgzip: 1 when it is bgzip
 * (then gzi must name its .gzi); fastq: rows have 6 columns, headers '@'.
 * shown_fai/shown_gzi: the names messages use (the files may be temporary).
 * Every row is checked: columns, numbers, line layout, bounds against the
 * (uncompressed) file size, its header line, the width of its first line
 * and the line end after its last base. */
int ds_faidx_check(const char *path, int bgzip, int fastq, const char *fai, const char *gzi,
                   const char *shown_fai, const char *shown_gzi);

#endif
