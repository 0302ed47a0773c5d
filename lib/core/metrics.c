/* Classification metrics from a confusion matrix (metrics.h). */
#include "core/metrics.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_cls_metrics_free(ds_cls_metrics *m)
{
    free(m->confusion); free(m->precision); free(m->recall); free(m->f1);
    free(m->support); free(m->auroc_k); free(m->auprc_k);
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
    m->support = calloc((size_t)k, sizeof *m->support);
    m->auroc_k = malloc((size_t)k * sizeof(double));
    m->auprc_k = malloc((size_t)k * sizeof(double));
    m->auroc = m->auprc = NAN;
    if (!m->confusion || !m->precision || !m->recall || !m->f1 || !m->support || !m->auroc_k || !m->auprc_k) { ds_cls_metrics_free(m); return ds_err(DS_ENOMEM, "out of memory"); }
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
        m->support[c] = (long)t;
        if (m->support[c] > m->support[m->majority]) m->majority = c;
        m->auroc_k[c] = m->auprc_k[c] = NAN;
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
    m->majority_accuracy = ratio((double)m->support[m->majority], s);
    double den = sqrt((s * s - sum_p2) * (s * s - sum_t2));
    m->mcc = den > 0 ? (correct * s - sum_pt) / den : 0.0;
    return 0;
}

/* ---- Ranking metrics (metrics.h) ---- */

typedef struct { double s; unsigned char pos; } scored;

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x > y ? -1 : x < y;
}

int ds_rank_metrics(const double *score, const unsigned char *pos, long n, double *auroc, double *ap)
{
    *auroc = *ap = NAN;
    scored *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    if (!v) return ds_err(DS_ENOMEM, "out of memory ranking %ld scores", n);
    long np = 0;
    for (long i = 0; i < n; i++) { v[i] = (scored){ score[i], pos[i] != 0 }; np += v[i].pos; }
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    /* tie groups from the highest score down: a group of g records holds
     * ranks (from the bottom) n - i - g + 1 .. n - i, average n - i - (g - 1) / 2 */
    double rank_sum = 0, sum_ap = 0, tp = 0, fp = 0;
    for (long i = 0; i < n;) {
        long j = i, gp = 0;
        while (j < n && v[j].s == v[i].s) gp += v[j++].pos;
        long g = j - i;
        rank_sum += (double)gp * ((double)(n - i) - 0.5 * (double)(g - 1));
        tp += (double)gp;
        fp += (double)(g - gp);
        if (gp) sum_ap += (double)gp / (double)np * tp / (tp + fp);   /* (R_n - R_{n-1}) P_n */
        i = j;
    }
    free(v);
    long nn = n - np;
    if (np > 0) *ap = sum_ap;
    if (np > 0 && nn > 0) *auroc = (rank_sum - 0.5 * (double)np * (double)(np + 1)) / ((double)np * (double)nn);
    return 0;
}

/* The macro mean of the defined entries of x[0..k); NaN if none is. */
static double macro_defined(const double *x, int k)
{
    double s = 0;
    int n = 0;
    for (int c = 0; c < k; c++)
        if (!isnan(x[c])) { s += x[c]; n++; }
    return n ? s / n : NAN;
}

int ds_cls_metrics_scores(ds_cls_metrics *m, const int *truth, const float *probs, long n)
{
    int k = m->k;
    double *score = malloc(sizeof *score * (size_t)(n > 0 ? n : 1));
    unsigned char *pos = malloc((size_t)(n > 0 ? n : 1));
    int e = score && pos ? 0 : ds_err(DS_ENOMEM, "out of memory for %ld scores", n);
    for (int c = 0; !e && c < k; c++) {
        for (long i = 0; i < n; i++) {
            score[i] = (double)probs[i * k + c];
            pos[i] = truth[i] == c;
        }
        e = ds_rank_metrics(score, pos, n, &m->auroc_k[c], &m->auprc_k[c]);
    }
    free(score);
    free(pos);
    if (e) return e;
    m->auroc = k == 2 ? m->auroc_k[1] : macro_defined(m->auroc_k, k);
    m->auprc = k == 2 ? m->auprc_k[1] : macro_defined(m->auprc_k, k);
    return 0;
}

int ds_argmax(const float *x, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (x[k] > x[best]) best = k;
    return best;
}

/* ---- Word and character error rates (metrics.h) ---- */

typedef struct { long off; long len; } span;        /* one word or character of a string */
typedef struct { long s, x, y; } cell;              /* subs, a-unit unmatched, b-unit unmatched */

void ds_edit_buf_free(ds_edit_buf *b)
{
    free(b->mem);
    b->mem = NULL;
    b->cap = 0;
}

static int buf_reserve(ds_edit_buf *b, size_t bytes)
{
    if (bytes <= b->cap) return 0;
    void *p = realloc(b->mem, bytes);
    if (!p) return ds_err(DS_ENOMEM, "out of memory");
    b->mem = p;
    b->cap = bytes;
    return 0;
}

static int is_ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Bytes in the UTF-8 character at s; a malformed byte counts as one. */
static long utf8_char_len(const unsigned char *s)
{
    long n = *s < 0x80 ? 1 : (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 1;
    for (long k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 1;
    return n;
}

/* Splits s into words (words != 0) or characters; with out NULL it only
 * counts. */
static long split(const char *str, int words, span *out)
{
    const unsigned char *s = (const unsigned char *)str;
    long n = 0, i = 0;
    while (s[i]) {
        long len;
        if (words) {
            if (is_ws(s[i])) { i++; continue; }
            for (len = 0; s[i + len] && !is_ws(s[i + len]); len++) {}
        } else {
            len = utf8_char_len(s + i);
        }
        if (out) out[n] = (span){ i, len };
        n++;
        i += len;
    }
    return n;
}

static int same(const char *a, span p, const char *b, span q)
{
    return p.len == q.len && !memcmp(a + p.off, b + q.off, (size_t)p.len);
}

/* Levenshtein over a[0..na) × b[0..nb) with two rows of nb + 1 cells; the
 * result is the cell of the full alignment. */
static cell align(const char *as, const span *a, long na, const char *bs, const span *b, long nb, cell *prev, cell *cur)
{
    for (long j = 0; j <= nb; j++) prev[j] = (cell){ 0, 0, j };
    for (long i = 1; i <= na; i++) {
        cur[0] = (cell){ 0, i, 0 };
        for (long j = 1; j <= nb; j++) {
            cell d = prev[j - 1], u = prev[j], l = cur[j - 1];
            if (!same(as, a[i - 1], bs, b[j - 1])) d.s++;
            u.x++;
            l.y++;
            long cd = d.s + d.x + d.y, cu = u.s + u.x + u.y, cl = l.s + l.x + l.y;
            cur[j] = cd <= cu && cd <= cl ? d : cu <= cl ? u : l;
        }
        cell *t = prev; prev = cur; cur = t;
    }
    return prev[nb];
}

static int edit_counts(ds_edit_counts *c, const char *ref, const char *hyp, int words, ds_edit_buf *buf)
{
    memset(c, 0, sizeof *c);
    ds_edit_buf local = { 0 };
    if (!buf) buf = &local;
    long nr = split(ref, words, NULL), nh = split(hyp, words, NULL);
    int ref_outer = nr >= nh;                 /* rows run over the shorter sequence */
    long nb = ref_outer ? nh : nr;
    size_t bytes = (size_t)(nr + nh) * sizeof(span) + 2 * (size_t)(nb + 1) * sizeof(cell);
    if (buf_reserve(buf, bytes)) return DS_ENOMEM;
    span *rs = buf->mem, *hs = rs + nr;
    cell *rows = (cell *)(hs + nh);
    split(ref, words, rs);
    split(hyp, words, hs);
    cell r = ref_outer ? align(ref, rs, nr, hyp, hs, nh, rows, rows + nb + 1)
                       : align(hyp, hs, nh, ref, rs, nr, rows, rows + nb + 1);
    c->sub = r.s;
    c->del = ref_outer ? r.x : r.y;
    c->ins = ref_outer ? r.y : r.x;
    c->n_ref = nr;
    c->n_utt = 1;
    ds_edit_buf_free(&local);
    return 0;
}

int ds_wer_counts(ds_edit_counts *c, const char *ref, const char *hyp, ds_edit_buf *buf)
{
    return edit_counts(c, ref, hyp, 1, buf);
}

int ds_cer_counts(ds_edit_counts *c, const char *ref, const char *hyp, ds_edit_buf *buf)
{
    return edit_counts(c, ref, hyp, 0, buf);
}

void ds_edit_counts_add(ds_edit_counts *total, const ds_edit_counts *c)
{
    total->sub += c->sub;
    total->del += c->del;
    total->ins += c->ins;
    total->n_ref += c->n_ref;
    total->n_utt += c->n_utt;
}

double ds_edit_rate(const ds_edit_counts *c)
{
    return c->n_ref > 0 ? (double)(c->sub + c->del + c->ins) / (double)c->n_ref : NAN;
}
