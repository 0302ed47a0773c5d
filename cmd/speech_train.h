/* What the two speech training commands share (pretrain on audio:
 * pretrain_speech.c; finetune --task ctc: finetune_ctc.c): the data
 * options, and opening a run config's training and --valid sets. */
#ifndef DS_CMD_SPEECH_TRAIN_H
#define DS_CMD_SPEECH_TRAIN_H

#include "cmd/opts.h"
#include "cmd/rundir.h"
#include "cmd/speech.h"

enum {
    DS_OPT_SPEECH_VALID = 1500, DS_OPT_SPEECH_MAX_TOKENS, DS_OPT_SPEECH_CROP, DS_OPT_SPEECH_MIN_SAMPLES,
    DS_OPT_SPEECH_CACHE, DS_OPT_SPEECH_STOP_AT,
};
#define DS_SPEECH_MAX_VALID 64

typedef struct {
    const char *valid[DS_SPEECH_MAX_VALID];
    int nvalid;
    long max_tokens, crop, min_samples;
    long cache_mb;           /* -1: 1024 */
    long stop_at;            /* 0: off */
} ds_speech_opts;

/* --valid, --max-tokens, --min-samples, --cache-mb, --stop-at (and -o in
 * the command's own table); --crop is pretraining's alone. */
#define DS_LONGOPTS_SPEECH                                                          \
    { "valid", required_argument, NULL, DS_OPT_SPEECH_VALID },                      \
    { "max-tokens", required_argument, NULL, DS_OPT_SPEECH_MAX_TOKENS },            \
    { "min-samples", required_argument, NULL, DS_OPT_SPEECH_MIN_SAMPLES },          \
    { "cache-mb", required_argument, NULL, DS_OPT_SPEECH_CACHE },                   \
    { "stop-at", required_argument, NULL, DS_OPT_SPEECH_STOP_AT }
#define DS_LONGOPT_SPEECH_CROP { "crop", required_argument, NULL, DS_OPT_SPEECH_CROP }

/* Handles one getopt_long result: 1 if it was one of these (stored), 0 if
 * not, -1 after a usage error. */
int ds_opts_speech(const ds_common_opts *co, ds_speech_opts *s, int c, const char *arg);
/* The usage lines of --valid (what the command does with it), --max-tokens,
 * --min-samples (its default said as min_default), --cache-mb, --stop-at. */
void ds_usage_speech(FILE *fp, const ds_speech_opts *s, const char *valid_what, const char *min_default);

/* Opens the run's training audio (cfg->audio, utterances shorter than
 * cfg->min_samples left out) and, when it has one, its --valid audio
 * (valid_min_samples; *have_valid set), with the cache of cache_mb. An
 * error of the --valid set says so. */
int ds_speech_run_sets(const ds_run_cfg *cfg, long cache_mb, long valid_min_samples, ds_speech_set *train,
                       ds_speech_set *valid, int *have_valid);
/* "[M::cmd] N <what> utterances (S s of audio)[, K shorter ... left out]<tail>" unless quiet, and the
 * list's warning about transcript lines without their audio. */
void ds_speech_run_report(const char *cmd, const ds_speech_set *train, long min_samples, const char *what,
                          const char *tail);

#endif
