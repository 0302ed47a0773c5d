/* Task heads over any encoder: the tied LM head with cross-entropy. */
#include "heads.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/ops.h"

#include <stdlib.h>
#include <string.h>

void ds_lm_head_free(ds_lm_head *h)
{
    free(h->logits); free(h->probs); free(h->dlogits); free(h->dhidden);
    memset(h, 0, sizeof *h);
}

int ds_lm_head_reserve(ds_lm_head *h, const ds_model *m, int B, int L)
{
    if (h->B == B && h->L == L && h->V == m->vocab && h->d == m->d_model) return 0;
    ds_lm_head_free(h);
    size_t n = (size_t)B * L;
    h->B = B; h->L = L; h->V = m->vocab; h->d = m->d_model;
    h->logits = ds_aligned_alloc(n * h->V * sizeof(float));
    h->probs = ds_aligned_alloc(n * h->V * sizeof(float));
    h->dlogits = ds_aligned_alloc(n * h->V * sizeof(float));
    h->dhidden = ds_aligned_alloc(n * h->d * sizeof(float));
    if (!h->logits || !h->probs || !h->dlogits || !h->dhidden) {
        ds_lm_head_free(h);
        return ds_err(DS_ENOMEM, "out of memory for the LM head (%d x %d tokens)", B, L);
    }
    return 0;
}

float ds_lm_head_loss(ds_lm_head *h, const ds_model *m, const int32_t *targets, int ignore_index)
{
    const float *E = ds_params_data(&m->params, m->emb_index);
    int n = h->B * h->L;
    if (m->vt->lm_logits) m->vt->lm_logits(m, h->logits);
    else ds_linear_forward(h->logits, m->hidden, E, NULL, n, h->d, h->V);
    h->targets = targets;
    h->ignore_index = ignore_index;
    return ds_crossentropy_forward(h->probs, h->logits, targets, n, h->V, ignore_index, &h->count);
}

void ds_lm_head_backward(ds_lm_head *h, ds_model *m, float scale)
{
    int n = h->B * h->L;
    const float *E = ds_params_data(&m->params, m->emb_index);
    float *dE = ds_params_grad(&m->params, m->emb_index);
    memset(h->dlogits, 0, (size_t)n * h->V * sizeof(float));
    ds_crossentropy_backward(h->dlogits, h->probs, h->targets, n, h->V, h->ignore_index, h->count, scale);
    if (m->vt->lm_backward) {
        m->vt->lm_backward(m, h->dlogits);
        return;
    }
    memset(h->dhidden, 0, (size_t)n * h->d * sizeof(float));
    ds_linear_backward(h->dhidden, dE, NULL, h->dlogits, m->hidden, E, n, h->d, h->V);
    m->vt->encode_backward(m, h->dhidden);
}

void ds_cls_head_free(ds_cls_head *h)
{
    ds_params_free(&h->params);
    free(h->pooled); free(h->logits); free(h->probs); free(h->dlogits); free(h->dpooled); free(h->dhidden);
    free(h->feat);
    memset(h, 0, sizeof *h);
}

int ds_cls_head_init(ds_cls_head *h, int d, int nclass)
{
    memset(h, 0, sizeof *h);
    h->d = d;
    h->k = nclass;
    ds_params_init(&h->params);
    int64_t sw[2] = { nclass, d }, sb[1] = { nclass };
    int r = ds_params_add(&h->params, DS_CLS_HEAD_WEIGHT, 2, sw, 1);
    if (r >= 0) r = ds_params_add(&h->params, DS_CLS_HEAD_BIAS, 1, sb, 0);
    if (r >= 0) r = ds_params_alloc(&h->params);
    if (r < 0) { ds_cls_head_free(h); return r; }
    h->W = ds_params_data(&h->params, 0);
    h->b = ds_params_data(&h->params, 1);
    h->gW = ds_params_grad(&h->params, 0);
    h->gb = ds_params_grad(&h->params, 1);
    return 0;
}

void ds_cls_head_init_weights(ds_cls_head *h, uint64_t seed)
{
    ds_rng r;
    ds_rng_init(&r, seed, 0x4845414400000000ull);   /* "HEAD" */
    ds_rng_fill_normal(&r, h->W, (long)h->k * h->d, 0.0f, 0.02f);
    memset(h->b, 0, sizeof(float) * (size_t)h->k);
}

int ds_cls_head_reserve(ds_cls_head *h, int B, int L)
{
    if (h->B == B && h->L == L) return 0;
    free(h->pooled); free(h->logits); free(h->probs); free(h->dlogits); free(h->dpooled); free(h->dhidden);
    free(h->feat);
    h->B = B;
    h->L = L;
    h->pooled = ds_aligned_alloc(sizeof(float) * (size_t)B * h->d);
    h->logits = ds_aligned_alloc(sizeof(float) * (size_t)B * h->k);
    h->probs = ds_aligned_alloc(sizeof(float) * (size_t)B * h->k);
    h->dlogits = ds_aligned_alloc(sizeof(float) * (size_t)B * h->k);
    h->dpooled = ds_aligned_alloc(sizeof(float) * (size_t)B * h->d);
    h->dhidden = ds_aligned_alloc(sizeof(float) * (size_t)B * L * h->d);
    h->feat = ds_aligned_alloc(sizeof(float) * (size_t)B * L * h->d);
    if (!h->pooled || !h->logits || !h->probs || !h->dlogits || !h->dpooled || !h->dhidden || !h->feat)
        return ds_err(DS_ENOMEM, "out of memory for the classification head (%d x %d)", B, L);
    return 0;
}

float ds_cls_head_forward(ds_cls_head *h, const ds_model *m, const int32_t *labels)
{
    int B = h->B, L = h->L, d = h->d;
    const float *feat = m->hidden;
    if (m->vt->features) {
        m->vt->features(m, h->feat);
        feat = h->feat;
    }
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *p = h->pooled + (size_t)b * d;
        memset(p, 0, sizeof(float) * (size_t)d);
        for (int t = 0; t < L; t++)
            for (int c = 0; c < d; c++) p[c] += feat[((size_t)b * L + t) * d + c];
        for (int c = 0; c < d; c++) p[c] /= (float)L;
    }
    ds_linear_forward(h->logits, h->pooled, h->W, h->b, B, d, h->k);
    h->labels = labels;
    if (!labels) return 0.0f;
    return ds_crossentropy_forward(h->probs, h->logits, labels, B, h->k, -1, &h->count);
}

void ds_cls_head_backward(ds_cls_head *h, ds_model *m, float scale)
{
    int B = h->B, L = h->L, d = h->d;
    memset(h->dlogits, 0, sizeof(float) * (size_t)B * h->k);
    ds_crossentropy_backward(h->dlogits, h->probs, h->labels, B, h->k, -1, h->count, scale);
    memset(h->dpooled, 0, sizeof(float) * (size_t)B * d);
    ds_linear_backward(h->dpooled, h->gW, h->gb, h->dlogits, h->pooled, h->W, B, d, h->k);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < d; c++) h->dhidden[((size_t)b * L + t) * d + c] = h->dpooled[(size_t)b * d + c] / (float)L;
    if (m->vt->features_backward) m->vt->features_backward(m, h->dhidden);
    else m->vt->encode_backward(m, h->dhidden);
}
