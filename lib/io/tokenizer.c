/* Character tokenizer of HyenaDNA/Caduceus (tokenizer.h, hyenadna.md §1.1,
 * caduceus.md §2.1). */
#include "io/tokenizer.h"

#include <stddef.h>

int32_t ds_token_of(char c, int flags)
{
    if ((flags & DS_TOK_UPPER) && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    switch (c) {
    case 'A': return DS_TOK_A;
    case 'C': return DS_TOK_C;
    case 'G': return DS_TOK_G;
    case 'T': return DS_TOK_T;
    case 'N': return (flags & DS_TOK_N_TO_PAD) ? DS_TOK_PAD : DS_TOK_N;
    default: return DS_TOK_UNK;
    }
}

int64_t ds_tokenize(const char *seq, int64_t len, int flags, int32_t *ids)
{
    int64_t k = 0;
    if (flags & DS_TOK_ADD_CLS) ids[k++] = DS_TOK_CLS;
    for (int64_t i = 0; i < len; i++) ids[k++] = ds_token_of(seq[i], flags);
    if (flags & DS_TOK_ADD_SEP) ids[k++] = DS_TOK_SEP;
    return k;
}

char ds_token_char(int32_t id)
{
    static const char map[] = "ACGTN";
    return id >= DS_TOK_A && id <= DS_TOK_N ? map[id - DS_TOK_A] : '?';
}

const char *ds_token_name(int32_t id)
{
    static const char *names[DS_TOK_VOCAB] = { "[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]",
                                               "A", "C", "G", "T", "N" };
    return id >= 0 && id < DS_TOK_VOCAB ? names[id] : NULL;
}

void ds_detokenize(const int32_t *ids, int64_t n, char *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = ds_token_char(ids[i]);
    out[n] = 0;
}
