/* Token embedding lookup (nn.Embedding) and its scatter-add backward. */
#include "nn/ops.h"

#include <string.h>

void ds_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int V, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * C, table + (size_t)ids[n] * C, (size_t)C * sizeof(float));
}

void ds_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V, int C)
{
    /* Rows repeat across tokens, so threads split channels, not tokens:
     * each thread owns a column slice of the table and adds in token order. */
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int n = 0; n < N; n++) {
            float *row = dtable + (size_t)ids[n] * C;
            const float *d = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) row[c] += d[c];
        }
    }
}
