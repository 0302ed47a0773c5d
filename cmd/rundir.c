/* Run directories for pretrain/finetune (rundir.h). */
#include "cmd/rundir.h"
#include "cmd/opts.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/log.h"
#include "config.h"
#include "io/checkpoint.h"
#include "io/outfile.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <signal.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Model configs hold float32 values: ds_cfg_dump_flags prints each as the
 * shortest decimal that reads back to the same float (0.1, not 0.100000001). */
#define MODEL_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static void set_paths(ds_run *r, const char *dir)
{
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    snprintf(r->config_path, sizeof r->config_path, "%s/config.json", dir);
    snprintf(r->state_path, sizeof r->state_path, "%s/state.safetensors", dir);
    snprintf(r->last_path, sizeof r->last_path, "%s/last.safetensors", dir);
    snprintf(r->best_path, sizeof r->best_path, "%s/best.safetensors", dir);
    snprintf(r->log_path, sizeof r->log_path, "%s/log.jsonl", dir);
    r->best_loss = INFINITY;
    r->val_key = "derfseq.val_loss";
    r->val_step = -1;
}

static void join(char *dst, size_t cap, const char *dir, const char *name) { snprintf(dst, cap, "%s/%s", dir, name); }

void ds_rundir_sweep_temps(const char *dir)
{
    if (!ds_dist_root()) return;   /* rank 0 owns the directory: another rank would race its atomic writes */
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        for (int i = 0; i < DS_NRUN_FILES; i++) {
            size_t n = strlen(DS_RUN_FILES[i]);
            /* ds_outfile's temp names: "<file>.tmp.XXXXXX" */
            if (strncmp(de->d_name, DS_RUN_FILES[i], n) || strncmp(de->d_name + n, ".tmp.", 5) ||
                strlen(de->d_name + n + 5) != 6)
                continue;
            char p[PATH_MAX];
            join(p, sizeof p, dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

/* 1 if path holds the config.json of a derfseq pretrain or finetune run. */
static int is_run_config(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    int yes = json_is_object(j) &&
              ((json_is_object(json_object_get(j, "model")) && json_is_object(json_object_get(j, "train"))) ||
               (json_object_get(j, "data") && json_object_get(j, "layout") && json_object_get(j, "max_length")));
    json_decref(j);
    return yes;
}

int ds_rundir_claim(const char *dir, int *created, int *restarted)
{
    *created = *restarted = 0;
    if (!mkdir(dir, 0755)) { *created = 1; return 0; }
    if (errno != EEXIST) return ds_err_errno(DS_EIO, "%s: cannot create the run directory", dir);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return ds_err(DS_EINVAL, "%s: exists and is not a directory", dir);
    ds_rundir_sweep_temps(dir);
    char p[PATH_MAX];
    join(p, sizeof p, dir, "state.safetensors");
    if (!access(p, F_OK))
        return ds_err(DS_EINVAL, "%s: already holds a run; continue it with --resume %s or choose another -o", dir, dir);
    join(p, sizeof p, dir, "config.json");
    if (access(p, F_OK)) return 0;
    if (!is_run_config(p))
        return ds_err(DS_EINVAL, "%s: holds a config.json that is not a derfseq run's; choose another -o", dir);
    ds_rundir_abandon(dir, 0);   /* a run that never saved: nothing to lose */
    *restarted = 1;
    return 0;
}

void ds_rundir_abandon(const char *dir, int created)
{
    if (!ds_dist_root()) return;   /* rank 0 owns the run directory */
    char p[PATH_MAX];
    for (int i = DS_NRUN_FILES - 1; i >= 0; i--) {   /* config.json (the first) last: while it exists the run is recognisable */
        join(p, sizeof p, dir, DS_RUN_FILES[i]);
        unlink(p);
    }
    ds_rundir_sweep_temps(dir);
    if (created) rmdir(dir);   /* fails, harmlessly, if the user put something there meanwhile */
}

const char *ds_resume_ignores(const struct option *longopts, int c, int stop_at_code)
{
    if (c == 't' || c == 'h' || c == stop_at_code) return NULL;
    for (const struct option *o = longopts; o->name; o++) {
        if (o->val != c) continue;
        if (!strcmp(o->name, "log") || !strcmp(o->name, "quiet") || !strcmp(o->name, "resume")) return NULL;
        /* a new total extends (or shortens) the run: ds_run_extend_steps */
        if (!strcmp(o->name, "steps") || !strcmp(o->name, "epochs")) return NULL;
        return o->name;
    }
    return NULL;
}

void ds_resume_check_ranks(const char *cmd, long saved, const char *unit, int quiet)
{
    long now = ds_dist_size();
    if (saved < 1) saved = 1;
    if (saved != now && !quiet)
        fprintf(stderr,
                "[W::%s] resuming on %ld MPI rank%s where the run started on %ld: the data goes on from the same "
                "position, but each %s now takes %ld ranks' batches instead of %ld (another global batch), so the "
                "run is not the one it would have been (resume on %ld ranks for that)\n",
                cmd, now, now == 1 ? "" : "s", saved, unit, now, saved, saved);
}

void ds_resume_check_threads(const char *cmd, long saved, int quiet)
{
    long now = omp_get_max_threads();
    if (saved > 0 && saved != now && !quiet)
        fprintf(stderr,
                "[W::%s] resuming with %ld threads where the run started with %ld: results agree to float32 "
                "rounding, not bitwise, with an uninterrupted run (use -t %ld for that)\n",
                cmd, now, saved, saved);
}

int ds_run_diverged(const char *when, const char *what, double v, const char *tensor, const char *kept)
{
    return ds_err(DS_EINVAL, "%s: %s is %s%s%s%s; stopped before updating the weights, %s (lower --lr, raise --warmup "
                  "or set --grad-clip)", when, what, isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf",
                  tensor ? " (first in " : "", tensor ? tensor : "", tensor ? ")" : "", kept);
}

void ds_run_abspath(char *dst, size_t cap, const char *path)
{
    char buf[PATH_MAX];
    snprintf(dst, cap, "%s", path && realpath(path, buf) ? buf : (path ? path : ""));
}

int ds_run_schedule_from_json(const json_t *x)
{
    if (json_is_string(x)) return ds_schedule_parse(json_string_value(x));
    /* derfseq 0.1.0 wrote the enum's number */
    if (json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) <= DS_SCHED_TRI_STAGE)
        return (int)json_integer_value(x);
    return -1;
}

static json_t *cfg_to_json(const ds_run_cfg *c)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f, s:f, s:f}",
                     "ref", c->ref, "regions", c->regions, "contigs", c->contigs, "seq_len", (json_int_t)c->seq_len,
                     "max_n", (json_int_t)c->max_n, "eval_windows", (json_int_t)c->eval_windows, "steps",
                     (json_int_t)c->steps, "batch_size", (json_int_t)c->batch_size, "accum", (json_int_t)c->accum,
                     "warmup", (json_int_t)c->warmup, "eval_every", (json_int_t)c->eval_every, "save_every",
                     (json_int_t)c->save_every, "seed", (json_int_t)c->seed, "schedule", ds_schedule_name(c->schedule), "lr", c->lr,
                     "weight_decay", c->weight_decay, "grad_clip", c->grad_clip);
    if (j) {
        json_object_set_new(j, "threads", json_integer(c->threads));
        json_object_set_new(j, "ranks", json_integer(c->ranks > 0 ? c->ranks : 1));
        json_object_set_new(j, "beta1", json_real(c->beta1));
        json_object_set_new(j, "beta2", json_real(c->beta2));
        json_object_set_new(j, "min_lr", json_real(c->min_lr));
        json_object_set_new(j, "decay_groups", json_string(c->decay_groups ? "official" : "derfseq"));
        json_object_set_new(j, "recipe", json_string(c->recipe));
        json_object_set_new(j, "init_from", json_string(c->init_from));
        json_object_set_new(j, "eval_train", json_boolean(c->eval_train));
        if (c->audio[0]) {
            json_object_set_new(j, "audio", json_string(c->audio));
            json_object_set_new(j, "valid_audio", json_string(c->valid_audio));
            json_object_set_new(j, "max_tokens", json_integer(c->max_tokens));
            json_object_set_new(j, "crop", json_integer(c->crop));
            json_object_set_new(j, "min_samples", json_integer(c->min_samples));
        }
        if (c->adam_eps > 0) json_object_set_new(j, "adam_eps", json_real(c->adam_eps));
        if (c->task[0]) {
            json_object_set_new(j, "task", json_string(c->task));
            json_object_set_new(j, "freeze_steps", json_integer(c->freeze_steps));
        }
    }
    return j;
}

static int cfg_from_json(const char *path, json_t *t, ds_run_cfg *c)
{
    const char *ref = NULL, *reg = NULL, *con = NULL;
    json_int_t v[11];
    json_t *sched = NULL;
    json_error_t e;
    if (json_unpack_ex(t, &e, 0, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:F, s:F, s:F}",
                       "ref", &ref, "regions", &reg, "contigs", &con, "seq_len", &v[0], "max_n", &v[1],
                       "eval_windows", &v[2], "steps", &v[3], "batch_size", &v[4], "accum", &v[5], "warmup", &v[6],
                       "eval_every", &v[7], "save_every", &v[8], "seed", &v[9], "schedule", &sched, "lr",
                       &c->lr, "weight_decay", &c->weight_decay, "grad_clip", &c->grad_clip))
        return ds_err(DS_EFORMAT, "%s: \"train\": %s", path, e.text);
    if ((c->schedule = ds_run_schedule_from_json(sched)) < 0)
        return ds_err(DS_EFORMAT, "%s: \"train\": schedule: expected %s", path, DS_SCHEDULE_NAMES);
    /* keys absent in runs of derfseq 0.1.0 take the values it used */
    json_t *th = json_object_get(t, "threads");
    c->threads = json_is_integer(th) ? (long)json_integer_value(th) : 0;
    json_t *rk = json_object_get(t, "ranks");
    c->ranks = json_is_integer(rk) && json_integer_value(rk) > 0 ? (long)json_integer_value(rk) : 1;
    json_t *x;
    c->beta1 = json_is_number(x = json_object_get(t, "beta1")) ? json_number_value(x) : 0.9;
    c->beta2 = json_is_number(x = json_object_get(t, "beta2")) ? json_number_value(x) : 0.999;
    c->min_lr = json_is_number(x = json_object_get(t, "min_lr")) ? json_number_value(x) : 0.1 * c->lr;
    c->decay_groups = json_is_string(x = json_object_get(t, "decay_groups")) && !strcmp(json_string_value(x), "official");
    snprintf(c->recipe, sizeof c->recipe, "%s",
             json_is_string(x = json_object_get(t, "recipe")) ? json_string_value(x) : "derfseq");
    snprintf(c->init_from, sizeof c->init_from, "%s",
             json_is_string(x = json_object_get(t, "init_from")) ? json_string_value(x) : "");
    c->eval_train = json_is_true(json_object_get(t, "eval_train"));
    snprintf(c->audio, sizeof c->audio, "%s", json_is_string(x = json_object_get(t, "audio")) ? json_string_value(x) : "");
    snprintf(c->valid_audio, sizeof c->valid_audio, "%s",
             json_is_string(x = json_object_get(t, "valid_audio")) ? json_string_value(x) : "");
    c->max_tokens = json_is_integer(x = json_object_get(t, "max_tokens")) ? (long)json_integer_value(x) : 0;
    c->crop = json_is_integer(x = json_object_get(t, "crop")) ? (long)json_integer_value(x) : 0;
    c->min_samples = json_is_integer(x = json_object_get(t, "min_samples")) ? (long)json_integer_value(x) : 0;
    c->adam_eps = json_is_number(x = json_object_get(t, "adam_eps")) ? json_number_value(x) : 0;
    snprintf(c->task, sizeof c->task, "%s", json_is_string(x = json_object_get(t, "task")) ? json_string_value(x) : "");
    c->freeze_steps = json_is_integer(x = json_object_get(t, "freeze_steps")) ? (long)json_integer_value(x) : 0;
    if (c->task[0] && strcmp(c->task, "ctc"))
        return ds_err(DS_EFORMAT, "%s: \"train\": task \"%s\" is not one this derfseq knows (ctc)", path, c->task);
    if (c->audio[0] && (c->max_tokens < 1 || c->crop < 1 || c->min_samples < 1))
        return ds_err(DS_EFORMAT, "%s: \"train\": max_tokens, crop or min_samples missing or out of range", path);
    if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1 && c->min_lr >= 0))
        return ds_err(DS_EFORMAT, "%s: \"train\": beta1, beta2 or min_lr out of range (edited by hand?)", path);
    snprintf(c->ref, sizeof c->ref, "%s", ref);
    snprintf(c->regions, sizeof c->regions, "%s", reg);
    snprintf(c->contigs, sizeof c->contigs, "%s", con);
    c->seq_len = (long)v[0]; c->max_n = (long)v[1]; c->eval_windows = (long)v[2]; c->steps = (long)v[3];
    c->batch_size = (long)v[4]; c->accum = (long)v[5]; c->warmup = (long)v[6]; c->eval_every = (long)v[7];
    c->save_every = (long)v[8]; c->seed = (long)v[9];
    return 0;
}

int ds_run_write_config(const ds_run *run)
{
    if (!ds_dist_root()) return 0;   /* rank 0 writes the run directory */
    json_error_t e;
    json_t *model = json_loads(run->model_json, 0, &e);
    if (!model) return ds_err(DS_EFORMAT, "model config: %s", e.text);
    json_t *root = json_pack("{s:o, s:o}", "model", model, "train", cfg_to_json(&run->cfg));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    int r = text ? ds_write_file_atomic(run->config_path, text, strlen(text)) : ds_err(DS_ENOMEM, "out of memory");
    free(text);
    return r;
}

int ds_run_create(ds_run *run, const char *dir, const char *model_json, const ds_run_cfg *cfg, int *created)
{
    memset(run, 0, sizeof *run);
    set_paths(run, dir);
    int restarted = 0, r = ds_dist_root() ? ds_rundir_claim(dir, created, &restarted) : 0;
    if (r) return r;
    run->claimed = ds_dist_root();
    json_error_t e;
    json_t *model = json_loads(model_json, 0, &e);
    if (!model) return ds_err(DS_EFORMAT, "model config: %s", e.text);
    /* the same compact text ds_run_open gives, so checkpoints of a resumed
     * run are byte-identical to those of an uninterrupted one */
    run->model_json = ds_cfg_dump_flags(model, MODEL_JSON_FLAGS);
    json_decref(model);
    if (!run->model_json) return ds_err(DS_ENOMEM, "out of memory");
    run->cfg = *cfg;
    return ds_run_write_config(run);
}

int ds_run_open(ds_run *run, const char *dir)
{
    memset(run, 0, sizeof *run);
    set_paths(run, dir);
    ds_rundir_sweep_temps(dir);
    json_error_t e;
    json_t *root = json_load_file(run->config_path, 0, &e);
    if (!root) {
        if (access(run->config_path, F_OK)) return ds_err(DS_EIO, "%s: no config.json; is this a derfseq run directory?", dir);
        return ds_err(DS_EFORMAT, "%s:%d: %s", run->config_path, e.line, e.text);
    }
    json_t *model = json_object_get(root, "model"), *train = json_object_get(root, "train");
    int r = model && train ? cfg_from_json(run->config_path, train, &run->cfg)
                           : ds_err(DS_EFORMAT, "%s: expected \"model\" and \"train\" objects", run->config_path);
    if (!r) {
        run->model_json = ds_cfg_dump_flags(model, MODEL_JSON_FLAGS);
        if (!run->model_json) r = ds_err(DS_ENOMEM, "out of memory");
    }
    json_decref(root);
    if (!r && !access(run->best_path, F_OK)) {
        ds_st_file f;
        if (!ds_st_open(&f, run->best_path)) {
            const char *v = ds_st_meta(&f, "derfseq.val_loss");
            if (!v) v = ds_st_meta(&f, "derfseq.val_wer");
            if (v) run->best_loss = strtod(v, NULL);
            if ((v = ds_st_meta(&f, "derfseq.step"))) run->best_step = strtol(v, NULL, 10);
            ds_st_close(&f);
        }
    }
    return r;
}

static int save_weights(const char *path, const ds_params *ps, const char *model_json, long step, const char *key,
                        const char *loss)
{
    ds_st_entry *e = calloc((size_t)(ps->n ? ps->n : 1), sizeof *e);
    if (!e) return ds_err(DS_ENOMEM, "out of memory");
    for (int i = 0; i < ps->n; i++) e[i] = (ds_st_entry){ ps->p[i].name, ps->p[i].ndim, ps->p[i].shape, ds_params_data(ps, i) };
    char sbuf[32];
    snprintf(sbuf, sizeof sbuf, "%ld", step);
    const char *k[3] = { DS_CKPT_CONFIG_KEY, "derfseq.step", key }, *v[3] = { model_json, sbuf, loss };
    int r = ds_st_write(path, e, ps->n, k, v, loss ? 3 : 2);
    free(e);
    return r;
}

int ds_run_save(const ds_run *run, const ds_params *ps, const ds_adamw *opt, const ds_counters *c, long step)
{
    /* every rank trained the same parameters; rank 0 writes them */
    if (!ds_dist_same_params(ps))
        return ds_err(DS_EINVAL, "step %ld: the ranks' parameters differ (the MPI sum did not give every rank the same "
                      "bits); nothing saved, %s keeps the last good state", step, run->state_path);
    if (!ds_dist_root()) return 0;
    int r = ds_trainstate_save(run->state_path, ps, opt, c);
    char val[32];
    snprintf(val, sizeof val, "%.17g", run->val_value);
    int known = step == run->val_step && isfinite(run->val_value);
    return r ? r : save_weights(run->last_path, ps, run->model_json, step, run->val_key, known ? val : NULL);
}

void ds_run_note_val(ds_run *run, long step, double v)
{
    run->val_step = step;
    run->val_value = v;
}

int ds_run_save_best(ds_run *run, const ds_params *ps, long step, double val_loss)
{
    char loss[32];
    run->best_loss = val_loss;
    run->best_step = step;
    snprintf(loss, sizeof loss, "%.17g", val_loss);   /* exact: a resumed run compares against the same double */
    if (!ds_dist_root()) return 0;
    return save_weights(run->best_path, ps, run->model_json, step, run->val_key, isfinite(val_loss) ? loss : NULL);
}

int ds_run_load_state(ds_run *run, ds_params *ps, ds_adamw *opt, ds_counters *c)
{
    if (access(run->state_path, F_OK))
        return ds_err(DS_EIO, "%s: no state.safetensors yet (the run stopped before its first save); start it again", run->dir);
    return ds_trainstate_load(run->state_path, ps, opt, c);
}

void ds_run_free(ds_run *run)
{
    free(run->model_json);
    run->model_json = NULL;
}

int ds_run_read_model_config(const char *path, const char *norm, float alpha_init, char **json)
{
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    if (!o) return ds_err(DS_EFORMAT, "%s:%d: %s", path, e.line, e.text);
    if (!json_is_object(o)) { json_decref(o); return ds_err(DS_EFORMAT, "%s: expected a JSON object", path); }
    if (norm) json_object_set_new(o, "norm", json_string(norm));
    if (alpha_init == alpha_init) json_object_set_new(o, "alpha_init", json_real(alpha_init));
    *json = ds_cfg_dump_flags(o, MODEL_JSON_FLAGS);
    json_decref(o);
    return *json ? 0 : ds_err(DS_ENOMEM, "out of memory");
}

int ds_run_save_step(const ds_run *run, const ds_params *ps, const ds_adamw *opt, long step, uint64_t draws)
{
    ds_counters c = {0};
    ds_counters_set(&c, "step", step);
    ds_counters_set(&c, "draws", (int64_t)draws);
    return ds_run_save(run, ps, opt, &c, step);
}

int ds_run_resume_step(ds_run *run, ds_params *ps, ds_adamw *opt, long *step, uint64_t *draws, const char *cmd,
                       int quiet)
{
    ds_counters c = {0};
    int64_t s = 0, d = 0;
    int e = ds_run_load_state(run, ps, opt, &c);
    if (!e) e = ds_counters_get(&c, "step", &s);
    if (!e) e = ds_counters_get(&c, "draws", &d);
    *step = (long)s;
    *draws = (uint64_t)d;
    if (!e && ds_dist_root()) e = ds_log_rewind(run->log_path, *step, -1);
    if (!e) ds_resume_check_threads(cmd, run->cfg.threads, quiet);
    if (!e) ds_resume_check_ranks(cmd, run->cfg.ranks, "step", quiet);
    if (!e && !quiet) fprintf(stderr, "[M::%s] resuming %s at step %ld\n", cmd, run->dir, *step);
    return e;
}

void ds_run_extend_note(const char *cmd, const char *unit, long from, long to, int schedule, int quiet)
{
    if (quiet) return;
    fprintf(stderr, "[M::%s] %s the run from %ld to %ld %ss", cmd, to > from ? "extending" : "shortening", from, to, unit);
    if (schedule != DS_SCHED_CONSTANT)
        fprintf(stderr, "; the %s schedule is laid anew over %ld %ss (warm-up unchanged), as HF Trainer and fairseq "
                "do with a new max_steps/--max-update", ds_schedule_name((ds_sched_kind)schedule), to, unit);
    fputc('\n', stderr);
}

int ds_run_extend_steps(ds_run *run, long steps, long at, const char *cmd, int quiet)
{
    if (steps <= 0 || steps == run->cfg.steps) return 0;
    if (steps < at) return ds_err(DS_EINVAL, "--steps %ld: the run is already at step %ld", steps, at);
    ds_run_extend_note(cmd, "step", run->cfg.steps, steps, run->cfg.schedule, quiet);
    run->cfg.steps = steps;
    return ds_run_write_config(run);
}

int ds_run_diverged_at_step(const ds_run *run, long step, long saved_step, const char *what, double v,
                            const char *tensor)
{
    char when[32], kept[1200];
    snprintf(when, sizeof when, "step %ld", step);
    if (saved_step >= 0)
        snprintf(kept, sizeof kept, "%s keeps step %ld, the last saved state", run->last_path, saved_step);
    else
        snprintf(kept, sizeof kept, "no checkpoint had been saved yet");
    return ds_run_diverged(when, what, v, tensor, kept);
}

int ds_run_join_inputs(char *dst, size_t cap, char *const *in, int n, const char *what)
{
    size_t used = 0;
    dst[0] = 0;
    for (int i = 0; i < n; i++) {
        char abs[4096];
        ds_run_abspath(abs, sizeof abs, in[i]);
        size_t k = strlen(abs);
        if (used + k + 2 > cap) return ds_err(DS_EINVAL, "%s: the inputs' paths exceed %zu bytes; use a manifest", what, cap);
        if (i) dst[used++] = '\n';
        memcpy(dst + used, abs, k + 1);
        used += k;
    }
    return 0;
}

int ds_run_split_inputs(char *s, char **out, int cap)
{
    int n = 0;
    for (char *p = s; *p && n < cap;) {
        char *e = strchr(p, '\n');
        out[n++] = p;
        if (!e) break;
        *e = 0;
        p = e + 1;
    }
    return n;
}

/* ---- the end of a run ------------------------------------------------ */

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

void ds_run_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;   /* the second Ctrl-C finds the default: it kills */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int ds_run_interrupted(void) { return g_signal; }

int ds_run_report_interrupted(const char *cmd, const char *unit, long at, const char *dir)
{
    if (ds_dist_root())
        fprintf(stderr, "derfseq %s: interrupted at %s %ld; resume with 'derfseq %s --resume %s'\n", cmd, unit, at, cmd, dir);
    return 128 + (g_signal ? g_signal : SIGINT);
}

int ds_run_summarize(const char *cmd, ds_log_pair *logs, const ds_run_summary *s, int quiet)
{
    char units[16], key[32];
    snprintf(units, sizeof units, "%ss", s->unit);
    json_t *j = json_pack("{s:s, s:I, s:I, s:s}", "event", "done", units, (json_int_t)s->done, "of",
                          (json_int_t)s->total, "last", s->last_path);
    if (j && s->best_at > 0) {
        snprintf(key, sizeof key, "best_%s", s->unit);
        json_object_set_new(j, key, json_integer(s->best_at));
        snprintf(key, sizeof key, "best_%s", s->metric_key);
        json_object_set_new(j, key, ds_json_real(s->best));
        json_object_set_new(j, "best", json_string(s->best_path));
    }
    int e = ds_log_pair_write(logs, j);
    if (e || quiet) return e;
    char done[96], best[2600] = "";
    if (s->done < s->total) snprintf(done, sizeof done, "%ld of %ld %s (stopped early)", s->done, s->total, units);
    else snprintf(done, sizeof done, "%ld %s", s->done, units);
    if (s->best_at > 0)
        snprintf(best, sizeof best, ", best %s %ld (%s %.4g%s) -> %s,", s->unit, s->best_at, s->metric, s->best,
                 s->metric_unit, s->best_path);
    else snprintf(best, sizeof best, " (no validation) ->");
    fprintf(stderr, "derfseq %s: done: %s%s last %s\n", cmd, done, best, s->last_path);
    return 0;
}
