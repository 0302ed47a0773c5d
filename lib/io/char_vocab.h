/* The character vocabulary of CTC speech models (wav2vec2.md §3.8): the
 * built-in one of facebook/wav2vec2-base-960h, or one read from a converted
 * checkpoint's HF vocab.json; LibriSpeech-style transcript normalisation,
 * and text <-> ids (greedy CTC decoding is ds_ctc_greedy in nn/ops.h).
 *
 * facebook/wav2vec2-base-960h: <pad>0 <s>1 </s>2 <unk>3 |4 E5 T6 A7 O8 N9
 * I10 H11 S12 R13 D14 L15 U16 M17 W18 C19 F20 G21 Y22 P23 B24 V25 K26 '27
 * X28 J29 Q30 Z31. The CTC blank is the pad id 0; `|` is the word delimiter.
 *
 * Tokens are the vocabulary's names. A "special" token is one written <...>
 * or [...] (HF's <pad>/<unk> or the [PAD]/[UNK] of community fine-tunes);
 * every other token must be exactly one UTF-8 character. Text is matched one
 * UTF-8 character at a time, so vocabularies with non-ASCII letters work. */
#ifndef DS_CHAR_VOCAB_H
#define DS_CHAR_VOCAB_H

#include <stddef.h>
#include <stdint.h>

enum {
    DS_CV_PAD = 0, DS_CV_BOS = 1, DS_CV_EOS = 2, DS_CV_UNK = 3, DS_CV_DELIM = 4,
    DS_CV_BLANK = DS_CV_PAD,   /* CTC blank = pad, as HF and fairseq */
    DS_CV_W2V2_SIZE = 32,
};

typedef struct {
    int size;
    char **names;              /* size NUL-terminated token names, owned */
    int32_t pad, unk, delim;   /* ids of <pad>/[PAD], <unk>/[UNK], `|`; -1 when absent (delim never is) */
    int32_t ascii[128];        /* id of the one-byte token c, or -1 */
} ds_char_vocab;

/* The facebook/wav2vec2-base-960h vocabulary. */
int ds_char_vocab_w2v2(ds_char_vocab *v);
/* Reads an HF vocab.json ({"<pad>": 0, "<s>": 1, ...}). Refuses, with a
 * one-line error naming the file: unparsable JSON, a non-object, a value that
 * is not an integer, ids that are not exactly 0..V-1 (a gap or a repeat), a
 * token that is neither special nor one UTF-8 character, no `|`. */
int ds_char_vocab_load(ds_char_vocab *v, const char *path);
/* The tokens in id order joined by '\n' (a model config's "vocab"); the same
 * checks as ds_char_vocab_load, plus no token twice; `what` names the source
 * in errors. */
int ds_char_vocab_from_lines(ds_char_vocab *v, const char *tokens, const char *what);
/* The inverse: the tokens joined by '\n' into out (cap bytes); DS_EINVAL
 * when they do not fit. */
int ds_char_vocab_to_lines(const ds_char_vocab *v, char *out, size_t cap);
void ds_char_vocab_free(ds_char_vocab *v);

/* LibriSpeech-style normalisation, in the spirit of jiwer's
 * RemovePunctuation + ToUpperCase + RemoveMultipleSpaces + Strip:
 *   - ASCII a-z are upper-cased; other bytes keep their case;
 *   - the apostrophe ' is kept ("DON'T"), and so is U+2019 ’, written as ';
 *   - every other ASCII punctuation character !"#$%&()*+,-./:;<=>?@[\]^_`{|}~
 *     is removed without leaving a space ("twenty-one" -> "TWENTYONE", as
 *     jiwer), as are ASCII control characters other than whitespace;
 *   - runs of whitespace (space, \t \n \v \f \r) become one space, and
 *     leading and trailing whitespace is dropped;
 *   - digits and non-ASCII characters are kept (they encode as <unk>).
 * out holds strlen(in) + 1 bytes (it may be in itself); returns the length. */
long ds_transcript_normalize(const char *in, char *out);

/* Text -> ids, one id per UTF-8 character: ' ' -> the delimiter `|`, a
 * character with no token -> <unk> (counted in *n_unk when n_unk is not
 * NULL; without an <unk> token it is skipped and still counted). Normalise
 * first: lower case is <unk> in the wav2vec2 vocabulary. ids holds
 * strlen(text) entries; returns how many were written. */
long ds_char_vocab_encode(const ds_char_vocab *v, const char *text, int32_t *ids, long *n_unk);
/* Ids -> text: `|` -> ' ', special tokens and out-of-range ids dropped, runs
 * of spaces collapsed and leading/trailing ones trimmed (as HF's
 * Wav2Vec2CTCTokenizer, which strips). out holds 4·n + 1 bytes; returns the
 * length. Repeats are not collapsed here: ds_ctc_greedy (nn/ops.h) does
 * the greedy CTC rule on the logits first. */
long ds_char_vocab_decode(const ds_char_vocab *v, const int32_t *ids, long n, char *out);

#endif
