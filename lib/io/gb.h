/* GenomicBenchmarks datasets in the three layouts users have offline
 * (genomic_benchmarks.md §4.1-4.2, derfseq.md "Inputs"):
 *   tree   <dir>/{train,test}/<class>/<id>.txt     one raw sequence per file
 *   coords <dir>/{train,test}/<class>.csv[.gz]     id,region,start,end,strand + a reference FASTA
 *   table  <dir>/{train,test}.{csv,tsv}[.gz]       a header with "sequence" and "label" columns
 *                                                  (and optionally "id")
 * Class ids are the sorted class names (the official consumers use
 * directory order, which differs between machines). Records keep a stable
 * order: classes sorted, then files or rows in sorted/file order. */
#ifndef DS_GB_H
#define DS_GB_H

#include <stdint.h>

enum { DS_GB_AUTO = 0, DS_GB_TREE, DS_GB_COORDS, DS_GB_TABLE };

typedef struct {
    char *id;            /* "<class>/<id>", id: the file stem (tree), the id column (coords; table if it
                          * has one, else the line number); <class> the record's (true) class */
    char *seq;
    int64_t len;
    int label;
} ds_gb_record;

/* A label map (--labels RAW=NAME[,RAW=NAME...]): the class name of each
 * raw label (a table's label value, a tree's class folder, a coords class
 * file), e.g. 0=negative,1=positive for an integer-labelled table. Classes
 * are then the sorted names; a raw label the map does not name is an error. */
typedef struct {
    int n;
    char **raw, **name;
} ds_gb_labels;

/* Parses "RAW=NAME,..." (non-empty parts, no raw label or name twice); the
 * error message describes the text, for the caller to prefix. */
int ds_gb_labels_parse(ds_gb_labels *m, const char *text);
void ds_gb_labels_free(ds_gb_labels *m);

typedef struct {
    int layout;
    int nclass;
    char **classes;      /* sorted */
    ds_gb_record *r;
    long n, cap;
    long n_empty;              /* empty sequences (kept, as the official loader keeps them) */
    char first_empty[512];     /* where the first one is: "file" or "file:line" */
    char *warn;                /* NULL, or one line on what was accepted but looks wrong */
    const ds_gb_labels *map;   /* during ds_gb_read_labels only */
} ds_gb_split;

const char *ds_gb_layout_name(int layout);
int ds_gb_layout_parse(const char *name);   /* "tree", "coords", "table"; -1 if unknown */
/* The layout of a dataset directory; an error names what was looked for. */
int ds_gb_detect(const char *dir, int *layout);
/* Reads split "train" or "test". ref: the FASTA for the coords layout (else
 * NULL). classes/nclass: the class list a checkpoint fixes (a label outside
 * it is an error naming file and line); NULL derives it from the data, for
 * training, and then at least two classes must have sequences.
 * A sequence holding binary bytes (control bytes other than tab/CR/LF,
 * bytes >= 0x7f) is refused naming the file (and line). What the official
 * loader accepts but looks wrong (empty sequences, classes without
 * sequences) is kept and described in s->warn. */
int ds_gb_read(ds_gb_split *s, const char *dir, const char *split, int layout, const char *ref,
               char *const *classes, int nclass);
/* The same with the raw labels renamed by map (NULL or empty: none). */
int ds_gb_read_labels(ds_gb_split *s, const char *dir, const char *split, int layout, const char *ref,
                      char *const *classes, int nclass, const ds_gb_labels *map);
void ds_gb_free(ds_gb_split *s);

#endif
