/* derfseq info: the config, parameter count and tensor table of a
 * safetensors checkpoint, as text on stdout and optionally JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/checkpoint.h"
#include "io/outfile.h"
#include "io/safetensors.h"
#include "config.h"
#include "presets.h"

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    DS_LONGOPT_JSON, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const ds_common_opts *co)
{
    fprintf(fp, "Usage: derfseq info [options] CKPT\n"
                "       derfseq info [options] --from CKPT\n\n"
                "Prints the model config stored in CKPT (safetensors metadata key\n"
                "'" DS_CKPT_CONFIG_KEY "'), the number of tensors, the parameter count (trainable,\n"
                "shared tensors once, when the config names a model derfseq builds) and a\n"
                "table name<TAB>dtype<TAB>shape<TAB>numel in file order. A header first names\n"
                "the model (arch, preset, norm, tokenizer) and, for a checkpoint of a training\n"
                "run, its step or epoch and validation metric (val loss, accuracy or WER).\n\nOptions:\n");
    ds_usage_line(fp, "    --from CKPT", "the checkpoint, as the other commands take it (or give CKPT)", NULL);
    ds_usage_common(fp, co);
}

/* Trainable parameters as the model counts them (shared tensors once, no
 * buffers) when the config names a model derfseq builds; else every value. */
static unsigned long long param_count(const ds_st_file *f, const char *config)
{
    ds_model *m = NULL;
    static int warned;   /* text and JSON both count: one warning */
    if (config && ds_model_from_json(&m, config) == 0) {
        unsigned long long n = ds_params_count(&m->params);
        ds_model_free(m);
        return n;
    }
    /* info still shows a checkpoint whose config derfseq cannot build; one
     * that claims an "arch" but is broken gets a warning naming file and key */
    if (config && strstr(config, "\"arch\"") && !warned++)
        fprintf(stderr, "derfseq info: warning: %s: %s; parameters counted from the tensors\n", f->path, ds_errmsg());
    ds_err_clear();
    unsigned long long n = 0;
    for (int i = 0; i < f->n; i++) n += f->t[i].numel;
    return n;
}

/* The checkpoint metadata a training run writes, with their labels. */
static const struct { const char *key, *label; } RUN_META[] = {
    { "derfseq.step", "step" },
    { "derfseq.epoch", "epoch" },
    { "derfseq.val_loss", "val loss" },
    { "derfseq.val_accuracy", "val accuracy" },
    { "derfseq.val_wer", "val WER" },
};
#define N_RUN_META (int)(sizeof RUN_META / sizeof RUN_META[0])

/* The config keys that say what the model is. */
static const char *const MODEL_FACTS[] = { "arch", "preset", "norm", "tokenizer" };

/* "arch: hyenadna", "step: 600", "val loss: 1.93", ...: what the model is
 * and where its run stood, for the keys present. */
static void print_header(FILE *fp, const ds_st_file *f, const char *config)
{
    json_t *root = config ? json_loads(config, 0, NULL) : NULL;
    for (size_t i = 0; json_is_object(root) && i < sizeof MODEL_FACTS / sizeof *MODEL_FACTS; i++) {
        json_t *x = json_object_get(root, MODEL_FACTS[i]);
        if (json_is_string(x)) fprintf(fp, "%s: %s\n", MODEL_FACTS[i], json_string_value(x));
        else if (x) {
            char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
            fprintf(fp, "%s: %s\n", MODEL_FACTS[i], t ? t : "?");
            free(t);
        }
    }
    json_decref(root);
    for (int i = 0; i < N_RUN_META; i++) {
        const char *v = ds_st_meta(f, RUN_META[i].key);
        if (!v) continue;
        char *end;
        double d = strtod(v, &end);
        if (end != v && !*end && strchr(v, '.')) fprintf(fp, "%s: %.6g\n", RUN_META[i].label, d);
        else fprintf(fp, "%s: %s\n", RUN_META[i].label, v);
    }
}

static void print_text(FILE *fp, const char *path, const ds_st_file *f, const char *config)
{
    char shape[256];
    fprintf(fp, "file: %s\n", path);
    print_header(fp, f, config);
    fprintf(fp, "tensors: %d\nparameters: %llu\nconfig:", f->n, param_count(f, config));
    json_t *root = config ? json_loads(config, 0, NULL) : NULL;
    char *pretty = root ? ds_cfg_dump(root) : NULL;
    /* A config that is not JSON is shown as stored rather than hidden. */
    fprintf(fp, "%s%s\n", config ? "\n" : " ", pretty ? pretty : config ? config : "(no derfseq config)");
    free(pretty);
    json_decref(root);
    fprintf(fp, "\nname\tdtype\tshape\tnumel\n");
    for (int i = 0; i < f->n; i++) {
        const ds_st_tensor *t = &f->t[i];
        fprintf(fp, "%s\t%s\t%s\t%zu\n", t->name, ds_st_dtype_name(t->dtype),
                ds_shape_str(t->shape, t->ndim, shape, sizeof shape), t->numel);
    }
}

/* The run metadata present, {"step": 600, "val_loss": 1.93}, for --json. */
static json_t *run_json(const ds_st_file *f)
{
    json_t *o = json_object();
    for (int i = 0; o && i < N_RUN_META; i++) {
        const char *v = ds_st_meta(f, RUN_META[i].key);
        if (!v) continue;
        char *end;
        double d = strtod(v, &end);
        json_t *x = end != v && !*end ? (strchr(v, '.') ? json_real(d) : json_integer((json_int_t)strtoll(v, NULL, 10)))
                                      : json_string(v);
        json_object_set_new(o, RUN_META[i].key + strlen("derfseq."), x);
    }
    return o;
}

static json_t *tensor_json(const ds_st_tensor *t)
{
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    return json_pack("{s:s, s:s, s:o, s:I}", "name", t->name, "dtype", ds_st_dtype_name(t->dtype), "shape",
                     shape, "numel", (json_int_t)t->numel);
}

static json_t *info_json(const char *path, const ds_st_file *f, const char *config)
{
    json_t *cfg = config ? json_loads(config, 0, NULL) : json_null();
    if (!cfg) cfg = json_string(config);
    json_t *tensors = json_array();
    for (int i = 0; i < f->n; i++) json_array_append_new(tensors, tensor_json(&f->t[i]));
    return json_pack("{s:s, s:o, s:o, s:i, s:I, s:o}", "file", path, "config", cfg, "run", run_json(f), "n_tensors",
                     f->n, "n_parameters", (json_int_t)param_count(f, config), "tensors", tensors);
}

/* "-" is stdout; a file is written whole or not at all. */
static int write_json(const char *cmd, const char *path, const char *ckpt, const ds_st_file *f,
                      const char *config)
{
    json_t *obj = info_json(ckpt, f, config);
    char *text = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (!text) return ds_cmd_error(cmd, "%s: out of memory", path);
    int rc = 0;
    if (strcmp(path, "-") == 0) rc = printf("%s\n", text) < 0 ? ds_cmd_error(cmd, "-: write error") : 0;
    else {
        size_t len = strlen(text);
        text[len] = '\n';   /* the NUL's byte becomes the file's final newline */
        if (ds_write_file_atomic(path, text, len + 1) != 0) rc = ds_cmd_error(cmd, "%s", ds_errmsg());
    }
    free(text);
    return rc;
}

static int parse(ds_common_opts *co, const char **from, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":qh", LONGOPTS, NULL)) != -1) {
        if (c == OPT_FROM) { *from = optarg; continue; }
        if ((r = ds_opts_common(co, c, optarg)) < 0) return 2;
        if (r == 0) return ds_opts_unknown(co, c, argv);
    }
    return 0;
}

int main_info(int argc, char **argv)
{
    double t0 = ds_realtime();
    ds_common_opts co;
    ds_common_defaults(&co, "info", DS_O_JSON | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &co); return 2; }
    const char *path = NULL;
    int rc = parse(&co, &path, argc, argv);
    if (rc) return rc;
    if (co.help) { usage(stdout, &co); return 0; }
    if (path && optind < argc)
        return ds_usage_error(co.cmd, "give the checkpoint once: --from %s or %s, not both", path, argv[optind]);
    if (!path && optind == argc) return ds_usage_error(co.cmd, "missing CKPT");
    if (argc - optind > 1) return ds_usage_error(co.cmd, "expected one CKPT, got %d", argc - optind);
    if (!path) path = argv[optind];
    const char *in[] = { path };
    if ((rc = ds_check_output(co.cmd, "--json", co.json_path, in, 1))) return rc;
    ds_st_file f;
    if (ds_st_open(&f, path) != 0) return ds_cmd_error(co.cmd, "%s", ds_errmsg());
    const char *config = ds_st_meta(&f, DS_CKPT_CONFIG_KEY);
    int to_stdout = co.json_path && strcmp(co.json_path, "-") == 0;
    if (!to_stdout) print_text(stdout, path, &f, config);
    if (co.json_path) rc = write_json(co.cmd, co.json_path, path, &f, config);
    ds_st_close(&f);
    if (!rc && fflush(stdout) != 0) rc = ds_cmd_error(co.cmd, "-: write error");
    if (!rc && !co.quiet) ds_resource_line(t0);
    return rc;
}
