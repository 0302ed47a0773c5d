/* wav2vec2 from the command line: the converted official-layout checkpoint
 * (scripts/convert_wav2vec2.py on a twin saved in the HF layout) embeds its
 * WAV inputs to the twin's hidden states; speech pretraining on real speech
 * (testdata/speech) logs its loss parts and resumes bitwise; eval is
 * deterministic; bad inputs get one-line errors. */
#include "test.h"
#include "cli.h"
#include "core/error.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY "testdata/wav2vec2_tiny.safetensors"
#define TINY_HIDDEN "testdata/golden/wav2vec2_tiny_hidden.safetensors"
#define SPEECH "testdata/speech/LibriSpeech-mini"

/* A model of the goldens' size with every dropout and LayerDrop on, so a
 * resumed run must redraw them exactly. */
static const char *small_config(void)
{
    return write_tmp("w2v_small.json",
                     "{\"arch\": \"wav2vec2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2,"
                     " \"intermediate_size\": 64, \"conv_dim\": [16, 16, 16, 16, 16, 16, 16],"
                     " \"conv_kernel\": [10, 3, 3, 3, 3, 2, 2], \"conv_stride\": [5, 2, 2, 2, 2, 2, 2],"
                     " \"do_stable_layer_norm\": true, \"num_conv_pos_embeddings\": 8,"
                     " \"num_conv_pos_embedding_groups\": 4, \"hidden_dropout\": 0.1, \"attention_dropout\": 0.1,"
                     " \"activation_dropout\": 0.1, \"feat_proj_dropout\": 0.1, \"feat_quantizer_dropout\": 0.1,"
                     " \"layerdrop\": 0.2, \"num_codevectors_per_group\": 16, \"codevector_dim\": 16,"
                     " \"proj_codevector_dim\": 16, \"num_negatives\": 10}");
}

#define PRETRAIN_OPTS "--min-samples 8000 --crop 16000 --max-tokens 32000 --steps 4 --save-every 2 -t 2 --quiet"

/* The embed of the two WAVs the twin read (PCM16, 16 kHz) equals the
 * twin's hidden states of the official-layout checkpoint, frame by frame. */
TEST(test_embed_converted_wav2vec2_checkpoint_reproduces_the_twin_hidden_states)
{
    const char *out = tmp_path("w2v_tiny_embed.safetensors");
    CHECK_EQ_INT(run("embed --from %s --pool none --format safetensors -o '%s' --quiet "
                     "testdata/wav2vec2_tiny_a.wav testdata/wav2vec2_tiny_b.wav", TINY, out), 0);
    ds_st_file got, want;
    if (ds_st_open(&got, out)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    if (ds_st_open(&want, TINY_HIDDEN)) { CHECK_MSG(0, "%s", ds_errmsg()); ds_st_close(&got); return; }
    const ds_st_tensor *th = ds_st_find(&want, "golden.hidden"), *tl = ds_st_find(&want, "golden.lens");
    CHECK(th && tl && th->ndim == 3);
    if (th && tl) {
        float *h = malloc(th->numel * sizeof *h);
        ds_st_read_f32(&want, th, h);
        const int32_t *lens = (const int32_t *)(want.data + tl->begin);
        int T = (int)th->shape[1], d = (int)th->shape[2];
        const char *ids[2] = { "testdata/wav2vec2_tiny_a.wav", "testdata/wav2vec2_tiny_b.wav" };
        for (int b = 0; b < 2; b++) {
            const ds_st_tensor *t = ds_st_find(&got, ids[b]);
            CHECK_MSG(t && t->numel == (size_t)lens[b] * d, "%s: no [%d, %d] tensor", ids[b], lens[b], d);
            if (!t || t->numel != (size_t)lens[b] * d) continue;
            float *x = malloc(t->numel * sizeof *x);
            ds_st_read_f32(&got, t, x);
            CHECK_CLOSE(ids[b], x, h + (size_t)b * T * d, (long)lens[b] * d, 1e-4);
            free(x);
        }
        free(h);
    }
    ds_st_close(&got);
    ds_st_close(&want);
}

/* The mean-pooled row is the mean of the frames: one row per utterance of
 * a LibriSpeech tree, named by the utterance ids in sorted order. */
TEST(test_embed_wav2vec2_librispeech_tree_gives_one_row_per_utterance_id)
{
    CHECK_EQ_INT(run("embed --from %s --quiet %s", TINY, SPEECH), 0);
    CHECK_EQ_INT(nlines(g_out), 3);
    CHECK(!strncmp(g_out, "9001-1-0000\t", 12));
    CHECK(strstr(g_out, "\n9001-1-0001\t") && strstr(g_out, "\n9001-1-0002\t"));
}

/* 4 steps in one go, and 2 + --resume 2, give byte-identical checkpoints
 * (crops, masks, negatives, Gumbel noise, dropout and LayerDrop redrawn). */
TEST(test_pretrain_wav2vec2_resumes_bitwise)
{
    const char *cfg = small_config();
    char a[600], b[600], fa[700], fb[700];
    snprintf(a, sizeof a, "%s/w2v_whole", ds_test_tmpdir());
    snprintf(b, sizeof b, "%s/w2v_split", ds_test_tmpdir());
    CHECK_EQ_INT(run("pretrain --config '%s' " PRETRAIN_OPTS " -o '%s' " SPEECH " testdata/speech/Front_Center_48k.flac",
                     cfg, a), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    CHECK_EQ_INT(run("pretrain --config '%s' " PRETRAIN_OPTS " --stop-at 2 -o '%s' " SPEECH
                     " testdata/speech/Front_Center_48k.flac", cfg, b), 0);
    CHECK_EQ_INT(run("pretrain --resume '%s' --quiet -t 2", b), 0);
    snprintf(fa, sizeof fa, "%s/last.safetensors", a);
    snprintf(fb, sizeof fb, "%s/last.safetensors", b);
    CHECK_MSG(same_file(fa, fb), "the resumed wav2vec2 run differs from the uninterrupted one");
    snprintf(fa, sizeof fa, "%s/log.jsonl", a);
    static char log[1 << 15];
    slurp(fa, log, sizeof log);
    CHECK_EQ_INT(nlines(log), 5);   /* 4 steps and the closing "done" record */
    static const char *const keys[] = { "\"contrastive\"", "\"diversity\"", "\"feature_pen\"", "\"prob_perplexity\"",
                                        "\"code_perplexity\"", "\"accuracy\"", "\"temperature\"", "\"audio_s_per_s\"" };
    for (int i = 0; i < 8; i++) CHECK_MSG(strstr(log, keys[i]), "log.jsonl lacks %s", keys[i]);
}

/* Two evals of one checkpoint print the same numbers (masks and negatives
 * from --seed), and --json holds the loss parts. */
TEST(test_eval_wav2vec2_is_deterministic_and_reports_the_loss_parts)
{
    const char *js = tmp_path("w2v_eval.json");
    CHECK_EQ_INT(run("eval --from %s --quiet %s", TINY, SPEECH), 0);
    static char first[sizeof g_out];
    snprintf(first, sizeof first, "%s", g_out);
    CHECK(strstr(first, "\nloss\t") && strstr(first, "\ncontrastive\t") && strstr(first, "\ncode_perplexity\t"));
    CHECK_EQ_INT(run("eval --from %s --quiet --json '%s' %s", TINY, js, SPEECH), 0);
    CHECK_MSG(!strcmp(first, g_out), "two evals differ:\n%s\n%s", first, g_out);
    static char j[1 << 12];
    slurp(js, j, sizeof j);
    CHECK(strstr(j, "\"loss_bits\"") && strstr(j, "\"diversity\"") && strstr(j, "\"masked_frames\""));
    CHECK_EQ_INT(run("eval --from %s --quiet --seed 7 %s", TINY, SPEECH), 0);
    CHECK_MSG(strcmp(first, g_out), "another --seed gave the same masks");
}

TEST(test_pretrain_wav2vec2_with_only_too_short_audio_is_an_error_naming_the_need)
{
    char out[600];
    snprintf(out, sizeof out, "%s/w2v_short", ds_test_tmpdir());
    CHECK_ERROR(run("pretrain --model wav2vec2-tiny --quiet --min-samples 200000 --crop 250000 -o '%s' " SPEECH, out), 1,
                " pretrain", "needed");
}

TEST(test_pretrain_wav2vec2_refuses_stdin_inputs_it_could_not_resume)
{
    CHECK_ERROR(run("pretrain --model wav2vec2-tiny -o /tmp/never - < /dev/null"), 2, " pretrain", "--resume");
}

TEST(test_embed_wav2vec2_refuses_dna_options)
{
    CHECK_ERROR(run("embed --from %s --tokens official %s", TINY, SPEECH), 2, " embed", "--tokens applies to DNA");
}

/* A file that is not audio stops the embed with its name; no row is written. */
TEST(test_embed_wav2vec2_names_a_corrupt_audio_file)
{
    const char *bad = write_tmp("not_audio.wav", "RIFF....WAVEjunkjunkjunk");
    CHECK_ERROR(run("embed --from %s testdata/wav2vec2_tiny_a.wav '%s'", TINY, bad), 1, " embed", "not_audio.wav");
}

/* End to end, the objective learns: on one utterance, without dropout, the
 * contrastive loss of the last 10 of 150 steps is far below chance, ln(21)
 * for 20 negatives (3.04; it sits there at init: 3.04 ± 0.05), and over
 * a fifth of the masked frames pick their own target (chance 1/21; 2.16 and
 * 0.42 on every OpenBLAS kernel here). */
TEST(test_pretrain_wav2vec2_learns_one_utterance_well_below_chance)
{
    const char *cfg = write_tmp("w2v_learn.json",
        "{\"arch\": \"wav2vec2\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 2,"
        " \"intermediate_size\": 128, \"conv_dim\": [32, 32, 32, 32, 32, 32, 32], \"conv_kernel\": [10, 3, 3, 3, 3, 2, 2],"
        " \"conv_stride\": [5, 2, 2, 2, 2, 2, 2], \"do_stable_layer_norm\": true, \"num_conv_pos_embeddings\": 16,"
        " \"num_conv_pos_embedding_groups\": 4, \"hidden_dropout\": 0, \"attention_dropout\": 0,"
        " \"activation_dropout\": 0, \"feat_proj_dropout\": 0, \"feat_quantizer_dropout\": 0, \"layerdrop\": 0,"
        " \"num_codevectors_per_group\": 32, \"codevector_dim\": 32, \"proj_codevector_dim\": 32,"
        " \"num_negatives\": 20, \"norm\": \"derf\"}");
    char out[600], logp[700];
    snprintf(out, sizeof out, "%s/w2v_learn", ds_test_tmpdir());
    CHECK_EQ_INT(run("pretrain --config '%s' --min-samples 8000 --crop 32000 --max-tokens 64000 --steps 150 --warmup 10 "
                     "--lr 2e-3 -t 2 --quiet -o '%s' " SPEECH "/9001/1/9001-1-0000.flac", cfg, out), 0);
    snprintf(logp, sizeof logp, "%s/log.jsonl", out);
    static char log[1 << 17];
    slurp(logp, log, sizeof log);
    double first = -1, tail = 0, acc = 0;
    int n = 0, k = 0;
    for (const char *p = log; (p = strstr(p, "\"contrastive\":")); p++, k++) {
        double v = atof(p + 14), a = atof(strstr(p, "\"accuracy\":") + 11);
        if (k == 0) first = v;
        if (k >= 140) { tail += v; acc += a; n++; }
    }
    CHECK_EQ_INT(k, 150);
    CHECK_MSG(first > 2.7, "step 1 contrastive %.3f, expected near chance ln(21) = 3.04", first);
    CHECK_MSG(n && tail / n < 2.6, "last 10 steps: contrastive %.3f, not well below chance 3.04", n ? tail / n : 0);
    CHECK_MSG(n && acc / n > 0.2, "last 10 steps: accuracy %.3f, chance is 1/21", n ? acc / n : 0);
}
