/* Masked-LM masking (lib/io/mlm.c) against the Caduceus recipe's rates:
 * 15% selected, of those 80% [MASK], 10% a random id from all 12, 10%
 * kept; [PAD] never a target; the same (seed, stream) the same masks. */
#include "test.h"
#include "io/mlm.h"
#include "io/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPOS 200000

/* |observed − expected| within 5 binomial standard deviations */
static void check_rate(const char *what, long k, long n, double p)
{
    double sd = sqrt(n * p * (1 - p));
    CHECK_MSG(fabs((double)k - n * p) <= 5 * sd + 1, "%s: %ld of %ld, expected %.4f of them", what, k, n, p);
}

TEST(test_mlm_mask_follows_the_caduceus_rates)
{
    int32_t *ids = malloc(sizeof(int32_t) * NPOS), *inp = malloc(sizeof(int32_t) * NPOS), *tgt = malloc(sizeof(int32_t) * NPOS);
    for (int i = 0; i < NPOS; i++) ids[i] = DS_TOK_A + i % 4;
    int n = ds_mlm_mask(inp, tgt, ids, NPOS, DS_MLM_PROB, 7, 3);
    long sel = 0, masked = 0, kept = 0, other = 0, seen[DS_TOK_VOCAB] = {0};
    for (int i = 0; i < NPOS; i++) {
        if (tgt[i] == DS_MLM_IGNORE) { CHECK(inp[i] == ids[i]); continue; }
        CHECK(tgt[i] == ids[i]);
        sel++;
        if (inp[i] == DS_TOK_MASK) masked++;
        else if (inp[i] == ids[i]) kept++;
        else other++;
        if (inp[i] >= 0 && inp[i] < DS_TOK_VOCAB) seen[inp[i]]++;
    }
    CHECK_EQ_INT(n, sel);
    check_rate("selected", sel, NPOS, 0.15);
    /* a random replacement can draw [MASK] or the id itself: 1/12 each */
    check_rate("[MASK]", masked, sel, 0.8 + 0.1 / 12);
    check_rate("kept", kept, sel, 0.1 + 0.1 / 12);
    check_rate("random", other, sel, 0.1 * 10 / 12);
    for (int v = 0; v < DS_TOK_VOCAB; v++) CHECK_MSG(seen[v] > 0, "no random replacement drew id %d", v);
    free(ids); free(inp); free(tgt);
}

TEST(test_mlm_pad_positions_are_never_targets)
{
    int32_t ids[4000], inp[4000], tgt[4000];
    for (int i = 0; i < 4000; i++) ids[i] = i % 2 ? DS_TOK_PAD : DS_TOK_G;
    int n = ds_mlm_mask(inp, tgt, ids, 4000, DS_MLM_PROB, 1, 1);
    long inputs_changed = 0;
    for (int i = 0; i < 4000; i++) {
        if (ids[i] == DS_TOK_PAD) {
            CHECK(tgt[i] == DS_MLM_IGNORE);
            inputs_changed += inp[i] != DS_TOK_PAD;   /* as the official code: input may still change */
        }
    }
    CHECK(n > 0);
    CHECK(inputs_changed > 0);
}

TEST(test_mlm_masks_depend_only_on_seed_and_stream)
{
    int32_t ids[512], a[512], ta[512], b[512], tb[512];
    for (int i = 0; i < 512; i++) ids[i] = DS_TOK_A + (i * 7) % 4;
    ds_mlm_mask(a, ta, ids, 512, DS_MLM_PROB, 5, 9);
    ds_mlm_mask(b, tb, ids, 512, DS_MLM_PROB, 5, 9);
    CHECK(!memcmp(a, b, sizeof a) && !memcmp(ta, tb, sizeof ta));
    ds_mlm_mask(b, tb, ids, 512, DS_MLM_PROB, 5, 10);
    CHECK(memcmp(ta, tb, sizeof ta) != 0);
    /* a prefix is masked as the whole: position t's draws do not depend on L */
    ds_mlm_mask(b, tb, ids, 100, DS_MLM_PROB, 5, 9);
    CHECK(!memcmp(a, b, 100 * sizeof *a) && !memcmp(ta, tb, 100 * sizeof *ta));
}
