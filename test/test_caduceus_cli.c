/* derfseq embed and finetune with Caduceus checkpoints (caduceus.md §2.1,
 * §2.6, §2.9): embed reproduces the official hidden states of the converted
 * tiny PS checkpoint with the official tokenizer, its default rows are the
 * RC-averaged strands (RC-invariant when pooled, for PS and for conjoined
 * Ph), options a model cannot honour are one-line usage errors; a Caduceus
 * fine-tune runs, resumes bitwise, and a Ph classifier predicts a sequence
 * and its reverse complement alike. */
#include "test.h"
#include "cli.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY_PS "testdata/caduceus_tiny_ps.safetensors"
#define GOLDEN "testdata/golden/caduceus_tiny_ps_hidden.safetensors"
#define LAMBDA "testdata/lambda_virus.fa.gz"
#define GB "testdata/gb_lambda"
#define TINY_D 24   /* the tiny PS model's per-strand width; hidden states are 2·24 */


/* A golden tensor as float32 (malloc'd), with its element count. */
static float *golden(const char *name, long *n)
{
    ds_st_file f;
    *n = 0;
    if (ds_st_open(&f, GOLDEN)) return NULL;
    const ds_st_tensor *t = ds_st_find(&f, name);
    float *x = t ? malloc(t->numel * sizeof(float)) : NULL;
    if (x && ds_st_read_f32(&f, t, x)) { free(x); x = NULL; }
    if (x) *n = (long)t->numel;
    ds_st_close(&f);
    return x;
}

/* A FASTA holding the golden's sequence (from its metadata), in lower case
 * when `lower` (the official tokenizer upper-cases). */
static const char *golden_fasta(const char *name, int lower)
{
    ds_st_file f;
    char text[256] = "";
    if (ds_st_open(&f, GOLDEN) == 0) {
        const char *s = ds_st_meta(&f, "sequence");
        snprintf(text, sizeof text, ">g\n%s\n", s ? s : "");
        ds_st_close(&f);
    }
    for (char *p = text + 3; lower && *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return write_tmp(name, text);
}

/* Runs `embed ... --format npy -o OUT` and reads OUT; NULL on failure. */
static float *embed_npy(const char *opts, const char *from, const char *fa, int *nd, int64_t shape[8])
{
    const char *npy = tmp_path("emb.npy");
    float *x = NULL;
    if (run("embed --from '%s' %s --format npy -o '%s' --quiet -t 2 '%s'", from, opts, npy, fa) != 0) {
        ds_test_fail(__FILE__, __LINE__, "embed %s failed: %s", opts, g_err);
        return NULL;
    }
    if (ds_npy_read(npy, &x, nd, shape)) return NULL;
    return x;
}

TEST(test_embed_caduceus_ps_both_strands_equal_the_official_hidden_states)
{
    long n, nsep;
    float *want = golden("golden.hidden", &n), *want_sep = golden("golden.hidden_sep", &nsep);
    CHECK(want && n == 37 * 48 && want_sep && nsep == 38 * 48);
    int nd;
    int64_t sh[8];
    float *got = embed_npy("--strands both --pool none", TINY_PS, golden_fasta("g.fa", 0), &nd, sh);
    CHECK(got && nd == 2 && sh[0] == 37 && sh[1] == 48);
    if (got && want && nd == 2 && sh[0] * sh[1] == n) CHECK_CLOSE("hidden [fwd | RC(rc)]", got, want, n, 1e-5);
    free(got);
    /* official-hf appends [SEP]: the official tokenizer with special tokens */
    got = embed_npy("--strands both --pool none --tokens official-hf", TINY_PS, golden_fasta("g.fa", 0), &nd, sh);
    CHECK(got && nd == 2 && sh[0] == 38 && sh[1] == 48);
    if (got && want_sep && nd == 2 && sh[0] * sh[1] == nsep) CHECK_CLOSE("hidden with [SEP]", got, want_sep, nsep, 1e-5);
    free(got);
    free(want);
    free(want_sep);
}

TEST(test_embed_caduceus_default_is_the_rc_average_of_the_official_halves_with_the_official_tokenizer)
{
    long n;
    float *h = golden("golden.hidden", &n);
    CHECK(h && n == 37 * 2 * TINY_D);
    if (!h) return;
    static float avg[37 * TINY_D], fwd[37 * TINY_D];
    for (int t = 0; t < 37; t++)
        for (int c = 0; c < TINY_D; c++) {
            const float *row = h + (size_t)t * 2 * TINY_D;
            avg[t * TINY_D + c] = 0.5f * (row[c] + row[2 * TINY_D - 1 - c]);   /* ½(h_fwd + flip_C h_rc) */
            fwd[t * TINY_D + c] = row[c];
        }
    free(h);
    int nd;
    int64_t sh[8];
    /* lower case and N as the official tokenizer reads them: upper-cased, N stays N */
    const char *fa = golden_fasta("lower.fa", 1);
    float *got = embed_npy("--pool none", TINY_PS, fa, &nd, sh);
    CHECK(got && nd == 2 && sh[0] == 37 && sh[1] == TINY_D);
    if (got && nd == 2 && sh[0] == 37 && sh[1] == TINY_D) CHECK_CLOSE("RC-averaged features", got, avg, 37 * TINY_D, 1e-5);
    free(got);
    got = embed_npy("--pool none --strands fwd", TINY_PS, fa, &nd, sh);
    CHECK(got && nd == 2 && sh[0] == 37 && sh[1] == TINY_D);
    if (got && nd == 2 && sh[0] == 37 && sh[1] == TINY_D) CHECK_CLOSE("forward half", got, fwd, 37 * TINY_D, 1e-5);
    free(got);
    /* derfseq's rule maps N to [PAD]: another input, another output */
    got = embed_npy("--pool none --tokens derfseq", TINY_PS, fa, &nd, sh);
    CHECK(got && ds_norm_rel_err(got, avg, 37 * TINY_D) > 1e-3);
    free(got);
}

/* The reverse complement of an upper-case ACGTN string. */
static void revcomp(char *out, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        char c = s[n - 1 - i];
        out[i] = c == 'A' ? 'T' : c == 'C' ? 'G' : c == 'G' ? 'C' : c == 'T' ? 'A' : c;
    }
    out[n] = 0;
}

/* Mean-pooled embeddings [2, d] of a sequence and of its reverse complement. */
static float *pooled_pair(const char *opts, const char *from, int *d)
{
    const char *seq = "ACGTTGCANNACGTAGGCTTAACGNTTGCAGTCAGTAGGATCCAAGTTTTGCA";
    char rc[128], text[300];
    revcomp(rc, seq);
    snprintf(text, sizeof text, ">x\n%s\n>rc\n%s\n", seq, rc);
    int nd;
    int64_t sh[8];
    float *x = embed_npy(opts, from, write_tmp("pair.fa", text), &nd, sh);
    if (x && (nd != 2 || sh[0] != 2)) { free(x); x = NULL; }
    *d = x ? (int)sh[1] : 0;
    return x;
}

TEST(test_embed_caduceus_ps_pooled_embeddings_of_a_sequence_and_its_reverse_complement_are_equal)
{
    int d;
    float *x = pooled_pair("", TINY_PS, &d);
    CHECK(x && d == TINY_D);
    if (x) CHECK_CLOSE("pooled avg of rc(x) vs x", x + d, x, d, 1e-6);
    free(x);
    /* the forward half alone is not RC-invariant */
    x = pooled_pair("--strands fwd", TINY_PS, &d);
    CHECK(x && d == TINY_D && ds_norm_rel_err(x + d, x, d) > 1e-3);
    free(x);
}

/* A tiny Caduceus-Ph checkpoint: two steps of pretraining from a config. */
static const char *tiny_ph(void)
{
    static char path[700];
    if (!path[0]) {
        const char *cfg = write_tmp("ph.json",
            "{\"arch\": \"caduceus\", \"preset\": \"custom\", \"d_model\": 16, \"n_layer\": 2, \"max_len\": 1024, "
            "\"rcps\": false, \"fused_add_norm\": false, \"norm\": \"rmsnorm\", \"dt_rank\": 2}\n");
        char dir[600];
        snprintf(dir, sizeof dir, "%s/ph_lm", ds_test_tmpdir());
        CHECK_EQ_INT(run("pretrain --config '%s' --steps 2 --batch-size 2 --seq-len 64 --eval-windows 2 -t 2 --quiet "
                         LAMBDA " -o '%s'", cfg, dir), 0);
        snprintf(path, sizeof path, "%s/last.safetensors", dir);
    }
    return path;
}

TEST(test_embed_caduceus_ph_default_conjoins_the_reverse_complement)
{
    int d;
    float *x = pooled_pair("", tiny_ph(), &d);
    CHECK(x && d == 16);
    if (x) CHECK_CLOSE("pooled conjoined rc(x) vs x", x + d, x, d, 1e-6);
    free(x);
    x = pooled_pair("--strands fwd", tiny_ph(), &d);
    CHECK(x && d == 16 && ds_norm_rel_err(x + d, x, d) > 1e-3);
    free(x);
    /* per-block outputs exist for one strand of Ph */
    const char *fa = write_tmp("one.fa", ">a\nACGTACGTAC\n");
    CHECK_EQ_INT(run("embed --from '%s' --strands fwd --layer 0 --quiet '%s'", tiny_ph(), fa), 0);
    CHECK(!strncmp(g_out, "a\t", 2) && nlines(g_out) == 1);
}

TEST(test_embed_caduceus_options_a_model_cannot_honour_are_usage_errors)
{
    const char *fa = write_tmp("u.fa", ">a\nACGTACGTAC\n");
    CHECK_ERROR(run("embed --from '%s' --strands both '%s'", tiny_ph(), fa), 2, " embed", "Caduceus-Ph");
    CHECK_ERROR(run("embed --from '%s' --layer 0 '%s'", tiny_ph(), fa), 2, " embed",
                "--layer is available for HyenaDNA and for Caduceus-Ph with --strands fwd");
    CHECK_ERROR(run("embed --from '%s' --layer 0 --strands fwd '%s'", TINY_PS, fa), 2, " embed",
                "--layer is available for HyenaDNA and for Caduceus-Ph with --strands fwd");
    CHECK_ERROR(run("embed --from '%s' --strands sideways '%s'", TINY_PS, fa), 2, " embed", "--strands");
}

/* A record longer than the checkpoint's max_len (1024 for the tiny PS) is
 * an error naming the file, line and both lengths; --chunk embeds it. */
TEST(test_embed_caduceus_record_longer_than_max_len_is_an_error_or_chunked)
{
    static char text[1400];
    int k = snprintf(text, sizeof text, ">long\n");
    for (int i = 0; i < 1100; i++) text[k++] = "ACGT"[i % 4];
    text[k++] = '\n';
    text[k] = 0;
    const char *fa = write_tmp("long.fa", text);
    CHECK_ERROR(run("embed --from '%s' '%s'", TINY_PS, fa), 1, " embed", "long.fa:1: record 'long' has 1100 tokens, more than the model's 1024 (use --chunk N)");
    CHECK_EQ_INT(run("embed --from '%s' --chunk 512 --quiet '%s'", TINY_PS, fa), 0);
    CHECK(!strncmp(g_out, "long\t", 5));
}

/* cmp -s of RUN_A/last.safetensors and RUN_B/last.safetensors */
static int same_last(const char *a, const char *b)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/last.safetensors' '%s/last.safetensors'", a, b);
    return system(cmd) == 0;
}

/* A run of `finetune OPTS -o A`, and the same stopped after epoch 1 and
 * resumed into B: the two last checkpoints are byte-identical. */
static void check_resume_is_bitwise(const char *opts, const char *name)
{
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/%s_whole", ds_test_tmpdir(), name);
    snprintf(b, sizeof b, "%s/%s_split", ds_test_tmpdir(), name);
    CHECK_EQ_INT(run("finetune %s -o '%s'", opts, a), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    CHECK_EQ_INT(run("finetune %s -o '%s' --stop-at 1", opts, b), 0);
    CHECK_EQ_INT(run("finetune --resume '%s' --quiet -t 2", b), 0);
    CHECK_MSG(same_last(a, b), "%s: resumed fine-tune differs from the uninterrupted one", name);
}

TEST(test_finetune_caduceus_ps_demo_runs_resumes_bitwise_and_takes_the_caduceus_lr)
{
    check_resume_is_bitwise("--model caduceus-demo --task gb --epochs 2 --batch-size 16 --max-length 64 -t 2 --quiet "
                            GB "/table", "cad_ps");
    char p[700];
    static char cfg[1 << 14];
    snprintf(p, sizeof p, "%s/cad_ps_whole/config.json", ds_test_tmpdir());
    slurp(p, cfg, sizeof cfg);
    CHECK_MSG(strstr(cfg, "\"lr\": 0.002,"), "a Caduceus fine-tune's default lr is not 2e-3: %s", cfg);
    /* the classifier evaluates with the RC-averaged features */
    snprintf(p, sizeof p, "%s/cad_ps_whole/last.safetensors", ds_test_tmpdir());
    CHECK_EQ_INT(run("eval --from '%s' --json - --quiet " GB "/table", p), 0);
    CHECK(strstr(g_out, "\"accuracy\":") != NULL);
}

/* A table dataset: the bundled train split, and a test split of sequences
 * (shorter than, equal to and longer than --max-length 64) each followed by
 * its reverse complement. */
static const char *rc_pairs_dataset(void)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/rc_pairs", ds_test_tmpdir());
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp " GB "/table/train.csv '%s/'", dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    static const char *const seqs[] = {
        "ACGTTGCAGGCTTAACGATTGCAGTCAGTA",
        "GGCGTCATTTTTCTGGTACGGAAAGTGATGCGAAAAAAACAGCGGCAGTCGTTGAACAGTCGC",
        "CCAGAGTCAGGCGTCATTTTTCTGGTACGGAAAGTGATGCGAAAAAAACAGCGGCAGTCGTTGAACAGTCGCTGAGCCGACAGGCGCTGGCTGCACAGAA",
    };
    snprintf(cmd, sizeof cmd, "%s/test.csv", dir);
    FILE *fp = fopen(cmd, "w");
    fputs("sequence,label\n", fp);
    for (int i = 0; i < 3; i++) {
        char rc[256];
        revcomp(rc, seqs[i]);
        const char *cls = i % 2 ? "right_arm" : "left_arm";   /* both classes, so eval has no warning */
        fprintf(fp, "%s,%s\n%s,%s\n", seqs[i], cls, rc, cls);
    }
    fclose(fp);
    return dir;
}

/* The probability columns of predictions.tsv row `row` (1-based, after the header). */
static int pred_row(const char *tsv, int row, char *pred, size_t cap, double p[2])
{
    const char *l = tsv;
    for (int i = 0; i < row && l; i++) l = strchr(l, '\n'), l = l ? l + 1 : NULL;
    if (!l) return 0;
    char id[64], truth[64];
    return sscanf(l, "%63s %63s %*s %lf %lf", id, truth, p, p + 1) == 4 && sscanf(l, "%*s %*s %63s", pred) == 1 && cap > 0;
}

TEST(test_finetune_caduceus_ph_resumes_bitwise_and_predicts_a_sequence_and_its_reverse_complement_alike)
{
    char opts[1200];
    snprintf(opts, sizeof opts, "--from '%s' --task gb --epochs 2 --batch-size 16 --max-length 64 -t 2 --quiet "
             GB "/table", tiny_ph());
    check_resume_is_bitwise(opts, "cad_ph");
    char best[700], pred[700];
    snprintf(best, sizeof best, "%s/cad_ph_whole/last.safetensors", ds_test_tmpdir());
    snprintf(pred, sizeof pred, "%s/rc_pred.tsv", ds_test_tmpdir());
    /* batch 4 puts a pair's two records in different rows and batches */
    CHECK_EQ_INT(run("eval --from '%s' --batch-size 4 --predictions '%s' --quiet '%s'", best, pred, rc_pairs_dataset()), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    static char tsv[1 << 14];
    slurp(pred, tsv, sizeof tsv);
    CHECK_EQ_INT(nlines(tsv), 7);
    for (int i = 0; i < 3; i++) {
        char ca[64] = "", cb[64] = "";
        double pa[2] = { 0 }, pb[2] = { 0 };
        CHECK(pred_row(tsv, 1 + 2 * i, ca, sizeof ca, pa) && pred_row(tsv, 2 + 2 * i, cb, sizeof cb, pb));
        CHECK_MSG(!strcmp(ca, cb), "pair %d: predicted %s for the sequence, %s for its reverse complement", i, ca, cb);
        CHECK_MSG(fabs(pa[0] - pb[0]) <= 1e-6 && fabs(pa[1] - pb[1]) <= 1e-6,
                  "pair %d: probabilities %.7f,%.7f vs %.7f,%.7f for its reverse complement", i, pa[0], pa[1], pb[0], pb[1]);
    }
}
