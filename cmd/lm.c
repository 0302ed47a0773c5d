/* LM batches from genome windows and held-out evaluation (lm.h). */
#include "cmd/lm.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/metrics.h"
#include "io/mlm.h"
#include "io/tokenizer.h"
#include "hyenadna.h"

#include <stdlib.h>
#include <string.h>

int ds_model_official_tokens(const ds_model *m)
{
    return !strcmp(m->vt->arch, "hyenadna") && !strncmp(ds_hyena_tokenizer(m), "official", 8);
}

int ds_lm_max_seq(const ds_model *m) { return m->vt->masked_lm ? m->max_len : m->max_len - 1; }

int ds_lm_batch_init(ds_lm_batch *b, const ds_model *m, int B, int L, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->B = B;
    b->L = L;
    b->mlm = m->vt->masked_lm;
    b->tok_flags = ds_model_official_tokens(m) ? 0 : DS_LM_TOK_FLAGS;
    b->seed = seed;
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

/* Row `row` from the window in b->seq; masked LM draws its mask from
 * (seed, stream). */
static void split_row(ds_lm_batch *b, int row, uint64_t seed, uint64_t stream)
{
    ds_tokenize(b->seq, b->L + 1, b->tok_flags, b->ids);
    int32_t *inp = b->inp + (size_t)row * b->L, *tgt = b->tgt + (size_t)row * b->L;
    if (b->mlm) {
        ds_mlm_mask(inp, tgt, b->ids, b->L, DS_MLM_PROB, seed, stream);
        return;
    }
    memcpy(inp, b->ids, sizeof(int32_t) * (size_t)b->L);
    memcpy(tgt, b->ids + 1, sizeof(int32_t) * (size_t)b->L);
}

int ds_lm_batch_draw(ds_lm_batch *b, ds_windows *w)
{
    for (int r = 0; r < b->B; r++) {
        int e = ds_windows_next(w, b->seq, NULL, NULL);
        if (e) return e;
        /* the sampler's draw count (saved with a run) numbers the mask */
        split_row(b, r, b->seed, w->draws);
    }
    return 0;
}

/* Targets whose largest logit is the target (ties: the first). */
static long count_correct(const ds_lm_head *h, const int32_t *tgt)
{
    long n = 0;
    for (long r = 0; r < (long)h->B * h->L; r++) {
        if (tgt[r] == DS_LM_IGNORE) continue;
        n += ds_argmax(h->logits + r * h->V, h->V) == tgt[r];
    }
    return n;
}

int ds_lm_evaluate(ds_model *m, ds_lm_head *head, ds_windows *w, ds_lm_batch *b, long max_windows,
                   ds_lm_eval_result *res)
{
    memset(res, 0, sizeof *res);
    /* [loss sum, correct, tokens, windows]: batch j is rank (j mod R)'s, summed over the ranks at the end */
    double acc[4] = { 0 };
    int R = ds_dist_size(), rank = ds_dist_rank();
    long seen = 0;
    int64_t n = ds_windows_ntiles(w), k = 0;
    for (long j = 0; k < n && (max_windows <= 0 || seen < max_windows); j++) {
        int rows = 0;
        for (; rows < b->B && k < n && (max_windows <= 0 || seen + rows < max_windows); k++) {
            int skip = 0, e = ds_windows_tile(w, k, b->seq, &skip);
            if (e) return e;
            if (!skip) split_row(b, rows++, DS_MLM_EVAL_SEED, (uint64_t)k);
        }
        if (!rows) break;
        seen += rows;
        if (j % R != rank) continue;
        for (int r = rows; r < b->B; r++)   /* pad a short last batch with ignored rows */
            for (int t = 0; t < b->L; t++) { b->inp[(size_t)r * b->L + t] = DS_LM_IGNORE; b->tgt[(size_t)r * b->L + t] = DS_LM_IGNORE; }
        int e = m->vt->encode(m, b->inp, b->B, b->L, 0, 0, 0);
        if (e) return e;
        float loss = ds_lm_head_loss(head, m, b->tgt, DS_LM_IGNORE);
        acc[0] += (double)loss * head->count;
        acc[1] += (double)count_correct(head, b->tgt);
        acc[2] += (double)head->count;
        acc[3] += rows;
    }
    ds_dist_sum_f64(acc, 4);
    res->tokens = (long)acc[2];
    res->windows = (long)acc[3];
    if (!res->tokens) return ds_err(DS_EINVAL, "%s: no held-out window to evaluate (all had too many N?)", ds_ref_path(w->ref));
    res->loss = acc[0] / acc[2];
    res->accuracy = acc[1] / acc[2];
    return 0;
}
