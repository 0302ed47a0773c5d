/* Readers for the keys of a model's config JSON, shared by every
 * architecture. Each error names the key, what it must hold and what it
 * holds ("config key 'd_model': expected an integer in [1, 16384], got
 * "abc""); an absent key leaves the default in place. */
#ifndef DS_MODEL_CONFIG_H
#define DS_MODEL_CONFIG_H

#include "../lib/nn/norm.h"

#include <jansson.h>

int ds_cfg_get_int(json_t *o, const char *key, int *v, int lo, int hi);
int ds_cfg_get_float(json_t *o, const char *key, float *v, double lo, double hi);
int ds_cfg_get_bool(json_t *o, const char *key, int *v);
/* A string key: *v = NULL when absent; a non-string is an error. */
int ds_cfg_get_str(json_t *o, const char *key, const char **v);
/* "norm": derf, dyt, layernorm or rmsnorm. */
int ds_cfg_get_norm(json_t *o, const char *key, ds_norm_kind *v);
/* The config text parsed as a JSON object, or an error saying why not. */
int ds_cfg_parse(const char *text, json_t **o);
/* The JSON text of o as derfseq writes configs (indented, key order kept,
 * each number the shortest decimal that reads back to the same float32:
 * 0.1, 6e-5, 0.333333343); NULL when out of memory. */
char *ds_cfg_dump(const json_t *o);
/* The same with other json_dumps flags (JSON_COMPACT, ...). */
char *ds_cfg_dump_flags(const json_t *o, size_t flags);
/* The shortest decimal (1 to 9 significant digits) that reads back to
 * (float)v, as a double; v itself when not a finite float32. */
double ds_float32_shortest(double v);

#endif
