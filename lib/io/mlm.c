/* Masked-LM masking (mlm.h). */
#include "io/mlm.h"
#include "core/rng.h"
#include "io/tokenizer.h"

int ds_mlm_mask(int32_t *inp, int32_t *tgt, const int32_t *ids, int L, float prob, uint64_t seed, uint64_t stream)
{
    ds_rng r;
    ds_rng_init(&r, seed, stream);
    int n = 0;
    for (int t = 0; t < L; t++) {
        /* four draws per position whatever the outcome: position t's fate
         * does not depend on the positions before it */
        float sel = ds_rng_uniform(&r), mask = ds_rng_uniform(&r), rnd = ds_rng_uniform(&r);
        int32_t id = (int32_t)ds_rng_below(&r, DS_TOK_VOCAB);
        inp[t] = ids[t];
        tgt[t] = DS_MLM_IGNORE;
        if (sel >= prob) continue;
        tgt[t] = ids[t];
        n += ids[t] != DS_MLM_IGNORE;
        if (mask < 0.8f) inp[t] = DS_TOK_MASK;
        else if (rnd < 0.5f) inp[t] = id;
    }
    return n;
}
