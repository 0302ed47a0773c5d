/* Masked-LM inputs and targets, the Caduceus recipe (caduceus.md §2.5,
 * src/dataloaders/utils/mlm.py, adapted from the HF collator): every
 * position is selected independently with p = 0.15 (special tokens not
 * excluded); a selected position's target is its id, every other target
 * is [PAD] 4 (the ignore index); of the selected inputs 80% become [MASK],
 * half of the rest a uniformly random id from all 12 token ids (specials
 * included), the rest stay. A selected [PAD] (an N, mapped to [PAD]
 * before masking) keeps target 4 and is ignored, though its input may
 * change. The draws come from (seed, stream) alone, so a batch is the same
 * however the run was interrupted. */
#ifndef DS_MLM_H
#define DS_MLM_H

#include <stdint.h>

#define DS_MLM_PROB 0.15f
#define DS_MLM_IGNORE 4

/* inp[L], tgt[L] from ids[L]; returns the number of targets != 4. */
int ds_mlm_mask(int32_t *inp, int32_t *tgt, const int32_t *ids, int L, float prob, uint64_t seed, uint64_t stream);

#endif
