/* Tests of lib/io/char_vocab.c: the facebook/wav2vec2-base-960h vocabulary
 * (wav2vec2.md §3.8), HF vocab.json loading and its refusals, LibriSpeech
 * normalisation, encode/decode and the greedy CTC rule. */
#include "test.h"
#include "core/error.h"
#include "io/char_vocab.h"

#include <stdio.h>
#include <string.h>

static const char *write_tmp(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", ds_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
    return path;
}

TEST(test_char_vocab_w2v2_matches_the_spec_listing)
{
    const char *want[32] = { "<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L",
                             "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z" };
    ds_char_vocab v;
    CHECK_EQ_INT(ds_char_vocab_w2v2(&v), 0);
    CHECK_EQ_INT(v.size, 32);
    for (int i = 0; i < 32; i++) CHECK_MSG(!strcmp(v.names[i], want[i]), "id %d is \"%s\", want \"%s\"", i, v.names[i], want[i]);
    CHECK_EQ_INT(v.pad, 0);
    CHECK_EQ_INT(DS_CV_BLANK, 0);
    CHECK_EQ_INT(v.unk, 3);
    CHECK_EQ_INT(v.delim, 4);
    CHECK_EQ_INT(v.ascii['\''], 27);
    CHECK_EQ_INT(v.ascii['e'], -1);   /* lower case is not in the vocabulary */
    ds_char_vocab_free(&v);
}

TEST(test_char_vocab_normalize_upper_cases_and_removes_punctuation)
{
    char out[64];
    CHECK_EQ_INT(ds_transcript_normalize("Hello, World!", out), 11);
    CHECK(!strcmp(out, "HELLO WORLD"));
    ds_transcript_normalize("twenty-one \"quoted\" (x); a.b|c", out);
    CHECK_MSG(!strcmp(out, "TWENTYONE QUOTED X ABC"), "got \"%s\"", out);
    ds_transcript_normalize(" , ", out);   /* punctuation alone leaves nothing */
    CHECK_MSG(!strcmp(out, ""), "got \"%s\"", out);
}

TEST(test_char_vocab_normalize_keeps_apostrophes)
{
    char out[64];
    ds_transcript_normalize("don't stop", out);
    CHECK_MSG(!strcmp(out, "DON'T STOP"), "got \"%s\"", out);
    ds_transcript_normalize("don\xE2\x80\x99t", out);   /* typographic ’ becomes ' */
    CHECK_MSG(!strcmp(out, "DON'T"), "got \"%s\"", out);
}

TEST(test_char_vocab_normalize_collapses_and_trims_whitespace_in_place)
{
    char s[] = "  \tthe\t\tcat \r\n sat\n";
    CHECK_EQ_INT(ds_transcript_normalize(s, s), 11);
    CHECK_MSG(!strcmp(s, "THE CAT SAT"), "got \"%s\"", s);
    char u[] = "caf\xC3\xA9 42";   /* non-ASCII and digits kept as they are */
    ds_transcript_normalize(u, u);
    CHECK_MSG(!strcmp(u, "CAF\xC3\xA9 42"), "got \"%s\"", u);
}

TEST(test_char_vocab_encode_decode_round_trips_a_librispeech_transcript)
{
    /* LibriSpeech test-clean 1089-134686-0000 */
    const char *t = "HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS AND BRUISED POTATOES AND FAT MUTTON "
                    "PIECES TO BE LADLED OUT IN THICK PEPPERED FLOUR FATTENED SAUCE";
    ds_char_vocab v;
    CHECK_EQ_INT(ds_char_vocab_w2v2(&v), 0);
    int32_t ids[256];
    long n_unk = -1, n = ds_char_vocab_encode(&v, t, ids, &n_unk);
    CHECK_EQ_INT(n, (long)strlen(t));
    CHECK_EQ_INT(n_unk, 0);
    const int32_t head[8] = { 11, 5, 4, 11, 8, 23, 5, 14 };   /* H E | H O P E D */
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(ids[i], head[i]);
    char out[4 * 256 + 1];
    CHECK_EQ_INT(ds_char_vocab_decode(&v, ids, n, out), (long)strlen(t));
    CHECK_MSG(!strcmp(out, t), "got \"%s\"", out);
    ds_char_vocab_free(&v);
}

TEST(test_char_vocab_encode_counts_unknown_characters)
{
    ds_char_vocab v;
    CHECK_EQ_INT(ds_char_vocab_w2v2(&v), 0);
    int32_t ids[32];
    long n_unk = 0, n = ds_char_vocab_encode(&v, "CAF\xC3\xA9 42 x", ids, &n_unk);
    CHECK_EQ_INT(n, 9);        /* one id per UTF-8 character */
    CHECK_EQ_INT(n_unk, 4);    /* é, 4, 2, x */
    CHECK_EQ_INT(ids[3], DS_CV_UNK);
    CHECK_EQ_INT(ids[4], DS_CV_DELIM);
    CHECK_EQ_INT(ids[8], DS_CV_UNK);
    ds_char_vocab_free(&v);
}

TEST(test_char_vocab_decode_drops_specials_and_collapses_delimiters)
{
    ds_char_vocab v;
    CHECK_EQ_INT(ds_char_vocab_w2v2(&v), 0);
    const int32_t ids[] = { 4, 4, 11, 5, 0, 4, 3, 4, 1, 18, 2, 4, 99, -1 };
    char out[64];
    CHECK_EQ_INT(ds_char_vocab_decode(&v, ids, 14, out), 4);
    CHECK_MSG(!strcmp(out, "HE W"), "got \"%s\"", out);
    ds_char_vocab_free(&v);
}

TEST(test_char_vocab_loads_an_hf_vocab_json)
{
    const char *p = write_tmp("vocab_ok.json", "{\"[PAD]\": 0, \"[UNK]\": 1, \"|\": 2, \"A\": 3, \"\xC3\xA9\": 4, \"'\": 5}\n");
    ds_char_vocab v;
    CHECK_MSG(ds_char_vocab_load(&v, p) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(v.size, 6);
    CHECK_EQ_INT(v.pad, 0);
    CHECK_EQ_INT(v.unk, 1);
    CHECK_EQ_INT(v.delim, 2);
    int32_t ids[16];
    long n_unk = -1, n = ds_char_vocab_encode(&v, "A\xC3\xA9 B", ids, &n_unk);
    const int32_t want[] = { 3, 4, 2, 1 };
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(n_unk, 1);
    for (int i = 0; i < 4 && i < n; i++) CHECK_EQ_INT(ids[i], want[i]);
    char out[64];
    ds_char_vocab_decode(&v, ids, n, out);
    CHECK_MSG(!strcmp(out, "A\xC3\xA9"), "got \"%s\"", out);
    ds_char_vocab_free(&v);
}

/* The refusal is DS_EFORMAT (or `code`), one line, naming the file and `what`. */
static void check_refused(const char *name, const char *json, int code, const char *what)
{
    const char *p = write_tmp(name, json);
    ds_char_vocab v;
    int rc = ds_char_vocab_load(&v, p);
    const char *m = ds_errmsg();
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", name, rc, code, m);
    CHECK_MSG(strstr(m, p) && !strchr(m, '\n'), "%s: message \"%s\" does not name the file on one line", name, m);
    CHECK_MSG(strstr(m, what), "%s: message \"%s\" does not say \"%s\"", name, m, what);
    CHECK(v.names == NULL && v.size == 0);
}

TEST(test_char_vocab_json_with_bad_contents_is_refused_naming_the_file)
{
    check_refused("v_syntax.json", "{\"<pad>\": 0,\n \"|\" 1}", DS_EFORMAT, ":2:");
    check_refused("v_array.json", "[\"<pad>\", \"|\"]", DS_EFORMAT, "JSON object");
    check_refused("v_string.json", "{\"<pad>\": \"0\", \"|\": 1}", DS_EFORMAT, "integer id");
    check_refused("v_gap.json", "{\"<pad>\": 0, \"|\": 2}", DS_EFORMAT, "without gaps");
    check_refused("v_dup.json", "{\"<pad>\": 0, \"|\": 0}", DS_EFORMAT, "used by both");
    check_refused("v_nodelim.json", "{\"<pad>\": 0, \"A\": 1}", DS_EFORMAT, "\"|\"");
    check_refused("v_multi.json", "{\"<pad>\": 0, \"|\": 1, \"AB\": 2}", DS_EFORMAT, "one character");
    check_refused("v_dupkey.json", "{\"<pad>\": 0, \"|\": 1, \"|\": 2}", DS_EFORMAT, "duplicate");
}

TEST(test_char_vocab_missing_json_is_refused_naming_the_file)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/no_such_vocab.json", ds_test_tmpdir());
    ds_char_vocab v;
    CHECK_EQ_INT(ds_char_vocab_load(&v, p), DS_EIO);
    CHECK(strstr(ds_errmsg(), p) != NULL);
}
