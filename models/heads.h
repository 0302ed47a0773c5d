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

/* Sequence classification head of the GenomicBenchmarks recipes
 * (genomic_benchmarks.md §4.5): the mean of the encoder's per-token
 * features (its final hidden states; Caduceus-PS: both strands averaged,
 * as the official stack-pool-average of logits) over all L positions (left [PAD]s included, as HyenaDNA's and
 * Caduceus's SequenceDecoder(mode=pool)), then Linear(d → classes) named
 * as HyenaDNA's Lightning decoder: decoder.0.output_transform.{weight,bias}.
 * Its parameters live in their own table (and AdamW state) beside the
 * encoder's. */
typedef struct {
    int B, L, d, k;
    ds_params params;
    float *W, *b, *gW, *gb;
    float *pooled, *logits, *probs, *dlogits, *dpooled, *dhidden;
    float *feat;                                 /* the model's per-token features (vt->features) */
    const int32_t *labels;
    long count;
} ds_cls_head;

#define DS_CLS_HEAD_WEIGHT "decoder.0.output_transform.weight"
#define DS_CLS_HEAD_BIAS "decoder.0.output_transform.bias"

int ds_cls_head_init(ds_cls_head *h, int d, int nclass);
void ds_cls_head_init_weights(ds_cls_head *h, uint64_t seed);   /* N(0, 0.02), bias 0 */
int ds_cls_head_reserve(ds_cls_head *h, int B, int L);
/* Logits for the last encode; mean cross-entropy over labels != -1 when
 * labels is not NULL (else 0). */
float ds_cls_head_forward(ds_cls_head *h, const ds_model *m, const int32_t *labels);
void ds_cls_head_backward(ds_cls_head *h, ds_model *m, float scale);
void ds_cls_head_free(ds_cls_head *h);

#endif
