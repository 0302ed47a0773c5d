/* Speech recognition evaluation (cmd/asr.c, eval --from CTC_CKPT): the
 * greedy transcripts of a CTC model scored against LibriSpeech-style
 * transcripts. A random-weights model transcribes garbage, so these test
 * the plumbing: counts that agree with each other and with the predictions
 * file, N = the reference words, references as listed, transcripts of
 * unlabelled audio, the mixed-input warning and the refusals. */
#include "test.h"
#include "cli.h"
#include "cmd/asr.h"
#include "core/error.h"
#include "io/char_vocab.h"
#include "io/checkpoint.h"
#include "presets.h"

#include <jansson.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEECH "testdata/speech/LibriSpeech-mini"
#define FLAC48 "testdata/speech/Front_Center_48k.flac"
#define PRETRAIN_CKPT "testdata/wav2vec2_tiny.safetensors"
/* "FRONT CENTER", "FRONT LEFT", "REAR RIGHT" */
#define MINI_WORDS 6
#define MINI_CHARS 32

/* A wav2vec2-demo model with a CTC head and random weights. */
static ds_model *ctc_model(char **json)
{
    ds_model *m = NULL;
    *json = NULL;
    if (ds_preset_config_json("wav2vec2-demo", NULL, 0.5f, json) || ds_config_set_bool(json, "ctc_head", 1) ||
        ds_config_set_bool(json, "pretraining_head", 0) || ds_model_from_json(&m, *json) ||
        m->vt->init_weights(m, 11)) {
        CHECK_MSG(0, "making the CTC model: %s", ds_errmsg());
        ds_model_free(m);
        free(*json);
        *json = NULL;
        return NULL;
    }
    return m;
}

/* The model above saved as a checkpoint in the scratch directory (once). */
static const char *ctc_ckpt(void)
{
    static char path[4096];
    if (path[0]) return path;
    char *json;
    ds_model *m = ctc_model(&json);
    if (!m) return "no-ctc-checkpoint";
    snprintf(path, sizeof path, "%s/asr_ctc.safetensors", ds_test_tmpdir());
    if (ds_checkpoint_save(path, &m->params, json)) {
        CHECK_MSG(0, "saving the CTC model: %s", ds_errmsg());
        path[0] = 0;
    }
    ds_model_free(m);
    free(json);
    return path[0] ? path : "no-ctc-checkpoint";
}

/* ---- ds_asr_evaluate ---------------------------------------------------- */

typedef struct {
    int n;
    char id[8][256], ref[8][64];
    int has_ref[8], has_counts[8], hyp_normalised[8];
    ds_edit_counts words, chars;
    int stop_after;   /* > 0: return an error after this many calls */
} calls;

static int record(void *ctx, const char *id, const char *ref, const char *hyp, const ds_edit_counts *w,
                  const ds_edit_counts *c)
{
    calls *k = ctx;
    if (k->n < 8) {
        snprintf(k->id[k->n], sizeof k->id[0], "%s", id);
        snprintf(k->ref[k->n], sizeof k->ref[0], "%s", ref ? ref : "");
        k->has_ref[k->n] = ref != NULL;
        k->has_counts[k->n] = w && c;
        char norm[4096];
        snprintf(norm, sizeof norm, "%s", hyp);
        ds_transcript_normalize(norm, norm);
        k->hyp_normalised[k->n] = !strcmp(norm, hyp);
    }
    if (w) ds_edit_counts_add(&k->words, w);
    if (c) ds_edit_counts_add(&k->chars, c);
    k->n++;
    return k->stop_after && k->n >= k->stop_after ? ds_err(DS_EINVAL, "stop here") : 0;
}

static int open_mixed_set(ds_speech_set *s)
{
    char *in[] = { SPEECH, FLAC48 };
    int e = ds_speech_set_open(s, in, 2, 1, 0);
    CHECK_MSG(!e, "%s", ds_errmsg());
    return e;
}

TEST(test_asr_evaluate_calls_back_once_per_utterance_in_order_with_the_normalised_reference)
{
    char *json;
    ds_model *m = ctc_model(&json);
    ds_speech_set s;
    if (!m || open_mixed_set(&s)) { ds_model_free(m); free(json); return; }
    calls k = {0};
    ds_asr_result r;
    CHECK_EQ_INT(ds_asr_evaluate(m, &s, record, &k, &r), 0);
    CHECK_EQ_INT(k.n, 4);
    const char *ids[] = { "9001-1-0000", "9001-1-0001", "9001-1-0002", FLAC48 };
    const char *refs[] = { "FRONT CENTER", "FRONT LEFT", "REAR RIGHT", "" };
    for (int i = 0; i < 4 && i < k.n; i++) {
        CHECK_MSG(!strcmp(k.id[i], ids[i]), "call %d: id %s, expected %s", i, k.id[i], ids[i]);
        CHECK_MSG(!strcmp(k.ref[i], refs[i]), "call %d: reference '%s', expected '%s'", i, k.ref[i], refs[i]);
        CHECK_EQ_INT(k.has_ref[i], i < 3);
        CHECK_EQ_INT(k.has_counts[i], i < 3);
        CHECK_MSG(k.hyp_normalised[i], "call %d: the hypothesis is not normalised", i);
    }
    ds_speech_set_free(&s);
    ds_model_free(m);
    free(json);
}

TEST(test_asr_evaluate_totals_are_the_sums_of_the_per_utterance_counts)
{
    char *json;
    ds_model *m = ctc_model(&json);
    ds_speech_set s;
    if (!m || open_mixed_set(&s)) { ds_model_free(m); free(json); return; }
    calls k = {0};
    ds_asr_result r;
    CHECK_EQ_INT(ds_asr_evaluate(m, &s, record, &k, &r), 0);
    CHECK_EQ_INT(r.utterances, 4);
    CHECK_EQ_INT(r.scored, 3);
    CHECK_EQ_INT(r.unscored, 1);
    CHECK_EQ_INT(r.words.n_ref, MINI_WORDS);
    CHECK_EQ_INT(r.chars.n_ref, MINI_CHARS);
    CHECK_EQ_INT(r.words.n_utt, 3);
    CHECK_EQ_INT(r.words.sub, k.words.sub);
    CHECK_EQ_INT(r.words.del, k.words.del);
    CHECK_EQ_INT(r.words.ins, k.words.ins);
    CHECK_EQ_INT(r.chars.sub + r.chars.del + r.chars.ins, k.chars.sub + k.chars.del + k.chars.ins);
    CHECK_EQ_INT(r.loss_n, 3);   /* the CTC loss of the three with a transcript */
    CHECK_MSG(isfinite(r.loss) && r.loss > 0, "mean CTC loss %g", r.loss);
    CHECK(r.samples > 16000 && r.wall_s > 0);
    ds_speech_set_free(&s);
    ds_model_free(m);
    free(json);
}

TEST(test_asr_evaluate_stops_at_the_callbacks_error)
{
    char *json;
    ds_model *m = ctc_model(&json);
    ds_speech_set s;
    if (!m || open_mixed_set(&s)) { ds_model_free(m); free(json); return; }
    calls k = { .stop_after = 2 };
    ds_asr_result r;
    CHECK_EQ_INT(ds_asr_evaluate(m, &s, record, &k, &r), DS_EINVAL);
    CHECK_EQ_INT(k.n, 2);
    ds_speech_set_free(&s);
    ds_model_free(m);
    free(json);
}

TEST(test_asr_evaluate_refuses_a_model_without_a_ctc_head)
{
    ds_model *m = NULL;
    if (ds_model_load(&m, PRETRAIN_CKPT)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    ds_speech_set s;
    if (open_mixed_set(&s)) { ds_model_free(m); return; }
    ds_asr_result r;
    CHECK_EQ_INT(ds_asr_evaluate(m, &s, NULL, NULL, &r), DS_EINVAL);
    CHECK_MSG(strstr(ds_errmsg(), "CTC"), "error '%s' does not ask for a CTC model", ds_errmsg());
    ds_speech_set_free(&s);
    ds_model_free(m);
}

/* A LibriSpeech tree in the scratch directory holding one 16 kHz WAV of n
 * samples (a tone) transcribed "HELLO WORLD"; returns the tree's root. */
static const char *short_tree(long n)
{
    static char root[600];
    char dir[700], path[800];
    snprintf(root, sizeof root, "%s/asr_short", ds_test_tmpdir());
    snprintf(dir, sizeof dir, "%s/7", root);
    mkdir(root, 0700);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/7/1", root);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/7-1.trans.txt", dir);
    FILE *fp = fopen(path, "w");
    if (fp) { fputs("7-1-0000 HELLO WORLD\n", fp); fclose(fp); }
    snprintf(path, sizeof path, "%s/7-1-0000.wav", dir);
    SF_INFO si = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &si);
    double x[1024];
    for (long i = 0; i < n && i < 1024; i++) x[i] = 0.3 * sin(0.05 * (double)i);
    if (sf) { sf_write_double(sf, x, n); sf_close(sf); }
    CHECK_MSG(fp && sf, "could not write the tree under %s", root);
    return root;
}

TEST(test_asr_evaluate_scores_an_utterance_shorter_than_one_frame_as_all_deletions)
{
    char *json;
    ds_model *m = ctc_model(&json);
    if (!m) return;
    long n = ds_w2v_min_samples(ds_w2v_cfg(m)) - 1;
    CHECK(n > 0 && n < 1024);
    char *in[] = { (char *)short_tree(n) };
    ds_speech_set s;
    int e = ds_speech_set_open(&s, in, 1, 1, 0);
    CHECK_MSG(!e, "%s", ds_errmsg());
    if (e) { ds_model_free(m); free(json); return; }
    ds_asr_result r;
    CHECK_EQ_INT(ds_asr_evaluate(m, &s, NULL, NULL, &r), 0);
    CHECK_EQ_INT(r.scored, 1);
    CHECK_EQ_INT(r.too_short, 1);
    CHECK_EQ_INT(r.words.n_ref, 2);
    CHECK_EQ_INT(r.words.del, 2);
    CHECK_EQ_INT(r.words.sub + r.words.ins, 0);
    CHECK_EQ_INT(r.loss_n, 0);   /* no frames, no CTC loss */
    CHECK(isnan(r.loss));
    ds_speech_set_free(&s);
    ds_model_free(m);
    free(json);
}

/* ---- eval --from CTC_CKPT ---------------------------------------------- */

/* The value of "key\t" on its own line of the table, or NULL. */
static const char *table_value(const char *out, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, n) && p[n] == '\t') return p + n + 1;
    return NULL;
}

/* Splits the TSV's rows into fields (in place); returns the row count
 * (header excluded) or -1 when the header is wrong. */
static int tsv_rows(char *text, char *fields[][5], int max)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, "id\treference\thypothesis\tword_errors\twords")) return -1;
    int n = 0;
    while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
        char *p = line;
        for (int f = 0; f < 5; f++) {
            fields[n][f] = p;
            char *t = p ? strchr(p, '\t') : NULL;
            if (t) *t = 0;
            p = t ? t + 1 : NULL;
        }
        n++;
    }
    return n;
}

TEST(test_eval_ctc_prints_wer_and_cer_and_json_counts_that_the_predictions_rows_add_up_to)
{
    const char *ck = ctc_ckpt(), *js = tmp_path("asr_mini.json"), *tsv = tmp_path("asr_mini.tsv");
    CHECK_EQ_INT(run("eval --from %s --json '%s' --predictions '%s' --quiet %s", ck, js, tsv, SPEECH), 0);
    CHECK_MSG(table_value(g_out, "wer_percent") && table_value(g_out, "cer_percent"), "no WER/CER lines: '%s'", g_out);
    const char *w = table_value(g_out, "words");
    CHECK(w && atol(w) == MINI_WORDS);
    json_t *j = json_load_file(js, 0, NULL);
    CHECK_MSG(j, "%s is not JSON", js);
    if (!j) return;
    long sub = (long)json_integer_value(json_object_get(j, "word_sub")),
         del = (long)json_integer_value(json_object_get(j, "word_del")),
         ins = (long)json_integer_value(json_object_get(j, "word_ins")),
         words = (long)json_integer_value(json_object_get(j, "words"));
    CHECK_EQ_INT(words, MINI_WORDS);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "chars")), MINI_CHARS);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "utterances")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "scored")), 3);
    CHECK_NEAR(json_real_value(json_object_get(j, "wer")), (double)(sub + del + ins) / MINI_WORDS, 1e-12);
    long cs = (long)json_integer_value(json_object_get(j, "char_sub")), cd = (long)json_integer_value(json_object_get(j, "char_del")),
         ci = (long)json_integer_value(json_object_get(j, "char_ins"));
    CHECK_NEAR(json_real_value(json_object_get(j, "cer")), (double)(cs + cd + ci) / MINI_CHARS, 1e-12);
    CHECK(json_is_real(json_object_get(j, "loss")) && json_is_real(json_object_get(j, "seconds")));
    static char text[1 << 16];
    char *f[8][5];
    slurp(tsv, text, sizeof text);
    int n = tsv_rows(text, f, 8);
    CHECK_EQ_INT(n, 3);
    long errors = 0, n_ref = 0;
    for (int i = 0; i < n; i++) {
        CHECK_MSG(f[i][4], "row %d has fewer than 5 fields", i);
        if (!f[i][4]) continue;
        errors += atol(f[i][3]);
        n_ref += atol(f[i][4]);
    }
    CHECK_EQ_INT(errors, sub + del + ins);   /* the corpus WER recomputed from the rows */
    CHECK_EQ_INT(n_ref, words);
    json_decref(j);
}

TEST(test_eval_ctc_predictions_have_a_row_per_utterance_with_its_reference)
{
    const char *tsv = tmp_path("asr_rows.tsv");
    CHECK_EQ_INT(run("eval --from %s --predictions '%s' --quiet %s", ctc_ckpt(), tsv, SPEECH), 0);
    static char text[1 << 16];
    char *f[8][5];
    slurp(tsv, text, sizeof text);
    CHECK_EQ_INT(tsv_rows(text, f, 8), 3);
    const char *ids[] = { "9001-1-0000", "9001-1-0001", "9001-1-0002" };
    const char *refs[] = { "FRONT CENTER", "FRONT LEFT", "REAR RIGHT" };
    const char *nw[] = { "2", "2", "2" };
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(f[i][0] && !strcmp(f[i][0], ids[i]), "row %d id '%s'", i, f[i][0] ? f[i][0] : "");
        CHECK_MSG(f[i][1] && !strcmp(f[i][1], refs[i]), "row %d reference '%s'", i, f[i][1] ? f[i][1] : "");
        CHECK_MSG(f[i][4] && !strcmp(f[i][4], nw[i]), "row %d words '%s'", i, f[i][4] ? f[i][4] : "");
    }
}

TEST(test_eval_ctc_predictions_dash_writes_the_tsv_to_stdout_instead_of_the_table)
{
    CHECK_EQ_INT(run("eval --from %s --predictions - --quiet %s", ctc_ckpt(), SPEECH), 0);
    CHECK_MSG(!strncmp(g_out, "id\treference\thypothesis\tword_errors\twords\n", 41), "stdout: '%s'", g_out);
    CHECK_EQ_INT(nlines(g_out), 4);
    CHECK(!table_value(g_out, "wer_percent"));
}

TEST(test_eval_ctc_of_unlabelled_audio_prints_id_tab_hypothesis_lines)
{
    CHECK_EQ_INT(run("eval --from %s --quiet %s", ctc_ckpt(), FLAC48), 0);
    CHECK_EQ_INT(nlines(g_out), 1);
    CHECK_MSG(!strncmp(g_out, FLAC48 "\t", strlen(FLAC48) + 1), "stdout: '%s'", g_out);
    CHECK(!strchr(g_out + strlen(FLAC48) + 1, '\t'));
    CHECK_MSG(g_err[0] == 0, "stderr: '%s'", g_err);
}

TEST(test_eval_ctc_of_unlabelled_audio_with_predictions_writes_empty_references)
{
    const char *tsv = tmp_path("asr_unlabelled.tsv");
    CHECK_EQ_INT(run("eval --from %s --predictions '%s' --quiet %s", ctc_ckpt(), tsv, FLAC48), 0);
    static char text[1 << 16];
    char *f[4][5];
    slurp(tsv, text, sizeof text);
    CHECK_EQ_INT(tsv_rows(text, f, 4), 1);
    CHECK(f[0][0] && !strcmp(f[0][0], FLAC48));
    CHECK(f[0][1] && f[0][1][0] == 0);   /* no reference */
    CHECK(f[0][4] && f[0][4][0] == 0);
    CHECK(table_value(g_out, "scored") && atol(table_value(g_out, "scored")) == 0);
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

TEST(test_eval_ctc_of_mixed_input_scores_the_labelled_and_warns_once_naming_count_and_first_id)
{
    const char *tsv = tmp_path("asr_mixed.tsv");
    CHECK_EQ_INT(run("eval --from %s --predictions '%s' %s %s", ctc_ckpt(), tsv, SPEECH, FLAC48), 0);
    CHECK_EQ_INT(count(g_err, "[W::eval]"), 1);
    CHECK_MSG(strstr(g_err, "1 of 4 utterances have no transcript") && strstr(g_err, FLAC48), "stderr: '%s'", g_err);
    CHECK(table_value(g_out, "scored") && atol(table_value(g_out, "scored")) == 3);
    CHECK(table_value(g_out, "words") && atol(table_value(g_out, "words")) == MINI_WORDS);
    static char text[1 << 16];
    char *f[8][5];
    slurp(tsv, text, sizeof text);
    CHECK_EQ_INT(tsv_rows(text, f, 8), 4);   /* every utterance transcribed */
    CHECK(f[3][0] && !strcmp(f[3][0], FLAC48) && f[3][1] && !f[3][1][0]);
}

TEST(test_eval_predictions_with_a_pretraining_wav2vec2_checkpoint_asks_for_a_ctc_model)
{
    const char *tsv = tmp_path("asr_never.tsv");
    remove(tsv);
    CHECK_ERROR(run("eval --from %s --predictions '%s' %s", PRETRAIN_CKPT, tsv, SPEECH), 2, " eval", "CTC model");
    FILE *fp = fopen(tsv, "r");
    CHECK(!fp);
    if (fp) fclose(fp);
}

TEST(test_eval_ctc_predictions_overwriting_an_input_is_refused)
{
    const char *ck = ctc_ckpt();
    CHECK_ERROR(run("eval --from %s --predictions '%s' %s", ck, ck, SPEECH), 2, " eval", "refusing to overwrite");
    CHECK_ERROR(run("eval --from %s --predictions %s %s %s", ck, FLAC48, SPEECH, FLAC48), 2, " eval",
                "refusing to overwrite");
    ds_model *m = NULL;
    CHECK_MSG(!ds_model_load(&m, ck), "the checkpoint no longer loads: %s", ds_errmsg());
    ds_model_free(m);
}
