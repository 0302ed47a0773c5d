/* The command line as derfseq.md "Command line" states it: help, --version,
 * exit codes 0/1/2, one-line errors, `info` on real checkpoints. Runs the
 * binary named by $DERFSEQ_BIN (default build/derfseq) from the repo root. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/arena.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "test.h"
#include "cli.h"

static const char *const COMMANDS[] = { "pretrain", "finetune", "eval", "embed", "info", "compare" };
#define NCMD 6

/* Every option each command must list, per derfseq.md. */
static const char *const TRAIN_OPTS[] = { "--epochs", "--batch-size", "--seq-len", "--lr",
                                          "--warmup", "--schedule", "--weight-decay", "--grad-clip",
                                          "--resume", "--threads", "--seed",
                                          "--quiet", "--log", "--help", "-o", NULL };
/* pretrain only: finetune of a classifier takes these at their defaults only */
static const char *const PRETRAIN_OPTS[] = { "--model", "--config", "--norm", "--alpha-init", "--steps", "--accum",
                                             "--eval-every", "--save-every", NULL };
static const char *const FINETUNE_OPTS[] = { "--from", "--task", NULL };
static const char *const EVAL_OPTS[] = { "--from", "--json", "--threads", "--seed", "--quiet", "--help", NULL };
static const char *const EMBED_OPTS[] = { "--from", "-o", "--format", "--pool", "--layer", "--threads",
                                          "--quiet", "--help", NULL };
static const char *const COMPARE_OPTS[] = { "--model", "--genome", "--norms", "--seeds", "--steps", "--epochs",
                                            "--pretrain-args", "--finetune-args", "--eval-windows", "--max-jobs",
                                            "--output", "--threads", NULL };
static const char *const INFO_OPTS[] = { "--json", "--quiet", "--help", NULL };

/* Two tensors, 12 + 1 parameters, and a config naming model 'toy'. */
static const char *toy_checkpoint(void)
{
    const char *path = tmp_path("toy.safetensors");
    ds_params ps;
    ds_params_init(&ps);
    CHECK(ds_params_add(&ps, "encoder.layers.0.mixer.weight", 2, (int64_t[]){ 3, 4 }, 1) >= 0);
    CHECK(ds_params_add(&ps, "encoder.norm_f.alpha", 1, (int64_t[]){ 1 }, 0) >= 0);
    CHECK(ds_params_alloc(&ps) == 0);
    ds_test_fill_uniform(ps.data, (long)ps.total, -1, 1, 7);
    CHECK(ds_checkpoint_save(path, &ps, "{\"model\": \"toy\", \"d_model\": 4, \"norm\": \"derf\"}") == 0);
    ds_params_free(&ps);
    return path;
}

static const char *small_fasta(void)
{
    const char *path = tmp_path("small.fa");
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) { fputs(">s1\nACGTACGTNNACGT\n", fp); fclose(fp); }
    return path;
}

TEST(test_cli_version_prints_name_and_version)
{
    CHECK_EQ_INT(run("--version"), 0);
    CHECK_MSG(strncmp(g_out, "derfseq " DS_VERSION "\n", strlen("derfseq " DS_VERSION "\n")) == 0,
              "--version printed '%s'", g_out);
}

/* -V is --version; both name every library derfseq runs with, by the
 * version it reports at run time, and the build flags. */
TEST(test_cli_version_lists_the_libraries_and_the_build)
{
    static char v[sizeof g_out];
    CHECK_EQ_INT(run("--version"), 0);
    memcpy(v, g_out, sizeof v);
    CHECK_EQ_INT(run("-V"), 0);
    CHECK_MSG(strcmp(v, g_out) == 0, "-V and --version differ: '%s' vs '%s'", g_out, v);
    static const char *const LINES[] = { "\nhtslib 1.", "\nOpenBLAS ", "\nFFTW fftw-3", "\nlibsndfile libsndfile-",
                                         "\nlibsamplerate libsamplerate-", "\njansson 2.", "\nbuild: " };
    for (size_t i = 0; i < sizeof LINES / sizeof *LINES; i++)
        CHECK_MSG(strstr(g_out, LINES[i]), "--version lacks '%s': '%s'", LINES[i] + 1, g_out);
    CHECK_MSG(strstr(g_out, "-march="), "--version does not show the build flags: '%s'", g_out);
    CHECK(g_err[0] == 0);
}

TEST(test_cli_help_lists_every_command)
{
    CHECK_EQ_INT(run("help"), 0);
    for (int i = 0; i < NCMD; i++) CHECK_MSG(strstr(g_out, COMMANDS[i]), "help lacks '%s'", COMMANDS[i]);
    CHECK_EQ_INT(run("--help"), 0);
    CHECK(strstr(g_out, "Usage: derfseq"));
    CHECK_EQ_INT(run("-h"), 0);
    CHECK_EQ_INT(run("%s", ""), 2);   /* a bare command is a usage error, with the usage on stderr */
    CHECK(strstr(g_err, "Usage: derfseq") && g_out[0] == 0);
    CHECK_EQ_INT(run("pretrain"), 2);
    CHECK(strstr(g_err, "Usage: derfseq pretrain") && g_out[0] == 0);
}

static void check_lists(const char *cmd, const char *const *opts)
{
    for (int i = 0; opts[i]; i++)
        CHECK_MSG(strstr(g_out, opts[i]), "'%s --help' does not list %s", cmd, opts[i]);
}

TEST(test_cli_each_command_help_lists_every_option)
{
    const char *const *lists[NCMD][2] = { { TRAIN_OPTS, PRETRAIN_OPTS }, { TRAIN_OPTS, FINETUNE_OPTS },
                                          { EVAL_OPTS, NULL }, { EMBED_OPTS, NULL }, { INFO_OPTS, NULL },
                                          { COMPARE_OPTS, NULL } };
    static char help_out[1 << 16];
    for (int i = 0; i < NCMD; i++) {
        CHECK_EQ_INT(run("%s --help", COMMANDS[i]), 0);
        CHECK_MSG(g_err[0] == 0, "%s --help wrote to stderr: '%s'", COMMANDS[i], g_err);
        for (int k = 0; k < 2; k++) if (lists[i][k]) check_lists(COMMANDS[i], lists[i][k]);
        strcpy(help_out, g_out);
        CHECK_EQ_INT(run("help %s", COMMANDS[i]), 0);
        CHECK_MSG(strcmp(help_out, g_out) == 0, "'help %s' differs from '%s --help'", COMMANDS[i], COMMANDS[i]);
    }
}

/* The man page text with roff escapes undone, so "\-\-lr" reads "--lr". */
static char *man_text(const char *cmd)
{
    char path[256];
    snprintf(path, sizeof path, "man/derfseq-%s.1", cmd);
    static char raw[1 << 17];
    slurp(path, raw, sizeof raw);
    char *out = malloc(strlen(raw) + 1), *o = out;
    for (const char *s = raw; *s; s++) {
        if (s[0] == '\\' && s[1] == '-') { *o++ = '-'; s++; }
        else if (s[0] == '\\' && s[1] == 'f' && s[2]) s += 2;   /* \fB \fI \fR \fP */
        else if (s[0] == '\\' && s[1] == '&') s++;
        else if (s[0] == '\\' && s[1] == '(' && s[2] && s[3]) { *o++ = '?'; s += 3; }   /* \(em etc. */
        else *o++ = *s;
    }
    *o = 0;
    return out;
}

/* Every option and every "[default]" of a help line appears in the man page. */
static void check_man_matches_help(const char *cmd, const char *man)
{
    for (char *line = strtok(g_out, "\n"); line; line = strtok(NULL, "\n")) {
        char *opt = strstr(line, "--"), *def = strrchr(line, '[');
        if (!opt || strncmp(line, "  ", 2) != 0) continue;
        size_t n = strcspn(opt, " ,=");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)n, opt);
        CHECK_MSG(strstr(man, name), "man/derfseq-%s.1 lacks %s", cmd, name);
        if (def && line[strlen(line) - 1] == ']') {
            char d[128];
            snprintf(d, sizeof d, "%.*s", (int)(strlen(def) - 2), def + 1);
            CHECK_MSG(strstr(man, d), "man/derfseq-%s.1 lacks the default '%s' of %s", cmd, d, name);
        }
    }
}

TEST(test_cli_man_pages_list_the_options_and_defaults_of_help)
{
    for (int i = 0; i < NCMD; i++) {
        CHECK_EQ_INT(run("%s --help", COMMANDS[i]), 0);
        char *man = man_text(COMMANDS[i]);
        CHECK_MSG(man[0], "man/derfseq-%s.1 is missing or empty", COMMANDS[i]);
        check_man_matches_help(COMMANDS[i], man);
        free(man);
    }
}

/* Speech pretraining has its own options (pretrain --model wav2vec2-...). */
TEST(test_cli_man_page_lists_the_options_and_defaults_of_speech_pretraining)
{
    CHECK_EQ_INT(run("pretrain --model wav2vec2-tiny --help"), 0);
    CHECK(strstr(g_out, "--max-tokens"));
    char *man = man_text("pretrain");
    check_man_matches_help("pretrain", man);
    free(man);
}

/* So has CTC fine-tuning (finetune --task ctc). */
TEST(test_cli_man_page_lists_the_options_and_defaults_of_ctc_finetuning)
{
    CHECK_EQ_INT(run("finetune --task ctc --help"), 0);
    CHECK(strstr(g_out, "--freeze-steps"));
    char *man = man_text("finetune");
    check_man_matches_help("finetune", man);
    free(man);
}

TEST(test_cli_unknown_command_is_a_usage_error)
{
    CHECK_ERROR(run("frobnicate"), 2, "", "frobnicate");
    CHECK_ERROR(run("help frobnicate"), 2, "", "frobnicate");
    CHECK_ERROR(run("--frobnicate"), 2, "", "--frobnicate");
}

TEST(test_cli_unknown_option_is_a_usage_error)
{
    CHECK_ERROR(run("pretrain --frobnicate x"), 2, " pretrain", "--frobnicate");
    CHECK_ERROR(run("info -x a.safetensors"), 2, " info", "-x");
    CHECK_ERROR(run("embed --quiet=1 --from a x"), 2, " embed", "--quiet");
    CHECK_ERROR(run("pretrain --model m x --lr"), 2, " pretrain", "--lr");
}

TEST(test_cli_bad_values_are_usage_errors_naming_the_option)
{
    CHECK_ERROR(run("pretrain --norm foo --model m -o r x"), 2, " pretrain", "derf|dyt|layernorm|rmsnorm");
    CHECK(strstr(g_err, "--norm") && strstr(g_err, "'foo'"));
    CHECK_ERROR(run("pretrain --lr abc --model m -o r x"), 2, " pretrain", "--lr");
    CHECK_ERROR(run("pretrain --lr=abc --model m -o r x"), 2, " pretrain", "--lr");
    CHECK_ERROR(run("pretrain --steps -1 --model m -o r x"), 2, " pretrain", "--steps");
    CHECK_ERROR(run("pretrain --schedule step --model m -o r x"), 2, " pretrain", "cosine|linear|constant");
    CHECK_ERROR(run("pretrain --batch-size 0 --model m -o r x"), 2, " pretrain", "--batch-size");
    CHECK_ERROR(run("pretrain --seq-len 12x --model m -o r x"), 2, " pretrain", "--seq-len");
    CHECK_ERROR(run("pretrain -t 0 --model m -o r x"), 2, " pretrain", "--threads");
    CHECK_ERROR(run("pretrain --alpha-init nan --model m -o r x"), 2, " pretrain", "--alpha-init");
    CHECK_ERROR(run("finetune --lr -1 --from c --task cls -o r x"), 2, " finetune", "--lr");
    CHECK_ERROR(run("finetune --task regression --from c -o r x"), 2, " finetune", "cls|ctc");
    CHECK_ERROR(run("embed --pool max --from c x"), 2, " embed", "mean|last|cls|none");
    CHECK_ERROR(run("embed --format csv --from c x"), 2, " embed", "tsv|npy|safetensors");
    CHECK_ERROR(run("embed --layer -2 --from c x"), 2, " embed", "--layer");
    CHECK_ERROR(run("eval --seed x --from c x"), 2, " eval", "--seed");
}

TEST(test_cli_integer_option_out_of_range_is_refused_not_wrapped)
{
    /* 99999999999 used to come out as 1215752192 (cut to 32 bits) */
    CHECK_ERROR(run("pretrain --seq-len 99999999999 --model m -o r x"), 2, " pretrain",
                "--seq-len: expected an integer in [1, 16777216], got '99999999999'");
    CHECK_MSG(!strncmp(g_err, "derfseq pretrain: --seq-len: expected an integer in [1, 16777216], got '99999999999'", 83),
              "'%s'", g_err);
    CHECK_ERROR(run("pretrain --batch-size 2147483648 --model m -o r x"), 2, " pretrain",
                "--batch-size: expected an integer in [1, 2147483647], got '2147483648'");
    CHECK_ERROR(run("pretrain --steps 99999999999999999999999 --model m -o r x"), 2, " pretrain", "--steps: expected an integer");
    CHECK_ERROR(run("pretrain -t 5000 --model m -o r x"), 2, " pretrain", "--threads: expected an integer in [1, 4096]");
    CHECK_ERROR(run("pretrain --seed 99999999999999999999 --model m -o r x"), 2, " pretrain", "--seed");
    CHECK_ERROR(run("eval --seq-len 3000000000 --from c x"), 2, " eval", "--seq-len: expected an integer in [1, 16777216]");
    CHECK_ERROR(run("eval --max-windows 4294967297 --from c x"), 2, " eval", "--max-windows");
    CHECK_ERROR(run("finetune --patience 99999999999 --from c --task cls -o r x"), 2, " finetune", "--patience");
    CHECK_ERROR(run("finetune --max-length 20000000 --from c --task cls -o r x"), 2, " finetune", "--max-length");
    CHECK_ERROR(run("embed --chunk 4294967296 --from c x"), 2, " embed", "--chunk");
}

TEST(test_cli_integer_option_refuses_empty_signed_spaced_or_trailing_text)
{
    const char *bad[] = { "", "+5", "-0", " 5", "5 ", "5x", "0x10", "1e3", "5.0" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_ERROR(run("pretrain --steps '%s' --model m -o r x", bad[i]), 2, " pretrain", "--steps: expected an integer");
        CHECK_MSG(strstr(g_err, "got '") && strstr(g_err, bad[i]), "'%s' for '%s'", g_err, bad[i]);
    }
    CHECK_ERROR(run("embed --layer=-1 --from c x"), 2, " embed", "--layer: expected an integer in [0, ");
}

TEST(test_cli_real_option_refuses_nan_inf_overflow_and_trailing_text)
{
    const char *bad[] = { "nan", "inf", "-inf", "1e999", "", "0.1x", " 0.1", "0" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERROR(run("pretrain --lr '%s' --model m -o r x", bad[i]), 2, " pretrain", "--lr: expected a finite number > 0");
    CHECK_ERROR(run("pretrain --weight-decay nan --model m -o r x"), 2, " pretrain", "--weight-decay: expected a finite number >= 0");
    CHECK_ERROR(run("pretrain --grad-clip -1 --model m -o r x"), 2, " pretrain", "--grad-clip");
    /* alpha has the range a saved config accepts back */
    CHECK_ERROR(run("pretrain --alpha-init 1e5 --model m -o r x"), 2, " pretrain", "--alpha-init: expected a number in (0, 1000]");
    CHECK_ERROR(run("finetune --val-fraction inf --from c --task cls -o r x"), 2, " finetune", "--val-fraction");
}

TEST(test_cli_missing_required_arguments_are_usage_errors)
{
    CHECK_ERROR(run("pretrain --model m x"), 2, " pretrain", "-o");
    CHECK_ERROR(run("pretrain -o r x"), 2, " pretrain", "--model");
    CHECK_ERROR(run("pretrain --model m -o r"), 2, " pretrain", "DATA");
    CHECK_ERROR(run("pretrain --model m --steps 5 --epochs 2 -o r x"), 2, " pretrain", "--epochs");
    CHECK_ERROR(run("finetune --task cls -o r x"), 2, " finetune", "--from");
    CHECK_ERROR(run("eval x"), 2, " eval", "--from");
    CHECK_ERROR(run("embed --from c"), 2, " embed", "INPUT");
    CHECK_ERROR(run("info a b"), 2, " info", "one CKPT");
}

TEST(test_cli_info_on_a_missing_file_names_it)
{
    const char *path = tmp_path("no-such-checkpoint.safetensors");
    CHECK_ERROR(run("info '%s'", path), 1, " info", path);
}

TEST(test_cli_info_on_a_broken_file_is_a_one_line_error)
{
    const char *path = tmp_path("broken.safetensors");
    static const char bytes[] = "\x10\0\0\0\0\0\0\0{not json";   /* header says 16 bytes, holds 9 */
    FILE *fp = fopen(path, "wb");
    if (fp) { fwrite(bytes, 1, sizeof bytes - 1, fp); fclose(fp); }
    CHECK_ERROR(run("info '%s'", path), 1, " info", "broken.safetensors");
}

/* A file of another kind (text, a BAM, a .pt) is named as not safetensors,
 * not described by the header length its first bytes happen to spell. */
TEST(test_cli_info_on_a_file_that_is_not_safetensors_says_so)
{
    const char *text = write_tmp("notes.txt", "These are my notes about the run.\n");
    CHECK_ERROR(run("info '%s'", text), 1, " info", "notes.txt: not a safetensors file");
    static const char bytes[] = "\x10\0\0\0\0\0\0\0[\"a list\", 1, 2]";   /* a small length, then not an object */
    const char *path = tmp_path("list.safetensors");
    FILE *fp = fopen(path, "wb");
    if (fp) { fwrite(bytes, 1, sizeof bytes - 1, fp); fclose(fp); }
    CHECK_ERROR(run("info '%s'", path), 1, " info", "list.safetensors: not a safetensors file");
    CHECK_ERROR(run("embed --from '%s' -", text), 1, " embed", "not a safetensors file");
}

TEST(test_cli_info_prints_config_count_and_tensor_table)
{
    const char *ckpt = toy_checkpoint();
    CHECK_EQ_INT(run("info '%s'", ckpt), 0);
    CHECK(strstr(g_out, "\"model\": \"toy\""));
    CHECK(strstr(g_out, "\"d_model\": 4"));
    CHECK(strstr(g_out, "tensors: 2\n"));
    CHECK(strstr(g_out, "parameters: 13\n"));
    CHECK(strstr(g_out, "encoder.layers.0.mixer.weight\tF32\t[3,4]\t12\n"));
    CHECK(strstr(g_out, "encoder.norm_f.alpha\tF32\t[1]\t1\n"));
    CHECK_MSG(nlines(g_err) == 1 && strncmp(g_err, "[M::main] real ", 15) == 0, "stderr: '%s'", g_err);
    CHECK(strstr(g_err, " s, CPU ") && strstr(g_err, " s, peak RSS ") && strstr(g_err, " GB\n"));
    CHECK_EQ_INT(run("info --quiet '%s'", ckpt), 0);
    CHECK_MSG(g_err[0] == 0, "--quiet left '%s' on stderr", g_err);
}

/* info takes --from as every other command does, and -q for --quiet. */
TEST(test_cli_info_from_is_the_positional_checkpoint)
{
    static char positional[sizeof g_out];
    const char *ckpt = toy_checkpoint();
    CHECK_EQ_INT(run("info -q '%s'", ckpt), 0);
    CHECK_MSG(g_err[0] == 0, "-q left '%s' on stderr", g_err);
    memcpy(positional, g_out, sizeof positional);
    CHECK_EQ_INT(run("info -q --from '%s'", ckpt), 0);
    CHECK_MSG(strcmp(g_out, positional) == 0, "info --from differs from info CKPT");
    CHECK_ERROR(run("info --from '%s' '%s'", ckpt, ckpt), 2, " info", "not both");
}

/* -q is --quiet in every command that has --quiet. */
TEST(test_cli_q_is_quiet_in_every_command)
{
    static const char *const CMDS[] = { "pretrain", "finetune", "eval", "embed", "info", "compare" };
    for (size_t i = 0; i < sizeof CMDS / sizeof *CMDS; i++) {
        CHECK_EQ_INT(run("%s --help", CMDS[i]), 0);
        CHECK_MSG(strstr(g_out, "  -q, --quiet "), "'%s --help' does not list -q, --quiet", CMDS[i]);
    }
}

TEST(test_cli_info_json_has_the_same_facts)
{
    const char *ckpt = toy_checkpoint(), *js = tmp_path("info.json");
    CHECK_EQ_INT(run("info --quiet --json '%s' '%s'", js, ckpt), 0);
    CHECK(strstr(g_out, "parameters: 13"));
    json_error_t e;
    json_t *root = json_load_file(js, 0, &e);
    CHECK_MSG(root, "%s: %s", js, e.text);
    CHECK_EQ_INT(json_integer_value(json_object_get(root, "n_parameters")), 13);
    CHECK_EQ_INT(json_integer_value(json_object_get(root, "n_tensors")), 2);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(root, "config"), "model")) ?: "", "toy") == 0);
    json_t *t0 = json_array_get(json_object_get(root, "tensors"), 0);
    CHECK(strcmp(json_string_value(json_object_get(t0, "name")) ?: "", "encoder.layers.0.mixer.weight") == 0);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(t0, "shape"), 1)), 4);
    json_decref(root);
    CHECK_EQ_INT(run("info --quiet --json - '%s'", ckpt), 0);
    root = json_loads(g_out, 0, &e);
    CHECK_MSG(root, "--json - did not print JSON alone: %s", e.text);
    json_decref(root);
}

TEST(test_cli_info_without_config_says_so)
{
    const char *path = tmp_path("noconfig.safetensors");
    float w[2] = { 1, 2 };
    ds_st_entry e = { "w", 1, (int64_t[]){ 2 }, w };
    CHECK(ds_st_write(path, &e, 1, NULL, NULL, 0) == 0);
    CHECK_EQ_INT(run("info --quiet '%s'", path), 0);
    CHECK(strstr(g_out, "(no derfseq config)"));
    CHECK(strstr(g_out, "parameters: 2\n"));
}

TEST(test_cli_pretrain_rejects_unknown_presets_and_missing_genomes)
{
    CHECK_ERROR(run("pretrain --model hyenadna-huge -o '%s' x.fa", tmp_path("r0")), 2, " pretrain",
                "unknown model preset 'hyenadna-huge'");
    CHECK_ERROR(run("pretrain --model hyenadna-demo -o '%s' '%s'", tmp_path("r1"), tmp_path("missing.fa")), 1,
                " pretrain", "missing.fa");
    CHECK_ERROR(run("pretrain --resume '%s'", tmp_path("no-such-run")), 1, " pretrain", "config.json");
}

TEST(test_cli_commands_from_a_foreign_checkpoint_fail_with_one_line)
{
    const char *ckpt = toy_checkpoint(), *fa = small_fasta(), *run_dir = tmp_path("ft");
    CHECK_ERROR(run("finetune --from '%s' --task cls --epochs 1 -o '%s' '%s'", ckpt, run_dir, fa), 1, " finetune",
                "not a GenomicBenchmarks dataset");
    CHECK_ERROR(run("eval --from '%s' '%s'", ckpt, fa), 1, " eval", "no \"arch\"");
    CHECK_ERROR(run("embed --from '%s' --pool none --layer 1 --format npy -o '%s' '%s'", ckpt, tmp_path("e.npy"), fa),
                1, " embed", "no \"arch\"");
    CHECK_ERROR(run("embed --from '%s' '%s'", tmp_path("nope.safetensors"), fa), 1, " embed", "nope.safetensors");
}

TEST(test_cli_man_page_lists_V_and_version)
{
    static char raw[1 << 16];
    slurp("man/derfseq.1", raw, sizeof raw);
    CHECK(strstr(raw, ".BR \\-V \", \" \\-\\-version"));
    CHECK_EQ_INT(run("--help"), 0);
    CHECK(strstr(g_out, "  -V, --version "));
}

/* An option that errors for every value but its default is not offered:
 * finetune (classification) --help leaves out --steps, --accum, --eval-every
 * and --save-every, which it rejects; --task ctc, which takes them, lists them. */
TEST(test_cli_finetune_help_leaves_out_options_it_rejects)
{
    static const char *const rejected[] = { "--steps 5", "--accum 2", "--eval-every 5", "--save-every 5", NULL };
    CHECK_EQ_INT(run("finetune --help"), 0);
    for (int i = 0; rejected[i]; i++) {
        char name[32];
        snprintf(name, sizeof name, "  %.*s ", (int)strcspn(rejected[i], " "), rejected[i]);
        CHECK_MSG(!strstr(g_out, name), "finetune --help offers%s", name);
    }
    for (int i = 0; rejected[i]; i++)
        CHECK_EQ_INT(run("finetune --from c.safetensors --task gb %s -o '%s' data", rejected[i], tmp_path("ft-rej")), 2);
    CHECK_EQ_INT(run("finetune --task ctc --help"), 0);
    for (int i = 0; rejected[i]; i++) {
        char name[32];
        snprintf(name, sizeof name, "  %.*s ", (int)strcspn(rejected[i], " "), rejected[i]);
        CHECK_MSG(strstr(g_out, name), "finetune --task ctc --help lacks%s", name);
    }
}
