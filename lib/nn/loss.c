/* Softmax cross-entropy with ignore_index and PyTorch's mean reduction. The
 * loss is summed over fixed row chunks in a fixed order, so it does not
 * depend on the thread count. */
#include "nn/ops.h"
#include "nn/mathfn.h"

#include <math.h>

#define MAX_CHUNKS 1024

float ds_crossentropy_forward(float *probs, const float *logits, const int32_t *targets, int N, int V,
                              int ignore_index, long *count)
{
    double part[MAX_CHUNKS];
    long cnt[MAX_CHUNKS];
    int rows = (N + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (rows < 16) rows = 16;
    int nch = (N + rows - 1) / rows;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nch; k++) {
        double s = 0;
        long m = 0;
        for (int n = k * rows; n < N && n < (k + 1) * rows; n++) {
            const float *x = logits + (size_t)n * V;
            float *p = probs + (size_t)n * V;
            float mx = x[0], z = 0;
            for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
            for (int v = 0; v < V; v++) { p[v] = ds_expf(x[v] - mx); z += p[v]; }
            float inv = 1.0f / z;
            for (int v = 0; v < V; v++) p[v] *= inv;
            if (targets[n] != ignore_index) {
                s += (double)logf(z) + mx - x[targets[n]];
                m++;
            }
        }
        part[k] = s;
        cnt[k] = m;
    }
    double s = 0;
    long m = 0;
    for (int k = 0; k < nch; k++) { s += part[k]; m += cnt[k]; }
    if (count) *count = m;
    return m ? (float)(s / m) : 0.0f;
}

void ds_crossentropy_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V,
                              int ignore_index, long count, float dloss)
{
    if (count <= 0) return;
    float scale = dloss / (float)count;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == ignore_index) continue;
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        for (int v = 0; v < V; v++) d[v] += scale * (p[v] - (v == t ? 1.0f : 0.0f));
    }
}
