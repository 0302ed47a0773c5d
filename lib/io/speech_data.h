/* The utterances a user names, in the input forms of derfseq.md "Inputs"
 * (Audio). Each input is one of:
 *   FILE        one audio file; id = the path as given, no transcript.
 *   DIR         every audio file below DIR (recursive; extensions .wav .flac
 *               .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64,
 *               any case; dot files skipped), in sorted path order (strcmp).
 *               When the tree holds transcript files (`*.trans.txt` or
 *               `trans.txt`) it is read as a LibriSpeech tree
 *               `<spk>/<chapter>/<spk>-<chapter>-<utt>.flac` +
 *               `<spk>-<chapter>.trans.txt`: ids are the file stems and the
 *               transcript of an audio file is the line with its id in a
 *               transcript file of its own directory. Lines are `ID TEXT`,
 *               or `ID<TAB>TEXT` (icefall/sherpa test sets); the last line
 *               may lack its newline, CR before LF and blank lines are fine.
 *               Otherwise ids are the paths (DIR/...).
 *   X.tsv       one of two forms, told apart by line 1: a TAB in it makes
 *               X.tsv a transcript TSV, none a fairseq manifest (a line 1
 *               `RELPATH<TAB>N_SAMPLES` is refused as a manifest without its
 *               root line, not read as an utterance whose words are digits).
 *               A fairseq manifest: line 1 the root directory, then
 *               `RELPATH<TAB>N_SAMPLES` per line (RELPATH joined to the root
 *               unless absolute); id = RELPATH. When X.wrd exists beside it
 *               (fairseq fine-tuning labels) its lines are the transcripts,
 *               one per manifest line.
 *               A transcript TSV: `PATH<TAB>TRANSCRIPT` per line, PATH joined
 *               to X.tsv's own folder unless absolute; id = PATH as written;
 *               the transcript is the rest of the line after the first TAB
 *               (kept as written: normalising it is the vocabulary's job).
 *               An optional header line 1 `path<TAB>transcript` or
 *               `path<TAB>text` (any case) is skipped, as are blank lines;
 *               CR before LF and a last line without its newline are fine.
 *               Refused naming FILE:LINE: a line without a TAB, an empty
 *               PATH, an empty (or blank) transcript — every utterance of
 *               a labelled set has words (LibriSpeech has no empty one; list
 *               audio without words as a plain file or directory instead) —
 *               and a PATH that is not an existing file.
 *   -           a list of audio file paths on stdin, one per line (blank
 *               lines skipped); id = the path.
 * The list holds only paths, ids, transcripts and manifest sample counts;
 * audio is decoded on demand (ds_speech_load), so a pass over any number of
 * files runs in the memory of one utterance.
 *
 * Checks: ids must be unique over all inputs (an error names both files); a
 * transcript line whose id has no audio file beside it, or an audio file in
 * a LibriSpeech tree without a transcript line, is accepted and counted in
 * `warn` (training without labels needs none; ds_speech_require_text turns
 * the missing ones into an error). Errors are one line naming FILE or
 * FILE:LINE. */
#ifndef DS_SPEECH_DATA_H
#define DS_SPEECH_DATA_H

#include <stdio.h>

typedef struct {
    char *path;       /* the file to decode */
    char *id;
    char *text;       /* the transcript, NULL if none */
    char *trans;      /* LibriSpeech trees: the transcript file its line belongs in, else NULL */
    const char *src;  /* where it was listed (a manifest, "(stdin)"), NULL for files and trees */
    long line;        /* its line in src, else 0 */
    long n_samples;   /* a manifest's N_SAMPLES (the file's frame count), else -1 */
} ds_utt;

typedef struct {
    ds_utt *u;
    long n, cap;
    char **srcs;      /* owned copies of the src names */
    int nsrc;
    long n_untranscribed;   /* LibriSpeech-tree audio without a transcript line */
    long n_orphan_lines;    /* transcript lines without an audio file */
    char *warn;       /* NULL, or one line on what was accepted but looks wrong */
} ds_speech_list;

/* Adds one input (the forms above; "-" reads stdin). */
int ds_speech_add(ds_speech_list *l, const char *input);
/* Adds the paths listed in fp, one per line; name is used in messages. */
int ds_speech_add_list(ds_speech_list *l, FILE *fp, const char *name);
/* After the last ds_speech_add: refuses an empty list and duplicate ids,
 * and fills l->warn. */
int ds_speech_finish(ds_speech_list *l);
/* All of ds_speech_add for each input, then ds_speech_finish; on error the
 * list is freed. */
int ds_speech_open(ds_speech_list *l, char *const *inputs, int n);
/* 0 when every utterance has a transcript, else an error for the first
 * one without: "AUDIO: utterance 2412-153948-0001 has no line in
 * DIR/2412-153948.trans.txt". */
int ds_speech_require_text(const ds_speech_list *l);
/* Decodes utterance i (ds_audio_read at rate, min_samples); a manifest
 * entry whose file's frame count differs from its N_SAMPLES is refused
 * naming the manifest line. */
int ds_speech_load(const ds_speech_list *l, long i, int rate, long min_samples, float **samples, long *n);
void ds_speech_free(ds_speech_list *l);

#endif
