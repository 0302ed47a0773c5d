/* Classification metrics from a confusion matrix (metrics.h). */
#include "core/metrics.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_cls_metrics_free(ds_cls_metrics *m)
{
    free(m->confusion); free(m->precision); free(m->recall); free(m->f1);
    memset(m, 0, sizeof *m);
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

int ds_cls_metrics_compute(ds_cls_metrics *m, const int *truth, const int *pred, long n, int k)
{
    memset(m, 0, sizeof *m);
    m->k = k;
    m->n = n;
    m->confusion = calloc((size_t)k * k, sizeof *m->confusion);
    m->precision = calloc((size_t)k, sizeof(double));
    m->recall = calloc((size_t)k, sizeof(double));
    m->f1 = calloc((size_t)k, sizeof(double));
    if (!m->confusion || !m->precision || !m->recall || !m->f1) { ds_cls_metrics_free(m); return ds_err(DS_ENOMEM, "out of memory"); }
    for (long i = 0; i < n; i++) {
        if (truth[i] < 0 || truth[i] >= k || pred[i] < 0 || pred[i] >= k) {
            ds_cls_metrics_free(m);
            return ds_err(DS_EINVAL, "metrics: label outside [0, %d) at %ld", k, i);
        }
        m->confusion[truth[i] * k + pred[i]]++;
    }
    double correct = 0, sum_pt = 0, sum_p2 = 0, sum_t2 = 0, s = (double)n;
    for (int c = 0; c < k; c++) {
        double tp = (double)m->confusion[c * k + c], t = 0, p = 0;
        for (int j = 0; j < k; j++) { t += (double)m->confusion[c * k + j]; p += (double)m->confusion[j * k + c]; }
        correct += tp;
        sum_pt += p * t;
        sum_p2 += p * p;
        sum_t2 += t * t;
        m->precision[c] = ratio(tp, p);
        m->recall[c] = ratio(tp, t);
        m->f1[c] = ratio(2 * m->precision[c] * m->recall[c], m->precision[c] + m->recall[c]);
        m->macro_f1 += m->f1[c] / k;
    }
    m->accuracy = ratio(correct, s);
    double den = sqrt((s * s - sum_p2) * (s * s - sum_t2));
    m->mcc = den > 0 ? (correct * s - sum_pt) / den : 0.0;
    return 0;
}

int ds_argmax(const float *x, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (x[k] > x[best]) best = k;
    return best;
}
