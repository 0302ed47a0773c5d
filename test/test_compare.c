/* derfseq compare at a tiny size: per norm and seed a trunk, its held-out
 * and training-mode losses, a fine-tune and its test metrics, summarised
 * with CIs and paired differences; a comparison stopped half way (here by
 * --max-jobs, as a time-sliced job would stop) continues to the same result. */
#include "test.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY "compare --model hyenadna-demo --genome testdata/lambda_virus.fa.gz --norms derf,layernorm --seeds 1,2,3 " \
             "--steps 3 --epochs 1 --eval-windows 2 --pretrain-args '--batch-size 2 --seq-len 64 --eval-every 0' "     \
             "--finetune-args '--batch-size 32 --max-length 64' -t 2 --quiet"

static char *file(const char *dir, const char *name)
{
    static char buf[4][1 << 16];
    static int k;
    k = (k + 1) % 4;
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    slurp(p, buf[k], sizeof buf[k]);
    return buf[k];
}

TEST(test_compare_runs_every_norm_and_seed_and_a_stopped_comparison_continues_to_the_same_result)
{
    char whole[600], split[600];
    snprintf(whole, sizeof whole, "%s", tmp_path("cmp_whole"));
    snprintf(split, sizeof split, "%s", tmp_path("cmp_split"));
    CHECK_EQ_INT(run(TINY " -o '%s' testdata/gb_lambda/table", whole), 0);
    const char *sum = file(whole, "summary.tsv");
    const char *head = "task\tmetric\tnorm\tn\tmean\tsd\tci95_lo\tci95_hi\tminus_layernorm\t";
    CHECK_MSG(!strncmp(sum, head, strlen(head)), "%s", sum);
    /* 2 pretraining metrics and 2 test metrics, for each of 2 norms */
    CHECK_EQ_INT(nlines(sum), 1 + 4 * 2);
    CHECK(strstr(sum, "pretrain\theldout_bits_per_base\tderf\t3\t"));
    CHECK(strstr(sum, "pretrain\ttrain_eval_bits_per_base\tlayernorm\t3\t"));
    CHECK(strstr(sum, "table\ttest_accuracy\tderf\t3\t") && strstr(sum, "table\ttest_mcc\tlayernorm\t3\t"));
    CHECK_MSG(!strcmp(g_out, sum), "stdout is not the summary: '%s'", g_out);
    CHECK_EQ_INT(nlines(file(whole, "runs.tsv")), 1 + 4 * 2 * 3);
    CHECK(strstr(file(whole, "curves.tsv"), "derf\t1\t3\theldout\t"));
    CHECK(strstr(file(whole, "curves.tsv"), "layernorm\t3\t3\ttrain_eval\t"));
    /* stopped after 4 of the 12 jobs, then continued */
    CHECK_EQ_INT(run(TINY " --max-jobs 4 -o '%s' testdata/gb_lambda/table", split), 0);
    CHECK(g_out[0] == 0);
    CHECK_EQ_INT(run(TINY " -o '%s' testdata/gb_lambda/table", split), 0);
    CHECK_MSG(!strcmp(file(split, "runs.tsv"), file(whole, "runs.tsv")), "a continued comparison differs");
    CHECK_MSG(!strcmp(file(split, "curves.tsv"), file(whole, "curves.tsv")), "continued curves differ");
    /* other settings into the same OUT would mix two comparisons */
    CHECK_ERROR(run(TINY " --steps 4 -o '%s' testdata/gb_lambda/table", split), 1, " compare", "other settings");
    CHECK_ERROR(run("compare --model hyenadna-demo --genome x.fa --norms derf,groupnorm -o o"), 2, " compare", "--norms");
}
