/* The HyenaDNA/Caduceus character tokenizer (hyenadna.md §1.1, caduceus.md
 * §2.1): [CLS]0 [SEP]1 [BOS]2 [MASK]3 [PAD]4 [RESERVED]5 [UNK]6 A7 C8 G9 T10
 * N11, vocabulary 12, padded to 16 embedding rows (pad_vocab_size_multiple 8).
 *
 * Flags 0 is the official HyenaDNA CharacterTokenizer: 'A','C','G','T','N'
 * map to 7..11 and every other byte, lower case included, to [UNK] 6.
 * Case is a choice, not an accident: DS_TOK_UPPER upper-cases first, as
 * Caduceus does; derfseq uses it (with DS_TOK_N_TO_PAD) for pretraining and
 * embedding because soft-masked genomes such as UCSC hg38 are ~50% lower
 * case, which the official rule would turn into [UNK]. Leave it off to feed
 * official HyenaDNA checkpoints exactly what they saw.
 * Special tokens: -hf checkpoints and HyenaDNA pretraining use ids + [SEP]
 * (DS_TOK_ADD_SEP); the standalone/colab tokenizer and the Lightning
 * weights.ckpt path use [CLS] + ids + [SEP] (both flags). */
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
    DS_TOK_N_TO_PAD = 8,   /* N (id 11) → [PAD] 4, as the release-time HyenaDNA pretraining
                              data did; with DS_TOK_UPPER this covers 'n' too */
};

/* Writes len ids (+1 for each added special) into ids; returns how many. */
int64_t ds_tokenize(const char *seq, int64_t len, int flags, int32_t *ids);
int32_t ds_token_of(char c, int flags);
/* 'A', 'C', 'G', 'T', 'N' for ids 7..11, '?' for specials and ids out of range. */
char ds_token_char(int32_t id);
/* "[CLS]", ..., "[UNK]", "A", ..., "N"; NULL for ids outside the vocabulary. */
const char *ds_token_name(int32_t id);
/* n ids back to characters (ds_token_char) plus a terminating NUL; out
 * holds n + 1 bytes. Meant for tests and debugging output. */
void ds_detokenize(const int32_t *ids, int64_t n, char *out);

#endif
