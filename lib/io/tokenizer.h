/* The HyenaDNA/Caduceus character tokenizer (hyenadna.md §1.1, caduceus.md
 * §2.1): [CLS]0 [SEP]1 [BOS]2 [MASK]3 [PAD]4 [RESERVED]5 [UNK]6 A7 C8 G9 T10
 * N11, vocabulary 12 padded to 16 embedding rows.
 *
 * Case is a choice, not an accident: the official HyenaDNA tokenizer maps
 * lower-case (soft-masked) bases to [UNK]; Caduceus upper-cases first.
 * DS_TOK_UPPER selects Caduceus's rule; derfseq uses it for pretraining and
 * embedding of soft-masked genomes (GRCh38 is ~50% lower case) and leaves it
 * off to reproduce official HyenaDNA checkpoints exactly. */
#ifndef DS_TOKENIZER_H
#define DS_TOKENIZER_H

#include <stdint.h>

enum {
    DS_TOK_CLS = 0, DS_TOK_SEP = 1, DS_TOK_BOS = 2, DS_TOK_MASK = 3, DS_TOK_PAD = 4, DS_TOK_RESERVED = 5,
    DS_TOK_UNK = 6, DS_TOK_A = 7, DS_TOK_C = 8, DS_TOK_G = 9, DS_TOK_T = 10, DS_TOK_N = 11,
    DS_TOK_VOCAB = 12, DS_TOK_VOCAB_PADDED = 16,
};

enum {
    DS_TOK_UPPER = 1,      /* upper-case first (Caduceus; derfseq's pretraining default) */
    DS_TOK_ADD_CLS = 2,    /* prepend [CLS] (standalone/colab HyenaDNA) */
    DS_TOK_ADD_SEP = 4,    /* append [SEP] (HyenaDNA training and -hf checkpoints) */
    DS_TOK_N_TO_PAD = 8,   /* N → [PAD], as the released HyenaDNA pretraining data */
};

/* Writes len (+1 per added special) ids; returns how many. */
int64_t ds_tokenize(const char *seq, int64_t len, int flags, int32_t *ids);
int32_t ds_token_of(char c, int flags);
/* 'A', 'C', ..., or '?' for specials. */
char ds_token_char(int32_t id);

#endif
