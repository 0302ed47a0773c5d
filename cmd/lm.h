/* LM plumbing shared by pretrain and eval: genome windows to (input,
 * target) token batches for the model's objective (next token for
 * HyenaDNA, masked LM for Caduceus, lib/io/mlm.h), and the held-out loss
 * and accuracy over a split. */
#ifndef DS_CMD_LM_H
#define DS_CMD_LM_H

#include "heads.h"
#include "io/genome_windows.h"
#include "model.h"

/* Tokenizer rule for DNA LM windows: upper-case soft-masked bases and map N
 * to [PAD], which the loss ignores (released HyenaDNA data mapped N to PAD;
 * derfseq also leaves those positions out of the loss). */
#define DS_LM_TOK_FLAGS (DS_TOK_UPPER | DS_TOK_N_TO_PAD)

/* 1 for a HyenaDNA checkpoint that records the official tokenizer
 * ("tokenizer": "official" or "official-hf", as scripts/convert_hyenadna.py
 * writes): its weights saw case kept (lower case is [UNK]) and N as N, so
 * eval windows and classifier rows are tokenized that way too. */
int ds_model_official_tokens(const ds_model *m);
#define DS_LM_IGNORE 4

/* The seed of held-out masks: every evaluation of a split masks the same
 * positions, whichever run or checkpoint it scores. */
#define DS_MLM_EVAL_SEED 0x45564d4cull   /* "EVML" */

typedef struct {
    int B, L;
    int mlm;              /* masked LM (the model's objective) */
    int tok_flags;        /* DS_LM_TOK_FLAGS, or 0 (the official rule: ds_model_official_tokens) */
    uint64_t seed;        /* training masks: (seed, draw number) */
    char *seq;            /* one window of L + 1 bases */
    int32_t *ids, *inp, *tgt;
} ds_lm_batch;

/* The longest sequence the model's objective takes: max_len (masked) or
 * max_len − 1 (next token: one token for the shift). */
int ds_lm_max_seq(const ds_model *m);
int ds_lm_batch_init(ds_lm_batch *b, const ds_model *m, int B, int L, uint64_t seed);
void ds_lm_batch_free(ds_lm_batch *b);
/* B random windows: inp = tokens[0, L), tgt = tokens[1, L]; masked LM:
 * inp = the masked tokens[0, L), tgt = the masked positions' ids. */
int ds_lm_batch_draw(ds_lm_batch *b, ds_windows *w);

typedef struct {
    double loss;          /* nats per predicted token */
    double accuracy;      /* predicted tokens whose argmax is the target */
    long tokens;          /* predicted tokens counted (masked LM: masked positions) */
    long windows;         /* windows evaluated */
} ds_lm_eval_result;

/* Mean loss over the first max_windows non-N tiles of the split (all when
 * max_windows <= 0), in eval mode (no dropout); masked LM with the fixed
 * masks of DS_MLM_EVAL_SEED (tile k: stream k). With R MPI ranks, every
 * rank calls it: batch j runs on rank j mod R and the sums are shared, so
 * every rank gets the whole split's result. */
int ds_lm_evaluate(ds_model *m, ds_lm_head *head, ds_windows *w, ds_lm_batch *b, long max_windows,
                   ds_lm_eval_result *res);

#endif
