/* Sequence classification plumbing (gbtask.h). Caduceus-Ph classifiers
 * predict conjoined, as the official GenomicBenchmarks test (caduceus.md
 * §2.6, genomic_benchmarks.md §4.7): each record and its reverse complement
 * are tokenized separately (both left-padded, each cut to its own first
 * max_length bases), run one after the other, and their logits averaged. */
#include "cmd/gbtask.h"
#include "cmd/lm.h"
#include "cmd/opts.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "caduceus.h"
#include "config.h"
#include "presets.h"

#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ds_gb_default_max_length(const char *dir)
{
    static const struct { const char *name; int len; } t[] = {
        { "dummy_mouse_enhancers_ensembl", 1024 }, { "demo_coding_vs_intergenomic_seqs", 200 },
        { "demo_human_or_worm", 200 }, { "human_enhancers_cohn", 500 }, { "human_enhancers_ensembl", 512 },
        { "human_ensembl_regulatory", 512 }, { "human_nontata_promoters", 251 }, { "human_ocr_ensembl", 512 },
    };
    char *copy = strdup(dir);
    if (!copy) return 0;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/') copy[--n] = 0;
    const char *base = basename(copy);
    int len = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(base, t[i].name)) len = t[i].len;
    free(copy);
    return len;
}

void ds_gb_warn(const char *cmd, const ds_gb_split *s)
{
    if (s->warn) fprintf(stderr, "derfseq %s: warning: %s\n", cmd, s->warn);
}

/* One record's row of L tokens; rc: of its reverse complement, whose first
 * L bases are the RC of the record's last L (tmp: L ids of scratch). */
static void gb_row(const ds_gb_record *r, int L, const ds_model *rc, int flags, int32_t *row, int32_t *tmp)
{
    int64_t len = r->len < L ? r->len : L;   /* truncation keeps the first L bases */
    int pad = L - (int)len;
    for (int t = 0; t < pad; t++) row[t] = DS_TOK_PAD;   /* left padding */
    if (!rc) {
        ds_tokenize(r->seq, len, flags, row + pad);
        return;
    }
    /* upper-casing commutes with the string RC, so RC of the ids is the ids of the RC */
    ds_tokenize(r->seq + (r->len - len), len, DS_TOK_UPPER, tmp);
    ds_caduceus_rc_ids(rc, tmp, row + pad, 1, (int)len);
}

static void gb_batch(const ds_gb_split *s, const long *idx, int n, int B, int L, int32_t *ids, int32_t *labels,
                     const ds_model *m, const unsigned char *rc, int flags, int32_t *tmp)
{
    for (int b = 0; b < B; b++) {
        int32_t *row = ids + (size_t)b * L;
        if (b >= n) {
            for (int t = 0; t < L; t++) row[t] = DS_TOK_PAD;
            labels[b] = -1;
            continue;
        }
        const ds_gb_record *r = &s->r[idx[b]];
        gb_row(r, L, rc && rc[b] ? m : NULL, flags, row, tmp);
        labels[b] = r->label;
    }
}

int ds_gb_tok_flags(const ds_model *m) { return ds_model_official_tokens(m) ? 0 : DS_TOK_UPPER; }

void ds_gb_batch(const ds_gb_split *s, const long *idx, int n, int B, int L, int32_t *ids, int32_t *labels,
                 int flags)
{
    gb_batch(s, idx, n, B, L, ids, labels, NULL, NULL, flags, NULL);
}

int ds_gb_batch_strands(const ds_gb_split *s, const long *idx, int n, int B, int L, int32_t *ids, int32_t *labels,
                        const ds_model *m, const unsigned char *rc)
{
    int32_t *tmp = malloc(sizeof(int32_t) * (size_t)L);
    if (!tmp) return ds_err(DS_ENOMEM, "out of memory for a row of %d tokens", L);
    gb_batch(s, idx, n, B, L, ids, labels, m, rc, ds_gb_tok_flags(m), tmp);
    free(tmp);
    return 0;
}

int ds_gb_holdout(long n, double val_fraction, long seed, long **out, long *nval)
{
    long *idx = malloc(sizeof *idx * (size_t)(n > 0 ? n : 1));
    if (!idx) return ds_err(DS_ENOMEM, "out of memory for %ld record indices", n);
    for (long i = 0; i < n; i++) idx[i] = i;
    ds_rng r;
    ds_rng_init(&r, (uint64_t)seed, 0x56414c00ull);   /* "VAL" */
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ds_rng_below(&r, (uint64_t)i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    *nval = (long)(n * val_fraction);
    if (val_fraction > 0 && *nval == 0) *nval = 1;
    *out = idx;
    return 0;
}

int ds_classifier_conjoins(const ds_classifier *c)
{
    return !strcmp(c->m->vt->arch, "caduceus") && !ds_caduceus_is_rcps(c->m);
}

static int task_config(ds_classifier *c)
{
    char *enc = c->m->vt->config_json(c->m);
    json_t *o = enc ? json_loads(enc, 0, NULL) : NULL;
    free(enc);
    if (!o) return ds_err(DS_ENOMEM, "out of memory building the classifier config");
    json_t *cls = json_array();
    for (int i = 0; i < c->nclass; i++) json_array_append_new(cls, json_string(c->classes[i]));
    json_t *task = json_pack("{s:s, s:o, s:i}", "name", "gb", "classes", cls, "max_length", c->max_length);
    if (task && c->labels) json_object_set_new(task, "labels", json_string(c->labels));
    json_object_set_new(o, "task", task);
    c->config = ds_cfg_dump(o);
    json_decref(o);
    return c->config ? 0 : ds_err(DS_ENOMEM, "out of memory serialising the classifier config");
}

int ds_classifier_new(ds_classifier *c, ds_model *m, char *const *classes, int nclass, int max_length,
                      const char *labels, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    if (labels && !(c->labels = strdup(labels))) return ds_err(DS_ENOMEM, "out of memory for the label map");
    c->max_length = max_length;
    c->nclass = nclass;
    c->classes = calloc((size_t)nclass, sizeof *c->classes);
    if (!c->classes) return ds_err(DS_ENOMEM, "out of memory for %d class names", nclass);
    for (int i = 0; i < nclass; i++)
        if (!(c->classes[i] = strdup(classes[i]))) return ds_err(DS_ENOMEM, "out of memory for %d class names", nclass);
    int r = ds_cls_head_init(&c->head, m->d_feat, nclass);
    if (r) return r;
    ds_cls_head_init_weights(&c->head, seed);
    return task_config(c);
}

void ds_classifier_free(ds_classifier *c)
{
    ds_cls_head_free(&c->head);
    for (int i = 0; i < c->nclass; i++) free(c->classes[i]);
    free(c->classes);
    free(c->labels);
    free(c->config);
    ds_model_free(c->m);
    memset(c, 0, sizeof *c);
}

int ds_checkpoint_is_classifier(const char *path)
{
    char *cfg = ds_checkpoint_config(path);
    json_t *o = cfg ? json_loads(cfg, 0, NULL) : NULL;
    int yes = o && json_is_object(json_object_get(o, "task"));
    json_decref(o);
    free(cfg);
    ds_err_clear();
    return yes;
}

/* task.classes of a classifier checkpoint: unique non-empty strings, at
 * least two (genomic_benchmarks.md §4.2: the sorted class names). */
static int task_classes(ds_classifier *c, const char *path, const json_t *cls)
{
    if (!json_is_array(cls))
        return ds_err(DS_EMISMATCH, "%s: not a fine-tuned classifier (no task.classes in its config); fine-tune it first", path);
    size_t n = json_array_size(cls);
    if (n < 2 || n > DS_MAX_CLASSES)
        return ds_err(DS_EFORMAT, "%s: config key 'task.classes': expected 2 to %d class names, got %zu", path,
                      DS_MAX_CLASSES, n);
    c->classes = calloc(n, sizeof *c->classes);
    if (!c->classes) return ds_err(DS_ENOMEM, "%s: out of memory for %zu class names", path, n);
    c->nclass = (int)n;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(cls, i));
        if (!name || !*name)
            return ds_err(DS_EFORMAT, "%s: config key 'task.classes': entry %zu is not a non-empty string", path, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->classes[j], name))
                return ds_err(DS_EFORMAT, "%s: config key 'task.classes': class '%s' is listed twice", path, name);
        if (!(c->classes[i] = strdup(name))) return ds_err(DS_ENOMEM, "%s: out of memory for class names", path);
    }
    return 0;
}

static int task_max_length(ds_classifier *c, const char *path, const json_t *task)
{
    const json_t *x = json_object_get(task, "max_length");
    if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > c->m->max_len)
        return ds_err(DS_EFORMAT, "%s: config key 'task.max_length': expected an integer in [1, %d] (the model's "
                                  "l_max)", path, c->m->max_len);
    c->max_length = (int)json_integer_value(x);
    return 0;
}

/* The head's output size must be the class count (a checkpoint whose
 * tensors were swapped or whose metadata was edited). */
static int head_matches(const char *path, int nclass)
{
    ds_st_file f;
    int r = ds_st_open(&f, path);
    if (r) return r;
    const ds_st_tensor *t = ds_st_find(&f, DS_CLS_HEAD_WEIGHT);
    if (!t) r = ds_err(DS_EMISMATCH, "%s: tensor '%s' is missing (not a fine-tuned classifier?)", path, DS_CLS_HEAD_WEIGHT);
    else if (t->ndim != 2 || t->shape[0] != nclass)
        r = ds_err(DS_EMISMATCH, "%s: config key 'task.classes' names %d classes but tensor '%s' has %lld outputs",
                   path, nclass, DS_CLS_HEAD_WEIGHT, t->ndim ? (long long)t->shape[0] : 0LL);
    ds_st_close(&f);
    return r;
}

int ds_classifier_load(ds_classifier *c, const char *path)
{
    memset(c, 0, sizeof *c);
    char *cfg = ds_checkpoint_config(path);
    if (!cfg) return DS_EFORMAT;
    json_t *o = json_loads(cfg, 0, NULL), *task = o ? json_object_get(o, "task") : NULL;
    int r = 0;
    if (!o) r = ds_err(DS_EFORMAT, "%s: config key '%s' is not JSON", path, DS_CKPT_CONFIG_KEY);
    else if (!json_is_object(task))
        r = ds_err(DS_EMISMATCH, "%s: not a fine-tuned classifier (no task in its config); fine-tune it first", path);
    if (!r) r = task_classes(c, path, json_object_get(task, "classes"));
    if (!r) r = head_matches(path, c->nclass);
    if (!r) r = ds_model_load(&c->m, path);
    if (!r) r = task_max_length(c, path, task);
    const char *labels = json_string_value(json_object_get(task, "labels"));
    if (!r && labels && !(c->labels = strdup(labels))) r = ds_err(DS_ENOMEM, "%s: out of memory", path);
    if (!r) {
        c->config = cfg;
        cfg = NULL;
    }
    if (!r) r = ds_cls_head_init(&c->head, c->m->d_feat, c->nclass);
    if (!r) r = ds_checkpoint_load(path, &c->head.params, 0);
    json_decref(o);
    free(cfg);
    if (r) ds_classifier_free(c);
    return r;
}

int ds_classifier_save(const ds_classifier *c, const char *path, const char *extra_key, const char *extra_val)
{
    const char *k[1] = { extra_key }, *v[1] = { extra_val };
    return ds_classifier_save_meta(c, path, k, v, extra_key ? 1 : 0);
}

int ds_classifier_save_meta(const ds_classifier *c, const char *path, const char *const *keys, const char *const *vals,
                            int n_meta)
{
    const ds_params *a = &c->m->params, *b = &c->head.params;
    int n = a->n + b->n;
    ds_st_entry *e = calloc((size_t)n, sizeof *e);
    if (!e) return ds_err(DS_ENOMEM, "%s: out of memory for the tensor table", path);
    for (int i = 0; i < a->n; i++) e[i] = (ds_st_entry){ a->p[i].name, a->p[i].ndim, a->p[i].shape, ds_params_data(a, i) };
    for (int i = 0; i < b->n; i++)
        e[a->n + i] = (ds_st_entry){ b->p[i].name, b->p[i].ndim, b->p[i].shape, ds_params_data(b, i) };
    const char *k[8] = { DS_CKPT_CONFIG_KEY }, *v[8] = { c->config };
    for (int i = 0; i < n_meta && i < 7; i++) { k[1 + i] = keys[i]; v[1 + i] = vals[i]; }
    int r = ds_st_write(path, e, n, k, v, 1 + (n_meta < 7 ? n_meta : 7));
    free(e);
    return r;
}

/* Logits [B, k] of records idx[0, n) into out: one pass, or for a
 * conjoining classifier the mean of the forward and the reverse-complement
 * passes' logits (the official decoder averages logits, not features). */
static int batch_logits(ds_classifier *c, const ds_gb_split *s, const long *idx, int n, int B, int32_t *ids,
                        int32_t *lab, unsigned char *rc, float *out)
{
    int L = c->max_length, k = c->nclass, passes = ds_classifier_conjoins(c) ? 2 : 1;
    for (int p = 0; p < passes; p++) {
        memset(rc, p, (size_t)B);
        int r = ds_gb_batch_strands(s, idx, n, B, L, ids, lab, c->m, rc);
        if (!r) r = c->m->vt->encode(c->m, ids, B, L, 0, 0, 0);
        if (r) return r;
        ds_cls_head_forward(&c->head, c->m, NULL);
        for (size_t i = 0; i < (size_t)B * k; i++)
            out[i] = p ? 0.5f * (out[i] + c->head.logits[i]) : c->head.logits[i];
    }
    return 0;
}

int ds_classifier_predict(ds_classifier *c, const ds_gb_split *s, int B, int *pred, float *probs)
{
    int L = c->max_length;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * L), *lab = malloc(sizeof(int32_t) * (size_t)B);
    long *idx = malloc(sizeof(long) * (size_t)B);
    unsigned char *rc = malloc((size_t)B);
    float *logits = malloc(sizeof(float) * (size_t)B * c->nclass);
    int r = ids && lab && idx && rc && logits ? 0 : ds_err(DS_ENOMEM, "out of memory for a batch of %d x %d tokens", B, L);
    /* inference keeps one layer of activations; training reserves its own layout again */
    int eval_only = c->m->eval_only;
    c->m->eval_only = 1;
    if (!r) r = c->m->vt->reserve(c->m, B, L);
    if (!r) r = ds_cls_head_reserve(&c->head, B, L);
    for (long i0 = 0; !r && i0 < s->n; i0 += B) {
        int n = (int)(s->n - i0 < B ? s->n - i0 : B);
        for (int b = 0; b < n; b++) idx[b] = i0 + b;
        r = batch_logits(c, s, idx, n, B, ids, lab, rc, logits);
        if (r) break;
        for (int b = 0; b < n; b++) {
            const float *lg = logits + (size_t)b * c->nclass;
            int best = ds_argmax(lg, c->nclass);
            double mx = lg[best], z = 0;
            for (int k = 0; k < c->nclass; k++) z += exp((double)lg[k] - mx);
            pred[i0 + b] = best;
            for (int k = 0; probs && k < c->nclass; k++)
                probs[(i0 + b) * c->nclass + k] = (float)(exp((double)lg[k] - mx) / z);
        }
    }
    c->m->eval_only = eval_only;
    free(ids); free(lab); free(idx); free(rc); free(logits);
    return r;
}

int ds_opt_gb_labels(const char *cmd, const char *arg)
{
    ds_gb_labels map;
    if (ds_gb_labels_parse(&map, arg)) return ds_usage_error(cmd, "--labels: %s", ds_errmsg());
    ds_gb_labels_free(&map);
    return 0;
}
