/* Heads over any encoder of models/model.h. The LM head is tied to the token
 * embedding (HyenaDNA's lm_head.weight = word_embeddings.weight): logits =
 * hidden · Eᵀ, softmax cross-entropy with ignore_index. */
#ifndef DS_HEADS_H
#define DS_HEADS_H

#include "model.h"

typedef struct {
    int B, L, V, d;
    float *logits, *probs, *dlogits, *dhidden;   /* sized once by reserve */
    const int32_t *targets;
    int ignore_index;
    long count;                                  /* targets counted in the last loss */
} ds_lm_head;

int ds_lm_head_reserve(ds_lm_head *h, const ds_model *m, int B, int L);
/* Mean next-token loss (nats) over targets != ignore_index, from the hidden
 * states of the model's last encode. `targets` must stay valid until backward. */
float ds_lm_head_loss(ds_lm_head *h, const ds_model *m, const int32_t *targets, int ignore_index);
/* Gradients of the last loss (scaled by `scale`, e.g. 1/accumulation steps)
 * into the embedding and, through the encoder, every parameter. */
void ds_lm_head_backward(ds_lm_head *h, ds_model *m, float scale);
void ds_lm_head_free(ds_lm_head *h);

#endif
