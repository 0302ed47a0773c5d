/* Tests of lib/io/tokenizer.c against the official HyenaDNA character
 * tokenizer (hyenadna.md §1.1) and Caduceus's upper-casing (caduceus.md §2.1). */
#include "test.h"
#include "io/tokenizer.h"

#include <string.h>

static int ids_are(const int32_t *got, int64_t n, const int32_t *want, int64_t m)
{
    if (n != m) return 0;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) return 0;
    return 1;
}

TEST(test_tokenizer_official_ids_for_ACGTN_are_7_to_11)
{
    int32_t ids[8];
    const int32_t want[] = { 7, 8, 9, 10, 11 };
    CHECK(ids_are(ids, ds_tokenize("ACGTN", 5, 0, ids), want, 5));
    CHECK(DS_TOK_A == 7 && DS_TOK_N == 11 && DS_TOK_UNK == 6 && DS_TOK_PAD == 4 && DS_TOK_SEP == 1 && DS_TOK_CLS == 0);
    CHECK(DS_TOK_VOCAB == 12 && DS_TOK_VOCAB_PADDED == 16);
}

TEST(test_tokenizer_official_mode_maps_lower_case_and_other_bytes_to_unk)
{
    int32_t ids[16];
    const char *s = "acgtnRYX-*. \n";
    int64_t n = ds_tokenize(s, (int64_t)strlen(s), 0, ids);
    CHECK_EQ_INT(n, (int64_t)strlen(s));
    for (int64_t i = 0; i < n; i++) CHECK_MSG(ids[i] == DS_TOK_UNK, "'%c' → %d", s[i], ids[i]);
    CHECK_EQ_INT(ds_token_of('\0', 0), DS_TOK_UNK);
    CHECK_EQ_INT(ds_token_of((char)0xC3, DS_TOK_UPPER), DS_TOK_UNK);
}

TEST(test_tokenizer_upper_mode_maps_lower_case_to_7_to_11)
{
    int32_t ids[8];
    const int32_t want[] = { 7, 8, 9, 10, 11, 6, 7 };
    CHECK(ids_are(ids, ds_tokenize("acgtnrA", 7, DS_TOK_UPPER, ids), want, 7));
}

TEST(test_tokenizer_appends_sep_and_prepends_cls)
{
    int32_t ids[8];
    const int32_t sep[] = { 7, 8, 1 }, both[] = { 0, 7, 8, 1 }, cls[] = { 0, 9 };
    CHECK(ids_are(ids, ds_tokenize("AC", 2, DS_TOK_ADD_SEP, ids), sep, 3));
    CHECK(ids_are(ids, ds_tokenize("AC", 2, DS_TOK_ADD_CLS | DS_TOK_ADD_SEP, ids), both, 4));
    CHECK(ids_are(ids, ds_tokenize("G", 1, DS_TOK_ADD_CLS, ids), cls, 2));
    const int32_t only[] = { 0, 1 };
    CHECK(ids_are(ids, ds_tokenize("", 0, DS_TOK_ADD_CLS | DS_TOK_ADD_SEP, ids), only, 2));
}

TEST(test_tokenizer_n_to_pad_replaces_only_the_N_id)
{
    int32_t ids[8];
    /* release-time pretraining data: id 11 → 4; a lower-case n is [UNK] before
     * any replacement in the official mode, and N after upper-casing */
    const int32_t official[] = { 4, 7, 6, 1 }, upper[] = { 4, 7, 4, 1 };
    CHECK(ids_are(ids, ds_tokenize("NAn", 3, DS_TOK_N_TO_PAD | DS_TOK_ADD_SEP, ids), official, 4));
    CHECK(ids_are(ids, ds_tokenize("NAn", 3, DS_TOK_N_TO_PAD | DS_TOK_UPPER | DS_TOK_ADD_SEP, ids), upper, 4));
}

TEST(test_tokenizer_decodes_ids_and_names_every_token)
{
    int32_t ids[8];
    char out[9];
    int64_t n = ds_tokenize("GATTACA", 7, DS_TOK_ADD_SEP, ids);
    ds_detokenize(ids, n, out);
    CHECK(!strcmp(out, "GATTACA?"));
    CHECK(ds_token_char(11) == 'N' && ds_token_char(DS_TOK_PAD) == '?' && ds_token_char(16) == '?' && ds_token_char(-1) == '?');
    const char *names[] = { "[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", "A", "C", "G", "T", "N" };
    for (int i = 0; i < DS_TOK_VOCAB; i++) CHECK_MSG(!strcmp(ds_token_name(i), names[i]), "id %d", i);
    CHECK(!ds_token_name(12) && !ds_token_name(-1));
}
