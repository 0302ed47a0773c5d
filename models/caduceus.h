/* Caduceus (caduceus.md): a BiMamba encoder over DNA tokens, as Caduceus-Ph
 * (one strand; post-hoc RC conjoining at inference) or Caduceus-PS (RC
 * equivariant by parameter sharing: hidden states [fwd | rc] of 2·d_model
 * channels). Used through models/model.h. */
#ifndef DS_CADUCEUS_H
#define DS_CADUCEUS_H

#include "model.h"
#include "../lib/nn/norm.h"

#define DS_CADUCEUS_VOCAB_MAX 64

typedef struct {
    char preset[64];
    int d_model;                  /* per strand; PS hidden states are 2·d_model wide */
    int n_layer;
    int vocab_size, pad_vocab_size_multiple;   /* 12 tokens, 16 embedding rows */
    int max_len;                  /* longest input accepted */
    int rcps;                     /* 1: Caduceus-PS, 0: Caduceus-Ph */
    int fused_add_norm;           /* PS: the released checkpoints' add-norm that swaps the strands every
                                   * block (caduceus.md §2.6); RMSNorm/LayerNorm only */
    ds_norm_kind norm;
    float alpha_init;             /* Derf/DyT α₀ ... */
    float alpha_attn, alpha_final;   /* ... per role: block norm, norm_f (NaN: alpha_init) */
    float eps;
    int d_state, d_conv, expand, dt_rank;
    float dt_min, dt_max, dt_init_floor, dt_scale;
    int complement_map[DS_CADUCEUS_VOCAB_MAX];   /* over the padded vocabulary */
    float init_embed_std;         /* official 0.02 (initializer_range) */
    char tokenizer[32];           /* "caduceus": upper-case, N stays N */
} ds_caduceus_config;

#define DS_CADUCEUS_MAX_D 8192
#define DS_CADUCEUS_MAX_LAYERS 256
#define DS_CADUCEUS_MAX_LEN (1 << 24)

/* Official hyper-parameters (caduceus.md §2.2, §2.7) with derfseq's norm
 * default, Derf, which needs the unfused add-norm. */
void ds_caduceus_config_default(ds_caduceus_config *c);
int ds_caduceus_config_to_json(const ds_caduceus_config *c, char **json);
int ds_caduceus_config_from_json(ds_caduceus_config *c, const char *json);
int ds_caduceus_create(ds_model **m, const ds_caduceus_config *c);
/* Weight decay as the official Lightning optimizer hooks form it
 * (src/utils/optim_groups.py add_optimizer_hooks): no decay for the
 * embedding (nn.Embedding), every bias, A_log and D (_no_weight_decay) and
 * nn.LayerNorm's weight; decay for every other weight, RMSNorm's and
 * Derf/DyT's weight, alpha and shift included (modules the hooks do not
 * know). derfseq's own groups (the default) decay the embedding and
 * never decay a norm tensor. */
void ds_caduceus_decay_groups_official(ds_model *m);
/* 1 for a Caduceus-PS model. */
int ds_caduceus_is_rcps(const ds_model *m);
/* rc(ids) over the model's complement map: out[t] = comp[ids[L−1−t]] for
 * each of B rows (out may not alias ids). */
void ds_caduceus_rc_ids(const ds_model *m, const int32_t *ids, int32_t *out, int B, int L);

#endif
