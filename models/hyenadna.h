/* HyenaDNA (hyenadna.md): configuration and constructor. The model itself is
 * used through models/model.h. */
#ifndef DS_HYENADNA_H
#define DS_HYENADNA_H

#include "model.h"
#include "../lib/nn/norm.h"

typedef struct {
    char preset[64];
    int d_model, n_layer, d_inner;
    int vocab_size;               /* 12 tokens; the embedding is padded to a multiple of 8 */
    int pad_vocab_size_multiple;
    int l_max;                    /* positional features and the longest input (hyenadna.md §1.4) */
    int emb_dim, filter_order;    /* implicit filter: positional features E, MLP width F */
    float w;                      /* Sin frequency init */
    float modulation_shift;       /* 0.0 (training code) or 0.05 (standalone / HF), pitfalls.md 1 */
    float embed_dropout, resid_dropout;
    ds_norm_kind norm;
    float alpha_init;             /* Derf/DyT α₀ ... */
    float alpha_attn, alpha_ffn, alpha_final;   /* ... per role: norm1, norm2, ln_f (NaN: alpha_init) */
    float eps;                    /* LayerNorm / RMSNorm epsilon */
    float init_embed_std;         /* std of the token embedding (= the tied LM head) at init; official 0.02 */
    char tokenizer[16];           /* the rules its weights were trained with: "derfseq" (upper case, N as
                                   * [PAD]), "official" (case kept, N as N) or "official-hf" (+ [SEP]);
                                   * embed uses them unless --tokens says otherwise */
} ds_hyena_config;

/* The official init of the embedding (HyenaDNA's _init_weights,
 * initializer_range 0.02). With the tied LM head it sets how large the
 * embedding's output is next to the residual drive that saturates Derf/DyT
 * at small scale (issue 9; bench/README.md "Derf at CPU scale"). */
#define DS_HYENA_OFFICIAL_EMBED_STD 0.02f

/* The largest sizes a config may ask for (each refused by key name). */
#define DS_HYENA_MAX_D 16384
#define DS_HYENA_MAX_LAYERS 256
#define DS_HYENA_MAX_LEN (1 << 24)

/* Official shapes (hyenadna.md §1.5) with derfseq's defaults: Derf, shift 0. */
void ds_hyena_config_default(ds_hyena_config *c);
int ds_hyena_config_to_json(const ds_hyena_config *c, char **json);
int ds_hyena_config_from_json(ds_hyena_config *c, const char *json);
int ds_hyena_create(ds_model **m, const ds_hyena_config *c);
/* The tokenizer rules the config records (ds_hyena_config.tokenizer). */
const char *ds_hyena_tokenizer(const ds_model *m);
/* Weight decay as the official hg38 recipe's optimizer hooks form it
 * (add_optimizer_hooks: nn.Embedding and nn.LayerNorm blacklisted, biases
 * and HyenaFilter's _optim tensors at wd 0): no decay for the embedding,
 * every bias, the implicit filter and LayerNorm's weight; decay for every
 * other weight, Derf/DyT weight, alpha and shift and RMSNorm's weight
 * included (they are custom modules the hooks do not know). derfseq's own
 * groups (the default) are the opposite for the embedding and the norms. */
void ds_hyena_decay_groups_official(ds_model *m);

/* The implicit long filter of block `layer` for the reserved length:
 * k[L, d] (hyenadna.md §1.4). Exposed so it can be checked on its own. */
int ds_hyena_filter(ds_model *m, int layer, float *k);
/* Accumulates the filter parameters' gradients for dk[L, d]; follows
 * ds_hyena_filter (or an encode) of the same layer. */
int ds_hyena_filter_backward(ds_model *m, int layer, const float *dk);

#endif
