/* Classification metrics against values worked out by hand (and sklearn's
 * conventions for the edge cases); WER/CER against jiwer's documented
 * examples and hand-counted alignments. */
#include "test.h"
#include "core/metrics.h"
#include "io/char_vocab.h"

#include <stdlib.h>
#include <string.h>

TEST(test_metrics_binary_match_hand_computed_values)
{
    /* tp 3, fn 1, fp 2, tn 4 (class 1 positive): acc 0.7, MCC (12-2)/sqrt(5*5*4*6) */
    int t[10] = { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, p[10] = { 1, 1, 1, 0, 1, 1, 0, 0, 0, 0 };
    ds_cls_metrics m;
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, p, 10, 2), 0);
    CHECK_NEAR(m.accuracy, 0.7, 1e-12);
    CHECK_NEAR(m.mcc, 10.0 / sqrt(5.0 * 5 * 4 * 6), 1e-12);
    CHECK_NEAR(m.precision[1], 0.6, 1e-12);
    CHECK_NEAR(m.recall[1], 0.75, 1e-12);
    CHECK_NEAR(m.precision[0], 0.8, 1e-12);
    CHECK_NEAR(m.recall[0], 4.0 / 6, 1e-12);
    CHECK_NEAR(m.macro_f1, 0.5 * (2 * 0.6 * 0.75 / 1.35 + 2 * 0.8 * (4.0 / 6) / (0.8 + 4.0 / 6)), 1e-12);
    CHECK(m.confusion[1 * 2 + 0] == 1 && m.confusion[0 * 2 + 1] == 2);
    ds_cls_metrics_free(&m);
}

TEST(test_metrics_mcc_edge_cases_follow_sklearn)
{
    ds_cls_metrics m;
    int t[4] = { 0, 1, 0, 1 }, all0[4] = { 0, 0, 0, 0 }, inv[4] = { 1, 0, 1, 0 };
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, t, 4, 2), 0);
    CHECK_NEAR(m.mcc, 1.0, 1e-12);
    ds_cls_metrics_free(&m);
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, inv, 4, 2), 0);
    CHECK_NEAR(m.mcc, -1.0, 1e-12);
    ds_cls_metrics_free(&m);
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, all0, 4, 2), 0);   /* one predicted class: MCC 0, not NaN */
    CHECK_NEAR(m.mcc, 0.0, 0);
    CHECK_NEAR(m.precision[1], 0.0, 0);
    ds_cls_metrics_free(&m);
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, all0, all0, 4, 2), 0);  /* one true class */
    CHECK_NEAR(m.mcc, 0.0, 0);
    CHECK_NEAR(m.accuracy, 1.0, 0);
    ds_cls_metrics_free(&m);
    /* three classes: c = 3, s = 6, true counts (2,2,2), predicted (3,1,2): (3·6 − 12) / √((36 − 14)(36 − 12)) */
    int t3[6] = { 0, 1, 2, 0, 1, 2 }, p3[6] = { 0, 2, 1, 0, 0, 2 };
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t3, p3, 6, 3), 0);
    CHECK_NEAR(m.accuracy, 0.5, 1e-12);
    CHECK_NEAR(m.mcc, 6.0 / sqrt(22.0 * 24), 1e-12);   /* 0.2611, as sklearn matthews_corrcoef */
    ds_cls_metrics_free(&m);
    int bad[1] = { 3 };
    CHECK(ds_cls_metrics_compute(&m, bad, bad, 1, 2) < 0);
}

TEST(test_metrics_support_and_majority_baseline)
{
    /* true counts (class 0: 6, class 1: 4): always predicting class 0 scores 0.6 */
    int t[10] = { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, p[10] = { 1, 1, 1, 0, 1, 1, 0, 0, 0, 0 };
    ds_cls_metrics m;
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, p, 10, 2), 0);
    CHECK(m.support[0] == 6 && m.support[1] == 4);
    CHECK_EQ_INT(m.majority, 0);
    CHECK_NEAR(m.majority_accuracy, 0.6, 1e-12);
    CHECK(isnan(m.auroc) && isnan(m.auprc));   /* no scores given yet */
    ds_cls_metrics_free(&m);
    int tie[4] = { 1, 1, 0, 0 };               /* a tie: the first class */
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, tie, tie, 4, 2), 0);
    CHECK(m.majority == 0 && m.majority_accuracy == 0.5);
    ds_cls_metrics_free(&m);
}

TEST(test_metrics_auroc_and_average_precision_with_ties_by_hand)
{
    /* positives 0.9 0.8 0.6 0.4, negatives 0.8 0.4 0.2 (two tied pairs).
     * AUROC = P(pos > neg) + P(tie)/2 over the 12 pairs:
     *   0.9: 3; 0.8: 2 + 0.5; 0.6: 2; 0.4: 1 + 0.5  -> 9 / 12 = 0.75.
     * AP, thresholds from the top (a tie group is one threshold):
     *   0.9 tp1 fp0 P 1   dR 1/4; 0.8 tp2 fp1 P 2/3 dR 1/4;
     *   0.6 tp3 fp1 P 3/4 dR 1/4; 0.4 tp4 fp2 P 2/3 dR 1/4; 0.2 no positive
     *   -> (1 + 2/3 + 3/4 + 2/3) / 4 = 37/48 = 0.7708 (sklearn average_precision_score) */
    double s[7] = { 0.9, 0.8, 0.8, 0.6, 0.4, 0.4, 0.2 };
    unsigned char pos[7] = { 1, 1, 0, 1, 0, 1, 0 };
    double auc, ap;
    CHECK_EQ_INT(ds_rank_metrics(s, pos, 7, &auc, &ap), 0);
    CHECK_NEAR(auc, 0.75, 1e-12);
    CHECK_NEAR(ap, 37.0 / 48, 1e-12);
    /* the order of the input does not matter */
    double r[7] = { 0.2, 0.4, 0.8, 0.6, 0.4, 0.8, 0.9 };
    unsigned char rpos[7] = { 0, 1, 0, 1, 0, 1, 1 };
    CHECK_EQ_INT(ds_rank_metrics(r, rpos, 7, &auc, &ap), 0);
    CHECK_NEAR(auc, 0.75, 1e-12);
    CHECK_NEAR(ap, 37.0 / 48, 1e-12);
    /* all scores tied: AUROC 1/2, AP = the positive share */
    double flat[4] = { 0.5, 0.5, 0.5, 0.5 };
    unsigned char fpos[4] = { 1, 0, 0, 0 };
    CHECK_EQ_INT(ds_rank_metrics(flat, fpos, 4, &auc, &ap), 0);
    CHECK_NEAR(auc, 0.5, 1e-12);
    CHECK_NEAR(ap, 0.25, 1e-12);
    /* no positives: both undefined; no negatives: AUROC undefined, AP 1 */
    unsigned char none[4] = { 0, 0, 0, 0 }, all[4] = { 1, 1, 1, 1 };
    CHECK_EQ_INT(ds_rank_metrics(s, none, 4, &auc, &ap), 0);
    CHECK(isnan(auc) && isnan(ap));
    CHECK_EQ_INT(ds_rank_metrics(s, all, 4, &auc, &ap), 0);
    CHECK(isnan(auc) && ap == 1.0);
}

TEST(test_metrics_scores_binary_positive_is_class_1_and_absent_class_is_undefined)
{
    /* class-1 probabilities 0.9 0.8 0.8 0.6 0.4 0.4 0.2, as above: 0.75 and 37/48 */
    int t[7] = { 1, 1, 0, 1, 0, 1, 0 };
    float pr[14];
    const float p1[7] = { 0.9f, 0.8f, 0.8f, 0.6f, 0.4f, 0.4f, 0.2f };
    int pred[7];
    for (int i = 0; i < 7; i++) { pr[2 * i] = 1.0f - p1[i]; pr[2 * i + 1] = p1[i]; pred[i] = p1[i] > 0.5f; }
    ds_cls_metrics m;
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, pred, 7, 2), 0);
    CHECK_EQ_INT(ds_cls_metrics_scores(&m, t, pr, 7), 0);
    CHECK_NEAR(m.auroc, 0.75, 1e-6);
    CHECK_NEAR(m.auprc, 37.0 / 48, 1e-6);
    CHECK_NEAR(m.auroc_k[0], 0.75, 1e-6);   /* one-vs-rest of the other class: the same ranks reversed */
    ds_cls_metrics_free(&m);
    /* only class 0 in the split: class 1's AUROC and AP are undefined, and so the summary */
    int t0[7] = { 0 };
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t0, pred, 7, 2), 0);
    CHECK_EQ_INT(ds_cls_metrics_scores(&m, t0, pr, 7), 0);
    CHECK(isnan(m.auroc) && isnan(m.auprc) && isnan(m.auroc_k[0]) && m.auprc_k[0] == 1.0);
    ds_cls_metrics_free(&m);
}

TEST(test_metrics_scores_multiclass_macro_over_the_classes_present)
{
    /* truth 0 0 1 1, class 2 absent. One-vs-rest:
     *   class 0 scores 0.6 0.3 | 0.2 0.3: pairs 2 + (1 + 0.5) -> 3.5/4 = 0.875;
     *     AP: 0.6 (tp1 P 1), then tie 0.3 (tp2 fp1 P 2/3): (1 + 2/3)/2 = 5/6
     *   class 1 scores 0.7 0.5 | 0.3 0.3: 1, AP 1
     *   class 2: no positives, undefined, left out of the macro mean
     *   -> AUROC (0.875 + 1)/2 = 0.9375, AUPRC (5/6 + 1)/2 = 11/12 */
    int t[4] = { 0, 0, 1, 1 }, pred[4] = { 0, 2, 1, 1 };
    float pr[12] = { 0.6f, 0.3f, 0.1f, 0.3f, 0.3f, 0.4f, 0.2f, 0.7f, 0.1f, 0.3f, 0.5f, 0.2f };
    ds_cls_metrics m;
    CHECK_EQ_INT(ds_cls_metrics_compute(&m, t, pred, 4, 3), 0);
    CHECK_EQ_INT(ds_cls_metrics_scores(&m, t, pr, 4), 0);
    CHECK_NEAR(m.auroc_k[0], 0.875, 1e-6);
    CHECK_NEAR(m.auprc_k[0], 5.0 / 6, 1e-6);
    CHECK(isnan(m.auroc_k[2]) && isnan(m.auprc_k[2]) && m.support[2] == 0);
    CHECK_NEAR(m.auroc, 0.9375, 1e-6);
    CHECK_NEAR(m.auprc, 11.0 / 12, 1e-6);
    ds_cls_metrics_free(&m);
}

static ds_edit_counts wer(const char *ref, const char *hyp)
{
    ds_edit_counts c;
    CHECK_EQ_INT(ds_wer_counts(&c, ref, hyp, NULL), 0);
    return c;
}

TEST(test_metrics_wer_hello_world_vs_hello_duck_is_one_half)
{
    ds_edit_counts c = wer("hello world", "hello duck");   /* jiwer's README example */
    CHECK_EQ_INT(c.sub, 1);
    CHECK_EQ_INT(c.del + c.ins, 0);
    CHECK_EQ_INT(c.n_ref, 2);
    CHECK_EQ_INT(c.n_utt, 1);
    CHECK_NEAR(ds_edit_rate(&c), 0.5, 0);
}

TEST(test_metrics_wer_counts_substitutions_deletions_insertions)
{
    ds_edit_counts c = wer("a b c d", "a c d");
    CHECK(c.sub == 0 && c.del == 1 && c.ins == 0 && c.n_ref == 4);
    c = wer("a b c", "a b x c y");
    CHECK(c.sub == 0 && c.del == 0 && c.ins == 2 && c.n_ref == 3);
    c = wer("the cat sat on the mat", "the bat sat the mat too");   /* cat→bat, on deleted, too inserted */
    CHECK(c.sub == 1 && c.del == 1 && c.ins == 1 && c.n_ref == 6);
    CHECK_NEAR(ds_edit_rate(&c), 0.5, 1e-15);
    ds_edit_counts r = wer("the bat sat the mat too", "the cat sat on the mat");   /* swapped: D and I swap */
    CHECK(r.sub == 1 && r.del == 1 && r.ins == 1 && r.n_ref == 6);
    c = wer("a b", "c d e f g");   /* longer hypothesis: rows run over the reference */
    CHECK(c.sub == 2 && c.del == 0 && c.ins == 3 && c.n_ref == 2);
    c = wer("  a \t b\n", "a b");   /* words split on any whitespace */
    CHECK(c.sub + c.del + c.ins == 0 && c.n_ref == 2);
}

TEST(test_metrics_wer_empty_hypothesis_is_all_deletions)
{
    ds_edit_counts c = wer("a b c", "");
    CHECK(c.sub == 0 && c.del == 3 && c.ins == 0 && c.n_ref == 3);
    CHECK_NEAR(ds_edit_rate(&c), 1.0, 0);
}

TEST(test_metrics_wer_empty_reference_counts_insertions_and_has_no_rate)
{
    ds_edit_counts c = wer("", "a b");
    CHECK(c.sub == 0 && c.del == 0 && c.ins == 2 && c.n_ref == 0 && c.n_utt == 1);
    CHECK(isnan(ds_edit_rate(&c)));
    c = wer("", "");
    CHECK(c.sub + c.del + c.ins == 0 && c.n_ref == 0);
    CHECK(isnan(ds_edit_rate(&c)));
}

TEST(test_metrics_wer_of_normalised_text_ignores_case_and_punctuation_keeps_apostrophes)
{
    char r[64], h[64];
    ds_transcript_normalize("Hello, world!  Don't stop.", r);
    ds_transcript_normalize("hello world don\xE2\x80\x99t STOP", h);
    ds_edit_counts c = wer(r, h);
    CHECK_EQ_INT(c.sub + c.del + c.ins, 0);
    CHECK_EQ_INT(c.n_ref, 4);
    ds_transcript_normalize("dont stop", h);   /* the apostrophe is part of the word */
    c = wer(r, h);
    CHECK_EQ_INT(c.sub, 1);
}

TEST(test_metrics_corpus_wer_is_total_edits_over_total_words_not_mean_of_ratios)
{
    const char *ref[2] = { "a", "a b c d" }, *hyp[2] = { "b", "a b c d" };
    ds_edit_counts total = { 0 }, c;
    ds_edit_buf buf = { 0 };
    double mean = 0;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(ds_wer_counts(&c, ref[i], hyp[i], &buf), 0);
        ds_edit_counts_add(&total, &c);
        mean += ds_edit_rate(&c) / 2;
    }
    CHECK_NEAR(mean, 0.5, 1e-15);                 /* (1/1 + 0/4) / 2 */
    CHECK_NEAR(ds_edit_rate(&total), 0.2, 1e-15);  /* 1 / 5 */
    CHECK(total.n_ref == 5 && total.n_utt == 2 && total.sub == 1);
    CHECK_EQ_INT(ds_wer_counts(&c, "", "x y z", &buf), 0);   /* an empty reference still adds its insertions */
    ds_edit_counts_add(&total, &c);
    CHECK_NEAR(ds_edit_rate(&total), 4.0 / 5, 1e-15);
    ds_edit_buf_free(&buf);
}

TEST(test_metrics_cer_counts_characters_including_spaces)
{
    ds_edit_counts c;
    CHECK_EQ_INT(ds_cer_counts(&c, "hello world", "hello duck", NULL), 0);   /* jiwer.cer: 5/11 */
    CHECK_EQ_INT(c.n_ref, 11);
    CHECK_EQ_INT(c.sub + c.del + c.ins, 5);
    CHECK_NEAR(ds_edit_rate(&c), 5.0 / 11, 1e-15);
    CHECK_EQ_INT(ds_cer_counts(&c, "ab", "a b", NULL), 0);   /* a missing space is an edit */
    CHECK(c.ins == 1 && c.sub == 0 && c.del == 0 && c.n_ref == 2);
    CHECK_EQ_INT(ds_cer_counts(&c, "caf\xC3\xA9", "cafe", NULL), 0);   /* UTF-8 characters, not bytes */
    CHECK(c.sub == 1 && c.del == 0 && c.ins == 0 && c.n_ref == 4);
}

TEST(test_metrics_cer_of_long_transcripts_uses_two_rows_not_a_matrix)
{
    enum { N = 3000 };
    char *a = malloc(N + 1), *b = malloc(N + 1);
    for (int i = 0; i < N; i++) { a[i] = (char)('A' + i % 26); b[i] = i % 100 == 7 ? '#' : a[i]; }
    a[N] = b[N] = 0;
    ds_edit_buf buf = { 0 };
    ds_edit_counts c;
    CHECK_EQ_INT(ds_cer_counts(&c, a, b, &buf), 0);
    CHECK(c.sub == N / 100 && c.del == 0 && c.ins == 0 && c.n_ref == N);
    CHECK_MSG(buf.cap < 1000000, "scratch %zu bytes for %d characters: quadratic?", buf.cap, N);   /* a matrix: > 100 MB */
    size_t cap = buf.cap;
    CHECK_EQ_INT(ds_cer_counts(&c, "ab", "b", &buf), 0);   /* a smaller call reuses the buffer */
    CHECK(buf.cap == cap && c.del == 1);
    ds_edit_buf_free(&buf);
    free(a);
    free(b);
}
