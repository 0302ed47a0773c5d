/* Config-JSON key readers shared by the architectures (config.h). */
#include "config.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value as the file spells it, for "got ..." in a message. */
static void json_text(const json_t *x, char *buf, size_t n)
{
    char *t = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%s", t ? t : "?");
    if (t && strlen(t) >= n && n > 4) strcpy(buf + n - 4, "...");
    free(t);
}

int ds_cfg_get_int(json_t *o, const char *key, int *v, int lo, int hi)
{
    json_t *x = json_object_get(o, key);
    if (!x) return 0;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) {
        char got[80];
        json_text(x, got, sizeof got);
        return ds_err(DS_EFORMAT, "config key '%s': expected an integer in [%d, %d], got %s", key, lo, hi, got);
    }
    *v = (int)json_integer_value(x);
    return 0;
}

int ds_cfg_get_float(json_t *o, const char *key, float *v, double lo, double hi)
{
    json_t *x = json_object_get(o, key);
    if (!x) return 0;
    if (!json_is_number(x) || json_number_value(x) < lo || json_number_value(x) > hi) {
        char got[80];
        json_text(x, got, sizeof got);
        return ds_err(DS_EFORMAT, "config key '%s': expected a number in [%g, %g], got %s", key, lo, hi, got);
    }
    *v = (float)json_number_value(x);
    return 0;
}

int ds_cfg_get_bool(json_t *o, const char *key, int *v)
{
    json_t *x = json_object_get(o, key);
    if (!x) return 0;
    if (!json_is_boolean(x)) {
        char got[80];
        json_text(x, got, sizeof got);
        return ds_err(DS_EFORMAT, "config key '%s': expected true or false, got %s", key, got);
    }
    *v = json_is_true(x);
    return 0;
}

int ds_cfg_get_str(json_t *o, const char *key, const char **v)
{
    json_t *x = json_object_get(o, key);
    *v = NULL;
    if (!x) return 0;
    if (!json_is_string(x)) {
        char got[80];
        json_text(x, got, sizeof got);
        return ds_err(DS_EFORMAT, "config key '%s': expected a string, got %s", key, got);
    }
    *v = json_string_value(x);
    return 0;
}

int ds_cfg_get_norm(json_t *o, const char *key, ds_norm_kind *v)
{
    const char *s;
    int r = ds_cfg_get_str(o, key, &s);
    if (r || !s) return r;
    int k = ds_norm_kind_parse(s);
    if (k < 0) return ds_err(DS_EFORMAT, "config key '%s': expected derf, dyt, layernorm or rmsnorm, got \"%s\"", key, s);
    *v = (ds_norm_kind)k;
    return 0;
}

int ds_cfg_parse(const char *text, json_t **o)
{
    json_error_t e;
    *o = json_loads(text, 0, &e);
    if (*o && json_is_object(*o)) return 0;
    int was = *o != NULL;
    json_decref(*o);
    *o = NULL;
    if (was) return ds_err(DS_EFORMAT, "config: expected a JSON object");
    return ds_err(DS_EFORMAT, "config: not JSON (line %d: %s)", e.line, e.text);
}

double ds_float32_shortest(double v)
{
    float f = (float)v;
    if (!isfinite(f)) return v;
    char buf[40];
    for (int p = 1; p <= 9; p++) {   /* 9 significant digits always identify a float32 */
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return v;
}

/* Every real of o, recursively, through ds_float32_shortest. */
static void shorten_reals(json_t *o)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(o)) {
        json_object_foreach(o, k, x) {
            if (json_is_real(x)) json_real_set(x, ds_float32_shortest(json_real_value(x)));
            else shorten_reals(x);
        }
    } else if (json_is_array(o)) {
        json_array_foreach(o, i, x) {
            if (json_is_real(x)) json_real_set(x, ds_float32_shortest(json_real_value(x)));
            else shorten_reals(x);
        }
    }
}

char *ds_cfg_dump_flags(const json_t *o, size_t flags)
{
    json_t *c = json_deep_copy(o);
    if (!c) return NULL;
    shorten_reals(c);
    /* a decimal of <= 9 significant digits prints back exactly at %.15g, and short */
    char *text = json_dumps(c, flags | JSON_REAL_PRECISION(15));
    json_decref(c);
    return text;
}

char *ds_cfg_dump(const json_t *o)
{
    return ds_cfg_dump_flags(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}
