/* What eval reports for a GenomicBenchmarks classifier: AUROC/AUPRC, the
 * majority-class baseline, support and the class list in the JSON; n/a for
 * an undefined AUROC; a suite that goes on past a broken dataset; --split
 * valid rebuilding finetune's own validation split; --labels for integer
 * labels; and prediction ids of one form (<class>/<id>) in every layout. */
#include "test.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GB "testdata/gb_lambda"
#define LAMBDA "testdata/lambda_virus.fa.gz"

/* A 2-epoch fine-tune on the tree layout (20% validation), made once. */
static const char *run_dir(void)
{
    static char dir[600];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/gb_run", ds_test_tmpdir());
        CHECK_EQ_INT(run("finetune --model hyenadna-demo --norm layernorm --task gb --lr 3e-3 --epochs 2 --batch-size 16 "
                         "--val-fraction 0.2 -t 2 --quiet " GB "/tree -o '%s'", dir), 0);
    }
    return dir;
}

static const char *best(void)
{
    static char p[700];
    snprintf(p, sizeof p, "%s/best.safetensors", run_dir());
    return p;
}

static double json_number(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);   /* indented (--json) or compact (log.jsonl) */
    const char *p = strstr(text, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
}

TEST(test_eval_classifier_json_has_auroc_baseline_support_and_classes)
{
    CHECK_EQ_INT(run("eval --from '%s' --json - --quiet " GB "/tree", best()), 0);
    /* 20 test sequences per class: the majority baseline is 0.5 (the first class of the tie) */
    CHECK_NEAR(json_number(g_out, "majority_baseline"), 0.5, 1e-12);
    CHECK(strstr(g_out, "\"majority_class\": \"left_arm\""));
    double auroc = json_number(g_out, "auroc"), auprc = json_number(g_out, "auprc");
    CHECK_MSG(auroc > 0 && auroc <= 1 && auprc > 0 && auprc <= 1, "auroc %g auprc %g", auroc, auprc);
    CHECK(strstr(g_out, "\"support\": 20"));
    const char *cls = strstr(g_out, "\"classes\": [");
    CHECK_MSG(cls && strstr(cls, "\"left_arm\"") && strstr(cls, "\"confusion\""), "%s", g_out);   /* classes, then confusion */
    /* the table: the baseline beside accuracy, AUROC/AUPRC, the support column */
    CHECK_EQ_INT(run("eval --from '%s' --quiet " GB "/tree", best()), 0);
    CHECK_MSG(strstr(g_out, "\naccuracy\t") && strstr(g_out, "\nmajority_baseline\t0.500000\nmajority_class\tleft_arm\n") &&
              strstr(g_out, "\nauroc\t0.") && strstr(g_out, "\nauprc\t0.") &&
              strstr(g_out, "class\tsupport\tprecision\trecall\tf1\tauroc\tauprc\nleft_arm\t20\t"), "%s", g_out);
}

TEST(test_eval_classifier_auroc_of_a_split_without_a_class_is_null_and_na)
{
    const char *d = tmp_path("gb_one_class");
    sh("mkdir -p '%s/test' && cp -r " GB "/tree/train " GB "/tree/test/left_arm '%s/test/'", d, d);
    sh("mv '%s/test/train' '%s/'", d, d);
    CHECK_EQ_INT(run("eval --from '%s' --json - --quiet '%s'", best(), d), 0);
    CHECK_MSG(strstr(g_out, "\"auroc\": null") && strstr(g_out, "\"auprc\": null") &&
              json_number(g_out, "majority_baseline") == 1.0, "%s", g_out);
    CHECK_EQ_INT(run("eval --from '%s' --quiet '%s'", best(), d), 0);
    CHECK_MSG(strstr(g_out, "\nauroc\tn/a\nauprc\tn/a\n") && strstr(g_out, "\nright_arm\t0\t"), "%s", g_out);
}

TEST(test_eval_suite_goes_on_past_a_broken_dataset_with_a_status_column)
{
    const char *runs = tmp_path("suite_runs"), *data = tmp_path("suite_data");
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/good' '%s/broken' '%s' && cp '%s' '%s/good/' && cp '%s' '%s/broken/' && "
                              "ln -sfn \"$PWD/" GB "/tree\" '%s/good' && mkdir -p '%s/broken/test'",
             runs, runs, data, best(), runs, best(), runs, data, data);
    CHECK_EQ_INT(system(cmd), 0);
    int rc = run("eval --from '%s' --quiet --json '%s/suite.json' '%s'", runs, data, data);
    CHECK_EQ_INT(rc, 1);
    CHECK_MSG(nlines(g_err) == 1 && strstr(g_err, "derfseq eval: 1 of 2 datasets failed (the first: broken"), "%s", g_err);
    CHECK_MSG(!strncmp(g_out, "dataset\tn\taccuracy\tmajority_baseline\tmcc\tmacro_f1\tauroc\tauprc\tstatus\n", 69) &&
              nlines(g_out) == 3, "%s", g_out);
    const char *b = strstr(g_out, "\nbroken\tn/a\t"), *g = strstr(g_out, "\ngood\t40\t");
    CHECK_MSG(b && strstr(b, "\terror: ") && strstr(b, "broken: not a GenomicBenchmarks dataset"), "%s", g_out);
    CHECK_MSG(g && strstr(g, "\tok\n"), "%s", g_out);
    static char js[1 << 14];
    char p[700];
    snprintf(p, sizeof p, "%s/suite.json", data);
    slurp(p, js, sizeof js);
    CHECK_MSG(strstr(js, "\"status\": \"error\"") && strstr(js, "\"status\": \"ok\"") && strstr(js, "\"auroc\""), "%s", js);
}

TEST(test_eval_split_valid_rebuilds_the_runs_validation_split)
{
    char log[700], val[700], pred[700];
    snprintf(log, sizeof log, "%s/log.jsonl", run_dir());
    snprintf(val, sizeof val, "%s/validation.tsv", run_dir());
    snprintf(pred, sizeof pred, "%s/valid_pred.tsv", ds_test_tmpdir());
    static char text[1 << 16], ids[1 << 14];
    slurp(log, text, sizeof text);
    double want = json_number(text, "best_val_accuracy");
    /* finetune's validation accuracy of best.safetensors, recomputed from the rebuilt split (DATA optional) */
    CHECK_EQ_INT(run("eval --from '%s' --split valid --json - --quiet --predictions '%s'", best(), pred), 0);
    CHECK_MSG(json_number(g_out, "n") == 24 && json_number(g_out, "accuracy") == want, "want %g: %s", want, g_out);
    /* the same records, in the order of validation.tsv */
    char cmd[4000];
    snprintf(cmd, sizeof cmd, "tail -n +2 '%s' | cut -f1,2 > '%s.ids' && tail -n +2 '%s' | cmp -s - '%s.ids'", pred, pred,
             val, pred);
    slurp(val, ids, sizeof ids);
    CHECK_MSG(system(cmd) == 0, "--predictions ids/classes differ from validation.tsv:\n%s", ids);
    CHECK_EQ_INT(run("eval --from '%s' --split valid --quiet " GB "/tree", best()), 0);
    /* another DATA, a checkpoint outside its run, a validation.tsv that disagrees */
    CHECK_ERROR(run("eval --from '%s' --split valid --quiet " GB "/table", best()), 1, " eval", "is not the data of the run");
    char lone[600];
    snprintf(lone, sizeof lone, "%s", tmp_path("lone"));
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", lone, best(), lone);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_ERROR(run("eval --from '%s/best.safetensors' --split valid --quiet", lone), 1, " eval",
                "has no run config to rebuild its validation split from");
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/' && printf 'id\\tclass\\nleft_arm/x\\tleft_arm\\n' > "
                              "'%s/validation.tsv'", run_dir(), lone, lone);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_ERROR(run("eval --from '%s/best.safetensors' --split valid --quiet", lone), 1, " eval",
                "validation.tsv:2: 'left_arm/x' is not the record");
}

/* The tree's test split as a table with integer labels (left_arm 0,
 * right_arm 1) and, with ids, an id column of the file stems. */
static const char *int_table(const char *name, int with_ids)
{
    const char *d = tmp_path(name);
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd " GB "/tree/test && { echo '%ssequence,label'; for f in */*.txt; do "
             "c=${f%%%%/*}; s=${f#*/}; l=0; [ $c = right_arm ] && l=1; %s; done; } "
             "> \"%s/test.csv\" && cp \"%s/test.csv\" \"%s/train.csv\"",
             d, with_ids ? "id," : "",
             with_ids ? "printf '%s,%s,%s\\n' \"${s%.txt}\" \"$(cat $f)\" $l" : "printf '%s,%s\\n' \"$(cat $f)\" $l",
             d, d, d);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    return d;
}

TEST(test_eval_and_finetune_labels_name_integer_labels)
{
    const char *t = int_table("gb_int", 0);
    char d[600];
    snprintf(d, sizeof d, "%s", t);
    CHECK_ERROR(run("eval --from '%s' --quiet '%s'", best(), d), 1, " eval", "label '0' is not one of the model's classes");
    CHECK_EQ_INT(run("eval --from '%s' --labels 0=left_arm,1=right_arm --json - --quiet '%s'", best(), d), 0);
    CHECK_MSG(json_number(g_out, "n") == 40 && strstr(g_out, "\"support\": 20"), "%s", g_out);
    CHECK_ERROR(run("eval --from '%s' --labels 0=left_arm --quiet '%s'", best(), d), 1, " eval",
                "label '1' has no name in the label map (--labels)");
    CHECK_ERROR(run("eval --from '%s' --labels 0 --quiet '%s'", best(), d), 2, " eval", "--labels: expected RAW=NAME");
    CHECK_ERROR(run("eval --from '%s' --labels 0=a,1=a --quiet '%s'", best(), d), 2, " eval", "--labels: ");
    /* finetune keeps the map (config.json, the checkpoint's task.labels): eval then needs no --labels */
    const char *r = tmp_path("gb_int_run");
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 20 --labels 0=negative,1=positive "
                     "-t 2 --quiet '%s' -o '%s'", d, r), 0);
    char pred[700];
    snprintf(pred, sizeof pred, "%s/pred.tsv", r);
    CHECK_EQ_INT(run("eval --from '%s/best.safetensors' --predictions '%s' --quiet '%s'", r, pred, d), 0);
    CHECK_MSG(strstr(g_out, "class\tsupport") && strstr(g_out, "\nnegative\t20\t") && strstr(g_out, "\npositive\t20\t"), "%s",
              g_out);
    static char tsv[1 << 16];
    slurp(pred, tsv, sizeof tsv);
    CHECK_MSG(!strncmp(tsv, "id\ttrue\tpredicted\tp_negative\tp_positive\n", 40) && strstr(tsv, "\nnegative/2\tnegative\t"),
              "%.200s", tsv);
    CHECK_EQ_INT(run("eval --from '%s/best.safetensors' --split valid --quiet", r), 0);   /* the map is in config.json too */
    CHECK_ERROR(run("finetune --model hyenadna-demo --task gb --labels x=y,z -o '%s' --quiet '%s'", tmp_path("x"), d), 2,
                " finetune", "--labels: expected RAW=NAME");
}

/* The sorted id<TAB>true column pairs of a --predictions file. */
static void sorted_ids(const char *pred, char *out, size_t cap)
{
    char cmd[4000], p[1700];
    snprintf(p, sizeof p, "%s.ids", pred);
    snprintf(cmd, sizeof cmd, "tail -n +2 '%s' | cut -f1,2 | LC_ALL=C sort > '%s'", pred, p);
    CHECK_EQ_INT(system(cmd), 0);
    slurp(p, out, cap);
}

TEST(test_eval_prediction_ids_are_class_slash_id_in_every_layout)
{
    static char want[1 << 14], got[1 << 14];
    char pred[700];
    snprintf(pred, sizeof pred, "%s/ids_pred.tsv", ds_test_tmpdir());
    CHECK_EQ_INT(run("eval --from '%s' --predictions '%s' --quiet " GB "/tree", best(), pred), 0);
    sorted_ids(pred, want, sizeof want);
    CHECK_MSG(strstr(want, "left_arm/left_arm_60\tleft_arm\n") && nlines(want) == 40, "%s", want);
    CHECK_EQ_INT(run("eval --from '%s' --ref " LAMBDA " --predictions '%s' --quiet " GB "/coords", best(), pred), 0);
    sorted_ids(pred, got, sizeof got);
    CHECK_MSG(!strcmp(got, want), "coords ids differ from tree ids:\n%s", got);
    /* a table with an id column gives the same ids; without one, <class>/<line> */
    const char *t = int_table("gb_int_ids", 1);
    CHECK_EQ_INT(run("eval --from '%s' --labels 0=left_arm,1=right_arm --predictions '%s' --quiet '%s'", best(), pred, t), 0);
    sorted_ids(pred, got, sizeof got);
    CHECK_MSG(!strcmp(got, want), "table ids differ from tree ids:\n%s", got);
    CHECK_EQ_INT(run("eval --from '%s' --predictions '%s' --quiet " GB "/table", best(), pred), 0);
    sorted_ids(pred, got, sizeof got);
    CHECK_MSG(strstr(got, "left_arm/2\tleft_arm\n") && strstr(got, "right_arm/41\tright_arm\n"), "%s", got);
}
