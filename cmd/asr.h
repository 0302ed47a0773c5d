/* The speech-recognition side of eval and finetune (wav2vec2.md §3.8,
 * derfseq.md "Metrics": CTC WER and CER): a CTC model's greedy transcripts
 * of a ds_speech_set, scored against the set's transcripts with the
 * LibriSpeech normalisation, word and character error counts and the mean
 * CTC loss. */
#ifndef DS_CMD_ASR_H
#define DS_CMD_ASR_H

#include "cmd/speech.h"
#include "core/metrics.h"

typedef struct {
    ds_edit_counts words, chars;   /* corpus totals over the scored utterances */
    long utterances;               /* decoded (every kept utterance of the set) */
    long scored, unscored;         /* with a transcript / without one (transcribed only) */
    long too_short;                /* shorter than one frame: hypothesis empty, no loss */
    long n_unk;                    /* reference characters outside the vocabulary (scored as <unk>) */
    double loss;                   /* mean CTC loss per utterance with a transcript, nats (NaN: none) */
    long loss_n;                   /* the utterances in that mean */
    long samples;                  /* audio decoded, at 16 kHz */
    double wall_s;                 /* seconds the pass took (real-time factor = wall_s / audio seconds) */
} ds_asr_result;

/* Called once per kept utterance, in set order, after it is decoded. ref and
 * hyp are normalised (ds_transcript_normalize); ref is NULL when the
 * utterance has no transcript, and w and c (its word and character counts)
 * are NULL then. A nonzero return stops the pass and is returned. */
typedef int (*ds_asr_fn)(void *ctx, const char *id, const char *ref, const char *hyp, const ds_edit_counts *w,
                         const ds_edit_counts *c);

/* Decodes every kept utterance of s alone and in full (no crop) in eval mode:
 * greedy CTC (ds_ctc_greedy, blank 0), then the model's vocabulary
 * (ds_w2v_char_vocab) to text. Reserves m's inference layout itself (the
 * caller re-reserves a training layout after); one utterance is decoded at a
 * time. The CTC loss is that of the normalised reference encoded with the
 * vocabulary (a character outside it counts as <unk>, as the encoder does);
 * zero_infinity makes a reference too long for its frames cost 0. Corpus
 * WER/CER = ds_edit_rate(&r->words / &r->chars). fn may be NULL. */
int ds_asr_evaluate(ds_model *m, ds_speech_set *s, ds_asr_fn fn, void *ctx, ds_asr_result *r);

#endif
