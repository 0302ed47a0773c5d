/* libFuzzer harness: the model config JSON parser (models/presets.c
 * ds_model_from_json, models/hyenadna.c ds_hyena_config_from_json), as read
 * from a checkpoint's "derfseq.config". A config that parses builds a model;
 * its own config_json must parse again to the same shapes.
 *
 * Preflight: a valid config may ask for a model of many gigabytes (d_model
 * 65536) or thousands of parameter tensors; building one would only measure
 * malloc and libFuzzer's memory limit, so configs whose parameter count
 * passes SMALL_MODEL_FLOATS, or with more than SMALL_MODEL_LAYERS layers, are
 * parsed but not built. */
#include "fuzz.h"
#include "hyenadna.h"
#include "model.h"

#include <jansson.h>

#define SMALL_MODEL_FLOATS 4e6
#define SMALL_MODEL_LAYERS 8

static double param_floats(const ds_hyena_config *c)
{
    double d = c->d_model, F = c->filter_order, E = c->emb_dim, L = c->l_max, I = c->d_inner;
    double per_layer = 4 * d * d + 16 * d + L * (E + 1) + F * E + 2 * F * F + 4 * F + d * F + 2 * I * d + I + 8 * d;
    double vocab = c->vocab_size + c->pad_vocab_size_multiple;
    return c->n_layer * per_layer + vocab * d + 4 * d;
}

static int is_small(const char *json)
{
    ds_hyena_config c;
    json_t *o = json_loads(json, 0, NULL);
    const char *arch = json_string_value(json_object_get(o, "arch"));
    int hyena = arch && !strcmp(arch, "hyenadna");
    json_decref(o);
    if (!hyena) return 1;   /* refused before anything is allocated */
    if (ds_hyena_config_from_json(&c, json)) return 1;
    return c.n_layer <= SMALL_MODEL_LAYERS && param_floats(&c) <= SMALL_MODEL_FLOATS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = strndup((const char *)data, size);
    FUZZ_ASSERT(json);
    ds_hyena_config c;
    FUZZ_ASSERT_MESSAGE(ds_hyena_config_from_json(&c, json));
    ds_model *m = NULL;
    if (is_small(json)) {
        int e = ds_model_from_json(&m, json);
        FUZZ_ASSERT_MESSAGE(e);
        FUZZ_ASSERT(!e == !!m);
    }
    if (m) {
        char *again = m->vt->config_json(m);
        FUZZ_ASSERT(again);
        ds_model *m2;
        FUZZ_ASSERT(ds_model_from_json(&m2, again) == 0);   /* its own config round-trips */
        FUZZ_ASSERT(m2->params.n == m->params.n && m2->params.total == m->params.total);
        ds_model_free(m2);
        free(again);
        ds_model_free(m);
    }
    free(json);
    return 0;
}
