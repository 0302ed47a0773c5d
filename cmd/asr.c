/* The speech-recognition side of eval and finetune (asr.h): greedy CTC
 * transcripts of a speech set and their WER, CER and CTC loss. */
#include "cmd/asr.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/char_vocab.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Buffers grown to the largest utterance seen. */
typedef struct {
    int32_t *ids;     /* greedy path: one per frame */
    char *hyp;        /* 4 bytes per id + NUL */
    long frames_cap;
    char *ref;        /* normalised reference */
    int32_t *tgt;     /* its ids */
    long ref_cap;
    ds_edit_buf eb;
} asr_bufs;

static int grow_frames(asr_bufs *b, long T)
{
    if (T <= b->frames_cap) return 0;
    int32_t *ids = realloc(b->ids, sizeof *ids * (size_t)T);
    if (ids) b->ids = ids;
    char *hyp = ids ? realloc(b->hyp, (size_t)T * 4 + 1) : NULL;
    if (!hyp) return ds_err(DS_ENOMEM, "out of memory for the transcript of %ld frames", T);
    b->hyp = hyp;
    b->frames_cap = T;
    return 0;
}

static int grow_ref(asr_bufs *b, long len)
{
    if (len + 1 <= b->ref_cap) return 0;
    char *ref = realloc(b->ref, (size_t)len + 1);
    if (ref) b->ref = ref;
    int32_t *tgt = ref ? realloc(b->tgt, sizeof *tgt * (size_t)(len + 1)) : NULL;
    if (!tgt) return ds_err(DS_ENOMEM, "out of memory for a transcript of %ld bytes", len);
    b->tgt = tgt;
    b->ref_cap = len + 1;
    return 0;
}

static void bufs_free(asr_bufs *b)
{
    free(b->ids);
    free(b->hyp);
    free(b->ref);
    free(b->tgt);
    ds_edit_buf_free(&b->eb);
}

/* The inference layout for one utterance of up to S samples. */
static int reserve_for(ds_model *m, long S, long *have)
{
    if (S <= *have) return 0;
    m->eval_only = 1;
    int e = ds_w2v_reserve(m, 1, S);
    if (!e) *have = S;
    return e;
}

/* The greedy hypothesis of x (normalised, into b->hyp) and, with a
 * reference of ntgt ids in b->tgt (ntgt < 0: none), its CTC loss. */
static int decode_one(ds_model *m, const ds_char_vocab *v, const float *x, long n, asr_bufs *b, long ntgt,
                      double *loss)
{
    const float *wave[1] = { x };
    int e = ds_w2v_encode(m, wave, &n, 1, NULL, 0, 0, 0);
    const float *logits;
    if (!e) e = ds_w2v_ctc_logits(m, &logits);
    int T = e ? 0 : ds_w2v_lens(m)[0];
    if (!e) e = grow_frames(b, T);
    if (e) return e;
    int k = ds_ctc_greedy(b->ids, logits, T, ds_w2v_cfg(m)->vocab_size, DS_CV_BLANK);
    ds_char_vocab_decode(v, b->ids, k, b->hyp);
    ds_transcript_normalize(b->hyp, b->hyp);
    if (ntgt < 0) return 0;
    int len = (int)ntgt;
    return ds_w2v_ctc_loss(m, b->tgt, &len, loss);
}

/* Normalises the reference into b->ref and encodes it into b->tgt; returns
 * the id count. */
static long prepare_ref(const ds_char_vocab *v, const char *text, asr_bufs *b, long *n_unk, int *err)
{
    long len = (long)strlen(text);
    if ((*err = grow_ref(b, len))) return -1;
    ds_transcript_normalize(text, b->ref);
    return ds_char_vocab_encode(v, b->ref, b->tgt, n_unk);
}

static int score_one(ds_model *m, ds_speech_set *s, long k, const ds_char_vocab *v, asr_bufs *b, long *reserved,
                     ds_asr_fn fn, void *ctx, ds_asr_result *r, double *loss_sum)
{
    const char *id = ds_speech_set_id(s, k), *text = ds_speech_set_text(s, k);
    float *x;
    long n;
    int owned, e = ds_speech_set_get(s, k, &x, &n, &owned);
    if (e) return e;
    long ntgt = -1;
    if (text) ntgt = prepare_ref(v, text, b, &r->n_unk, &e);
    double loss = 0;
    int fits = n >= ds_w2v_min_samples(ds_w2v_cfg(m));
    if (!e && fits) e = reserve_for(m, n + 4096, reserved);
    if (!e && fits) e = decode_one(m, v, x, n, b, ntgt, &loss);
    if (!e && !fits && !(e = grow_frames(b, 1))) b->hyp[0] = 0;   /* no frame: the empty hypothesis */
    if (owned) free(x);
    if (e) return ds_err(e, "%s: %s", id, ds_errmsg());
    r->utterances++;
    r->samples += n;
    r->too_short += !fits;
    if (!text) {
        r->unscored++;
        return fn ? fn(ctx, id, NULL, b->hyp, NULL, NULL) : 0;
    }
    ds_edit_counts w, c;
    if ((e = ds_wer_counts(&w, b->ref, b->hyp, &b->eb)) || (e = ds_cer_counts(&c, b->ref, b->hyp, &b->eb))) return e;
    ds_edit_counts_add(&r->words, &w);
    ds_edit_counts_add(&r->chars, &c);
    r->scored++;
    if (fits) { *loss_sum += loss; r->loss_n++; }
    return fn ? fn(ctx, id, b->ref, b->hyp, &w, &c) : 0;
}

int ds_asr_evaluate(ds_model *m, ds_speech_set *s, ds_asr_fn fn, void *ctx, ds_asr_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = ds_realtime();
    if (!ds_w2v_is(m) || !ds_w2v_cfg(m)->ctc_head)
        return ds_err(DS_EINVAL, "this is not a CTC model (a wav2vec2 with a CTC head); fine-tune one with --task ctc");
    long longest = 0, reserved = 0;
    for (long k = 0; k < s->n; k++)
        if (s->len[s->keep[k]] > longest) longest = s->len[s->keep[k]];
    /* MP3 lengths are estimates until decoded: leave room (and grow if needed) */
    int e = reserve_for(m, longest + 4096, &reserved);
    ds_char_vocab v;
    if (!e) e = ds_w2v_char_vocab(m, &v);
    if (e) return e;
    asr_bufs b = {0};
    double loss_sum = 0;
    for (long k = 0; k < s->n && !e; k++) e = score_one(m, s, k, &v, &b, &reserved, fn, ctx, r, &loss_sum);
    bufs_free(&b);
    ds_char_vocab_free(&v);
    r->loss = r->loss_n ? loss_sum / (double)r->loss_n : NAN;
    r->wall_s = ds_realtime() - t0;
    return e;
}
