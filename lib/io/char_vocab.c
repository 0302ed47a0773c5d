/* Character vocabulary, transcript normalisation and greedy CTC decoding
 * for speech models (char_vocab.h, wav2vec2.md §3.8). */
#include "io/char_vocab.h"
#include "core/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const w2v2_names[DS_CV_W2V2_SIZE] = {
    "<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L",
    "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z",
};

/* Bytes in the UTF-8 character that starts at s (1 for a stray byte, so
 * malformed text still advances and becomes <unk>). */
static int utf8_len(const unsigned char *s)
{
    int n = *s < 0x80 ? 1 : (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 1;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 1;
    return n;
}

static int is_special(const char *name)
{
    size_t n = strlen(name);
    return n >= 2 && ((name[0] == '<' && name[n - 1] == '>') || (name[0] == '[' && name[n - 1] == ']'));
}

void ds_char_vocab_free(ds_char_vocab *v)
{
    if (v->names)
        for (int i = 0; i < v->size; i++) free(v->names[i]);
    free(v->names);
    memset(v, 0, sizeof *v);
}

/* Fills the lookups once names[] is complete. */
static void index_names(ds_char_vocab *v)
{
    v->pad = v->unk = v->delim = -1;
    for (int c = 0; c < 128; c++) v->ascii[c] = -1;
    for (int i = 0; i < v->size; i++) {
        const char *s = v->names[i];
        if (!strcmp(s, "<pad>") || !strcmp(s, "[PAD]")) v->pad = i;
        else if (!strcmp(s, "<unk>") || !strcmp(s, "[UNK]")) v->unk = i;
        else if (!strcmp(s, "|")) v->delim = i;
        if (!is_special(s) && (unsigned char)s[0] < 0x80 && s[1] == 0) v->ascii[(unsigned char)s[0]] = i;
    }
}

static int alloc_names(ds_char_vocab *v, int size)
{
    memset(v, 0, sizeof *v);
    v->names = calloc((size_t)size, sizeof *v->names);
    if (!v->names) return ds_err(DS_ENOMEM, "out of memory");
    v->size = size;
    return 0;
}

int ds_char_vocab_w2v2(ds_char_vocab *v)
{
    if (alloc_names(v, DS_CV_W2V2_SIZE)) return DS_ENOMEM;
    for (int i = 0; i < DS_CV_W2V2_SIZE; i++)
        if (!(v->names[i] = strdup(w2v2_names[i]))) { ds_char_vocab_free(v); return ds_err(DS_ENOMEM, "out of memory"); }
    index_names(v);
    return 0;
}

static int valid_token(const char *key);

static int load_fail(ds_char_vocab *v, json_t *root, int code)
{
    json_decref(root);
    ds_char_vocab_free(v);
    return code;
}

int ds_char_vocab_load(ds_char_vocab *v, const char *path)
{
    memset(v, 0, sizeof *v);
    json_error_t e;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        if (e.line <= 0) return ds_err(DS_EIO, "%s: cannot read the vocabulary: %s", path, e.text);
        return ds_err(DS_EFORMAT, "%s:%d: expected a JSON vocabulary: %s", path, e.line, e.text);
    }
    if (!json_is_object(root) || json_object_size(root) == 0)
        return load_fail(v, root, ds_err(DS_EFORMAT, "%s: expected a JSON object of token → id, like {\"<pad>\": 0, ...}", path));
    size_t size = json_object_size(root);
    if (size > 1000000) return load_fail(v, root, ds_err(DS_EFORMAT, "%s: %zu tokens is not a character vocabulary", path, size));
    if (alloc_names(v, (int)size)) return load_fail(v, root, DS_ENOMEM);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val))
            return load_fail(v, root, ds_err(DS_EFORMAT, "%s: token \"%s\": expected an integer id", path, key));
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= (json_int_t)size)
            return load_fail(v, root, ds_err(DS_EFORMAT, "%s: token \"%s\": id %lld outside 0..%zu (ids must be 0..V-1 without gaps)",
                                             path, key, (long long)id, size - 1));
        if (v->names[id])
            return load_fail(v, root, ds_err(DS_EFORMAT, "%s: id %lld is used by both \"%s\" and \"%s\"", path, (long long)id,
                                             v->names[id], key));
        if (!valid_token(key))
            return load_fail(v, root, ds_err(DS_EFORMAT, "%s: token \"%s\": expected one character or a <special> token", path, key));
        if (!(v->names[id] = strdup(key))) return load_fail(v, root, ds_err(DS_ENOMEM, "out of memory"));
    }
    index_names(v);
    if (v->delim < 0)
        return load_fail(v, root, ds_err(DS_EFORMAT, "%s: no word delimiter token \"|\"", path));
    json_decref(root);
    return 0;
}

static int valid_token(const char *key)
{
    return is_special(key) || (key[0] && utf8_len((const unsigned char *)key) == (int)strlen(key));
}

int ds_char_vocab_from_lines(ds_char_vocab *v, const char *tokens, const char *what)
{
    memset(v, 0, sizeof *v);
    long n = 1;
    for (const char *p = tokens; *p; p++) n += *p == '\n';
    if (!tokens[0] || n > 1000000) return ds_err(DS_EFORMAT, "%s: expected 1 to 1000000 tokens", what);
    if (alloc_names(v, (int)n)) return DS_ENOMEM;
    const char *p = tokens;
    for (int i = 0; i < v->size; i++) {
        const char *e = strchr(p, '\n');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (!(v->names[i] = strndup(p, k))) { ds_char_vocab_free(v); return ds_err(DS_ENOMEM, "out of memory"); }
        p += k + (e != NULL);
        if (!valid_token(v->names[i])) {
            int r = ds_err(DS_EFORMAT, "%s: token %d \"%s\": expected one character or a <special> token", what, i, v->names[i]);
            ds_char_vocab_free(v);
            return r;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(v->names[j], v->names[i])) {
                int r = ds_err(DS_EFORMAT, "%s: token \"%s\" is both id %d and id %d", what, v->names[i], j, i);
                ds_char_vocab_free(v);
                return r;
            }
    }
    index_names(v);
    if (v->delim < 0) {
        ds_char_vocab_free(v);
        return ds_err(DS_EFORMAT, "%s: no word delimiter token \"|\"", what);
    }
    return 0;
}

int ds_char_vocab_to_lines(const ds_char_vocab *v, char *out, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < v->size; i++) {
        size_t n = strlen(v->names[i]);
        if (k + n + 2 > cap) return ds_err(DS_EINVAL, "a vocabulary of %d tokens exceeds %zu bytes", v->size, cap);
        if (i) out[k++] = '\n';
        memcpy(out + k, v->names[i], n);
        k += n;
    }
    out[k] = 0;
    return 0;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

long ds_transcript_normalize(const char *in, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    long k = 0;
    int pending_space = 0;
    while (*s) {
        unsigned char c = *s;
        int keep;
        if (is_space(c)) { pending_space = k > 0; s++; continue; }
        if (c == 0xE2 && s[1] == 0x80 && s[2] == 0x99) { c = '\''; s += 3; keep = 1; }   /* U+2019 ’ */
        else {
            int n = utf8_len(s);
            if (n > 1) {   /* non-ASCII: copied as is */
                if (pending_space) out[k++] = ' ';
                pending_space = 0;
                memmove(out + k, s, (size_t)n);
                k += n;
                s += n;
                continue;
            }
            s++;
            if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
            keep = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
        }
        if (!keep) continue;   /* punctuation and control characters */
        if (pending_space) out[k++] = ' ';
        pending_space = 0;
        out[k++] = (char)c;
    }
    out[k] = 0;
    return k;
}

/* The id of the non-ASCII character s[0..n), or -1 (a linear scan: such
 * vocabularies are small and this path is rare for English). */
static int32_t find_multibyte(const ds_char_vocab *v, const char *s, int n)
{
    for (int i = 0; i < v->size; i++)
        if ((int)strlen(v->names[i]) == n && !memcmp(v->names[i], s, (size_t)n) && !is_special(v->names[i])) return i;
    return -1;
}

long ds_char_vocab_encode(const ds_char_vocab *v, const char *text, int32_t *ids, long *n_unk)
{
    long k = 0, unk = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        int n = utf8_len(s);
        int32_t id = *s == ' ' ? v->delim : n == 1 ? (*s < 0x80 ? v->ascii[*s] : -1) : find_multibyte(v, (const char *)s, n);
        s += n;
        if (id < 0) { unk++; id = v->unk; }
        if (id >= 0) ids[k++] = id;
    }
    if (n_unk) *n_unk = unk;
    return k;
}

long ds_char_vocab_decode(const ds_char_vocab *v, const int32_t *ids, long n, char *out)
{
    long k = 0;
    int pending_space = 0;
    for (long i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= v->size || is_special(v->names[id])) continue;
        if (id == v->delim) { pending_space = k > 0; continue; }
        if (pending_space) out[k++] = ' ';
        pending_space = 0;
        size_t len = strlen(v->names[id]);   /* at most 4 bytes: one UTF-8 character */
        memcpy(out + k, v->names[id], len);
        k += (long)len;
    }
    out[k] = 0;
    return k;
}
