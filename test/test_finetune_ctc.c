/* finetune --task ctc from the command line: a fresh wav2vec2-demo learns
 * three real bundled utterances (testdata/speech/LibriSpeech-mini) to a low
 * CER; fine-tuning a pretrained checkpoint adds lm_head, drops the
 * pretraining head and keeps the frozen feature encoder; a run resumes
 * bitwise with time/channel masks, LayerDrop and --freeze-steps; bad input
 * gets one-line errors. */
#include "test.h"
#include "cli.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEECH "testdata/speech/LibriSpeech-mini"
#define UNLABELLED "testdata/speech/Front_Center_48k.flac"

/* The number after "key": in the last line of log that has it; NaN if none. */
static double last_value(const char *log, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    double v = NAN;
    for (const char *p = strstr(log, pat); p; p = strstr(p + 1, pat)) v = strtod(p + strlen(pat), NULL);
    return v;
}

static double first_value(const char *log, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(log, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static const char *run_dir(const char *name)
{
    static char d[4][600];
    static int k;
    char *s = d[k++ & 3];
    snprintf(s, 600, "%s/%s", ds_test_tmpdir(), name);
    return s;
}

/* Three utterances ("FRONT CENTER", "FRONT LEFT", "REAR RIGHT"), no masks:
 * the CTC loss leaves the all-blank plateau and greedy decoding gets the
 * words back. LayerNorm: it leaves the plateau in a few hundred steps at
 * this size (Derf takes longer: README.md, "Speech recognition (CTC)"). */
TEST(test_finetune_ctc_learns_three_real_utterances_to_a_low_cer)
{
    const char *dir = run_dir("ctc_overfit");
    CHECK_EQ_INT(run("finetune --task ctc --model wav2vec2-demo --norm layernorm " SPEECH " --valid " SPEECH
                     " --steps 500 --lr 1e-3 --schedule constant --warmup 50 --eval-every 250 --mask-prob 0"
                     " --mask-channel-prob 0 --layerdrop 0 -t 1 --quiet -o '%s'", dir), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    char path[700];
    static char log[1 << 18];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    slurp(path, log, sizeof log);
    double l0 = first_value(log, "loss"), l1 = last_value(log, "loss"), cer = last_value(log, "val_cer");
    CHECK_MSG(l1 < 0.1 * l0, "the training loss went from %g to %g only", l0, l1);
    CHECK_MSG(cer <= 0.2, "validation CER %g after 500 steps (want <= 0.2)", cer);
    CHECK(last_value(log, "val_words") == 6);
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    ds_st_file f;
    CHECK_MSG(ds_st_open(&f, path) == 0, "%s", ds_errmsg());
    const ds_st_tensor *t = ds_st_find(&f, "lm_head.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 32 && t->shape[1] == 64);
    ds_st_close(&f);
}

static int read_tensor(const char *path, const char *name, float **x, size_t *n)
{
    ds_st_file f;
    if (ds_st_open(&f, path)) return -1;
    const ds_st_tensor *t = ds_st_find(&f, name);
    int r = -1;
    if (t && (*x = malloc(t->numel * sizeof **x))) {
        *n = t->numel;
        r = ds_st_read_f32(&f, t, *x);
    }
    ds_st_close(&f);
    return r;
}

/* A pretrained wav2vec2 checkpoint becomes a CTC model: lm_head [32, H]
 * added, quantizer and projections gone, the conv feature encoder exactly
 * the pretrained one (frozen), the transformer changed by training. */
TEST(test_finetune_ctc_from_a_pretrained_checkpoint_adds_lm_head_and_keeps_the_feature_encoder)
{
    const char *pt = run_dir("ctc_pre"), *ft = run_dir("ctc_from");
    CHECK_EQ_INT(run("pretrain --model wav2vec2-demo --min-samples 8000 --crop 16000 --max-tokens 32000 --steps 2 -t 2"
                     " --quiet -o '%s' " SPEECH, pt), 0);
    char ckpt[700], last[700];
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", pt);
    CHECK_EQ_INT(run("finetune --task ctc --from '%s' " SPEECH " --steps 3 --lr 1e-3 -t 2 --quiet -o '%s'", ckpt, ft), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    snprintf(last, sizeof last, "%s/last.safetensors", ft);
    ds_st_file f;
    CHECK_MSG(ds_st_open(&f, last) == 0, "%s", ds_errmsg());
    CHECK(ds_st_find(&f, "lm_head.weight") && ds_st_find(&f, "lm_head.bias"));
    CHECK(!ds_st_find(&f, "quantizer.codevectors") && !ds_st_find(&f, "project_hid.weight"));
    ds_st_close(&f);
    static const char *const names[2] = { "wav2vec2.feature_extractor.conv_layers.0.conv.weight",
                                          "wav2vec2.encoder.layers.0.attention.q_proj.weight" };
    for (int i = 0; i < 2; i++) {
        float *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        CHECK_EQ_INT(read_tensor(ckpt, names[i], &a, &na), 0);
        CHECK_EQ_INT(read_tensor(last, names[i], &b, &nb), 0);
        int same = na == nb && a && b && !memcmp(a, b, na * sizeof *a);
        if (i == 0) CHECK_MSG(same, "the frozen feature encoder changed");
        else CHECK_MSG(!same, "the transformer did not train");
        free(a);
        free(b);
    }
}

/* 6 steps in one go, and 3 + --resume 3, give byte-identical checkpoints
 * and logs: time and channel masks, LayerDrop and activation dropout are
 * redrawn, and --freeze-steps 2 holds the trunk across the split. */
TEST(test_finetune_ctc_resumes_bitwise)
{
    const char *a = run_dir("ctc_whole"), *b = run_dir("ctc_split");
    const char *opts = "--task ctc --model wav2vec2-demo " SPEECH " --valid " SPEECH " --steps 6 --save-every 3"
                       " --eval-every 2 --freeze-steps 2 --lr 1e-3 --batch-size 2 -t 2 --quiet";
    CHECK_EQ_INT(run("finetune %s -o '%s'", opts, a), 0);
    CHECK_EQ_INT(run("finetune %s --stop-at 3 -o '%s'", opts, b), 0);
    CHECK_EQ_INT(run("finetune --resume '%s' -t 2 --quiet", b), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    static const char *const files[2] = { "last.safetensors", "best.safetensors" };
    for (int i = 0; i < 2; i++) {
        char fa[700], fb[700];
        snprintf(fa, sizeof fa, "%s/%s", a, files[i]);
        snprintf(fb, sizeof fb, "%s/%s", b, files[i]);
        CHECK_MSG(same_file(fa, fb), "%s of the resumed run differs from the uninterrupted one", files[i]);
    }
    char la[700];
    static char log[1 << 16];
    snprintf(la, sizeof la, "%s/log.jsonl", a);
    slurp(la, log, sizeof log);
    CHECK(strstr(log, "\"trunk_frozen\":true") && strstr(log, "\"trunk_frozen\":false") && strstr(log, "\"val_wer\""));
}

TEST(test_finetune_ctc_audio_without_a_transcript_is_an_error_naming_it)
{
    CHECK_ERROR(run("finetune --task ctc --model wav2vec2-demo " UNLABELLED " -o '%s'", run_dir("ctc_unlabelled")), 1,
                " finetune", "Front_Center_48k.flac");
    CHECK(strstr(g_err, "no transcript"));
}

TEST(test_finetune_ctc_utterance_longer_than_a_batch_is_an_error_naming_it)
{
    CHECK_ERROR(run("finetune --task ctc --model wav2vec2-demo --max-tokens 8000 " SPEECH " -o '%s'",
                    run_dir("ctc_long")), 1, " finetune", "--max-tokens");
    CHECK(strstr(g_err, "9001-1-000"));
}

TEST(test_finetune_ctc_usage_errors_say_what_is_expected)
{
    CHECK_ERROR(run("finetune --task ctc " SPEECH " -o /tmp/never"), 2, " finetune", "--from");
    CHECK_ERROR(run("finetune --task ctc --model hyenadna-tiny " SPEECH " -o /tmp/never"), 2, " finetune",
                "wav2vec2 preset");
    CHECK_ERROR(run("finetune --task ctc --from testdata/wav2vec2_tiny.safetensors --norm dyt " SPEECH " -o /tmp/never"),
                2, " finetune", "--norm");
    CHECK_ERROR(run("finetune --task ctc --model wav2vec2-demo -o /tmp/never"), 2, " finetune", "DATA");
}

TEST(test_finetune_ctc_from_a_dna_checkpoint_is_refused)
{
    CHECK_ERROR(run("finetune --task ctc --from testdata/caduceus_tiny_ps.safetensors " SPEECH " -o '%s'",
                    run_dir("ctc_dna")), 1, " finetune", "wav2vec2");
}
