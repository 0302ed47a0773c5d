/* The speech side of pretrain, eval and embed (wav2vec2.md §3, derfseq.md
 * "Audio"): the utterances of the inputs with their lengths at 16 kHz,
 * fairseq-style batches by total samples with cropping, the time masks,
 * negatives and Gumbel noise of a step, and the fixed-seed evaluation of
 * the pretraining losses. */
#ifndef DS_CMD_SPEECH_H
#define DS_CMD_SPEECH_H

#include <jansson.h>
#include <stdint.h>

#include "io/speech_data.h"
#include "wav2vec2.h"

typedef struct {
    ds_speech_list list;
    long *len;               /* samples at 16 kHz of utterance i (probed, not decoded) */
    long *keep;              /* the utterances long enough to use, in list order */
    long n;                  /* how many */
    long n_short;            /* left out: shorter than min_samples */
    float **cache;           /* decoded audio, while it fits in the cache budget */
    long cached_samples, cache_budget;
} ds_speech_set;

/* Lists the inputs (ds_speech_open) and probes every file's length; an
 * utterance shorter than min_samples is left out and counted (fairseq's
 * min_sample_size), an unreadable file is an error naming it.
 * cache_budget: decoded samples kept in memory (0: decode every time). */
int ds_speech_set_open(ds_speech_set *s, char *const *inputs, int n, long min_samples, long cache_budget);
/* The samples of kept utterance k (k < s->n): *x stays valid until the
 * next call or ds_speech_set_free; *owned says the caller frees it. */
int ds_speech_set_get(ds_speech_set *s, long k, float **x, long *n, int *owned);
const char *ds_speech_set_id(const ds_speech_set *s, long k);
/* The transcript of kept utterance k as listed (not normalised); NULL when it has none (or k is out of range). */
const char *ds_speech_set_text(const ds_speech_set *s, long k);
void ds_speech_set_free(ds_speech_set *s);

/* One epoch's batches, fairseq's way: utterances ordered by length (ties in
 * a seeded random order), packed so that count × min(longest, crop) ≤
 * max_tokens (and count ≤ max_batch), then the batches shuffled. */
typedef struct {
    long *order;             /* kept-utterance indices, batch after batch */
    long *start;             /* [nb + 1] into order */
    long nb;
} ds_speech_plan;

int ds_speech_plan_make(ds_speech_plan *p, const ds_speech_set *s, long max_tokens, long crop, long max_batch,
                        uint64_t seed, long epoch);
void ds_speech_plan_free(ds_speech_plan *p);

/* The data order of a step-counted speech run: epoch e's plan is a function
 * of (seed, e), and every epoch has the same number of batches (the packing
 * depends only on the sorted lengths), so the count of batches drawn alone
 * is the position (what state.safetensors keeps as "draws"). */
typedef struct {
    ds_speech_plan plan;     /* of `epoch`; plan.nb = 0 before the first */
    long epoch;
    long max_tokens, crop, max_batch;
    uint64_t seed;
} ds_speech_order;

void ds_speech_order_init(ds_speech_order *o, long max_tokens, long crop, long max_batch, uint64_t seed);
/* Makes epoch 0's plan if there is none yet; *made says it did (the caller
 * then sizes its model for ds_speech_order_extent). */
int ds_speech_order_ready(ds_speech_order *o, const ds_speech_set *s, int *made);
/* The utterances of batch `draw` (0-based over the whole run). */
int ds_speech_order_at(ds_speech_order *o, const ds_speech_set *s, uint64_t draw, const long **idx, int *n);
/* The most utterances in a batch, and the longest utterance (at most crop). */
void ds_speech_order_extent(const ds_speech_order *o, const ds_speech_set *s, long *B, long *S);
void ds_speech_order_free(ds_speech_order *o);

/* A batch cropped to one length, as fairseq's collater without padding:
 * S = min(shortest utterance, crop) and a random window of S samples from
 * each longer one, drawn from (seed, draw). */
typedef struct {
    int B;
    long S;
    float *buf;              /* [B·S] */
    const float **wave;      /* [B] rows of buf */
    long *ns;                /* [B], all S */
    long cap, nmax;
} ds_speech_batch;

int ds_speech_batch_fill(ds_speech_batch *b, ds_speech_set *s, const long *idx, int n, long crop, uint64_t seed,
                         uint64_t draw);
/* The utterances whole (CTC fine-tuning: a transcript covers all of its
 * audio): row i holds ns[i] samples, rows are S = the longest apart. */
int ds_speech_batch_fill_whole(ds_speech_batch *b, ds_speech_set *s, const long *idx, int n);
void ds_speech_batch_free(ds_speech_batch *b);

/* The time mask, negatives and (train) Gumbel noise of one forward of m
 * on a batch of utterances with frames lens[B]: mask [B·T], neg and gumbel
 * sized for every frame masked. Returns the masked-frame count or an
 * error (an utterance too short for two masked frames). */
typedef struct {
    uint8_t *mask;
    int32_t *neg;
    float *gumbel;
    long cap;
} ds_w2v_draws;

int ds_w2v_draw(ds_w2v_draws *d, const ds_model *m, const int *lens, int B, int T, int train, uint64_t seed,
                uint64_t step);
void ds_w2v_draws_free(ds_w2v_draws *d);

/* The pretraining losses of m on a set in eval mode (no dropout, hard codes,
 * fixed masks and negatives from seed), each utterance alone and cropped
 * to its first `crop` samples; parts weighted by masked frames. */
typedef struct {
    double loss, contrastive, diversity, feature_pen, prob_perplexity, code_perplexity, accuracy;
    long masked, utterances, samples;
} ds_speech_eval;

int ds_speech_evaluate(ds_model *m, ds_speech_set *s, long crop, uint64_t seed, ds_speech_eval *r);
/* {"loss", "loss_bits" (fairseq's logged number: bits per masked frame),
 *  "contrastive", "diversity", "feature_pen", "prob_perplexity",
 *  "code_perplexity", "accuracy", "masked_frames", "utterances", "seconds"}
 * with each key prefixed by prefix ("" or "val_"). */
json_t *ds_speech_eval_json(const ds_speech_eval *r, const char *prefix);

/* The default crop: fairseq's max_sample_size for Base, 250,000 samples. */
#define DS_SPEECH_CROP 250000L

#endif
