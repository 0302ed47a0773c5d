/* Mamba's selective scan, forward and backward (ops.h "scan.c").
 *
 * One (sequence, channel) pair is one independent recurrence over L steps
 * with an N-wide state kept in a local array. Forward stores the state at
 * every chunk start; backward walks the chunks last to first, recomputes the
 * chunk's states from its checkpoint, then runs the adjoint recurrence
 *   G_t = dy_t·C_t + exp(Δ_{t+1}A) ⊙ G_{t+1}
 * backwards through it. Gradients that sum over channels (dBm, dCm) or over
 * sequences (dA_log, dD, ddt_bias) go through per-sequence partial sums in
 * the scratch block, added in a fixed order: the result does not depend on
 * how OpenMP splits the work. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>
#include <string.h>

float ds_softplusf(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

static int nchunks(int L) { return (L + DS_SCAN_CHUNK - 1) / DS_SCAN_CHUNK; }

size_t ds_scan_ckpt_floats(int B, int L, int E, int N) { return (size_t)B * nchunks(L) * E * N; }

/* per sequence: dA_log [E, N], dD [E], ddt_bias [E] */
size_t ds_scan_scratch_floats(int B, int L, int E, int N)
{
    (void)L;
    return (size_t)B * ((size_t)E * N + 2 * (size_t)E);
}

static float silu_(float x) { return x / (1.0f + expf(-x)); }

void ds_selective_scan_forward(float *y, float *ckpt, const float *u, const float *dt, const float *dt_bias,
                               const float *A_log, const float *Bm, const float *Cm, const float *D,
                               const float *z, int B, int L, int E, int N)
{
    int nc = nchunks(L);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int e = 0; e < E; e++) {
            float A[DS_SCAN_MAX_N], s[DS_SCAN_MAX_N];
            for (int n = 0; n < N; n++) { A[n] = -expf(A_log[(size_t)e * N + n]); s[n] = 0.0f; }
            for (int t = 0; t < L; t++) {
                size_t r = (size_t)b * L + t, i = r * E + e;
                if (ckpt && t % DS_SCAN_CHUNK == 0)
                    memcpy(ckpt + (((size_t)b * nc + t / DS_SCAN_CHUNK) * E + e) * N, s, sizeof(float) * N);
                float delta = ds_softplusf(dt[i] + dt_bias[e]), x = u[i], acc = 0.0f;
                const float *bt = Bm + r * N, *ct = Cm + r * N;
                for (int n = 0; n < N; n++) {
                    s[n] = ds_expf(delta * A[n]) * s[n] + delta * bt[n] * x;
                    acc += s[n] * ct[n];
                }
                y[i] = (acc + D[e] * x) * silu_(z[i]);
            }
        }
}

void ds_selective_scan_backward(float *du, float *ddt, float *ddt_bias, float *dA_log, float *dBm, float *dCm,
                                float *dD, float *dz, const float *dy, const float *ckpt, float *scratch,
                                const float *u, const float *dt, const float *dt_bias, const float *A_log,
                                const float *Bm, const float *Cm, const float *D, const float *z, int B, int L,
                                int E, int N)
{
    int nc = nchunks(L);
    size_t per = (size_t)E * N + 2 * (size_t)E;
    memset(scratch, 0, sizeof(float) * per * B);
    /* one thread per sequence: dBm/dCm rows of a sequence are summed over
     * its channels in channel order by that thread alone */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *pA = scratch + per * b, *pD = pA + (size_t)E * N, *pbias = pD + E;
        for (int e = 0; e < E; e++) {
            float A[DS_SCAN_MAX_N], G[DS_SCAN_MAX_N], anext[DS_SCAN_MAX_N];
            float S[DS_SCAN_CHUNK + 1][DS_SCAN_MAX_N];
            for (int n = 0; n < N; n++) { A[n] = -expf(A_log[(size_t)e * N + n]); G[n] = 0.0f; anext[n] = 0.0f; }
            for (int c = nc - 1; c >= 0; c--) {
                int t0 = c * DS_SCAN_CHUNK, t1 = t0 + DS_SCAN_CHUNK < L ? t0 + DS_SCAN_CHUNK : L;
                /* S[k] = state before step t0 + k, S[k + 1] after it */
                memcpy(S[0], ckpt + (((size_t)b * nc + c) * E + e) * N, sizeof(float) * N);
                for (int t = t0; t < t1; t++) {
                    size_t r = (size_t)b * L + t, i = r * E + e;
                    float delta = ds_softplusf(dt[i] + dt_bias[e]), x = u[i];
                    const float *bt = Bm + r * N;
                    for (int n = 0; n < N; n++)
                        S[t - t0 + 1][n] = ds_expf(delta * A[n]) * S[t - t0][n] + delta * bt[n] * x;
                }
                for (int t = t1 - 1; t >= t0; t--) {
                    size_t r = (size_t)b * L + t, i = r * E + e;
                    float v = dt[i] + dt_bias[e], delta = ds_softplusf(v), x = u[i];
                    const float *bt = Bm + r * N, *ct = Cm + r * N, *sp = S[t - t0], *st = S[t - t0 + 1];
                    float zz = z[i], sg = sigmoidf_(zz), g = zz * sg;
                    float acc = 0.0f;
                    for (int n = 0; n < N; n++) acc += st[n] * ct[n];
                    float yv = acc + D[e] * x;
                    float dout = dy[i], dyv = dout * g;
                    if (dz) dz[i] += dout * yv * sg * (1.0f + zz * (1.0f - sg));
                    float ddelta = 0.0f, dx = dyv * D[e];
                    pD[e] += dyv * x;
                    for (int n = 0; n < N; n++) {
                        float a = ds_expf(delta * A[n]);
                        G[n] = dyv * ct[n] + anext[n] * G[n];
                        anext[n] = a;
                        if (dCm) dCm[r * N + n] += dyv * st[n];
                        float da = G[n] * sp[n];
                        ddelta += da * a * A[n] + G[n] * bt[n] * x;
                        pA[(size_t)e * N + n] += da * a * delta * A[n];
                        if (dBm) dBm[r * N + n] += G[n] * delta * x;
                        dx += G[n] * delta * bt[n];
                    }
                    if (du) du[i] += dx;
                    float dv = ddelta * sigmoidf_(v);
                    if (ddt) ddt[i] += dv;
                    pbias[e] += dv;
                }
            }
        }
    }
    for (int b = 0; b < B; b++) {
        const float *pA = scratch + per * b, *pD = pA + (size_t)E * N, *pbias = pD + E;
        if (dA_log) for (size_t k = 0; k < (size_t)E * N; k++) dA_log[k] += pA[k];
        for (int e = 0; e < E; e++) {
            if (dD) dD[e] += pD[e];
            if (ddt_bias) ddt_bias[e] += pbias[e];
        }
    }
}
