/* derfseq eval and embed on a checkpoint pretrained on the bundled lambda
 * genome: eval reproduces pretrain's validation loss, embeddings follow
 * input order and pooling rules, and failures leave no output file. */
#include "test.h"
#include "cli.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <htslib/bgzf.h>
#include <htslib/sam.h>
#include <unistd.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"

/* A 16-step pretraining run, made once. */
static const char *run_dir(void)
{
    static char dir[600];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/lm", ds_test_tmpdir());
        CHECK_EQ_INT(run("pretrain --model hyenadna-demo --batch-size 4 --seq-len 100 --eval-windows 8 --steps 16 "
                         "--eval-every 16 --lr 3e-3 -t 2 --quiet '%s' -o '%s'", LAMBDA, dir), 0);
    }
    return dir;
}

static const char *ckpt(void)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/last.safetensors", run_dir());
    return path;
}

/* The same checkpoint for the other embed tests (test_embed_output.c). */
const char *embed_test_ckpt(void);
const char *embed_test_ckpt(void) { return ckpt(); }


/* Parses TSV rows "id\tv..." into vals; returns the number of rows. */
static int tsv_rows(const char *text, char ids[][32], float vals[][64], int max_rows)
{
    int n = 0;
    for (const char *p = text; *p && n < max_rows; n++) {
        sscanf(p, "%31s", ids[n]);
        const char *q = strchr(p, '\t');
        for (int k = 0; k < 64 && q && *q == '\t'; k++) {
            char *end;
            vals[n][k] = strtof(q + 1, &end);
            q = end;
        }
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return n;
}

TEST(test_eval_reproduces_pretrain_validation_loss)
{
    char log[700], buf[1 << 16];
    snprintf(log, sizeof log, "%s/log.jsonl", run_dir());
    slurp(log, buf, sizeof buf);
    char *v = strstr(buf, "\"val_loss\":");
    CHECK(v != NULL);
    double want = v ? strtod(v + 11, NULL) : 0;
    CHECK_EQ_INT(run("eval --from '%s' --seq-len 100 --max-windows 8 --json - -t 2 --quiet '%s'", ckpt(), LAMBDA), 0);
    char *l = strstr(g_out, "\"loss\":");
    CHECK_MSG(l && fabs(strtod(l + 7, NULL) - want) < 1e-5, "eval loss %s, pretrain val_loss %.7f", l ? l + 7 : "?", want);
    CHECK(strstr(g_out, "\"bits_per_base\"") && !strstr(g_out, "perplexity\t"));   /* JSON only with --json - */
    CHECK_EQ_INT(run("eval --from '%s' --seq-len 100 --quiet '%s'", ckpt(), LAMBDA), 0);
    CHECK(strstr(g_out, "bits_per_base\t") && strstr(g_out, "held-out 5% tail"));
    CHECK_EQ_INT(run("eval --from '%s' --seq-len 100 --regions testdata/lambda_splits.bed --split valid --quiet '%s'",
                     ckpt(), LAMBDA), 0);
    CHECK(strstr(g_out, "split\tvalid") && strstr(g_out, "windows\t39\n"));   /* 4000 bases / 101 */
    CHECK_ERROR(run("eval --from '%s' --seq-len 5000 --quiet '%s'", ckpt(), LAMBDA), 1, " eval", "exceeds");
    CHECK_ERROR(run("eval --from '%s' --split dev --quiet '%s'", ckpt(), LAMBDA), 2, " eval", "--split");
}

/* Whether the first two TSV rows carry the same vector (ids aside). */
static int same_vectors(const char *tsv)
{
    const char *l2 = strchr(tsv, '\n');
    if (!l2) return 0;
    const char *v1 = strchr(tsv, '\t'), *v2 = strchr(l2 + 1, '\t'), *e2 = strchr(l2 + 1, '\n');
    return v1 && v2 && e2 && v1 < l2 && l2 - v1 == e2 - v2 && !strncmp(v1, v2, (size_t)(l2 - v1));
}

TEST(test_embed_pools_in_input_order_and_is_deterministic)
{
    const char *fa = write_tmp("three.fa", ">a\nACGTACGTAC\n>b first\nacgtnACGTTTT\n>c\nGGGGCCCCAAAATTTT\n");
    static char ids[8][32];
    static float mean[8][64], none[64][64];
    CHECK_EQ_INT(run("embed --from '%s' --quiet '%s'", ckpt(), fa), 0);
    char first[sizeof g_out];
    memcpy(first, g_out, sizeof g_out);
    CHECK_EQ_INT(tsv_rows(g_out, ids, mean, 8), 3);
    CHECK(!strcmp(ids[0], "a") && !strcmp(ids[1], "b") && !strcmp(ids[2], "c"));
    CHECK_EQ_INT(run("embed --from '%s' --quiet '%s'", ckpt(), fa), 0);
    CHECK_MSG(!strcmp(first, g_out), "two runs gave different embeddings");
    /* mean pooling is the mean of the per-token rows */
    const char *one = write_tmp("one.fa", ">a\nACGTACGTAC\n");
    CHECK_EQ_INT(run("embed --from '%s' --pool none --quiet '%s'", ckpt(), one), 0);
    int n = 0;
    for (const char *p = g_out; (p = strchr(p, '\n')); p++) n++;
    CHECK_EQ_INT(n, 10);
    for (const char *p = g_out; n-- > 0; p = strchr(p, '\n') + 1) {   /* skip "a\tpos" and read the vector */
        const char *q = strchr(strchr(p, '\t') + 1, '\t');
        for (int k = 0; k < 64; k++) { char *e; none[9 - n][k] = strtof(q + 1, &e); q = e; }
    }
    for (int k = 0; k < 64; k += 9) {
        double m = 0;
        for (int t = 0; t < 10; t++) m += none[t][k] / 10.0;
        CHECK_NEAR(mean[0][k], m, 1e-5 + 1e-5 * fabs(m));
    }
    CHECK_EQ_INT(run("embed --from '%s' --pool last --layer 1 --quiet '%s'", ckpt(), one), 0);
    CHECK(g_out[0] == 'a');
    /* the official tokenizer keeps case (lower case is [UNK]); -hf appends [SEP] */
    const char *low = write_tmp("low.fa", ">u\nACGTACGTAC\n>l\nacgtacgtac\n");
    CHECK_EQ_INT(run("embed --from '%s' --quiet '%s'", ckpt(), low), 0);
    CHECK_MSG(same_vectors(g_out), "derfseq tokens: lower and upper case embed differently");
    CHECK_EQ_INT(run("embed --from '%s' --tokens official --quiet '%s'", ckpt(), low), 0);
    CHECK_MSG(!same_vectors(g_out), "official tokens: lower case did not become [UNK]");
    CHECK_EQ_INT(run("embed --from '%s' --tokens official-hf --pool none --quiet '%s'", ckpt(), one), 0);
    CHECK_EQ_INT(nlines(g_out), 11);
}

TEST(test_embed_writes_npy_and_safetensors)
{
    const char *fa = write_tmp("eq.fa", ">x\nACGTACGTAC\n>y\nTTTTACGTAC\n");
    const char *npy = tmp_path("e.npy"), *st = tmp_path("e.safetensors");
    CHECK_EQ_INT(run("embed --from '%s' --format npy -o '%s' --quiet '%s'", ckpt(), npy, fa), 0);
    float *data = NULL;
    int nd;
    int64_t shape[8];
    CHECK_EQ_INT(ds_npy_read(npy, &data, &nd, shape), 0);
    CHECK(nd == 2 && shape[0] == 2 && shape[1] == 64);
    free(data);
    CHECK_EQ_INT(run("embed --from '%s' --format npy --pool none -o '%s' --quiet '%s'", ckpt(), npy, fa), 0);
    CHECK_EQ_INT(ds_npy_read(npy, &data, &nd, shape), 0);
    CHECK(nd == 3 && shape[0] == 2 && shape[1] == 10 && shape[2] == 64);
    free(data);
    CHECK_EQ_INT(run("embed --from '%s' --format safetensors --pool none -o '%s' --quiet '%s'", ckpt(), st, fa), 0);
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, st), 0);
    const ds_st_tensor *t = ds_st_find(&f, "y");
    CHECK(f.n == 2 && t && t->ndim == 2 && t->shape[0] == 10 && t->shape[1] == 64);
    ds_st_close(&f);
}

TEST(test_embed_regions_reverse_complement_the_minus_strand)
{
    /* region_b is NC_001416.1:1001-1300 on '-': its embedding equals that of the
     * reverse complement given as FASTA */
    CHECK_EQ_INT(run("embed --from '%s' --ref %s --regions testdata/lambda_regions.bed --quiet", ckpt(), LAMBDA), 0);
    static char ids[8][32], ids2[8][32];
    static float v[8][64], w[8][64];
    CHECK_EQ_INT(tsv_rows(g_out, ids, v, 8), 3);
    CHECK(!strcmp(ids[1], "region_b"));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "zcat %s | awk 'NR>1' | tr -d '\\n' | cut -c1001-1300 | rev | tr ACGT TGCA | "
                              "sed '1i>rc' > %s/rc.fa", LAMBDA, ds_test_tmpdir());
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(run("embed --from '%s' --quiet %s/rc.fa", ckpt(), ds_test_tmpdir()), 0);
    CHECK_EQ_INT(tsv_rows(g_out, ids2, w, 8), 1);
    for (int k = 0; k < 64; k++) CHECK_NEAR(v[1][k], w[0][k], 1e-6);
    /* region arguments are 1-based inclusive and named chr:beg-end */
    CHECK_EQ_INT(run("embed --from '%s' --ref %s --quiet NC_001416.1:1001-1300", ckpt(), LAMBDA), 0);
    CHECK(!strncmp(g_out, "NC_001416.1:1001-1300\t", 22));
    /* a contig whose name looks like a region is taken whole (hisat2's GRCh37 example names them so) */
    char fa[700];
    snprintf(fa, sizeof fa, "%s/colon.fa", ds_test_tmpdir());
    FILE *fp = fopen(fa, "w");
    fputs(">22:20000001-20000020\nACGTACGTACGTACGTACGT\n", fp);
    fclose(fp);
    CHECK_EQ_INT(run("embed --from '%s' --ref '%s' --quiet 22:20000001-20000020 22:20000001-20000020:1-10", ckpt(), fa), 0);
    CHECK(strstr(g_out, "22:20000001-20000020:1-20\t") && strstr(g_out, "22:20000001-20000020:1-10\t"));
}

TEST(test_embed_failures_are_one_line_and_leave_no_file)
{
    char longseq[3000] = ">long\n";
    for (int i = 0; i < 2000; i++) longseq[6 + i] = "ACGT"[i % 4];   /* longer than l_max 1026 */
    longseq[6 + 2000] = '\n';
    longseq[6 + 2001] = 0;
    const char *fa = write_tmp("long.fa", longseq), *npy = tmp_path("fail.npy");
    CHECK_ERROR(run("embed --from '%s' --format npy -o '%s' '%s'", ckpt(), npy, fa), 1, " embed", "--chunk");
    CHECK_MSG(access(npy, F_OK) != 0, "a failed run left %s behind", npy);
    CHECK_EQ_INT(run("embed --from '%s' --chunk 1000 --quiet '%s'", ckpt(), fa), 0);
    CHECK(!strncmp(g_out, "long\t", 5));
    CHECK_ERROR(run("embed --from '%s' --ref %s --regions testdata/bad/unknown_contig.bed", ckpt(), LAMBDA), 1, " embed",
                "unknown_contig.bed:1:");
    CHECK_ERROR(run("embed --from '%s' testdata/bad/no_header.fa", ckpt()), 1, " embed", "no_header.fa:1:");
    CHECK_ERROR(run("embed --from '%s' --format npy '%s'", ckpt(), fa), 2, " embed", "-o FILE");
    CHECK_ERROR(run("embed --from '%s' --layer 7 '%s'", ckpt(), fa), 1, " embed", "--layer 7");
    /* HyenaDNA has one strand: the Caduceus strand choice is refused, not ignored */
    CHECK_ERROR(run("embed --from '%s' --strands fwd '%s'", ckpt(), fa), 2, " embed", "--strands applies to Caduceus");
}

/* A checkpoint whose tensors do not fit its config (another model's weights)
 * is refused, naming the first tensor and both shapes. */
TEST(test_checkpoint_of_another_model_is_refused_naming_the_tensor)
{
    ds_st_file f;
    CHECK_EQ_INT(ds_st_open(&f, ckpt()), 0);
    int n = f.n;
    ds_st_entry *e = calloc((size_t)n, sizeof *e);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        bufs[i] = malloc(f.t[i].numel * sizeof(float));
        ds_st_read_f32(&f, &f.t[i], bufs[i]);
        e[i] = (ds_st_entry){ f.t[i].name, f.t[i].ndim, f.t[i].shape, bufs[i] };
    }
    /* the demo model's weights (d 64) under the tiny-1k config (d 128) */
    const char *k[1] = { "derfseq.config" };
    const char *v[1] = { "{\"arch\": \"hyenadna\", \"d_model\": 128, \"n_layer\": 2, \"d_inner\": 512, \"l_max\": 1026}" };
    const char *bad = tmp_path("mismatch.safetensors");
    CHECK_EQ_INT(ds_st_write(bad, e, n, k, v, 1), 0);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(e);
    ds_st_close(&f);
    const char *fa = write_tmp("m.fa", ">a\nACGT\n");
    CHECK_ERROR(run("embed --from '%s' '%s'", bad, fa), 1, " embed",
                "tensor 'hyena.backbone.embeddings.word_embeddings.weight' has wrong shape: expected [16,128], got [16,64]");
    CHECK_ERROR(run("eval --from '%s' " LAMBDA, bad), 1, " eval", "has wrong shape");
}

/* A region without --ref is named with what it needs, not "cannot open";
 * with --ref, braces select a contig whose name holds ':' as samtools does. */
TEST(test_embed_region_without_ref_says_give_ref_and_braces_select_colon_names)
{
    CHECK_ERROR(run("embed --from '%s' chr1:1-100", ckpt()), 2, " embed", "chr1:1-100: a region needs the reference: give --ref FASTA");
    CHECK_ERROR(run("embed --from '%s' '{HLA-A*01:01}:1-5'", ckpt()), 2, " embed", "give --ref FASTA");
    CHECK_ERROR(run("embed --from '%s' no-such-file.fa", ckpt()), 1, " embed", "no-such-file.fa");
    const char *fa = write_tmp("hla_colon.fa", ">HLA-A*01:01\nACGTACGTACGTTTACGT\n>x\nGGGGACGTACGTCC\n");
    static char braced[sizeof g_out];
    CHECK_EQ_INT(run("embed --from '%s' --ref '%s' -q '{HLA-A*01:01}:3-10'", ckpt(), fa), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    snprintf(braced, sizeof braced, "%s", g_out);
    CHECK_MSG(!strncmp(braced, "HLA-A*01:01:3-10\t", 17), "%s", braced);
    /* the same bases as a FASTA record give the same row */
    const char *rec = write_tmp("colon_rec.fa", ">HLA-A*01:01:3-10\nGTACGTAC\n");
    CHECK_EQ_INT(run("embed --from '%s' -q '%s'", ckpt(), rec), 0);
    CHECK_MSG(strcmp(g_out, braced) == 0, "braced region '%s' differs from its bases '%s'", braced, g_out);
}

/* Alignments and audio given to a DNA command are named with what to do,
 * not reported as a FASTA without '>'. */
TEST(test_embed_names_bam_sam_and_audio_inputs_and_says_what_to_do)
{
    const char *bam = tmp_path("reads.bam");
    samFile *fp = sam_open(bam, "wb");
    sam_hdr_t *h = sam_hdr_parse(strlen("@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\n"), "@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\n");
    CHECK(fp && h && sam_hdr_write(fp, h) == 0);
    sam_hdr_destroy(h);
    if (fp) sam_close(fp);
    CHECK_ERROR(run("embed --from '%s' '%s'", ckpt(), bam), 1, " embed", "reads.bam: this is a BAM file, not FASTA/FASTQ");
    CHECK_MSG(strstr(g_err, "samtools fasta "), "%s", g_err);
    const char *sam = write_tmp("reads.sam", "@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\n");
    CHECK_ERROR(run("embed --from '%s' '%s'", ckpt(), sam), 1, " embed", "this is a SAM file");
    CHECK_ERROR(run("embed --from '%s' testdata/wav2vec2_tiny_a.wav", ckpt()), 1, " embed",
                "this is audio (WAV), not FASTA/FASTQ");
    CHECK_MSG(strstr(g_err, "wav2vec2 checkpoint"), "%s", g_err);
    /* a FASTQ still reads: '@' alone is not SAM */
    const char *fq = write_tmp("one.fq", "@r1\nACGTACGT\n+\nIIIIIIII\n");
    CHECK_EQ_INT(run("embed --from '%s' -q '%s'", ckpt(), fq), 0);
}

/* A derfseq-trained checkpoint records "tokenizer": "derfseq", and embed
 * uses what a checkpoint records: the same rows as --tokens derfseq. */
TEST(test_embed_uses_the_tokenizer_the_checkpoint_records)
{
    const char *fa = write_tmp("mixed.fa", ">s\nACGTacgtNNACGTTGCAacgt\n");
    static char dflt[sizeof g_out];
    CHECK_EQ_INT(run("info -q '%s'", ckpt()), 0);
    CHECK_MSG(strstr(g_out, "\"tokenizer\": \"derfseq\""), "%s", g_out);
    CHECK_EQ_INT(run("embed -q --from '%s' '%s'", ckpt(), fa), 0);
    memcpy(dflt, g_out, sizeof dflt);
    CHECK_EQ_INT(run("embed -q --from '%s' --tokens derfseq '%s'", ckpt(), fa), 0);
    CHECK_MSG(!strcmp(dflt, g_out), "default '%s' is not --tokens derfseq '%s'", dflt, g_out);
    CHECK_EQ_INT(run("embed -q --from '%s' --tokens official '%s'", ckpt(), fa), 0);
    CHECK_MSG(strcmp(dflt, g_out), "--tokens official gave the derfseq rows on lower case and N");
}

/* scripts/convert_hyenadna.py on an HF-layout model.safetensors and on a
 * pytorch_model.bin of the same weights records official-hf, and embed
 * applies it with no --tokens flag. Making the .bin needs /usr/bin/python3
 * with torch (the converter needs it for pickles only, derfseq never):
 * skipped with a note without it. */
TEST(test_convert_hyenadna_reads_model_safetensors_and_records_its_tokenizer)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("    skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)\n");
        return;
    }
    const char *dir = tmp_path("hf");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && /usr/bin/python3 - '%s' '%s' <<'EOF'\n"
             "import json, sys, torch\n"
             "sys.path.insert(0, 'test/reference'); import st\n"
             "sd, meta = st.load(sys.argv[1]); cfg = json.loads(meta['derfseq.config'])\n"
             "st.save(sys.argv[2] + '/model.safetensors', {k: v for k, v in sd.items()}, {'format': 'pt'})\n"
             "torch.save(sd, sys.argv[2] + '/pytorch_model.bin')\n"
             "json.dump({'d_model': cfg['d_model'], 'n_layer': cfg['n_layer'], 'max_seq_len': cfg['l_max']},"
             " open(sys.argv[2] + '/config.json', 'w'))\n"
             "EOF\n"
             "/usr/bin/python3 scripts/convert_hyenadna.py --shift 0 '%s/model.safetensors' '%s/a.safetensors' >/dev/null && "
             "/usr/bin/python3 scripts/convert_hyenadna.py --shift 0 '%s/pytorch_model.bin' '%s/b.safetensors' >/dev/null",
             dir, ckpt(), dir, dir, dir, dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    const char *fa = write_tmp("mixed_hf.fa", ">s\nACGTacgtNNACGTTGCAacgt\n");
    static char a[sizeof g_out], hf[sizeof g_out];
    CHECK_EQ_INT(run("info -q '%s/a.safetensors'", dir), 0);
    CHECK_MSG(strstr(g_out, "tokenizer: official-hf\n"), "%s", g_out);
    CHECK_EQ_INT(run("embed -q --from '%s/a.safetensors' '%s'", dir, fa), 0);
    memcpy(a, g_out, sizeof a);
    CHECK_EQ_INT(run("embed -q --from '%s/a.safetensors' --tokens official-hf '%s'", dir, fa), 0);
    memcpy(hf, g_out, sizeof hf);
    CHECK_MSG(!strcmp(a, hf), "the default is not the recorded official-hf: '%s' vs '%s'", a, hf);
    CHECK_EQ_INT(run("embed -q --from '%s/b.safetensors' '%s'", dir, fa), 0);
    CHECK_MSG(!strcmp(a, g_out), "pytorch_model.bin and model.safetensors convert to different rows");
    CHECK_EQ_INT(run("embed -q --from '%s/a.safetensors' --tokens derfseq '%s'", dir, fa), 0);
    CHECK_MSG(strcmp(a, g_out), "--tokens derfseq did not override the recorded rules");
}

/* BED rows are named so that they join back to the BED: the name column,
 * else bedtools getfasta's chrom:start-end in BED coordinates (0-based
 * start), with (+)/(-) for a row with a strand as getfasta -s; the same
 * from a bgzipped BED. */
TEST(test_embed_bed_ids_join_back_to_the_bed_and_bed_gz_reads)
{
    const char *text = "track name=x\nNC_001416.1\t100\t200\nNC_001416.1\t300\t400\t.\t0\t-\n"
                       "NC_001416.1\t500\t600\tpeak3\t0\t+\n";
    const char *bed = write_tmp("ids.bed", text);
    CHECK_EQ_INT(run("embed -q --from '%s' --ref %s --regions '%s'", ckpt(), LAMBDA, bed), 0);
    CHECK_MSG(!strncmp(g_out, "NC_001416.1:100-200\t", 20) && strstr(g_out, "\nNC_001416.1:300-400(-)\t") &&
              strstr(g_out, "\npeak3\t") && nlines(g_out) == 3, "%s", g_out);
    static char plain[sizeof g_out];
    memcpy(plain, g_out, sizeof plain);
    const char *gz = tmp_path("ids.bed.gz");
    BGZF *fp = bgzf_open(gz, "w");
    CHECK(fp && bgzf_write(fp, text, strlen(text)) == (ssize_t)strlen(text));
    if (fp) bgzf_close(fp);
    CHECK_EQ_INT(run("embed -q --from '%s' --ref %s --regions '%s'", ckpt(), LAMBDA, gz), 0);
    CHECK_MSG(!strcmp(g_out, plain), "the bgzipped BED embeds differently: '%s'", g_out);
}

/* 1 with the loss of `eval --json -` in *loss. */
static int eval_loss(const char *ckpt_path, const char *fa, double *loss)
{
    if (run("eval -q --json - --from '%s' --seq-len 100 --max-windows 8 '%s'", ckpt_path, fa) != 0) return 0;
    const char *p = strstr(g_out, "\"loss\":");
    return p && sscanf(p + 7, " %lf", loss) == 1;
}

/* A checkpoint converted with the official tokenizer rule (case kept, N as
 * N) is evaluated and fine-tuned with that rule: on a soft-masked genome
 * its loss differs from the same weights recorded as derfseq's, on the
 * upper-case genome it is the same. The converter reads safetensors with
 * the Python standard library alone; skipped without a python3. */
TEST(test_eval_and_finetune_tokenize_with_the_rule_the_checkpoint_records)
{
    if (system("python3 -c 'import json, struct, array' >/dev/null 2>&1") != 0) {
        printf("    skipped: no python3 for scripts/convert_hyenadna.py\n");
        return;
    }
    const char *off = tmp_path("official.safetensors");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 scripts/convert_hyenadna.py --shift 0 --tokenizer official '%s' '%s' >/dev/null",
             ckpt(), off);
    CHECK_EQ_INT(system(cmd), 0);
    const char *up = tmp_path("upper.fa"), *soft = tmp_path("soft.fa");
    snprintf(cmd, sizeof cmd, "zcat " LAMBDA " | head -200 > '%s' && awk 'NR > 1 && NR %% 3 == 0 { $0 = tolower($0) } "
             "{ print }' '%s' > '%s'", up, up, soft);
    CHECK_EQ_INT(system(cmd), 0);
    double a = 0, b = 0, c = 0, d = 0;
    CHECK(eval_loss(ckpt(), up, &a) && eval_loss(off, up, &b));
    CHECK_MSG(fabs(a - b) <= 1e-6 * fabs(a), "upper case: derfseq rule %.9g, official rule %.9g", a, b);
    CHECK(eval_loss(ckpt(), soft, &c) && eval_loss(off, soft, &d));
    CHECK_MSG(fabs(c - d) > 1e-3, "soft-masked: the official rule scored like derfseq's (%.9g, %.9g)", c, d);
    CHECK_MSG(fabs(a - c) <= 1e-6 * fabs(a), "derfseq's rule is case-blind: %.9g vs %.9g", a, c);
    /* the fine-tuned classifier keeps the rule */
    const char *ft = tmp_path("ft_official");
    CHECK_EQ_INT(run("finetune -q --from '%s' --task gb testdata/gb_lambda/tree -o '%s' --epochs 1 --batch-size 16 -t 2",
                     off, ft), 0);
    CHECK_EQ_INT(run("info -q '%s/best.safetensors'", ft), 0);
    CHECK_MSG(strstr(g_out, "\"tokenizer\": \"official\""), "%s", g_out);
}
