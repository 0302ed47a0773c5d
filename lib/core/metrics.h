/* Classification metrics (derfseq.md "Metrics"): accuracy, Matthews
 * correlation (the multiclass R_K of Gorodkin 2004, as sklearn), macro F1,
 * per-class precision and recall, confusion matrix [true][predicted],
 * per-class support and the majority-class baseline. A ratio with a zero
 * denominator is 0, as sklearn's zero_division=0.
 * From the class probabilities (ds_cls_metrics_scores), one-vs-rest AUROC
 * and AUPRC per class:
 *   AUROC: the Mann-Whitney statistic with tied scores at their average
 *     rank (= sklearn roc_auc_score, ties counted one half);
 *   AUPRC: average precision, AP = sum_n (R_n - R_{n-1}) P_n over the
 *     distinct scores from the highest down (tied scores are one threshold),
 *     = sklearn average_precision_score (not the trapezoidal area).
 * Both are NaN (undefined) for a class with no positives, AUROC also for
 * one with no negatives. Summary auroc/auprc: binary, class 1 (the second
 * sorted class) is the positive one; more classes, the macro mean over the
 * classes where it is defined; NaN when none is. */
#ifndef DS_METRICS_H
#define DS_METRICS_H

#include <stddef.h>

typedef struct {
    int k;
    long n;
    long *confusion;          /* k·k, row = true class, column = predicted */
    double accuracy, mcc, macro_f1;
    double *precision, *recall, *f1;   /* k each */
    long *support;            /* k: sequences of each true class */
    int majority;             /* the most frequent true class (the first of ties) */
    double majority_accuracy; /* support[majority] / n: always predicting it */
    double auroc, auprc;      /* NaN until ds_cls_metrics_scores, or undefined */
    double *auroc_k, *auprc_k;   /* k each, one-vs-rest */
} ds_cls_metrics;

int ds_cls_metrics_compute(ds_cls_metrics *m, const int *truth, const int *pred, long n, int k);
/* Adds AUROC and AUPRC from probs [n·k] (row i: the class probabilities of
 * record i) to metrics computed on the same truth. */
int ds_cls_metrics_scores(ds_cls_metrics *m, const int *truth, const float *probs, long n);
/* Binary AUROC and average precision of score[0..n) against pos[i] (1
 * positive, 0 negative); NaN when undefined (see above). */
int ds_rank_metrics(const double *score, const unsigned char *pos, long n, double *auroc, double *ap);
void ds_cls_metrics_free(ds_cls_metrics *m);
/* The index of the largest of x[0..n) (the first of ties): a prediction. */
int ds_argmax(const float *x, int n);

/* Speech recognition error rates (derfseq.md "Metrics": CTC WER and CER): word and character
 * error rate by Levenshtein alignment, as jiwer and HF evaluate's "wer"/"cer".
 *   WER = (S + D + I) / N, N = reference words (split on whitespace);
 *   CER the same over characters: UTF-8 characters of the strings as given,
 *   spaces included (jiwer's cer; normalise both strings first with
 *   ds_transcript_normalize, which also handles case and punctuation).
 * S, D, I are those of one minimal alignment (ties prefer a substitution or
 * match, then a deletion); their sum is always the edit distance.
 * A corpus rate is total edits / total reference units (ds_edit_counts_add),
 * not the mean of per-utterance rates. */

typedef struct {
    long sub, del, ins;   /* substitutions, deletions (ref unit missing), insertions (extra hyp unit) */
    long n_ref;           /* reference words or characters */
    long n_utt;           /* utterances counted (1 after one ds_*_counts call) */
} ds_edit_counts;

/* Scratch memory grown as needed and reused across calls; zero-initialise
 * ({0}), release with ds_edit_buf_free. */
typedef struct { void *mem; size_t cap; } ds_edit_buf;
void ds_edit_buf_free(ds_edit_buf *b);

/* Counts for one utterance. buf may be NULL (a temporary is then allocated
 * and freed). Memory is O(units of ref + hyp + the shorter of the two). An
 * empty reference gives n_ref 0 and every hypothesis unit an insertion; an
 * empty hypothesis gives every reference unit a deletion. */
int ds_wer_counts(ds_edit_counts *c, const char *ref, const char *hyp, ds_edit_buf *buf);
int ds_cer_counts(ds_edit_counts *c, const char *ref, const char *hyp, ds_edit_buf *buf);
void ds_edit_counts_add(ds_edit_counts *total, const ds_edit_counts *c);
/* (S + D + I) / N; NaN when N is 0 (undefined: the caller decides what to
 * report, e.g. the insertion count). */
double ds_edit_rate(const ds_edit_counts *c);

#endif
