/* AdamW with decoupled weight decay (PyTorch semantics), learning-rate
 * schedules and global gradient-norm clipping, generic over a ds_params
 * table: decay is applied only to tensors whose `decay` flag is set, and
 * buffers (trainable = 0) are never touched. */
#ifndef DS_OPTIM_H
#define DS_OPTIM_H

#include "../core/arena.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
} ds_adamw_cfg;

#define DS_ADAMW_DEFAULTS ((ds_adamw_cfg){ .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f })

typedef struct {
    ds_adamw_cfg cfg;
    float *m, *v;        /* same size and offsets as the parameter block */
    size_t total;
    long step;           /* optimizer steps taken */
} ds_adamw;

int ds_adamw_init(ds_adamw *opt, const ds_params *ps, ds_adamw_cfg cfg);
/* One update of every trainable tensor with learning rate lr. */
void ds_adamw_step(ds_adamw *opt, ds_params *ps, float lr);
void ds_adamw_free(ds_adamw *opt);

/* COSINE, LINEAR, CONSTANT: derfseq's, a linear ramp from lr/warmup to lr
 * over the warm-up, then the decay to min_lr. TIMM_COSINE: the official
 * HyenaDNA/Caduceus hg38 schedule, timm's CosineLRScheduler with
 * warmup_prefix stepped once per optimizer step (step_update(global_step)):
 * a ramp from warmup_init to lr, then a cosine from lr to min_lr over the
 * remaining total − warmup steps. TRI_STAGE: fairseq's tri_stage, the
 * wav2vec 2.0 fine-tuning schedule (ds_schedule_tri_stage). */
typedef enum { DS_SCHED_COSINE, DS_SCHED_LINEAR, DS_SCHED_CONSTANT, DS_SCHED_TIMM_COSINE, DS_SCHED_TRI_STAGE } ds_sched_kind;
typedef struct {
    ds_sched_kind kind;
    float lr;            /* peak */
    float min_lr;        /* floor reached at total_steps (cosine, linear) */
    long warmup_steps;
    long total_steps;
    float warmup_init;   /* TIMM_COSINE: the lr of step 0 (official 1e-6) */
    /* TRI_STAGE only (an initializer that leaves them 0 gets the fallback
     * below): the hold and decay stage lengths, the first lr as a fraction
     * of lr (fairseq init_lr_scale) and the last (final_lr_scale, > 0). */
    long hold_steps, decay_steps;
    double init_scale, final_scale;
} ds_schedule;

/* The learning rate for optimizer step `step` (0-based: fairseq's
 * num_updates before that update; fairseq sets init_lr at construction and
 * step_update(num_updates) after each update, so update u runs at
 * step_update(u)). TRI_STAGE, with W, H, D the stage lengths, peak = lr:
 *   u < W:           peak·init_scale + u·peak·(1 − init_scale)/W
 *   u < W + H:       peak
 *   u <= W + H + D:  peak·exp(ln(final_scale)·(u − W − H)/D)
 *   after:           peak·final_scale.
 * A TRI_STAGE schedule with final_scale <= 0 (one built by an initializer
 * that knows only the common fields, as the DNA commands' are) means
 * W = warmup_steps, H = 40% of total_steps, D = the rest, scales 0.01 and
 * 0.05: wav2vec 2.0's 10/40/50 shape when the warm-up is 10%. */
float ds_schedule_lr(const ds_schedule *s, long step);
/* fairseq's tri_stage with phase_ratio over max_update updates:
 * W, H, D = int(max_update·ratio[i]) (in double, as Python does), the
 * ratios >= 0 summing to 1; init_scale >= 0 (fairseq's default 0.01),
 * final_scale > 0 (wav2vec 2.0 fine-tuning: 0.05). min_lr is set to the
 * final lr. DS_EINVAL for values outside those ranges. */
int ds_schedule_tri_stage(ds_schedule *s, float lr, long max_update, const double ratio[3], double init_scale,
                          double final_scale);
int ds_schedule_parse(const char *name);   /* "cosine" → DS_SCHED_COSINE; -1 if unknown */
const char *ds_schedule_name(int kind);

/* The global L2 norm of every trainable gradient, computed in double. When
 * max_norm > 0 and the norm exceeds it, gradients are scaled by
 * max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Returns the
 * norm before clipping. */
float ds_grad_clip(ds_params *ps, float max_norm);
/* The same over several tables (an encoder and its task head): one global norm. */
float ds_grad_clip_n(ds_params *const *ps, int n, float max_norm);

#endif
