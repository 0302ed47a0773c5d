/* Classification metrics (derfseq.md "Metrics"): accuracy, Matthews
 * correlation (the multiclass R_K of Gorodkin 2004, as sklearn), macro F1,
 * per-class precision and recall, confusion matrix [true][predicted]. A
 * ratio with a zero denominator is 0, as sklearn's zero_division=0. */
#ifndef DS_METRICS_H
#define DS_METRICS_H

typedef struct {
    int k;
    long n;
    long *confusion;          /* k·k, row = true class, column = predicted */
    double accuracy, mcc, macro_f1;
    double *precision, *recall, *f1;   /* k each */
} ds_cls_metrics;

int ds_cls_metrics_compute(ds_cls_metrics *m, const int *truth, const int *pred, long n, int k);
void ds_cls_metrics_free(ds_cls_metrics *m);
/* The index of the largest of x[0..n) (the first of ties): a prediction. */
int ds_argmax(const float *x, int n);

#endif
