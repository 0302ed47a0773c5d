/* The norm family of norms.md §0 (Derf, DyT, LayerNorm, RMSNorm), forward and
 * backward. Parameter reductions (γ, β, α, s) run over fixed channel blocks
 * and are summed in a fixed order, so gradients do not depend on the thread
 * count. */
#include "nn/norm.h"
#include "nn/mathfn.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Channels per block in backward: 16 floats = one cache line per row. */
#define CB 16
#define MAX_BLOCKS (DS_NORM_MAX_C / CB)
#define TWO_OVER_SQRT_PI 1.12837916709551257f

static int nblocks(int C) { return (C + CB - 1) / CB; }

static DS_CLONES void derf_row(float *y, const float *x, float alpha, float shift, const float *gamma,
                               const float *beta, int C)
{
    for (int c = 0; c < C; c++) y[c] = gamma[c] * ds_erff(alpha * x[c] + shift) + beta[c];
}

void ds_derf_forward(float *out, const float *inp, float alpha, float shift, const float *gamma,
                     const float *beta, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) derf_row(out + (size_t)n * C, inp + (size_t)n * C, alpha, shift, gamma, beta, C);
}

/* One 16-channel block over all rows: per-lane accumulators, so the loop
 * vectorises without reassociating a reduction. Returns Σ dz·x and Σ dz. */
static DS_CLONES void derf_bwd_block(float *dinp, float *dgamma, float *dbeta, double *sa_out, double *ss_out,
                                     const float *dout, const float *inp, float alpha, float shift,
                                     const float *gamma, int N, int C, int c0, int w)
{
    float g[CB] = {0}, be[CB] = {0}, la[CB] = {0}, ls[CB] = {0}, dz[CB];
    const float *gm = gamma + c0;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C + c0, *dy = dout + (size_t)n * C + c0;
        for (int j = 0; j < w; j++) {
            float z = alpha * x[j] + shift;
            dz[j] = dy[j] * gm[j] * TWO_OVER_SQRT_PI * ds_expf(-z * z);
            g[j] += dy[j] * ds_erff(z);
            be[j] += dy[j];
            la[j] += dz[j] * x[j];
            ls[j] += dz[j];
        }
        if (dinp) {
            float *dx = dinp + (size_t)n * C + c0;
            for (int j = 0; j < w; j++) dx[j] += dz[j] * alpha;
        }
    }
    double sa = 0, ss = 0;
    for (int j = 0; j < w; j++) {
        if (dgamma) dgamma[c0 + j] += g[j];
        if (dbeta) dbeta[c0 + j] += be[j];
        sa += la[j];
        ss += ls[j];
    }
    *sa_out = sa;
    *ss_out = ss;
}

void ds_derf_backward(float *dinp, float *dalpha, float *dshift, float *dgamma, float *dbeta,
                      const float *dout, const float *inp, float alpha, float shift, const float *gamma,
                      int N, int C)
{
    int nb = nblocks(C);
    double pa[MAX_BLOCKS], ps[MAX_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        int c0 = b * CB, w = c0 + CB < C ? CB : C - c0;
        derf_bwd_block(dinp, dgamma, dbeta, &pa[b], &ps[b], dout, inp, alpha, shift, gamma, N, C, c0, w);
    }
    double sa = 0, ss = 0;
    for (int b = 0; b < nb; b++) { sa += pa[b]; ss += ps[b]; }
    if (dalpha) *dalpha += (float)sa;
    if (dshift) *dshift += (float)ss;
}

static DS_CLONES void dyt_row(float *y, const float *x, float alpha, const float *gamma, const float *beta, int C)
{
    for (int c = 0; c < C; c++) y[c] = gamma[c] * ds_tanhf(alpha * x[c]) + beta[c];
}

void ds_dyt_forward(float *out, const float *inp, float alpha, const float *gamma, const float *beta,
                    int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) dyt_row(out + (size_t)n * C, inp + (size_t)n * C, alpha, gamma, beta, C);
}

static DS_CLONES void dyt_bwd_block(float *dinp, float *dgamma, float *dbeta, double *sa_out, const float *dout,
                                    const float *inp, float alpha, const float *gamma, int N, int C, int c0, int w)
{
    float g[CB] = {0}, be[CB] = {0}, la[CB] = {0}, dz[CB];
    const float *gm = gamma + c0;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C + c0, *dy = dout + (size_t)n * C + c0;
        for (int j = 0; j < w; j++) {
            float t = ds_tanhf(alpha * x[j]);
            dz[j] = dy[j] * gm[j] * (1.0f - t * t);
            g[j] += dy[j] * t;
            be[j] += dy[j];
            la[j] += dz[j] * x[j];
        }
        if (dinp) {
            float *dx = dinp + (size_t)n * C + c0;
            for (int j = 0; j < w; j++) dx[j] += dz[j] * alpha;
        }
    }
    double sa = 0;
    for (int j = 0; j < w; j++) {
        if (dgamma) dgamma[c0 + j] += g[j];
        if (dbeta) dbeta[c0 + j] += be[j];
        sa += la[j];
    }
    *sa_out = sa;
}

void ds_dyt_backward(float *dinp, float *dalpha, float *dgamma, float *dbeta, const float *dout,
                     const float *inp, float alpha, const float *gamma, int N, int C)
{
    int nb = nblocks(C);
    double pa[MAX_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        int c0 = b * CB, w = c0 + CB < C ? CB : C - c0;
        dyt_bwd_block(dinp, dgamma, dbeta, &pa[b], dout, inp, alpha, gamma, N, C, c0, w);
    }
    double sa = 0;
    for (int b = 0; b < nb; b++) sa += pa[b];
    if (dalpha) *dalpha += (float)sa;
}

void ds_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                          const float *beta, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        float r = 1.0f / sqrtf(v / C + eps);
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * gamma[c] + beta[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

void ds_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                           const float *mean, const float *rstd, const float *gamma, int N, int C)
{
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float m = mean[n], r = rstd[n], s1 = 0, s2 = 0;
            for (int c = 0; c < C; c++) {
                float dn = dy[c] * gamma[c];
                s1 += dn;
                s2 += dn * (x[c] - m) * r;
            }
            s1 /= C; s2 /= C;
            for (int c = 0; c < C; c++)
                dx[c] += (dy[c] * gamma[c] - s1 - (x[c] - m) * r * s2) * r;
        }
    }
    if (!dgamma && !dbeta) return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblocks(C); b++) {
        int c0 = b * CB, c1 = c0 + CB < C ? c0 + CB : C;
        float g[CB] = {0}, be[CB] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            for (int c = c0; c < c1; c++) {
                g[c - c0] += dy[c] * (x[c] - m) * r;
                be[c - c0] += dy[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dgamma) dgamma[c] += g[c - c0];
            if (dbeta) dbeta[c] += be[c - c0];
        }
    }
}

void ds_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *gamma, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float ss = 0;
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int c = 0; c < C; c++) y[c] = x[c] * r * gamma[c];
        rstd[n] = r;
    }
}

void ds_rmsnorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp, const float *rstd,
                         const float *gamma, int N, int C)
{
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float r = rstd[n], s = 0;
            for (int c = 0; c < C; c++) s += dy[c] * gamma[c] * x[c];
            float k = r * r * r * s / C;
            for (int c = 0; c < C; c++) dx[c] += dy[c] * gamma[c] * r - x[c] * k;
        }
    }
    if (!dgamma) return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblocks(C); b++) {
        int c0 = b * CB, c1 = c0 + CB < C ? c0 + CB : C;
        float g[CB] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) g[c - c0] += dy[c] * x[c] * rstd[n];
        }
        for (int c = c0; c < c1; c++) dgamma[c] += g[c - c0];
    }
}

/* ---- one calling convention ------------------------------------------- */

static void derf_fwd(float *out, float *stats, const float *inp, const ds_norm_w *w, int N, int C, float eps)
{
    ds_derf_forward(out, inp, *w->alpha, *w->shift, w->weight, w->bias, N, C);
}
static void derf_bwd(float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                     const float *stats, const ds_norm_w *w, int N, int C, float eps)
{
    ds_derf_backward(dinp, dw->alpha, dw->shift, dw->weight, dw->bias, dout, inp, *w->alpha, *w->shift,
                     w->weight, N, C);
}
static void dyt_fwd(float *out, float *stats, const float *inp, const ds_norm_w *w, int N, int C, float eps)
{
    ds_dyt_forward(out, inp, *w->alpha, w->weight, w->bias, N, C);
}
static void dyt_bwd(float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                    const float *stats, const ds_norm_w *w, int N, int C, float eps)
{
    ds_dyt_backward(dinp, dw->alpha, dw->weight, dw->bias, dout, inp, *w->alpha, w->weight, N, C);
}
static void ln_fwd(float *out, float *stats, const float *inp, const ds_norm_w *w, int N, int C, float eps)
{
    ds_layernorm_forward(out, stats, stats + N, inp, w->weight, w->bias, N, C, eps);
}
static void ln_bwd(float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                   const float *stats, const ds_norm_w *w, int N, int C, float eps)
{
    ds_layernorm_backward(dinp, dw->weight, dw->bias, dout, inp, stats, stats + N, w->weight, N, C);
}
static void rms_fwd(float *out, float *stats, const float *inp, const ds_norm_w *w, int N, int C, float eps)
{
    ds_rmsnorm_forward(out, stats, inp, w->weight, N, C, eps);
}
static void rms_bwd(float *dinp, const ds_norm_w *dw, const float *dout, const float *inp,
                    const float *stats, const ds_norm_w *w, int N, int C, float eps)
{
    ds_rmsnorm_backward(dinp, dw->weight, dout, inp, stats, w->weight, N, C);
}

static const ds_norm_ops g_ops[] = {
    { DS_NORM_DERF, "derf", derf_fwd, derf_bwd },
    { DS_NORM_DYT, "dyt", dyt_fwd, dyt_bwd },
    { DS_NORM_LAYERNORM, "layernorm", ln_fwd, ln_bwd },
    { DS_NORM_RMSNORM, "rmsnorm", rms_fwd, rms_bwd },
};

const ds_norm_ops *ds_norm_ops_get(ds_norm_kind kind) { return &g_ops[kind]; }

int ds_norm_kind_parse(const char *name)
{
    for (size_t i = 0; i < sizeof g_ops / sizeof g_ops[0]; i++)
        if (!strcmp(name, g_ops[i].name)) return (int)g_ops[i].kind;
    return -1;
}

static int has_bias(ds_norm_kind k) { return k != DS_NORM_RMSNORM; }
static int has_alpha(ds_norm_kind k) { return k == DS_NORM_DERF || k == DS_NORM_DYT; }

int ds_norm_add_params(ds_params *ps, const char *prefix, ds_norm_kind kind, int C)
{
    char name[DS_NAME_MAX];
    int64_t shc[1] = { C }, sh1[1] = { 1 };
    int r;
    if (C < 1 || C > DS_NORM_MAX_C)
        return ds_err(DS_EINVAL, "norm '%s': %d channels, expected 1..%d", prefix, C, DS_NORM_MAX_C);
    snprintf(name, sizeof name, "%s.weight", prefix);
    if ((r = ds_params_add(ps, name, 1, shc, 0)) < 0) return r;
    if (has_bias(kind)) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        if ((r = ds_params_add(ps, name, 1, shc, 0)) < 0) return r;
    }
    if (has_alpha(kind)) {
        snprintf(name, sizeof name, "%s.alpha", prefix);
        if ((r = ds_params_add(ps, name, 1, sh1, 0)) < 0) return r;
    }
    if (kind == DS_NORM_DERF) {
        snprintf(name, sizeof name, "%s.shift", prefix);
        if ((r = ds_params_add(ps, name, 1, sh1, 0)) < 0) return r;
    }
    return 0;
}

static float *bind_one(const ds_params *ps, const char *prefix, const char *suffix, int grad)
{
    char name[DS_NAME_MAX];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    int i = ds_params_find(ps, name);
    if (i < 0) return NULL;
    return grad ? ds_params_grad(ps, i) : ds_params_data(ps, i);
}

int ds_norm_bind(ds_norm_w *w, const ds_params *ps, const char *prefix, int grad)
{
    w->weight = bind_one(ps, prefix, "weight", grad);
    w->bias = bind_one(ps, prefix, "bias", grad);
    w->alpha = bind_one(ps, prefix, "alpha", grad);
    w->shift = bind_one(ps, prefix, "shift", grad);
    if (!w->weight) return ds_err(DS_EMISMATCH, "norm '%s' has no weight", prefix);
    return 0;
}

void ds_norm_init(const ds_norm_w *w, ds_norm_kind kind, int C, float alpha_init)
{
    for (int c = 0; c < C; c++) w->weight[c] = 1.0f;
    if (w->bias) memset(w->bias, 0, (size_t)C * sizeof(float));
    if (has_alpha(kind)) *w->alpha = alpha_init;
    if (kind == DS_NORM_DERF) *w->shift = 0.0f;
}

/* ---- GroupNorm with one group per channel, over time ------------------ */

/* Mean and rstd of channels c0..c0+w−1 of utterance b, in double over t. */
static void gn_stats(float *mean, float *rstd, const float *x, int T, int C, int w, float eps)
{
    double s[CB] = {0}, v[CB] = {0}, m[CB];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < w; j++) s[j] += x[(size_t)t * C + j];
    for (int j = 0; j < w; j++) m[j] = s[j] / T;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < w; j++) {
            double d = x[(size_t)t * C + j] - m[j];
            v[j] += d * d;
        }
    for (int j = 0; j < w; j++) {
        mean[j] = (float)m[j];
        rstd[j] = (float)(1.0 / sqrt(v[j] / T + eps));
    }
}

void ds_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                          const float *beta, int B, int T, int C, float eps)
{
    int nb = nblocks(C);
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B * nb; bb++) {
        int b = bb / nb, c0 = (bb % nb) * CB, w = c0 + CB < C ? CB : C - c0;
        const float *x = inp + (size_t)b * T * C + c0;
        float *y = out + (size_t)b * T * C + c0, *m = mean + (size_t)b * C + c0, *r = rstd + (size_t)b * C + c0;
        float sc[CB], sh[CB];
        gn_stats(m, r, x, T, C, w, eps);
        for (int j = 0; j < w; j++) {
            sc[j] = r[j] * gamma[c0 + j];
            sh[j] = beta[c0 + j] - m[j] * sc[j];
        }
        for (int t = 0; t < T; t++)
            for (int j = 0; j < w; j++) y[(size_t)t * C + j] = x[(size_t)t * C + j] * sc[j] + sh[j];
    }
}

/* dx = rstd·(dn − mean_t dn − x̂·mean_t(dn·x̂)) with dn = dy·γ, x̂ = (x − mean)·rstd. */
void ds_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                           const float *mean, const float *rstd, const float *gamma, int B, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks(C); blk++) {
        int c0 = blk * CB, w = c0 + CB < C ? CB : C - c0;
        float g[CB] = {0}, be[CB] = {0};
        for (int b = 0; b < B; b++) {
            const float *x = inp + (size_t)b * T * C + c0, *dy = dout + (size_t)b * T * C + c0;
            const float *m = mean + (size_t)b * C + c0, *r = rstd + (size_t)b * C + c0;
            float s1[CB] = {0}, s2[CB] = {0};
            for (int t = 0; t < T; t++)
                for (int j = 0; j < w; j++) {
                    float xh = (x[(size_t)t * C + j] - m[j]) * r[j], d = dy[(size_t)t * C + j];
                    s1[j] += d;
                    s2[j] += d * xh;
                }
            for (int j = 0; j < w; j++) { be[j] += s1[j]; g[j] += s2[j]; }
            if (!dinp) continue;
            float *dx = dinp + (size_t)b * T * C + c0, k1[CB], k2[CB], a[CB];
            for (int j = 0; j < w; j++) {   /* the means of dn and dn·x̂ are γ·s1/T and γ·s2/T */
                a[j] = gamma[c0 + j] * r[j];
                k1[j] = s1[j] / T;
                k2[j] = s2[j] / T;
            }
            for (int t = 0; t < T; t++)
                for (int j = 0; j < w; j++) {
                    float xh = (x[(size_t)t * C + j] - m[j]) * r[j];
                    dx[(size_t)t * C + j] += a[j] * (dy[(size_t)t * C + j] - k1[j] - xh * k2[j]);
                }
        }
        for (int j = 0; j < w; j++) {
            if (dgamma) dgamma[c0 + j] += g[j];
            if (dbeta) dbeta[c0 + j] += be[j];
        }
    }
}
