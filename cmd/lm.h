/* Next-token LM plumbing shared by pretrain and eval: genome windows to
 * (input, target) token batches, and the held-out loss over a split. */
#ifndef DS_CMD_LM_H
#define DS_CMD_LM_H

#include "heads.h"
#include "io/genome_windows.h"
#include "model.h"

/* Tokenizer rule for DNA LM windows: upper-case soft-masked bases and map N
 * to [PAD], which the loss ignores (released HyenaDNA data mapped N to PAD;
 * derfseq also leaves those positions out of the loss). */
#define DS_LM_TOK_FLAGS (DS_TOK_UPPER | DS_TOK_N_TO_PAD)
#define DS_LM_IGNORE 4

typedef struct {
    int B, L;
    char *seq;            /* one window of L + 1 bases */
    int32_t *ids, *inp, *tgt;
} ds_lm_batch;

int ds_lm_batch_init(ds_lm_batch *b, int B, int L);
void ds_lm_batch_free(ds_lm_batch *b);
/* B random windows: inp = tokens[0, L), tgt = tokens[1, L]. */
int ds_lm_batch_draw(ds_lm_batch *b, ds_windows *w);

typedef struct {
    double loss;          /* nats per predicted token */
    long tokens;          /* predicted tokens counted */
    long windows;         /* windows evaluated */
} ds_lm_eval_result;

/* Mean next-token loss over the first max_windows non-N tiles of the split
 * (all when max_windows <= 0), in eval mode (no dropout). */
int ds_lm_evaluate(ds_model *m, ds_lm_head *head, ds_windows *w, ds_lm_batch *b, long max_windows,
                   ds_lm_eval_result *res);

#endif
