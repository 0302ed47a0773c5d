/* AdamW (torch.optim.AdamW arithmetic, step for step), learning-rate
 * schedules and global grad-norm clipping over a ds_params table. */
#include "nn/optim.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ds_adamw_init(ds_adamw *opt, const ds_params *ps, ds_adamw_cfg cfg)
{
    memset(opt, 0, sizeof *opt);
    opt->cfg = cfg;
    opt->total = ps->total;
    opt->m = ds_aligned_alloc((ps->total ? ps->total : 1) * sizeof(float));
    opt->v = ds_aligned_alloc((ps->total ? ps->total : 1) * sizeof(float));
    if (!opt->m || !opt->v) {
        ds_adamw_free(opt);
        return ds_err(DS_ENOMEM, "out of memory for AdamW state (%zu parameters)", ps->total);
    }
    return 0;
}

void ds_adamw_free(ds_adamw *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void ds_adamw_step(ds_adamw *opt, ds_params *ps, float lr)
{
    const ds_adamw_cfg c = opt->cfg;
    opt->step++;
    const float bc1 = 1.0f - powf(c.beta1, (float)opt->step);
    const float bc2_sqrt = sqrtf(1.0f - powf(c.beta2, (float)opt->step));
    const float step_size = lr / bc1;
    for (int i = 0; i < ps->n; i++) {
        const ds_param *p = &ps->p[i];
        if (!p->trainable) continue;
        float *w = ps->data + p->offset, *g = ps->grad + p->offset;
        float *m = opt->m + p->offset, *v = opt->v + p->offset;
        const float keep = p->decay ? 1.0f - lr * c.weight_decay : 1.0f;
        const long n = (long)p->numel;
#pragma omp parallel for simd schedule(static) if (n > 32768)
        for (long k = 0; k < n; k++) {
            w[k] *= keep;
            m[k] = c.beta1 * m[k] + (1.0f - c.beta1) * g[k];
            v[k] = c.beta2 * v[k] + (1.0f - c.beta2) * g[k] * g[k];
            w[k] -= step_size * m[k] / (sqrtf(v[k]) / bc2_sqrt + c.eps);
        }
    }
}

static float timm_cosine(const ds_schedule *s, long step)
{
    if (step < s->warmup_steps)
        return (float)(s->warmup_init + (double)step * (s->lr - s->warmup_init) / (double)s->warmup_steps);
    long span = s->total_steps - s->warmup_steps;
    double t = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (t > 1.0) t = 1.0;   /* timm holds lr_min after t_initial (cycle_limit 1) */
    return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * t)));
}

/* The stage lengths and scales of a tri-stage schedule, the fallback
 * filled in for one whose tri-stage fields were left 0 (optim.h). */
static void tri_stage_shape(const ds_schedule *s, long st[3], double *init_scale, double *final_scale)
{
    if (s->final_scale > 0) {
        st[0] = s->warmup_steps, st[1] = s->hold_steps, st[2] = s->decay_steps;
        *init_scale = s->init_scale, *final_scale = s->final_scale;
        return;
    }
    st[0] = s->warmup_steps > 0 ? s->warmup_steps : 0;
    st[1] = (long)(0.4 * (double)s->total_steps);
    st[2] = s->total_steps - st[0] - st[1];
    if (st[2] < 0) st[2] = 0;
    *init_scale = 0.01, *final_scale = 0.05;
}

/* fairseq's TriStageLRSchedule.step_update(step), in double as in Python. */
static float tri_stage(const ds_schedule *s, long step)
{
    long st[3];
    double is, fs, peak = s->lr;
    tri_stage_shape(s, st, &is, &fs);
    if (step < st[0]) return (float)(peak * is + (peak - peak * is) / (double)st[0] * (double)step);
    if (step < st[0] + st[1]) return s->lr;
    long t = step - st[0] - st[1];
    /* fairseq divides by D unguarded; D = 0 leaves one step at the peak */
    double decay_factor = st[2] > 0 ? -log(fs) / (double)st[2] : 0.0;
    if (t <= st[2]) return (float)(peak * exp(-decay_factor * (double)t));
    return (float)(peak * fs);
}

int ds_schedule_tri_stage(ds_schedule *s, float lr, long max_update, const double ratio[3], double init_scale,
                          double final_scale)
{
    double sum = ratio[0] + ratio[1] + ratio[2];
    if (max_update <= 0 || ratio[0] < 0 || ratio[1] < 0 || ratio[2] < 0 || fabs(sum - 1.0) > 1e-6)
        return ds_err(DS_EINVAL, "tri-stage: phase ratios %g,%g,%g over %ld updates: expected three ratios >= 0 "
                      "adding up to 1 and at least one update", ratio[0], ratio[1], ratio[2], max_update);
    if (!(init_scale >= 0) || !(final_scale > 0) || !isfinite(init_scale) || !isfinite(final_scale))
        return ds_err(DS_EINVAL, "tri-stage: init scale %g, final scale %g: expected >= 0 and > 0", init_scale,
                      final_scale);
    memset(s, 0, sizeof *s);
    s->kind = DS_SCHED_TRI_STAGE;
    s->lr = lr;
    s->warmup_steps = (long)((double)max_update * ratio[0]);
    s->hold_steps = (long)((double)max_update * ratio[1]);
    s->decay_steps = (long)((double)max_update * ratio[2]);
    s->total_steps = max_update;
    s->init_scale = init_scale;
    s->final_scale = final_scale;
    s->min_lr = (float)((double)lr * final_scale);
    return 0;
}

float ds_schedule_lr(const ds_schedule *s, long step)
{
    if (s->kind == DS_SCHED_TIMM_COSINE) return timm_cosine(s, step);
    if (s->kind == DS_SCHED_TRI_STAGE) return tri_stage(s, step);
    if (step < s->warmup_steps) return s->lr * (float)(step + 1) / (float)s->warmup_steps;
    if (s->kind == DS_SCHED_CONSTANT) return s->lr;
    long span = s->total_steps - s->warmup_steps;
    double t = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (t > 1.0) t = 1.0;
    double f = s->kind == DS_SCHED_COSINE ? 0.5 * (1.0 + cos(M_PI * t)) : 1.0 - t;
    return (float)(s->min_lr + (s->lr - s->min_lr) * f);
}

int ds_schedule_parse(const char *name)
{
    if (!strcmp(name, "cosine")) return DS_SCHED_COSINE;
    if (!strcmp(name, "linear")) return DS_SCHED_LINEAR;
    if (!strcmp(name, "constant")) return DS_SCHED_CONSTANT;
    if (!strcmp(name, "timm-cosine")) return DS_SCHED_TIMM_COSINE;
    if (!strcmp(name, "tri-stage")) return DS_SCHED_TRI_STAGE;
    return -1;
}

const char *ds_schedule_name(int kind)
{
    static const char *const names[] = { "cosine", "linear", "constant", "timm-cosine", "tri-stage" };
    return kind >= 0 && kind <= DS_SCHED_TRI_STAGE ? names[kind] : "?";
}

static double sum_squares(const ds_params *ps)
{
    double ss = 0;
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].trainable) continue;
        const float *g = ps->grad + ps->p[i].offset;
        double a[4] = {0};
        size_t n = ps->p[i].numel, k = 0;
        for (; k + 4 <= n; k += 4)
            for (int j = 0; j < 4; j++) a[j] += (double)g[k + j] * g[k + j];
        for (; k < n; k++) a[0] += (double)g[k] * g[k];
        ss += (a[0] + a[1]) + (a[2] + a[3]);
    }
    return ss;
}

static void scale_grads(ds_params *ps, float scale)
{
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].trainable) continue;
        float *g = ps->grad + ps->p[i].offset;
        for (size_t k = 0; k < ps->p[i].numel; k++) g[k] *= scale;
    }
}

float ds_grad_clip_n(ds_params *const *ps, int n, float max_norm)
{
    double ss = 0;
    for (int t = 0; t < n; t++) ss += sum_squares(ps[t]);
    float norm = (float)sqrt(ss);
    if (max_norm > 0 && norm > max_norm)
        for (int t = 0; t < n; t++) scale_grads(ps[t], max_norm / (norm + 1e-6f));
    return norm;
}

float ds_grad_clip(ds_params *ps, float max_norm) { return ds_grad_clip_n(&ps, 1, max_norm); }
