/* wav2vec 2.0 (wav2vec2.md §3): the conv feature encoder on raw 16 kHz
 * audio, the feature LayerNorm and projection, time masking with the
 * learned mask embedding, the weight-normed positional convolution, a
 * post-LN (Base as published) or pre-LN ("stable layer norm", the paper's
 * Derf run) transformer encoder, and the pretraining head: the Gumbel
 * product quantizer, the contrastive loss over sampled negatives, the
 * diversity loss and the feature penalty. Tensor names are HF's
 * Wav2Vec2ForPreTraining state dict; `--norm` swaps LN_enc and the
 * per-layer attention and FFN norms only (norms.md §0.2).
 *
 * Audio is not token ids, so a wav2vec2 model is driven through the
 * functions below rather than the ds_model_vt encode (which refuses). */
#ifndef DS_WAV2VEC2_H
#define DS_WAV2VEC2_H

#include "model.h"
#include "../lib/io/char_vocab.h"
#include "../lib/nn/norm.h"

#define DS_W2V_MAX_CONV 8
#define DS_W2V_MAX_HIDDEN 4096
#define DS_W2V_MAX_LAYERS 64
#define DS_W2V_RATE 16000
#define DS_W2V_VOCAB_BYTES 16384   /* a CTC vocabulary's token names, '\n'-joined */

typedef struct {
    char preset[64];
    int hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int n_conv;                                   /* conv layers (7 in every official model) */
    int conv_dim[DS_W2V_MAX_CONV], conv_kernel[DS_W2V_MAX_CONV], conv_stride[DS_W2V_MAX_CONV];
    int conv_bias;
    int feat_extract_norm_layer;                  /* 0: "group" (GroupNorm in layer 0), 1: "layer" (LN in every layer) */
    int do_stable_layer_norm;                     /* 1: pre-LN encoder */
    int num_conv_pos_embeddings, num_conv_pos_embedding_groups;
    float layer_norm_eps;
    float hidden_dropout, attention_dropout, activation_dropout, feat_proj_dropout, feat_quantizer_dropout;
    float layerdrop;
    float mask_time_prob;
    int mask_time_length, mask_time_min_masks;
    int num_codevectors_per_group, num_codevector_groups, codevector_dim, proj_codevector_dim;
    int num_negatives;
    float contrastive_logits_temperature, diversity_loss_weight;
    float feature_grad_mult, feature_penalty_weight;
    double tau_max, tau_min, tau_decay;           /* gumbel_temperature [max, min, decay]; double: 0.999995^u over 10⁵ updates */
    ds_norm_kind norm;                            /* LN_enc, LN_attn, LN_ffn */
    float alpha_init;
    int normalize_audio;                          /* zero-mean unit-variance per utterance first */
    int vocab_size;                               /* CTC vocabulary (the lm_head of a CTC model) */
    int pretraining_head;                         /* 1: quantizer.*, project_hid.*, project_q.* exist */
    int ctc_head;                                 /* 1: lm_head.weight/bias [vocab_size, hidden] exist */
    float final_dropout;                          /* CTC: dropout on the hidden states before lm_head */
    float mask_feature_prob;                      /* channel masking of fine-tuning (fairseq mask_channel_prob) */
    int mask_feature_length, mask_feature_min_masks;
    /* The CTC tokens in id order joined by '\n' (config key "vocab", a JSON
     * array; HF's vocab.json in id order); "" is facebook/wav2vec2-base-960h's
     * 32 (char_vocab.h), which then needs vocab_size 32. */
    char vocab[DS_W2V_VOCAB_BYTES];
} ds_w2v_config;

/* wav2vec2-base as published (post-LN LayerNorm, group mode). */
void ds_w2v_config_default(ds_w2v_config *c);
int ds_w2v_config_to_json(const ds_w2v_config *c, char **json);
/* Turns a (pretraining or CTC) config into fairseq's CTC fine-tuning one
 * (base_100h; Wav2Vec2AsrConfig's defaults for the rest): CTC head, no
 * pretraining head (a config without a CTC head gets the built-in 32
 * characters), feature encoder frozen (feature_grad_mult 0), activation
 * dropout 0.1 and no other dropout, LayerDrop 0.1, time masks p 0.65 × 10
 * frames (at least 2), channel masks p 0.5 × hidden/12 channels (fairseq's
 * 64 of Base's 768). */
void ds_w2v_config_ctc_recipe(ds_w2v_config *c);
int ds_w2v_config_from_json(ds_w2v_config *c, const char *json);
int ds_w2v_create(ds_model **m, const ds_w2v_config *c);
/* fairseq's optimizer: Adam weight decay on every parameter. */
void ds_w2v_decay_groups_official(ds_model *m);

int ds_w2v_is(const ds_model *m);
const ds_w2v_config *ds_w2v_cfg(const ds_model *m);
/* Frames the conv stack makes of n samples (0 when fewer than one
 * receptive field), and the fewest samples that make one frame. */
int ds_w2v_frames(const ds_w2v_config *c, long n_samples);
long ds_w2v_min_samples(const ds_w2v_config *c);
/* Gumbel temperature after num_updates: max(τ_max·decay^u, τ_min). */
float ds_w2v_tau(const ds_w2v_config *c, long num_updates);

/* Sizes the arena for batches of up to B utterances of up to S samples
 * (m->eval_only set before: inference layout, no backward). */
int ds_w2v_reserve(ds_model *m, int B, long S);
/* The encoder on B utterances (wave[b], n_samples[b] ≤ the reserved S,
 * each at least ds_w2v_min_samples). The conv stack runs per utterance at
 * its own length; the transformer runs on [B, T] with T the most frames
 * and key padding. mask [B·T] (NULL: none) marks the frames replaced by
 * masked_spec_embed. train = 1: dropout and LayerDrop drawn from
 * (seed, step). Sets m->hidden [B·T, hidden] (padded rows 0). */
int ds_w2v_encode(ds_model *m, const float *const *wave, const long *n_samples, int B, const uint8_t *mask,
                  int train, uint64_t seed, uint64_t step);
/* The same with channel masking as well (fine-tuning, HF's
 * mask_feature_prob): cmask [B·hidden] (NULL: none) zeroes channel k of
 * every frame of utterance b after the time mask, as HF and fairseq. */
int ds_w2v_encode_masked(ds_model *m, const float *const *wave, const long *n_samples, int B, const uint8_t *mask,
                         const uint8_t *cmask, int train, uint64_t seed, uint64_t step);
/* After encode: frames per utterance and the most of them (row stride). */
const int *ds_w2v_lens(const ds_model *m);
int ds_w2v_T(const ds_model *m);
/* The raw conv output [B·T, conv_dim[last]] of the last encode (padded rows 0). */
const float *ds_w2v_features(const ds_model *m);
/* The hidden states HF returns as hidden_states[i] (i = 0: the encoder's
 * input after the positional conv, and LN_enc in post-LN; i = layers: the
 * final output), [B·T, hidden]; NULL when the layout does not keep it
 * (inference keeps only the final output and, when asked before encode
 * with ds_w2v_keep_layer, one layer). */
const float *ds_w2v_hidden_state(const ds_model *m, int i);
void ds_w2v_keep_layer(ds_model *m, int i);

typedef struct {
    double loss;              /* (L_m + w_d·L_d·M + w_fp·pen·M)/M: what is minimised */
    double contrastive;       /* L_m / M, nats per masked frame */
    double diversity;         /* L_d = (G·V − prob_perplexity)/(G·V) */
    double feature_pen;       /* mean square of the raw conv features */
    double prob_perplexity;   /* soft, Σ over groups (max G·V) */
    double code_perplexity;   /* from the hard codes */
    double accuracy;          /* share of masked frames whose positive has the top logit */
    long M, correct;          /* masked frames, and those predicted right */
} ds_w2v_losses;

/* The pretraining losses of the last encode (its mask; every utterance
 * must have ≥ 2 masked frames), with negatives neg [M, num_negatives]
 * (row indices into the masked frames in (b, t) order), Gumbel noise
 * [M, G·V] (NULL: eval, hard argmax) and temperature tau. */
int ds_w2v_pretrain_loss(ds_model *m, const int32_t *neg, const float *gumbel, float tau, ds_w2v_losses *out);
/* Accumulates every parameter gradient of scale · losses.loss. */
void ds_w2v_pretrain_backward(ds_model *m, float scale);
/* Accumulates parameter gradients for dL/d(hidden) [B·T, hidden] of the
 * last encode (padded rows must be 0). */
void ds_w2v_encode_backward(ds_model *m, const float *dhidden);

/* ---- CTC head (wav2vec2.md §3.8, HF Wav2Vec2ForCTC, fairseq wav2vec_ctc) ----
 * logits = lm_head(Dropout_final_dropout(hidden)) of the last encode (the
 * dropout drawn from its seed and step when it trained); the CTC loss
 * on log_softmax(logits) in float, blank = pad id 0, zero_infinity (an
 * utterance whose transcript cannot fit its frames costs 0 and gets no
 * gradient). Needs ctc_head. */

/* The model's vocabulary (the config's "vocab", else the built-in 32). */
int ds_w2v_char_vocab(const ds_model *m, ds_char_vocab *v);
/* Logits [B·T, vocab_size] of the last encode, rows b·T + t (padded rows
 * are 0); valid until the next encode. */
int ds_w2v_ctc_logits(ds_model *m, const float **logits);
/* After ds_w2v_ctc_logits: loss[b] = CTC loss of utterance b (nats, summed
 * over its frames: reduction "none") for the concatenated targets (Σ
 * tgt_lens ids, each in 1..vocab_size−1). Scratch grows to the longest
 * transcript seen (the only allocation; a run's first batches). */
int ds_w2v_ctc_loss(ds_model *m, const int32_t *targets, const int *tgt_lens, double *loss);
/* Accumulates the gradients of scale · Σ_b loss[b]: into lm_head only when
 * trunk is 0 (fairseq's freeze_finetune_updates), else through the whole
 * encoder too (the feature encoder as feature_grad_mult says). DS_EINVAL
 * without a ds_w2v_ctc_loss of the last encode, or on an inference layout. */
int ds_w2v_ctc_backward(ds_model *m, float scale, int trunk);

#endif
