/* derfseq eval: metrics of a checkpoint on held-out data, as a table on
 * stdout and optionally JSON (derfseq.md "Outputs", "Metrics"). DNA language
 * models today: loss, perplexity and bits per base on a genome's held-out
 * split. */
#include <dirent.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/gbtask.h"
#include "cmd/lm.h"
#include "core/metrics.h"
#include "cmd/opts.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/threads.h"
#include "io/outfile.h"
#include "io/regions.h"
#include "presets.h"
#include "cmd/asr.h"
#include "cmd/speech.h"
#include "io/audio.h"
#include "io/checkpoint.h"

enum { OPT_SPLIT = 1100, OPT_MAX_WINDOWS, OPT_MAX_N, OPT_LAYOUT, OPT_PREDICTIONS, OPT_CROP, OPT_LABELS };

typedef struct {
    ds_common_opts co;
    const char *from, *ref, *regions, *split;
    long batch_size, seq_len;   /* seq_len 0: min(1024, the model's length) */
    long max_windows, max_n;
    int layout;                 /* DS_GB_* for classifiers */
    const char *predictions;    /* classifier: per-sequence TSV */
    const char *labels;         /* classifier: --labels RAW=NAME,...; else the checkpoint's */
    long crop;                  /* speech: samples per utterance scored */
} eval_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "ref", required_argument, NULL, OPT_REF },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "batch-size", required_argument, NULL, OPT_BATCH },
    { "seq-len", required_argument, NULL, OPT_SEQLEN },
    { "split", required_argument, NULL, OPT_SPLIT },
    { "max-windows", required_argument, NULL, OPT_MAX_WINDOWS },
    { "max-n", required_argument, NULL, OPT_MAX_N },
    { "layout", required_argument, NULL, OPT_LAYOUT },
    { "predictions", required_argument, NULL, OPT_PREDICTIONS },
    { "labels", required_argument, NULL, OPT_LABELS },
    { "crop", required_argument, NULL, OPT_CROP },
    DS_LONGOPT_JSON, DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const eval_opts *o)
{
    char b[32];
    fprintf(fp, "Usage: derfseq eval --from CKPT [options] DATA...\n\n"
                "Prints the metrics of CKPT on DATA as a table on stdout: accuracy, MCC,\n"
                "macro F1 and per-class recall for classifiers; loss, perplexity and bits\n"
                "per base for DNA language models; contrastive and diversity loss and code\n"
                "perplexity for speech pretraining; WER and CER for CTC.\n\n"
                "Input:\n");
    ds_usage_line(fp, "    --from CKPT", "checkpoint to evaluate (safetensors), or RUNS/ for a suite", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for regions and coordinate datasets", "none");
    ds_usage_line(fp, "    --regions BED", "evaluate these regions (the --split rows if a 4th column)", "all of DATA");
    ds_usage_line(fp, "    --split NAME", "valid|test: BED split column value", "test");
    snprintf(b, sizeof b, "%ld", o->batch_size);
    ds_usage_line(fp, "    --batch-size N", "sequences per batch", b);
    ds_usage_line(fp, "    --seq-len N", "tokens per window", "1024 or the model's length");
    ds_usage_line(fp, "    --max-windows N", "evaluate at most N windows", "all");
    ds_usage_line(fp, "    --max-n N", "skip windows with more than N bases N", "seq-len/10");
    ds_usage_line(fp, "    --layout NAME", "classifier data: auto|tree|coords|table", "auto");
    ds_usage_line(fp, "    --predictions FILE", "one TSV row per sequence or utterance", "none");
    ds_usage_line(fp, "    --labels MAP", "classifier: class names of raw labels, RAW=NAME,...", "the checkpoint's");
    fprintf(fp, "    A fine-tuned classifier is scored on DATA's --split (default test):\n"
                "    accuracy beside the majority-class baseline, MCC, macro F1, AUROC and AUPRC\n"
                "    (binary: the second class positive; more: macro one-vs-rest; n/a when a\n"
                "    class is missing), per-class support, precision, recall, confusion matrix.\n"
                "    --split valid scores the validation part finetune held out, rebuilt from\n"
                "    the run's config.json next to CKPT (DATA optional).\n"
                "    --predictions rows: id (<class>/<id>), true, predicted, each class's probability.\n"
                "    Suite: --from RUNS/ with RUNS/<name>/best.safetensors scores each DATA/<name>/\n"
                "    and prints one row per dataset with a status column; it goes on past a\n"
                "    failing dataset and fails at the end if any did.\n");
    fprintf(fp, "    A DNA language model is scored on non-overlapping windows of the genome's\n"
                "    held-out part: the BED rows of --split, or without a BED the last 5%% of\n"
                "    every contig (the part pretrain holds out); --split train scores the\n"
                "    training part instead (the paper's training loss in evaluation mode).\n");
    snprintf(b, sizeof b, "%ld", DS_SPEECH_CROP);
    ds_usage_line(fp, "    --crop N", "speech pretraining: score the first N samples of each utterance", b);
    fprintf(fp, "    A wav2vec2 checkpoint is scored on AUDIO... (files, directories, a LibriSpeech\n"
                "    tree, manifests) in eval mode: no dropout, hard codes, time masks and negatives\n"
                "    drawn from --seed per utterance, so two evals agree. loss is per masked frame\n"
                "    in nats; loss_bits is fairseq's logged validation loss (the paper's number).\n");
    fprintf(fp, "    A CTC checkpoint (\"ctc_head\": true) transcribes each utterance of AUDIO...\n"
                "    whole (greedy decoding) and scores those with a transcript: WER and CER in %%\n"
                "    (LibriSpeech normalisation: upper case, punctuation but apostrophes removed),\n"
                "    substitutions, deletions, insertions, mean CTC loss per utterance, audio\n"
                "    seconds and real-time factor (in --json wer and cer are fractions).\n"
                "    --predictions rows: id, reference, hypothesis, word_errors, words (both\n"
                "    texts normalised; '-': on stdout instead of the table). Transcribing:\n"
                "    audio without any transcript prints id<TAB>hypothesis lines instead,\n"
                "    or the --predictions TSV with an empty reference column.\n");
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(eval_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case OPT_BATCH:
            if (ds_parse_long(&o->co, "batch-size", optarg, 1, &o->batch_size)) return 2;
            break;
        case OPT_SEQLEN:
            if (ds_parse_long_range(&o->co, "seq-len", optarg, 1, DS_SEQ_LEN_MAX, &o->seq_len)) return 2;
            break;
        case OPT_SPLIT:
            if (ds_split_parse(optarg) == DS_SPLIT_NONE)
                return ds_usage_error(o->co.cmd, "--split: expected train, valid or test, got '%s'", optarg);
            o->split = optarg;
            break;
        case OPT_MAX_WINDOWS:
            if (ds_parse_long(&o->co, "max-windows", optarg, 1, &o->max_windows)) return 2;
            break;
        case OPT_MAX_N:
            if (ds_parse_long(&o->co, "max-n", optarg, 0, &o->max_n)) return 2;
            break;
        case OPT_LAYOUT:
            if ((o->layout = ds_gb_layout_parse(optarg)) < 0)
                return ds_usage_error(o->co.cmd, "--layout: expected auto, tree, coords or table, got '%s'", optarg);
            break;
        case OPT_PREDICTIONS: o->predictions = optarg; break;
        case OPT_LABELS:
            if (ds_opt_gb_labels(o->co.cmd, optarg)) return 2;
            o->labels = optarg;
            break;
        case OPT_CROP:
            if (ds_parse_long(&o->co, "crop", optarg, 1, &o->crop)) return 2;
            break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return 0;
}

/* --json and --predictions must not overwrite --from, --ref, --regions,
 * any DATA or each other. */
static int check_outputs(const eval_opts *o, int nargs, char **args)
{
    const char *in[5 + nargs];
    int n = 0;
    in[n++] = o->from; in[n++] = o->ref; in[n++] = o->regions;
    for (int i = 0; i < nargs; i++) in[n++] = args[i];
    in[n] = o->predictions;
    int rc = ds_check_output(o->co.cmd, "--json", o->co.json_path, in, n + 1);
    if (!rc && o->predictions && o->co.json_path && !strcmp(o->predictions, o->co.json_path))
        return ds_usage_error(o->co.cmd, "--predictions %s: is also --json; give two files", o->predictions);
    in[n] = o->co.json_path;
    return rc ? rc : ds_check_output(o->co.cmd, "--predictions", o->predictions, in, n + 1);
}

static int write_json_file(const char *path, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) return ds_err(DS_ENOMEM, "out of memory");
    ds_outfile out;
    int e = ds_outfile_open(&out, path);
    if (!e) {
        fprintf(out.fp, "%s\n", text);
        e = ds_outfile_commit(&out);
        if (e) ds_outfile_abort(&out);
    }
    free(text);
    return e;
}

/* The metrics table on stdout and, with --json, the same as JSON. */
static int report(const eval_opts *o, const ds_model *m, const ds_lm_eval_result *r, const char *split_desc)
{
    double bits = r->loss / log(2.0);
    int table = !o->co.json_path || strcmp(o->co.json_path, "-");
    if (table) printf("checkpoint\t%s\nmodel\t%s\ndata\t%s\nsplit\t%s\n", o->from, m->vt->arch, o->ref, split_desc);
    const char *objective = m->vt->masked_lm ? "masked_lm" : "next_token";
    if (table) printf("objective\t%s\nwindows\t%ld\ntokens\t%ld\nloss_nats_per_token\t%.6f\nperplexity\t%.6f\n"
                      "bits_per_base\t%.6f\naccuracy\t%.6f\n", objective, r->windows, r->tokens, r->loss, exp(r->loss),
                      bits, r->accuracy);
    if (fflush(stdout)) return ds_err_errno(DS_EIO, "standard output");
    if (!o->co.json_path) return 0;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "checkpoint", o->from, "model",
                          m->vt->arch, "data", o->ref, "split", split_desc, "windows", (json_int_t)r->windows,
                          "tokens", (json_int_t)r->tokens, "loss", ds_json_real(r->loss), "perplexity",
                          ds_json_real(exp(r->loss)), "bits_per_base", ds_json_real(bits));
    json_object_set_new(j, "objective", json_string(objective));
    json_object_set_new(j, "accuracy", ds_json_real(r->accuracy));
    int e = write_json_file(o->co.json_path, j);
    json_decref(j);
    return e;
}

/* Speech pretraining losses of a wav2vec2 checkpoint on audio inputs. */
static int evaluate_speech(eval_opts *o, ds_model *m, char **inputs, int n)
{
    ds_speech_set set;
    int e = ds_speech_set_open(&set, inputs, n, ds_w2v_min_samples(ds_w2v_cfg(m)) * 4, 1L << 26);
    if (e) return e;
    ds_speech_eval r;
    e = ds_speech_evaluate(m, &set, o->crop, (uint64_t)o->co.seed, &r);
    long n_short = set.n_short;
    ds_speech_set_free(&set);
    if (e) return e;
    int table = !o->co.json_path || strcmp(o->co.json_path, "-");
    if (table) {
        printf("checkpoint\t%s\nmodel\twav2vec2\nobjective\tcontrastive\nutterances\t%ld\nseconds\t%.2f\n"
               "masked_frames\t%ld\n", o->from, r.utterances, (double)r.samples / 16000.0, r.masked);
        printf("loss\t%.6f\nloss_bits\t%.6f\ncontrastive\t%.6f\ndiversity\t%.6f\nfeature_pen\t%.6f\n"
               "prob_perplexity\t%.4f\ncode_perplexity\t%.4f\naccuracy\t%.6f\n", r.loss, r.loss / log(2.0),
               r.contrastive, r.diversity, r.feature_pen, r.prob_perplexity, r.code_perplexity, r.accuracy);
        if (n_short) printf("left_out_too_short\t%ld\n", n_short);
    }
    if (fflush(stdout)) return ds_err_errno(DS_EIO, "standard output");
    if (!o->co.json_path) return 0;
    json_t *j = ds_speech_eval_json(&r, "");
    json_object_set_new(j, "checkpoint", json_string(o->from));
    json_object_set_new(j, "model", json_string("wav2vec2"));
    json_object_set_new(j, "objective", json_string("contrastive"));
    e = write_json_file(o->co.json_path, j);
    json_decref(j);
    return e;
}

enum { CKPT_OTHER, CKPT_SPEECH, CKPT_CTC };

/* Whether --from is a wav2vec2 checkpoint (by its config's arch), and then
 * whether it has a CTC head (config "ctc_head": true). */
static int speech_checkpoint_kind(const char *path)
{
    char *cfg = ds_checkpoint_config(path);
    json_t *j = cfg ? json_loads(cfg, 0, NULL) : NULL;
    const char *a = json_string_value(json_object_get(j, "arch"));
    int kind = !a || strcmp(a, "wav2vec2") ? CKPT_OTHER : json_is_true(json_object_get(j, "ctc_head")) ? CKPT_CTC
                                                                                                       : CKPT_SPEECH;
    json_decref(j);
    free(cfg);
    ds_err_clear();
    return kind;
}

/* ---- speech recognition (CTC) ---------------------------------------- */

/* Where the per-utterance lines go: a --predictions file (streamed through
 * a temp file), or a memory buffer printed on stdout at the end, so that an
 * error leaves nothing on stdout. tsv: the predictions columns; else
 * `id<TAB>hypothesis` transcripts. */
typedef struct {
    ds_outfile file;
    int to_file, tsv;
    char *mem;
    size_t mem_len;
    FILE *fp;
} asr_sink;

static int sink_open(asr_sink *k, const char *predictions, int transcripts)
{
    memset(k, 0, sizeof *k);
    k->tsv = predictions != NULL;
    if (!predictions && !transcripts) return 0;
    if (predictions && strcmp(predictions, "-")) {
        int e = ds_outfile_open(&k->file, predictions);
        if (e) return e;
        k->to_file = 1;
        k->fp = k->file.fp;
    } else if (!(k->fp = open_memstream(&k->mem, &k->mem_len))) {
        return ds_err(DS_ENOMEM, "out of memory for the transcripts");
    }
    if (k->tsv) fputs("id\treference\thypothesis\tword_errors\twords\n", k->fp);
    return 0;
}

static int sink_row(void *ctx, const char *id, const char *ref, const char *hyp, const ds_edit_counts *w,
                    const ds_edit_counts *c)
{
    asr_sink *k = ctx;
    if (!k->fp) return 0;
    if (!k->tsv) fprintf(k->fp, "%s\t%s\n", id, hyp);
    else if (!ref) fprintf(k->fp, "%s\t\t%s\t\t\n", id, hyp);
    else fprintf(k->fp, "%s\t%s\t%s\t%ld\t%ld\n", id, ref, hyp, w->sub + w->del + w->ins, w->n_ref);
    return 0;
}

/* Commits the file, or prints the buffer (e == 0); else drops either. */
static int sink_close(asr_sink *k, int e)
{
    if (k->to_file) {
        if (!e) e = ds_outfile_commit(&k->file);   /* cleans up on failure */
        else ds_outfile_abort(&k->file);
    } else if (k->fp) {
        fclose(k->fp);
        if (!e && k->mem_len && fwrite(k->mem, 1, k->mem_len, stdout) != k->mem_len)
            e = ds_err_errno(DS_EIO, "standard output");
        free(k->mem);
    }
    return e;
}

static double percent(const ds_edit_counts *c) { return 100.0 * ds_edit_rate(c); }

static void print_asr_table(const eval_opts *o, const ds_asr_result *r, double seconds)
{
    printf("checkpoint\t%s\nmodel\twav2vec2\nobjective\tctc\nutterances\t%ld\nscored\t%ld\n", o->from, r->utterances,
           r->scored);
    if (r->unscored) printf("unscored_no_transcript\t%ld\n", r->unscored);
    if (r->scored) {
        const ds_edit_counts *w = &r->words, *c = &r->chars;
        printf("words\t%ld\nwer_percent\t%.2f\nword_sub\t%ld\nword_del\t%ld\nword_ins\t%ld\n", w->n_ref, percent(w),
               w->sub, w->del, w->ins);
        printf("chars\t%ld\ncer_percent\t%.2f\nchar_sub\t%ld\nchar_del\t%ld\nchar_ins\t%ld\n", c->n_ref, percent(c),
               c->sub, c->del, c->ins);
    }
    if (r->loss_n) printf("loss\t%.6f\n", r->loss);
    if (r->n_unk) printf("reference_chars_not_in_vocab\t%ld\n", r->n_unk);
    if (r->too_short) printf("too_short_for_a_frame\t%ld\n", r->too_short);
    printf("seconds\t%.2f\nrealtime_factor\t%.4f\n", seconds, seconds > 0 ? r->wall_s / seconds : 0.0);
}

static json_t *asr_json(const eval_opts *o, const ds_asr_result *r, double seconds)
{
    const ds_edit_counts *w = &r->words, *c = &r->chars;
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "checkpoint", o->from, "model", "wav2vec2", "objective",
                          "ctc", "utterances", (json_int_t)r->utterances, "scored", (json_int_t)r->scored, "unscored",
                          (json_int_t)r->unscored);
    json_object_set_new(j, "wer", ds_json_real(ds_edit_rate(w)));
    json_object_set_new(j, "word_sub", json_integer(w->sub));
    json_object_set_new(j, "word_del", json_integer(w->del));
    json_object_set_new(j, "word_ins", json_integer(w->ins));
    json_object_set_new(j, "words", json_integer(w->n_ref));
    json_object_set_new(j, "cer", ds_json_real(ds_edit_rate(c)));
    json_object_set_new(j, "char_sub", json_integer(c->sub));
    json_object_set_new(j, "char_del", json_integer(c->del));
    json_object_set_new(j, "char_ins", json_integer(c->ins));
    json_object_set_new(j, "chars", json_integer(c->n_ref));
    json_object_set_new(j, "loss", ds_json_real(r->loss));
    json_object_set_new(j, "reference_chars_not_in_vocab", json_integer(r->n_unk));
    json_object_set_new(j, "too_short_for_a_frame", json_integer(r->too_short));
    json_object_set_new(j, "seconds", ds_json_real(seconds));
    json_object_set_new(j, "realtime_factor", ds_json_real(seconds > 0 ? r->wall_s / seconds : 0.0));
    return j;
}

/* One warning for the utterances without a transcript when others have
 * one: they are transcribed (into --predictions) but not scored. */
static void warn_unlabelled(const eval_opts *o, const ds_speech_set *s, long labelled)
{
    if (o->co.quiet) return;
    if (s->list.warn && s->list.n_orphan_lines) fprintf(stderr, "[W::eval] %s\n", s->list.warn);
    if (!labelled || labelled == s->n) return;
    long k = 0;
    while (ds_speech_set_text(s, k)) k++;
    fprintf(stderr, "[W::eval] %ld of %ld utterances have no transcript (the first: %s): not scored; %s\n",
            s->n - labelled, s->n, ds_speech_set_id(s, k),
            o->predictions ? "their transcripts are in --predictions" : "--predictions FILE lists their transcripts");
}

/* WER, CER and CTC loss of a CTC model on AUDIO...; without any transcript,
 * the transcripts themselves. */
static int evaluate_asr(eval_opts *o, ds_model *m, char **inputs, int n)
{
    ds_speech_set set;
    int e = ds_speech_set_open(&set, inputs, n, 1, 0);   /* every utterance; decoded once each */
    if (e) return e;
    long labelled = 0;
    for (long k = 0; k < set.n; k++) labelled += ds_speech_set_text(&set, k) != NULL;
    warn_unlabelled(o, &set, labelled);
    int json_stdout = o->co.json_path && !strcmp(o->co.json_path, "-");
    int pred_stdout = o->predictions && !strcmp(o->predictions, "-");
    /* unlabelled audio: eval transcribes (id<TAB>hypothesis on stdout) */
    int transcripts = !labelled && !o->predictions && !json_stdout;
    asr_sink sink;
    ds_asr_result r;
    e = sink_open(&sink, o->predictions, transcripts);
    if (!e) e = sink_close(&sink, ds_asr_evaluate(m, &set, sink_row, &sink, &r));
    long n_short = set.n_short;
    ds_speech_set_free(&set);
    if (e) return e;
    double seconds = (double)r.samples / DS_AUDIO_RATE;
    if (!json_stdout && !pred_stdout && !transcripts) {
        print_asr_table(o, &r, seconds);
        if (n_short) printf("left_out_empty\t%ld\n", n_short);
    }
    if (fflush(stdout)) return ds_err_errno(DS_EIO, "standard output");
    if (!o->co.json_path) return 0;
    json_t *j = asr_json(o, &r, seconds);
    json_object_set_new(j, "left_out_empty", json_integer(n_short));
    e = write_json_file(o->co.json_path, j);
    json_decref(j);
    return e;
}

static int evaluate_lm(eval_opts *o, ds_model *m)
{
    ds_ref *ref = NULL;
    ds_regions bed = {0};
    ds_windows w = {0};
    ds_lm_head head = {0};
    ds_lm_batch batch = {0};
    ds_lm_eval_result res;
    long L = o->seq_len ? o->seq_len : (ds_lm_max_seq(m) < 1024 ? ds_lm_max_seq(m) : 1024);
    long max_n = o->max_n >= 0 ? o->max_n : L / 10;
    int split = o->split ? ds_split_parse(o->split) : DS_SPLIT_TEST;
    int e = L > ds_lm_max_seq(m) ? ds_err(DS_EINVAL, "--seq-len %ld exceeds the model's %d tokens", L, ds_lm_max_seq(m)) : 0;
    if (!e) e = ds_ref_open(&ref, o->ref);
    if (!e && o->regions) e = ds_bed_read(o->regions, &bed);
    int split_col = 0;
    for (int i = 0; i < bed.n; i++) split_col |= bed.r[i].split != DS_SPLIT_NONE;
    if (!e) e = ds_windows_init(&w, ref, o->regions ? &bed : NULL, NULL,
                                o->regions ? (split_col ? split : DS_SPLIT_NONE)
                                           : split == DS_SPLIT_TRAIN ? DS_SPLIT_TRAIN : DS_SPLIT_VALID, (int)L + 1,
                                (int)max_n, 0);
    m->eval_only = 1;   /* no backward: one layer's activations (Caduceus) */
    if (!e) e = m->vt->reserve(m, (int)o->batch_size, (int)L);
    if (!e) e = ds_lm_head_reserve(&head, m, (int)o->batch_size, (int)L);
    if (!e) e = ds_lm_batch_init(&batch, m, (int)o->batch_size, (int)L, 0);
    if (!e) e = ds_lm_evaluate(m, &head, &w, &batch, o->max_windows, &res);
    if (!e) {
        char desc[64];
        snprintf(desc, sizeof desc, "%s", !o->regions ? (split == DS_SPLIT_TRAIN ? "training part (95% head) of each contig"
                                                                                : "held-out 5% tail of each contig")
                                          : split_col ? ds_split_name(split) : "all BED rows");
        e = report(o, m, &res, desc);
    }
    ds_lm_batch_free(&batch);
    ds_lm_head_free(&head);
    ds_windows_free(&w);
    ds_regions_free(&bed);
    ds_ref_close(ref);
    return e;
}

/* ---- classifiers ---------------------------------------------------- */

/* A metric for the table: "n/a" when undefined (NaN: AUROC of a split
 * without one of the classes). */
static void put_metric(FILE *fp, const char *sep, double x)
{
    if (isnan(x)) fprintf(fp, "%sn/a", sep);
    else fprintf(fp, "%s%.6f", sep, x);
}

static void print_metrics(FILE *fp, const ds_classifier *c, const ds_cls_metrics *m)
{
    fprintf(fp, "n\t%ld\naccuracy\t%.6f\nmajority_baseline\t%.6f\nmajority_class\t%s\nmcc\t%.6f\nmacro_f1\t%.6f\n", m->n,
            m->accuracy, m->majority_accuracy, c->classes[m->majority], m->mcc, m->macro_f1);
    fputs("auroc", fp);
    put_metric(fp, "\t", m->auroc);
    fputs("\nauprc", fp);
    put_metric(fp, "\t", m->auprc);
    fprintf(fp, "\n\nclass\tsupport\tprecision\trecall\tf1\tauroc\tauprc\n");
    for (int k = 0; k < m->k; k++) {
        fprintf(fp, "%s\t%ld\t%.6f\t%.6f\t%.6f", c->classes[k], m->support[k], m->precision[k], m->recall[k], m->f1[k]);
        put_metric(fp, "\t", m->auroc_k[k]);
        put_metric(fp, "\t", m->auprc_k[k]);
        fputc('\n', fp);
    }
    fprintf(fp, "\nconfusion (rows true, columns predicted)");
    for (int k = 0; k < m->k; k++) fprintf(fp, "\t%s", c->classes[k]);
    for (int t = 0; t < m->k; t++) {
        fprintf(fp, "\n%s", c->classes[t]);
        for (int k = 0; k < m->k; k++) fprintf(fp, "\t%ld", m->confusion[t * m->k + k]);
    }
    fputc('\n', fp);
}

/* The summary metrics of one dataset, shared by a single eval's JSON and
 * a suite's rows (undefined AUROC/AUPRC: null). */
static void summary_json(json_t *j, const ds_classifier *c, const ds_cls_metrics *m)
{
    json_object_set_new(j, "n", json_integer(m->n));
    json_object_set_new(j, "accuracy", ds_json_real(m->accuracy));
    json_object_set_new(j, "majority_baseline", ds_json_real(m->majority_accuracy));
    json_object_set_new(j, "majority_class", json_string(c->classes[m->majority]));
    json_object_set_new(j, "mcc", ds_json_real(m->mcc));
    json_object_set_new(j, "macro_f1", ds_json_real(m->macro_f1));
    json_object_set_new(j, "auroc", ds_json_real(m->auroc));
    json_object_set_new(j, "auprc", ds_json_real(m->auprc));
}

static json_t *metrics_json(const eval_opts *o, const ds_classifier *c, const ds_cls_metrics *m, const char *data,
                            const char *split)
{
    json_t *per = json_object(), *conf = json_array(), *cls = json_array();
    for (int k = 0; k < m->k; k++) {
        json_object_set_new(per, c->classes[k],
                            json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "support", (json_int_t)m->support[k], "precision",
                                      ds_json_real(m->precision[k]), "recall", ds_json_real(m->recall[k]), "f1",
                                      ds_json_real(m->f1[k]), "auroc", ds_json_real(m->auroc_k[k]), "auprc",
                                      ds_json_real(m->auprc_k[k])));
        json_array_append_new(cls, json_string(c->classes[k]));
        json_t *row = json_array();
        for (int j = 0; j < m->k; j++) json_array_append_new(row, json_integer(m->confusion[k * m->k + j]));
        json_array_append_new(conf, row);
    }
    json_t *j = json_pack("{s:s, s:s, s:s}", "checkpoint", o->from, "data", data, "split", split);
    summary_json(j, c, m);
    json_object_set_new(j, "per_class", per);
    json_object_set_new(j, "classes", cls);
    json_object_set_new(j, "confusion", conf);
    return j;
}

static int write_predictions(const char *path, const ds_classifier *c, const ds_gb_split *s, const int *pred,
                             const float *probs)
{
    ds_outfile out;
    int e = ds_outfile_open(&out, path);
    if (e) return e;
    fprintf(out.fp, "id\ttrue\tpredicted");
    for (int k = 0; k < c->nclass; k++) fprintf(out.fp, "\tp_%s", c->classes[k]);
    fputc('\n', out.fp);
    for (long i = 0; i < s->n; i++) {
        fprintf(out.fp, "%s\t%s\t%s", s->r[i].id, c->classes[s->r[i].label], c->classes[pred[i]]);
        for (int k = 0; k < c->nclass; k++) fprintf(out.fp, "\t%.6f", (double)probs[i * c->nclass + k]);
        fputc('\n', out.fp);
    }
    e = ds_outfile_commit(&out);
    if (e) ds_outfile_abort(&out);
    return e;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Keeps records idx[0..n) of s, in that order (the others are freed). */
static int keep_records(ds_gb_split *s, const long *idx, long n)
{
    ds_gb_record *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    unsigned char *taken = calloc((size_t)(s->n > 0 ? s->n : 1), 1);
    if (!r || !taken) { free(r); free(taken); return ds_err(DS_ENOMEM, "out of memory for %ld records", n); }
    for (long i = 0; i < n; i++) { r[i] = s->r[idx[i]]; taken[idx[i]] = 1; }
    for (long i = 0; i < s->n; i++)
        if (!taken[i]) { free(s->r[i].id); free(s->r[i].seq); }
    free(taken);
    free(s->r);
    s->r = r;
    s->n = s->cap = n;
    free(s->warn);   /* it described the whole train split */
    s->warn = NULL;
    return 0;
}

/* Whether id `old` of a run's validation.tsv names record id `now`
 * (<class>/<x>): the same, or the forms of derfseq 0.1.0 (<class>:<x> for
 * coords, <x> for tables). */
static int same_record_id(const char *old, const char *now, const char *cls)
{
    size_t k = strlen(cls);
    const char *x = !strncmp(now, cls, k) && now[k] == '/' ? now + k + 1 : now;
    return !strcmp(old, now) || !strcmp(old, x) || (!strncmp(old, cls, k) && old[k] == ':' && !strcmp(old + k + 1, x));
}

/* The rebuilt split against the run's validation.tsv (id, class), when
 * the run has one: a difference means the data changed since the run. */
static int check_validation_tsv(const char *run, const ds_gb_split *s)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/validation.tsv", run);
    FILE *fp = fopen(p, "r");
    if (!fp) return 0;
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    int r = 0;
    ssize_t len = getline(&line, &cap, fp);   /* the header */
    while (!r && len > 0 && (len = getline(&line, &cap, fp)) > 0) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strchr(line, '\t');
        if (tab) *tab = 0;
        const ds_gb_record *rec = n < s->n ? &s->r[n] : NULL;
        if (!rec || !tab || strcmp(tab + 1, s->classes[rec->label]) || !same_record_id(line, rec->id, s->classes[rec->label]))
            r = ds_err(DS_EFORMAT, "%s:%ld: '%s' is not the record the split rebuilt from config.json holds there (%s); "
                                   "has the data changed since the run?", p, n + 2, line, rec ? rec->id : "none");
        n++;
    }
    free(line);
    fclose(fp);
    if (!r && n != s->n)
        r = ds_err(DS_EFORMAT, "%s: %ld validation records, but the split rebuilt from config.json has %ld; has the data "
                               "changed since the run?", p, n, s->n);
    return r;
}

static int same_dir(const char *a, const char *b)
{
    char x[PATH_MAX], y[PATH_MAX];
    return realpath(a, x) && realpath(b, y) && !strcmp(x, y);
}

/* --split valid: the validation records finetune held out of the run's
 * train split, rebuilt from RUN/config.json next to the checkpoint (data,
 * layout, ref, val_fraction, seed) by the same hold-out (ds_gb_holdout).
 * data: DATA if given (it must be the run's); used: the directory read. */
static int read_valid(const eval_opts *o, const char *ckpt, const char *data, const ds_classifier *c,
                      const ds_gb_labels *map, ds_gb_split *s, char *used, size_t cap)
{
    char run[4096], cfg[4200];
    snprintf(run, sizeof run, "%s", ckpt);
    char *slash = strrchr(run, '/');
    if (slash) *slash = 0;
    else snprintf(run, sizeof run, ".");
    snprintf(cfg, sizeof cfg, "%s/config.json", run);
    json_error_t err;
    json_t *j = json_load_file(cfg, 0, &err);
    if (!j)
        return ds_err(DS_EINVAL, "--split valid: %s has no run config to rebuild its validation split from (%s: %s); "
                      "use the checkpoint inside its finetune run directory", ckpt, cfg, err.text);
    const char *rdata = NULL, *layout = NULL, *ref = NULL;
    double frac = 0;
    json_int_t seed = 0;
    int e = 0;
    if (json_unpack_ex(j, &err, 0, "{s:s, s:s, s?s, s:F, s:I}", "data", &rdata, "layout", &layout, "ref", &ref,
                       "val_fraction", &frac, "seed", &seed))
        e = ds_err(DS_EFORMAT, "%s: %s (--split valid needs a GenomicBenchmarks finetune run)", cfg, err.text);
    else if (data && !same_dir(data, rdata))
        e = ds_err(DS_EINVAL, "--split valid: %s is not the data of the run (%s: \"data\": \"%s\"); give that "
                   "directory or no DATA", data, cfg, rdata);
    else if (!(frac > 0))
        e = ds_err(DS_EINVAL, "--split valid: the run held out no validation split (%s: val_fraction %g)", cfg, frac);
    else if (ds_gb_layout_parse(layout) < 0)
        e = ds_err(DS_EFORMAT, "%s: unknown layout '%s'", cfg, layout);
    if (!e) {
        snprintf(used, cap, "%s", rdata);
        e = ds_gb_read_labels(s, rdata, "train", ds_gb_layout_parse(layout), o->ref ? o->ref : ref, c->classes,
                              c->nclass, map);
    }
    long *idx = NULL, nval = 0;
    if (!e) e = ds_gb_holdout(s->n, frac, (long)seed, &idx, &nval);
    if (!e) e = keep_records(s, idx, nval);
    if (!e) e = check_validation_tsv(run, s);
    if (e && s->r) ds_gb_free(s);
    free(idx);
    json_decref(j);
    return e;
}

/* The records eval scores: DATA's --split, or for valid the run's own
 * validation split; the labels through --labels or the checkpoint's map. */
static int read_split(const eval_opts *o, const char *ckpt, const char *data, const ds_classifier *c, ds_gb_split *s,
                      char *used, size_t cap)
{
    const char *split = o->split ? o->split : "test", *labels = o->labels ? o->labels : c->labels;
    ds_gb_labels map = { 0 };
    int e = labels ? ds_gb_labels_parse(&map, labels) : 0;
    if (e) e = ds_err(DS_EFORMAT, "%s: task.labels: %s", ckpt, ds_errmsg());   /* --labels was checked by parse */
    else if (ds_split_parse(split) == DS_SPLIT_VALID) e = read_valid(o, ckpt, data, c, &map, s, used, cap);
    else {
        snprintf(used, cap, "%s", data);
        e = ds_gb_read_labels(s, data, split, o->layout, o->ref, c->classes, c->nclass, &map);
    }
    ds_gb_labels_free(&map);
    return e;
}

/* Metrics of one classifier checkpoint on DATA's split; the loaded
 * classifier is handed back in keep for reporting (the caller frees it);
 * predictions: also write --predictions; used[cap]: the data directory
 * read (DATA, or the run's for --split valid). */
static int classifier_metrics(eval_opts *o, const char *ckpt, const char *data, ds_cls_metrics *m, ds_classifier *keep,
                              int predictions, char *used, size_t cap)
{
    ds_classifier c;
    ds_gb_split s = {0};
    int *pred = NULL, *truth = NULL;
    float *probs = NULL;
    memset(m, 0, sizeof *m);
    int e = ds_classifier_load(&c, ckpt);
    if (e) return e;
    e = read_split(o, ckpt, data, &c, &s, used, cap);
    if (!e) ds_gb_warn(o->co.cmd, &s);
    if (!e) {
        pred = malloc(sizeof *pred * (size_t)s.n);
        truth = malloc(sizeof *truth * (size_t)s.n);
        probs = malloc(sizeof *probs * (size_t)s.n * c.nclass);
        if (!pred || !truth || !probs) e = ds_err(DS_ENOMEM, "%s: out of memory for the predictions of %ld sequences", data, s.n);
    }
    if (!e) e = ds_classifier_predict(&c, &s, (int)o->batch_size, pred, probs);
    for (long i = 0; !e && i < s.n; i++) truth[i] = s.r[i].label;
    if (!e) e = ds_cls_metrics_compute(m, truth, pred, s.n, c.nclass);
    if (!e) e = ds_cls_metrics_scores(m, truth, probs, s.n);
    if (!e && predictions && o->predictions) e = write_predictions(o->predictions, &c, &s, pred, probs);
    free(pred); free(truth); free(probs);
    ds_gb_free(&s);
    if (e) ds_cls_metrics_free(m);
    if (!e && keep) *keep = c;
    else ds_classifier_free(&c);
    return e;
}

static int evaluate_classifier(eval_opts *o, const char *data)
{
    ds_classifier c;
    ds_cls_metrics m;
    const char *split = o->split ? o->split : "test";
    char used[4096];
    int e = classifier_metrics(o, o->from, data, &m, &c, 1, used, sizeof used);
    if (e) return e;
    data = used;
    if (!o->co.json_path || strcmp(o->co.json_path, "-")) {
        printf("checkpoint\t%s\ndata\t%s\nsplit\t%s\n", o->from, data, split);
        print_metrics(stdout, &c, &m);
        if (fflush(stdout)) e = ds_err_errno(DS_EIO, "standard output");
    }
    if (!e && o->co.json_path) {
        json_t *j = metrics_json(o, &c, &m, data, split);
        e = write_json_file(o->co.json_path, j);
        json_decref(j);
    }
    ds_cls_metrics_free(&m);
    ds_classifier_free(&c);
    return e;
}

/* The names of RUNS/<name>/best.safetensors, sorted. */
static int suite_runs(const char *runs, char ***names, int *n)
{
    DIR *d = opendir(runs);
    if (!d) return ds_err_errno(DS_EIO, "%s: cannot open the runs directory", runs);
    *names = NULL;
    *n = 0;
    struct dirent *e;
    int r = 0;
    while (!r && (e = readdir(d))) {
        char p[4096];
        if (e->d_name[0] == '.' || snprintf(p, sizeof p, "%s/%s/best.safetensors", runs, e->d_name) >= (int)sizeof p) continue;
        if (access(p, R_OK)) continue;
        char **q = realloc(*names, sizeof *q * (size_t)(*n + 1));
        if (!q || !(q[*n] = strdup(e->d_name))) r = ds_err(DS_ENOMEM, "%s: out of memory listing the runs", runs);
        if (q) *names = q;
        if (!r) (*n)++;
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_names);   /* names is NULL when empty */
    return r ? r : *n ? 0 : ds_err(DS_EINVAL, "%s: no <dataset>/best.safetensors runs", runs);
}

/* One suite row: the metrics and status "ok", or n/a and "error: why". */
static void suite_row(const char *name, const ds_classifier *c, const ds_cls_metrics *m, const char *err, json_t *rows,
                      int table)
{
    if (table) {
        printf("%s\t", name);
        if (err) printf("n/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a");
        else {
            printf("%ld", m->n);
            put_metric(stdout, "\t", m->accuracy);
            put_metric(stdout, "\t", m->majority_accuracy);
            put_metric(stdout, "\t", m->mcc);
            put_metric(stdout, "\t", m->macro_f1);
            put_metric(stdout, "\t", m->auroc);
            put_metric(stdout, "\t", m->auprc);
        }
        printf("\t%s%s\n", err ? "error: " : "ok", err ? err : "");
    }
    json_t *j = json_pack("{s:s, s:s}", "dataset", name, "status", err ? "error" : "ok");
    if (err) json_object_set_new(j, "error", json_string(err));
    else summary_json(j, c, m);
    json_array_append_new(rows, j);
}

/* Suite mode: --from RUNS/ with RUNS/<name>/best.safetensors for every
 * DATA/<name>/ dataset; one row per dataset, as the papers' tables. A
 * dataset that fails gets its error in the status column and the others
 * go on; the command fails at the end if any did. */
static int evaluate_suite(eval_opts *o, const char *runs, const char *datasets)
{
    char **names = NULL;
    int n = 0, failed = 0, first = -1;
    int r = suite_runs(runs, &names, &n);
    if (r) return r;
    json_t *rows = json_array();
    int table = !o->co.json_path || strcmp(o->co.json_path, "-");
    if (table) printf("dataset\tn\taccuracy\tmajority_baseline\tmcc\tmacro_f1\tauroc\tauprc\tstatus\n");
    for (int i = 0; i < n; i++) {
        char ckpt[4096], data[4096];
        snprintf(ckpt, sizeof ckpt, "%s/%s/best.safetensors", runs, names[i]);
        snprintf(data, sizeof data, "%s/%s", datasets, names[i]);
        ds_cls_metrics m;
        ds_classifier c;
        char used[4096];
        int e = classifier_metrics(o, ckpt, data, &m, &c, 0, used, sizeof used);
        failed += e != 0;
        if (e && first < 0) first = i;
        suite_row(names[i], &c, &m, e ? ds_errmsg() : NULL, rows, table);
        if (!e) { ds_cls_metrics_free(&m); ds_classifier_free(&c); }
        ds_err_clear();
    }
    if (table && fflush(stdout)) r = ds_err_errno(DS_EIO, "standard output");
    if (!r && o->co.json_path) r = write_json_file(o->co.json_path, rows);
    json_decref(rows);
    if (!r && failed)
        r = ds_err(DS_EINVAL, "%d of %d datasets failed (the first: %s; see the status column)", failed, n, names[first]);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return r;
}

int main_eval(int argc, char **argv)
{
    double t0 = ds_realtime();
    eval_opts o = { .batch_size = 8, .max_n = -1, .crop = DS_SPEECH_CROP };
    ds_common_defaults(&o.co, "eval", DS_O_THREADS | DS_O_SEED | DS_O_JSON | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if (!o.from) return ds_usage_error(o.co.cmd, "missing --from CKPT");
    int valid = o.split && ds_split_parse(o.split) == DS_SPLIT_VALID;   /* a classifier's: DATA from its run */
    if (optind == argc && !o.ref && !valid) return ds_usage_error(o.co.cmd, "missing DATA");

    struct stat st;
    int speech = stat(o.from, &st) == 0 && !S_ISDIR(st.st_mode) ? speech_checkpoint_kind(o.from) : CKPT_OTHER;
    if (argc - optind > 1 && !speech) return ds_usage_error(o.co.cmd, "give one DATA");
    if (speech == CKPT_SPEECH && o.predictions)
        return ds_usage_error(o.co.cmd, "--predictions: %s is a wav2vec2 pretraining checkpoint without a CTC head; "
                              "transcripts need a CTC model (derfseq finetune --task ctc)", o.from);
    if ((rc = check_outputs(&o, argc - optind, argv + optind))) return rc;
    ds_threads_set(o.co.threads);
    int e;
    if (speech) {
        ds_model *m = NULL;
        e = ds_model_load(&m, o.from);
        if (!e) e = speech == CKPT_CTC ? evaluate_asr(&o, m, argv + optind, argc - optind)
                                       : evaluate_speech(&o, m, argv + optind, argc - optind);
        ds_model_free(m);
    } else if (!stat(o.from, &st) && S_ISDIR(st.st_mode)) {
        if (optind == argc) return ds_usage_error(o.co.cmd, "missing DATA: the directory of datasets");
        e = evaluate_suite(&o, o.from, argv[optind]);
    } else if (ds_checkpoint_is_classifier(o.from)) {
        if (optind == argc && !valid) return ds_usage_error(o.co.cmd, "missing DATA: the dataset directory");
        e = evaluate_classifier(&o, optind < argc ? argv[optind] : NULL);
    } else {
        if (!o.ref && optind == argc) return ds_usage_error(o.co.cmd, "missing DATA");
        if (!o.ref) o.ref = argv[optind];
        ds_model *m = NULL;
        e = ds_model_load(&m, o.from);
        if (!e) e = evaluate_lm(&o, m);
        ds_model_free(m);
    }
    if (e) return ds_cmd_error(o.co.cmd, "%s", ds_errmsg());
    if (!o.co.quiet) ds_resource_line(t0);
    return 0;
}
