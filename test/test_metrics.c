/* Classification metrics against values worked out by hand (and sklearn's
 * conventions for the edge cases). */
#include "test.h"
#include "core/metrics.h"

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
