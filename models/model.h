/* The common model interface (architecture.md "A model"): a named parameter
 * table over one parameter block and one gradient block, an activation arena
 * sized once per (batch, length), and an encoder that maps token ids to
 * hidden states and back-propagates into the gradient block. Heads (LM,
 * classification) live in heads.c and work with any encoder. */
#ifndef DS_MODEL_H
#define DS_MODEL_H

#include "../lib/core/arena.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ds_model ds_model;

typedef struct {
    const char *arch;                                   /* "hyenadna" */
    int masked_lm;                                      /* pretraining objective: 0 next token, 1 masked LM */
    /* Sizes the arena and per-length plans for batches of B × L tokens.
     * Call again only when the shape changes (never inside a step). */
    int (*reserve)(ds_model *m, int B, int L);
    /* Hidden states [B·L, d] of the final norm; train = 1 enables dropout
     * drawn from (seed, step). ids are in [0, vocab). */
    int (*encode)(ds_model *m, const int32_t *ids, int B, int L, int train, uint64_t seed, uint64_t step);
    /* Accumulates parameter gradients for dhidden = dL/d(hidden) [B·L, d]
     * of the last encode (which must have had train = 1 or 0 consistently). */
    void (*encode_backward)(ds_model *m, const float *dhidden);
    /* The residual stream after block `layer` (0-based) of the last encode,
     * [B·L, d]; layer = n_layer − 1 is the input of the final norm. */
    const float *(*layer_output)(const ds_model *m, int layer);
    /* Deterministic initialisation of every parameter and buffer from seed,
     * one RNG stream per tensor, as the official code initialises. */
    int (*init_weights)(ds_model *m, uint64_t seed);
    char *(*config_json)(const ds_model *m);            /* malloc'd */
    void (*destroy)(ds_model *m);
    /* Optional (NULL: the default in brackets). LM logits [B·L, vocab] of
     * the last encode [hidden · Eᵀ, tied to the embedding], and the
     * backward of dlogits through the head and the encoder into every
     * gradient. Caduceus-PS has its own RC-equivariant head. */
    void (*lm_logits)(const ds_model *m, float *logits);
    void (*lm_backward)(ds_model *m, const float *dlogits);
    /* Per-token features [B·L, d_feat] of the last encode, for embeddings
     * and classification [hidden], and the backward of dfeat through the
     * encoder [encode_backward]. */
    void (*features)(const ds_model *m, float *feat);
    void (*features_backward)(ds_model *m, const float *dfeat);
} ds_model_vt;

struct ds_model {
    const ds_model_vt *vt;
    ds_params params;
    int d_model, n_layer, vocab;   /* d_model: width of hidden; vocab = rows of the embedding (padded) */
    int d_feat;                    /* width of the per-token features (vt->features); = d_model without */
    int eval_only;                 /* set before reserve: no backward, activations of one layer kept */
    int rc_conjoin;                /* set before reserve: features average the input and its reverse
                                    * complement (Caduceus-Ph post-hoc conjoining, caduceus.md §2.6) */
    int max_len;                   /* longest L the model accepts (l_max for HyenaDNA) */
    int B, L;                      /* shape reserved */
    const float *hidden;           /* [B·L, d] after encode */
    int emb_index;                 /* parameter index of the token embedding (tied LM head) */
    void *impl;
};

/* Creates a model from its config JSON (the checkpoint's "derfseq.config",
 * dispatching on "arch"), parameters allocated but not initialised. */
int ds_model_from_json(ds_model **m, const char *config_json);
/* Weight-decay groups: DS_DECAY_DERFSEQ (as the model registers them) or
 * DS_DECAY_OFFICIAL (the official recipe's optimizer hooks, see
 * ds_hyena_decay_groups_official). Call before ds_adamw_init. */
enum { DS_DECAY_DERFSEQ = 0, DS_DECAY_OFFICIAL = 1 };
void ds_model_set_decay_groups(ds_model *m, int groups);
void ds_model_free(ds_model *m);

/* The memory this process may use (physical, or a smaller cgroup limit),
 * 0 when unknown. ds_memory_check refuses `bytes` beyond it with
 * "<what> need 12.0 GiB, more than the 7.7 GiB of memory here", so a size
 * that cannot fit fails with a message instead of an OOM kill. */
size_t ds_memory_bytes(void);
int ds_memory_check(size_t bytes, const char *what);

#endif
