/* The data options and data sets of the speech training commands
 * (speech_train.h). */
#include "cmd/speech_train.h"
#include "core/error.h"
#include "io/audio.h"

#include <stdio.h>
#include <string.h>

int ds_opts_speech(const ds_common_opts *co, ds_speech_opts *s, int c, const char *arg)
{
    switch (c) {
    case DS_OPT_SPEECH_VALID:
        if (s->nvalid == DS_SPEECH_MAX_VALID) {
            ds_usage_error(co->cmd, "--valid: at most %d inputs", DS_SPEECH_MAX_VALID);
            return -1;
        }
        s->valid[s->nvalid++] = arg;
        return 1;
    case DS_OPT_SPEECH_MAX_TOKENS: return ds_parse_long(co, "max-tokens", arg, 1, &s->max_tokens) ? -1 : 1;
    case DS_OPT_SPEECH_CROP: return ds_parse_long(co, "crop", arg, 1, &s->crop) ? -1 : 1;
    case DS_OPT_SPEECH_MIN_SAMPLES: return ds_parse_long(co, "min-samples", arg, 1, &s->min_samples) ? -1 : 1;
    case DS_OPT_SPEECH_CACHE: return ds_parse_long(co, "cache-mb", arg, 0, &s->cache_mb) ? -1 : 1;
    case DS_OPT_SPEECH_STOP_AT: return ds_parse_long(co, "stop-at", arg, 1, &s->stop_at) ? -1 : 1;
    default: return 0;
    }
}

void ds_usage_speech(FILE *fp, const ds_speech_opts *s, const char *valid_what, const char *min_default)
{
    char b[48];
    ds_usage_line(fp, "    --valid AUDIO", valid_what, "none");
    snprintf(b, sizeof b, "%ld (%.0f s)", s->max_tokens, (double)s->max_tokens / DS_AUDIO_RATE);
    ds_usage_line(fp, "    --max-tokens N", "samples per batch (fairseq max_tokens)", b);
    ds_usage_line(fp, "    --min-samples N", "leave out shorter utterances", min_default);
    ds_usage_line(fp, "    --cache-mb N", "decoded audio kept in memory", "1024");
    ds_usage_line(fp, "    --stop-at STEP", "save and stop after this step (time-sliced jobs)", "off");
}

static int open_lines(ds_speech_set *set, const char *lines, long min_samples, long budget)
{
    char buf[8192], *in[512];
    snprintf(buf, sizeof buf, "%s", lines);
    int n = ds_run_split_inputs(buf, in, 512);
    return ds_speech_set_open(set, in, n, min_samples, budget);
}

int ds_speech_run_sets(const ds_run_cfg *cfg, long cache_mb, long valid_min_samples, ds_speech_set *train,
                       ds_speech_set *valid, int *have_valid)
{
    long budget = (cache_mb < 0 ? 1024 : cache_mb) * (1L << 20) / (long)sizeof(float);
    *have_valid = 0;
    int e = open_lines(train, cfg->audio, cfg->min_samples, budget);
    if (e || !cfg->valid_audio[0]) return e;
    if ((e = open_lines(valid, cfg->valid_audio, valid_min_samples, budget / 4))) return ds_err(e, "--valid: %s", ds_errmsg());
    *have_valid = 1;
    return 0;
}

void ds_speech_run_report(const char *cmd, const ds_speech_set *train, long min_samples, const char *what,
                          const char *tail)
{
    double sec = 0;
    for (long k = 0; k < train->n; k++) sec += (double)train->len[train->keep[k]] / DS_AUDIO_RATE;
    fprintf(stderr, "[M::%s] %ld %sutterances (%.1f s of audio)", cmd, train->n, what, sec);
    if (train->n_short) fprintf(stderr, ", %ld shorter than %ld samples left out", train->n_short, min_samples);
    fprintf(stderr, "%s\n", tail);
    /* lines without their audio file say the corpus is incomplete */
    if (train->list.warn && train->list.n_orphan_lines) fprintf(stderr, "[W::%s] %s\n", cmd, train->list.warn);
}
