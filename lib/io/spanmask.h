/* Random draws of wav2vec2 pretraining (spec §3.3, §3.6, §3.7): the time
 * mask, the negatives of the contrastive loss and the Gumbel noise of the
 * quantizer. Each comes from the counter RNG of core/rng.h on its own stream
 * (a tag xor the step), so a (seed, step) pair reproduces it exactly on any
 * thread count, and resuming a run at step s redraws what step s drew. */
#ifndef DS_SPANMASK_H
#define DS_SPANMASK_H

#include <stdint.h>

#define DS_SPANMASK_STREAM 0x5350414E00000000ull  /* "SPAN" ^ step */
#define DS_NEGATIVES_STREAM 0x4E45475300000000ull /* "NEGS" ^ step */
#define DS_GUMBEL_STREAM 0x47554D4200000000ull    /* "GUMB" ^ step */

/* mask [B, T_max] (row b, frame t; 1 = masked) as fairseq's
 * compute_mask_indices with mask_type "static", no_overlap False,
 * require_same_masks True, idc_select_ver 1, mask_dropout 0, given a padding
 * mask (utterance b has T_b[b] <= T_max valid frames):
 *   num_mask = max(min_masks, int(mask_prob·sz/mask_length + U[0,1))) with sz = T_b[b];
 *   starts: num_mask distinct values of range(sz − mask_length), or of
 *     range(num_mask + 1) when sz − mask_length <= num_mask (fairseq's small-sz rule);
 *   each start s masks s..s+mask_length−1, frames >= sz dropped (spans may overlap);
 *   then every row keeps a uniformly random subset, of the size of the
 *   smallest row's masked count, of its masked frames.
 * Padded frames (t >= T_b[b]) are never masked. Returns that common per-row
 * count (>= 0; the batch has B times as many masked frames), or DS_EINVAL
 * (with a message) for mask_prob outside [0, 1], mask_length < 1,
 * min_masks < 0, B < 1 or a T_b outside [0, T_max].
 * Deviations from fairseq: the random numbers are Philox's, not numpy's, so
 * the same seed gives other masks (same distribution); the U of num_mask is
 * drawn per utterance even when no frame is padded (fairseq draws one for the
 * batch when it gets no padding mask; with require_same_masks the rows end
 * equal either way); a row with num_mask 0 (min_masks 0) is left empty where
 * fairseq would fail. */
int ds_span_mask(uint8_t *mask, const int *T_b, int B, int T_max, float mask_prob, int mask_length,
                 int min_masks, uint64_t seed, uint64_t step);

/* Negatives of the contrastive loss (spec §3.7). The M masked frames
 * (mask[b·T_max + t] != 0 with t < T_b[b]; others are ignored) are numbered
 * in (b, t) order; neg [M, K] gets, for frame m of utterance b, K row numbers
 * of OTHER masked frames of the same utterance, uniform with replacement:
 * j ~ U{0..M_b−2}, j += (j >= own index within b). Returns M (neg untouched
 * if 0), or DS_EINVAL (with a message) when an utterance has exactly one
 * masked frame (it has no other frame to draw; utterances without masked
 * frames are fine) or K < 1; neg is then unspecified. */
int ds_sample_negatives(int32_t *neg, const uint8_t *mask, const int *T_b, int B, int T_max, int K,
                        uint64_t seed, uint64_t step);

/* g[i] = −log(E_i), E_i = −log(U_i) ~ Exp(1), U_i = (w_i + 0.5)/2^32 in (0, 1)
 * strictly from the i-th 32-bit Philox word, so neither log sees 0 and every
 * g lies in [−3.2, 23]; the draws are Gumbel(0, 1), mean ≈ 0.5772. Element i
 * depends only on (seed, step, i). */
void ds_gumbel_noise(float *g, long n, uint64_t seed, uint64_t step);

#endif
