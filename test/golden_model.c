/* The model-golden checks shared by the architectures (golden_model.h). */
#include "golden_model.h"
#include "test.h"
#include "heads.h"
#include "io/safetensors.h"
#include "model.h"
#include "core/error.h"
#include "nn/optim.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ds_st_file f;
    ds_model *m;
    ds_lm_head head;
    int32_t *ids, *tgt;
    int B, L;
} golden;

void golden_load_params(const ds_st_file *f, ds_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        char name[DS_NAME_MAX + 8];
        snprintf(name, sizeof name, "param.%s", ps->p[i].name);
        const ds_st_tensor *t = ds_st_find(f, name);
        CHECK_MSG(t && t->numel == ps->p[i].numel, "golden lacks %s or its size differs", name);
        if (t && t->numel == ps->p[i].numel) ds_st_read_f32(f, t, ds_params_data(ps, i));
    }
}

float *golden_read_f32(const ds_st_file *f, const char *name, size_t *n)
{
    const ds_st_tensor *t = ds_st_find(f, name);
    if (!t) { CHECK_MSG(0, "golden has no tensor '%s'", name); return NULL; }
    float *x = malloc(t->numel * sizeof *x);
    if (ds_st_read_f32(f, t, x)) { CHECK_MSG(0, "%s", ds_errmsg()); free(x); return NULL; }
    if (n) *n = t->numel;
    return x;
}

static int32_t *read_ids(const ds_st_file *f, const char *name, int *B, int *L)
{
    const ds_st_tensor *t = ds_st_find(f, name);
    if (!t || t->dtype != DS_ST_I32 || t->ndim != 2) { CHECK_MSG(0, "golden '%s' is not an I32 [B, L] tensor", name); return NULL; }
    int32_t *x = malloc(t->numel * sizeof *x);
    memcpy(x, f->data + t->begin, t->numel * sizeof *x);   /* little-endian, as the format says */
    *B = (int)t->shape[0];
    *L = (int)t->shape[1];
    return x;
}

/* Opens the golden, builds the model from its config and loads "param.<name>". */
static int golden_open(golden *g, const char *path)
{
    memset(g, 0, sizeof *g);
    if (ds_st_open(&g->f, path)) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    const char *cfg = ds_st_meta(&g->f, "derfseq.config");
    CHECK(cfg != NULL);
    if (!cfg || ds_model_from_json(&g->m, cfg)) { CHECK_MSG(0, "%s", ds_errmsg()); return -1; }
    ds_params *ps = &g->m->params;
    golden_load_params(&g->f, ps);
    g->ids = read_ids(&g->f, "golden.ids", &g->B, &g->L);
    int B2, L2;
    g->tgt = read_ids(&g->f, "golden.targets", &B2, &L2);
    if (!g->ids || !g->tgt) return -1;
    CHECK_EQ_INT(g->m->vt->reserve(g->m, g->B, g->L), 0);
    CHECK_EQ_INT(ds_lm_head_reserve(&g->head, g->m, g->B, g->L), 0);
    return 0;
}

static void golden_close(golden *g)
{
    ds_lm_head_free(&g->head);
    ds_model_free(g->m);
    free(g->ids); free(g->tgt);
    ds_st_close(&g->f);
}

static float step(golden *g)
{
    g->m->vt->encode(g->m, g->ids, g->B, g->L, 0, 0, 0);
    float loss = ds_lm_head_loss(&g->head, g->m, g->tgt, 4);
    ds_params_zero_grad(&g->m->params);
    ds_lm_head_backward(&g->head, g->m, 1.0f);
    return loss;
}

void golden_check_forward_and_gradients(const char *path)
{
    golden g;
    if (golden_open(&g, path)) { golden_close(&g); return; }
    float loss = step(&g);
    size_t n;
    float *want = golden_read_f32(&g.f, "golden.hidden", &n);
    if (want) CHECK_CLOSE("hidden", g.m->hidden, want, (long)n, 1e-4);
    free(want);
    want = golden_read_f32(&g.f, "golden.logits", &n);
    if (want) CHECK_CLOSE("logits", g.head.logits, want, (long)n, 1e-4);
    free(want);
    want = golden_read_f32(&g.f, "golden.loss", NULL);
    if (want) CHECK_NEAR(loss, want[0], 1e-5 * fabs(want[0]));
    free(want);
    ds_params *ps = &g.m->params;
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].trainable) continue;
        char name[DS_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
        want = golden_read_f32(&g.f, name, &n);
        if (want) CHECK_CLOSE(name, ds_params_grad(ps, i), want, (long)n, 1e-4);
        free(want);
    }
    golden_close(&g);
}

void golden_check_adamw_steps(const char *path)
{
    golden g;
    if (golden_open(&g, path)) { golden_close(&g); return; }
    float *want = golden_read_f32(&g.f, "golden.adamw_losses", NULL);
    ds_adamw opt;
    ds_adamw_init(&opt, &g.m->params, (ds_adamw_cfg){ 0.9f, 0.999f, 1e-8f, 0.1f });
    for (int k = 0; k < 5 && want; k++) {
        float loss = step(&g);
        CHECK_MSG(fabs(loss - want[k]) <= 1e-4 * fabs(want[k]), "AdamW step %d: loss %.7g, PyTorch %.7g", k, loss, want[k]);
        ds_adamw_step(&opt, &g.m->params, 1e-3f);
    }
    ds_adamw_free(&opt);
    free(want);
    golden_close(&g);
}


void check_gradients_do_not_depend_on_thread_count(model_factory make, const int32_t *ids, const int32_t *tgt, int B,
                                                   int L)
{
    float *g[2] = { NULL, NULL };
    size_t total = 0;
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        ds_model *m = make();
        ds_lm_head head = {0};
        m->vt->reserve(m, B, L);
        ds_lm_head_reserve(&head, m, B, L);
        m->vt->encode(m, ids, B, L, 1, 9, 2);
        ds_lm_head_loss(&head, m, tgt, 4);
        ds_params_zero_grad(&m->params);
        ds_lm_head_backward(&head, m, 1.0f);
        total = m->params.total;
        g[r] = malloc(sizeof(float) * total);
        memcpy(g[r], m->params.grad, sizeof(float) * total);
        ds_lm_head_free(&head);
        ds_model_free(m);
    }
    omp_set_num_threads(2);
    CHECK(!memcmp(g[0], g[1], sizeof(float) * total));
    free(g[0]); free(g[1]);
}
