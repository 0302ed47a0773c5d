/* TSV rows of floats for shell pipelines (tsv.h). */
#include "io/tsv.h"
#include "core/error.h"

static int row_tail(FILE *fp, const float *v, int n)
{
    for (int i = 0; i < n; i++) fprintf(fp, "\t%.7g", (double)v[i]);
    return fputc('\n', fp) == EOF ? ds_err_errno(DS_EIO, "write failed") : 0;
}

int ds_tsv_write_row(FILE *fp, const char *id, const float *v, int n)
{
    fputs(id, fp);
    return row_tail(fp, v, n);
}

int ds_tsv_write_token_row(FILE *fp, const char *id, long pos, const float *v, int n)
{
    fprintf(fp, "%s\t%ld", id, pos);
    return row_tail(fp, v, n);
}
