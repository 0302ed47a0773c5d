/* TSV rows of floats: id<TAB>v1<TAB>...; floats printed with %.7g, enough
 * for float32 to survive a round trip within 1 ulp-ish (use npy for exact). */
#ifndef DS_TSV_H
#define DS_TSV_H

#include <stdio.h>

/* An id with a tab or newline is refused (DS_EINVAL): it would shift the columns. */
int ds_tsv_write_row(FILE *fp, const char *id, const float *v, int n);
/* id<TAB>pos<TAB>v1... (per-token rows) */
int ds_tsv_write_token_row(FILE *fp, const char *id, long pos, const float *v, int n);

#endif
