/* LM batches from genome windows and held-out evaluation (lm.h). */
#include "cmd/lm.h"
#include "core/error.h"
#include "io/tokenizer.h"

#include <stdlib.h>
#include <string.h>

int ds_lm_batch_init(ds_lm_batch *b, int B, int L)
{
    memset(b, 0, sizeof *b);
    b->B = B;
    b->L = L;
    b->seq = malloc((size_t)L + 1);
    b->ids = malloc(sizeof(int32_t) * ((size_t)L + 1));
    b->inp = malloc(sizeof(int32_t) * (size_t)B * L);
    b->tgt = malloc(sizeof(int32_t) * (size_t)B * L);
    if (!b->seq || !b->ids || !b->inp || !b->tgt) {
        ds_lm_batch_free(b);
        return ds_err(DS_ENOMEM, "out of memory for a batch of %d x %d tokens", B, L);
    }
    return 0;
}

void ds_lm_batch_free(ds_lm_batch *b)
{
    free(b->seq); free(b->ids); free(b->inp); free(b->tgt);
    memset(b, 0, sizeof *b);
}

static void split_row(ds_lm_batch *b, int row)
{
    ds_tokenize(b->seq, b->L + 1, DS_LM_TOK_FLAGS, b->ids);
    memcpy(b->inp + (size_t)row * b->L, b->ids, sizeof(int32_t) * (size_t)b->L);
    memcpy(b->tgt + (size_t)row * b->L, b->ids + 1, sizeof(int32_t) * (size_t)b->L);
}

int ds_lm_batch_draw(ds_lm_batch *b, ds_windows *w)
{
    for (int r = 0; r < b->B; r++) {
        int e = ds_windows_next(w, b->seq, NULL, NULL);
        if (e) return e;
        split_row(b, r);
    }
    return 0;
}

int ds_lm_evaluate(ds_model *m, ds_lm_head *head, ds_windows *w, ds_lm_batch *b, long max_windows,
                   ds_lm_eval_result *res)
{
    memset(res, 0, sizeof *res);
    double sum = 0;
    int64_t n = ds_windows_ntiles(w), k = 0;
    while (k < n && (max_windows <= 0 || res->windows < max_windows)) {
        int rows = 0;
        for (; rows < b->B && k < n && (max_windows <= 0 || res->windows + rows < max_windows); k++) {
            int skip = 0, e = ds_windows_tile(w, k, b->seq, &skip);
            if (e) return e;
            if (!skip) split_row(b, rows++);
        }
        if (!rows) break;
        for (int r = rows; r < b->B; r++)   /* pad a short last batch with ignored rows */
            for (int t = 0; t < b->L; t++) { b->inp[(size_t)r * b->L + t] = DS_LM_IGNORE; b->tgt[(size_t)r * b->L + t] = DS_LM_IGNORE; }
        int e = m->vt->encode(m, b->inp, b->B, b->L, 0, 0, 0);
        if (e) return e;
        float loss = ds_lm_head_loss(head, m, b->tgt, DS_LM_IGNORE);
        sum += (double)loss * head->count;
        res->tokens += head->count;
        res->windows += rows;
    }
    if (!res->tokens) return ds_err(DS_EINVAL, "%s: no held-out window to evaluate (all had too many N?)", ds_ref_path(w->ref));
    res->loss = sum / (double)res->tokens;
    return 0;
}
