/* Task heads over any encoder: the tied LM head with cross-entropy. */
#include "heads.h"
#include "core/error.h"
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
    ds_linear_forward(h->logits, m->hidden, E, NULL, n, h->d, h->V);
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
    memset(h->dhidden, 0, (size_t)n * h->d * sizeof(float));
    ds_linear_backward(h->dhidden, dE, NULL, h->dlogits, m->hidden, E, n, h->d, h->V);
    m->vt->encode_backward(m, h->dhidden);
}
