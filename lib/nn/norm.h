/* The norm family of norms.md §0: Derf, DyT, LayerNorm, RMSNorm over the last
 * axis of [N, C]. State-dict names: weight (γ), bias (β), alpha (α, [1]),
 * shift (s, [1], Derf only). A model picks its kind once from the config
 * (ds_norm_ops_get) and calls through the table; no branching per element. */
#ifndef DS_NORM_H
#define DS_NORM_H

#include "../core/arena.h"

typedef enum { DS_NORM_DERF, DS_NORM_DYT, DS_NORM_LAYERNORM, DS_NORM_RMSNORM } ds_norm_kind;

#define DS_NORM_EPS 1e-5f
#define DS_NORM_ALPHA_INIT 0.5f
/* Widest norm: backward keeps one partial sum per 16 channels on the stack. */
#define DS_NORM_MAX_C 32768

/* Pointers into a parameter (or gradient) block; unused ones are NULL. */
typedef struct { float *weight, *bias, *alpha, *shift; } ds_norm_w;

/* y = γ·erf(α·x + s) + β */
void ds_derf_forward(float *out, const float *inp, float alpha, float shift, const float *gamma,
                     const float *beta, int N, int C);
void ds_derf_backward(float *dinp, float *dalpha, float *dshift, float *dgamma, float *dbeta,
                      const float *dout, const float *inp, float alpha, float shift, const float *gamma,
                      int N, int C);
/* y = γ·tanh(α·x) + β */
void ds_dyt_forward(float *out, const float *inp, float alpha, const float *gamma, const float *beta,
                    int N, int C);
void ds_dyt_backward(float *dinp, float *dalpha, float *dgamma, float *dbeta, const float *dout,
                     const float *inp, float alpha, const float *gamma, int N, int C);
/* y = γ·(x−mean)/sqrt(var+eps) + β, biased var; mean[N] and rstd[N] saved for backward */
void ds_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                          const float *beta, int N, int C, float eps);
void ds_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                           const float *mean, const float *rstd, const float *gamma, int N, int C);
/* y = γ·x/sqrt(mean(x²)+eps); rstd[N] saved */
void ds_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *gamma, int N, int C, float eps);
void ds_rmsnorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp, const float *rstd,
                         const float *gamma, int N, int C);

/* ---- GroupNorm(num_groups = C, C) on time-major [B, T, C] (wav2vec2 conv
 * layer 0, "group" mode, spec §3.1): per (b, c) normalise over t with the
 * biased variance and eps, then γ[c], β[c]. mean[B·C], rstd[B·C] (index
 * b·C + c) are saved for backward. Backward accumulates; NULL skips a
 * gradient; dγ, dβ sum over b in order (thread-count independent). */
void ds_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                          const float *beta, int B, int T, int C, float eps);
void ds_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                           const float *mean, const float *rstd, const float *gamma, int B, int T, int C);

/* One calling convention for all four. `stats` is 2·N floats of scratch
 * written by forward and read by backward (unused by Derf/DyT). */
typedef struct {
    ds_norm_kind kind;
    const char *name;     /* "derf", "dyt", "layernorm", "rmsnorm" */
    void (*forward)(float *out, float *stats, const float *inp, const ds_norm_w *w, int N, int C, float eps);
    void (*backward)(float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                     const float *stats, const ds_norm_w *w, int N, int C, float eps);
} ds_norm_ops;

const ds_norm_ops *ds_norm_ops_get(ds_norm_kind kind);
/* "derf" → DS_NORM_DERF; returns -1 for an unknown name. */
int ds_norm_kind_parse(const char *name);

/* Registers <prefix>.weight, .bias (not for RMSNorm), .alpha (Derf, DyT),
 * .shift (Derf) in `ps`, all without weight decay; returns 0 or DS_E*. */
int ds_norm_add_params(ds_params *ps, const char *prefix, ds_norm_kind kind, int C);
/* Pointers to those tensors in the data block (grad = 0) or grad block (grad = 1). */
int ds_norm_bind(ds_norm_w *w, const ds_params *ps, const char *prefix, int grad);
/* γ = 1, β = 0, α = alpha_init, s = 0 (norms.md init). */
void ds_norm_init(const ds_norm_w *w, ds_norm_kind kind, int C, float alpha_init);

#endif
