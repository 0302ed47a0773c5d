/* TSV rows of floats for shell pipelines (tsv.h, derfseq.md "Outputs":
 * id<TAB>v1<TAB>..., one row per record). */
#include "io/tsv.h"
#include "core/error.h"

#include <string.h>

/* A tab or newline inside an id would shift every column after it. */
static int id_check(const char *id)
{
    int n = (int)strcspn(id, "\t\n\r");
    if (id[n]) return ds_err(DS_EINVAL, "record id '%.*s...' contains a tab or newline, expected one field", n, id);
    return 0;
}

static int row_tail(FILE *fp, const float *v, int n)
{
    for (int i = 0; i < n; i++) fprintf(fp, "\t%.7g", (double)v[i]);
    return fputc('\n', fp) == EOF || ferror(fp) ? ds_err_errno(DS_EIO, "write failed") : 0;
}

int ds_tsv_write_row(FILE *fp, const char *id, const float *v, int n)
{
    int r = id_check(id);
    if (r) return r;
    fputs(id, fp);
    return row_tail(fp, v, n);
}

int ds_tsv_write_token_row(FILE *fp, const char *id, long pos, const float *v, int n)
{
    int r = id_check(id);
    if (r) return r;
    fprintf(fp, "%s\t%ld", id, pos);
    return row_tail(fp, v, n);
}
