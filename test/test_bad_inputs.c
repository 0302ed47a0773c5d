/* The bad-input matrix (issue 8, "Hardening"): every command, fed each kind
 * of broken input, option value, missing file, directory-for-a-file or an
 * output that would overwrite an input, must answer with exactly one line on
 * stderr, "derfseq CMD: ..." naming the file (and line where there is one),
 * the right exit status (1 input/runtime, 2 usage), nothing on stdout, and no
 * new, changed or half-written file where it writes (derfseq.md "Exit
 * status"). One table, one checker; a failure reads
 * "case 17 embed_fai_zero_line_bases: ...".
 *
 * Each case gets its own directory, filled by the test's own code (no
 * shell), listed with sizes and content hashes before and after the run, so
 * a leftover temp file, a partial output or an overwritten input shows up as
 * a difference. The checkpoints the cases need (a 1-step hyenadna-demo LM and
 * a 1-epoch classifier on it) are trained once per test run. */
#include "test.h"
#include "cli.h"

#include <dirent.h>
#include <htslib/bgzf.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixtures ---------------------------------------------------------- */

static const char *fixture_dir(void)
{
    static char dir[600];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/fixtures", ds_test_tmpdir());
        mkdir(dir, 0755);
    }
    return dir;
}

/* A 1-step LM on the bundled lambda genome: the smallest valid checkpoint. */
static const char *lm_ckpt(void)
{
    static char path[700];
    if (!path[0]) {
        CHECK_EQ_INT(run("pretrain --model hyenadna-demo --batch-size 2 --seq-len 32 --eval-windows 1 --steps 1 -t 2 "
                         "--quiet testdata/lambda_virus.fa.gz -o '%s/lm'", fixture_dir()), 0);
        snprintf(path, sizeof path, "%s/lm/last.safetensors", fixture_dir());
    }
    return path;
}

/* A 1-epoch classifier on the bundled two-class table task. */
static const char *cls_ckpt(void)
{
    static char path[700];
    if (!path[0]) {
        CHECK_EQ_INT(run("finetune --from '%s' --task gb --epochs 1 --batch-size 8 --max-length 32 -t 2 --quiet "
                         "testdata/gb_lambda/table -o '%s/cls'", lm_ckpt(), fixture_dir()), 0);
        snprintf(path, sizeof path, "%s/cls/best.safetensors", fixture_dir());
    }
    return path;
}

/* ---- writing inputs ---------------------------------------------------- */

static void put(const char *dir, const char *name, const void *data, size_t len)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    CHECK_MSG(fp != NULL, "cannot create %s", p);
    if (!fp) return;
    if (len) CHECK(fwrite(data, 1, len, fp) == len);
    fclose(fp);
}

static void put_text(const char *dir, const char *name, const char *text) { put(dir, name, text, strlen(text)); }

static void sub_dir(const char *dir, const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK_MSG(mkdir(p, 0755) == 0, "cannot create %s", p);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    FILE *fp = fopen(from, "rb");
    CHECK_MSG(fp != NULL, "cannot read %s", from);
    if (!fp) return;
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    put(dir, name, buf, n);
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A plain (not block) gzip member holding text in one stored deflate block;
 * cut bytes are dropped from the end (a truncated download). */
static void put_gzip(const char *dir, const char *name, const char *text, size_t cut)
{
    unsigned char buf[4096];
    size_t n = strlen(text), k = 0;
    const unsigned char hdr[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff };
    memcpy(buf, hdr, sizeof hdr), k = sizeof hdr;
    buf[k++] = 1;   /* final block, stored */
    buf[k++] = (unsigned char)n, buf[k++] = (unsigned char)(n >> 8);
    buf[k++] = (unsigned char)~n, buf[k++] = (unsigned char)(~n >> 8);
    memcpy(buf + k, text, n), k += n;
    uint32_t crc = crc32_of((const unsigned char *)text, n);
    for (int i = 0; i < 4; i++) buf[k++] = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) buf[k++] = (unsigned char)(n >> (8 * i));
    put(dir, name, buf, k - cut);
}

/* text as BGZF (what bgzip writes), through htslib. */
static void put_bgzf(const char *dir, const char *name, const char *text)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    BGZF *fp = bgzf_open(p, "w");
    CHECK_MSG(fp != NULL, "cannot create %s", p);
    if (!fp) return;
    CHECK(bgzf_write(fp, text, strlen(text)) == (ssize_t)strlen(text));
    bgzf_close(fp);
}

/* A safetensors file: the 8-byte little-endian header length, the header
 * and `data` zero bytes. */
static void put_safetensors(const char *dir, const char *name, const char *header, size_t data)
{
    size_t h = strlen(header);
    unsigned char *buf = calloc(1, 8 + h + data);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    put(dir, name, buf, 8 + h + data);
    free(buf);
}

/* A copy of checkpoint src as dir/name with its derfseq config edited. */
static void put_edited_ckpt(const char *src, const char *dir, const char *name, void (*edit)(json_t *cfg))
{
    FILE *fp = fopen(src, "rb");
    CHECK_MSG(fp != NULL, "cannot read %s", src);
    if (!fp) return;
    unsigned char len8[8];
    CHECK(fread(len8, 1, 8, fp) == 8);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)len8[i] << (8 * i);
    char *hdr = calloc(1, h + 1);
    static char data[4 << 20];
    CHECK(fread(hdr, 1, h, fp) == h);
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    json_t *root = json_loads(hdr, 0, NULL), *meta = json_object_get(root, "__metadata__");
    json_t *cfg = json_loads(json_string_value(json_object_get(meta, "derfseq.config")), 0, NULL);
    CHECK_MSG(cfg != NULL, "%s has no derfseq.config", src);
    if (cfg) {
        edit(cfg);
        char *text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_object_set_new(meta, "derfseq.config", json_string(text));
        free(text);
    }
    char *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t olen = strlen(out), padded = (olen + 7) & ~(size_t)7;
    char *buf = malloc(8 + padded + n);
    for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, out, olen);
    memset(buf + 8 + olen, ' ', padded - olen);
    memcpy(buf + 8 + padded, data, n);
    put(dir, name, buf, 8 + padded + n);
    free(buf), free(out), free(hdr);
    json_decref(cfg), json_decref(root);
}

/* ---- per-case setups (the ones a list of text files cannot say) -------- */

static void copy_lm(const char *d) { copy_file(lm_ckpt(), d, "ck.safetensors"); }
static void copy_cls(const char *d) { copy_file(cls_ckpt(), d, "ck.safetensors"); }

/* The bundled bgzipped lambda genome with its .fai and .gzi. */
static void lambda_bgzf(const char *d)
{
    copy_file("testdata/lambda_virus.fa.gz", d, "lambda_virus.fa.gz");
    copy_file("testdata/lambda_virus.fa.gz.fai", d, "lambda_virus.fa.gz.fai");
    copy_file("testdata/lambda_virus.fa.gz.gzi", d, "lambda_virus.fa.gz.gzi");
}

static void lambda_plain(const char *d)
{
    copy_file("testdata/lambda_virus.fa", d, "lambda_virus.fa");
    copy_file("testdata/lambda_virus.fa.fai", d, "lambda_virus.fa.fai");
}

/* issue 8: a .fai claiming 99999 bases of a 48502-base contig. */
static void lambda_fai_too_long(const char *d)
{
    lambda_bgzf(d);
    put_text(d, "lambda_virus.fa.gz.fai", "NC_001416.1\t99999\t13\t70\t71\n");
}

static void gzip_fasta(const char *d) { put_gzip(d, "x.fa.gz", ">a\nACGTACGT\n", 0); }
static void gzip_truncated(const char *d) { put_gzip(d, "x.fa.gz", ">a\nACGTACGTACGTACGT\n>b\nACGT\n", 12); }
static void bgzf_digit(const char *d) { put_bgzf(d, "x.fa.gz", ">a\nACGT\nAC7T\n"); }
static void gzip_fastq_short(const char *d) { put_gzip(d, "x.fq.gz", "@r\nACGT\n+\nII\n", 0); }

/* A BGZF file cut inside its first block. */
static void bgzf_truncated(const char *d)
{
    put_bgzf(d, "full.fa.gz", ">a\nACGTACGTACGTACGTACGTACGT\n>b\nACGTTTGA\n");
    char p[1200];
    snprintf(p, sizeof p, "%s/full.fa.gz", d);
    static char buf[4096];
    FILE *fp = fopen(p, "rb");
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    unlink(p);
    put(d, "x.fa.gz", buf, n > 40 ? 40 : n);
}

/* issue 8: ragged lines, bgzipped, with a .fai someone wrote and no .gzi. */
static void bgzf_ragged_no_gzi(const char *d)
{
    put_bgzf(d, "x.fa.gz", ">a\nACGTACGT\nACG\nACGTACGT\nAC\n");
    put_text(d, "x.fa.gz.fai", "a\t21\t3\t8\t9\n");
}

static void unreadable(const char *d)
{
    put_text(d, "x.fa", ">a\nACGT\n");
    char p[1200];
    snprintf(p, sizeof p, "%s/x.fa", d);
    chmod(p, 0);
}

/* x.fa and a hard link to it, l.fa: one file under two names. */
static void hard_link(const char *d)
{
    char a[1200], b[1200];
    put_text(d, "x.fa", ">a\nACGT\n");
    snprintf(a, sizeof a, "%s/x.fa", d);
    snprintf(b, sizeof b, "%s/l.fa", d);
    CHECK_EQ_INT(link(a, b), 0);
}

static void numbers_as_classes(json_t *cfg)
{
    json_object_set_new(json_object_get(cfg, "task"), "classes", json_pack("[i, i]", 1, 2));
}

static void no_task(json_t *cfg) { json_object_del(cfg, "task"); }

static void cls_numeric_classes(const char *d)
{
    put_edited_ckpt(cls_ckpt(), d, "ck.safetensors", numbers_as_classes);
}

static void cls_without_task(const char *d) { put_edited_ckpt(cls_ckpt(), d, "ck.safetensors", no_task); }

/* safetensors headers: broken length, JSON, dtype, shapes, offsets, metadata. */
static void st_empty(const char *d) { put(d, "h.safetensors", "", 0); }
static void st_short(const char *d) { put(d, "h.safetensors", "\x10\0\0", 3); }
static void st_huge_len(const char *d) { put(d, "h.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10); }
static void st_len_past_end(const char *d) { put(d, "h.safetensors", "\x40\0\0\0\0\0\0\0{}", 10); }
static void st_not_json(const char *d) { put_safetensors(d, "h.safetensors", "{not json", 0); }
static void st_not_object(const char *d) { put_safetensors(d, "h.safetensors", "[1, 2]", 0); }
static void st_bad_dtype(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"t\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
}
static void st_shape_vs_bytes(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 8);
}
static void st_offsets_past_end(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
}
static void st_negative_shape(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
}
static void st_metadata_not_strings(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"__metadata__\":{\"derfseq.config\":7},"
                                        "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
}
static void st_config_not_a_model(const char *d)
{
    put_safetensors(d, "h.safetensors", "{\"__metadata__\":{\"derfseq.config\":\"{\\\"arch\\\":\\\"hyenadna\\\","
                                        "\\\"d_model\\\":-3}\"},"
                                        "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
}
/* A checkpoint whose tensors are one short of its config. */
static void ckpt_missing_tensors(const char *d)
{
    copy_lm(d);
    put_safetensors(d, "h.safetensors", "{\"__metadata__\":{\"derfseq.config\":\"{\\\"preset\\\":\\\"hyenadna-demo\\\","
                                        "\\\"arch\\\":\\\"hyenadna\\\"}\"},"
                                        "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
}

/* GenomicBenchmarks trees and tables. */
static void gb_one_class(const char *d)
{
    put_text(d, "train.csv", "sequence,label\nACGTACGTAC,a\nTTGACCAGTA,a\nGGGCCCAAAT,a\n");
    put_text(d, "test.csv", "sequence,label\nACGTACGTAC,a\n");
}

static void gb_class_without_rows(const char *d)
{
    sub_dir(d, "train"), sub_dir(d, "test");
    sub_dir(d, "train/a"), sub_dir(d, "train/b"), sub_dir(d, "test/a"), sub_dir(d, "test/b");
    put_text(d, "train/a/1.txt", "ACGTACGTAC\n");
    put_text(d, "train/a/2.txt", "ACGTTCGTAC\n");
    put_text(d, "test/a/1.txt", "ACGTACGTAC\n");
    put_text(d, "test/b/1.txt", "TTTTACGTAC\n");
}

static void gb_table_no_label(const char *d)
{
    put_text(d, "train.csv", "sequence,kind\nACGTACGTAC,a\nTTGACCAGTA,b\n");
    put_text(d, "test.csv", "sequence,kind\nACGTACGTAC,a\n");
}

static void gb_coords(const char *d)
{
    sub_dir(d, "train"), sub_dir(d, "test");
    lambda_bgzf(d);
    put_text(d, "train/a.csv", "id,region,start,end,strand\n1,NC_001416.1,100,200,+\n2,NC_001416.1,x,300,+\n");
    put_text(d, "train/b.csv", "id,region,start,end,strand\n1,NC_001416.1,30000,30100,+\n");
    put_text(d, "test/a.csv", "id,region,start,end,strand\n1,NC_001416.1,100,200,+\n");
    put_text(d, "test/b.csv", "id,region,start,end,strand\n1,NC_001416.1,30000,30100,+\n");
}

static void gb_coords_unknown_contig(const char *d)
{
    gb_coords(d);
    put_text(d, "train/a.csv", "id,region,start,end,strand\n1,NC_001416.1,100,200,+\n2,chrQ,100,200,+\n");
}

/* A genome too short and too N-rich for any window. */
static void genome_all_n(const char *d)
{
    char text[400] = ">g\n";
    for (int i = 0; i < 300; i++) strcat(text, i % 60 == 59 ? "N\n" : "N");
    put_text(d, "g.fa", text);
    put_text(d, "g.fa.fai", "g\t300\t3\t60\t61\n");   /* valid: only the windows are missing */
}

/* ---- the table --------------------------------------------------------- */

typedef struct { const char *name, *text; } text_file;

typedef struct {
    const char *name;
    void (*setup)(const char *dir);   /* runs before files[] are written */
    text_file files[4];               /* name ending in '/': a directory */
    const char *args;                 /* {D} case dir, {CK} LM, {CLS} classifier checkpoint */
    int status;                       /* 1 input/runtime, 2 usage */
    const char *needle;               /* the message must contain it */
    int skip_as_root;                 /* permission cases: root reads anything */
} bad_case;

#define FA(text) { "x.fa", text }
/* embed writes to a file, so a half-written output would show. */
#define CK_EMBED "embed --quiet --from {CK} -o {D}/e.tsv "
#define CK_EMBED_TO "embed --quiet --from {CK} "

static const bad_case CASES[] = {
    /* FASTA/FASTQ inputs, plain, gzip, bgzip */
    { "embed_fasta_without_header", NULL, { FA("ACGT\n") }, CK_EMBED "{D}/x.fa", 1, "x.fa:1" },
    { "embed_fasta_empty_file", NULL, { FA("") }, CK_EMBED "{D}/x.fa", 1, "x.fa" },
    { "embed_fasta_digit_in_sequence", NULL, { FA(">a\nACGT\nAC1T\n") }, CK_EMBED "{D}/x.fa", 1, "x.fa:3" },
    { "embed_fasta_empty_record", NULL, { FA(">a\n>b\nACGT\n") }, CK_EMBED "{D}/x.fa", 1, "x.fa:1" },
    { "embed_fasta_header_without_name", NULL, { FA(">\nACGT\n") }, CK_EMBED "{D}/x.fa", 1, "x.fa:1" },
    { "embed_fastq_short_quality", NULL, { { "x.fq", "@r\nACGT\n+\nII\n" } }, CK_EMBED "{D}/x.fq", 1, "x.fq:4" },
    { "embed_fastq_missing_plus", NULL, { { "x.fq", "@r\nACGT\nIIII\n" } }, CK_EMBED "{D}/x.fq", 1, "x.fq:3" },
    { "embed_fastq_junk_between_records", NULL, { { "x.fq", "@r1\nACGT\n+\nIIII\njunk\n@r2\nAC\n+\nII\n" } },
      CK_EMBED "{D}/x.fq", 1, "x.fq:5" },
    { "embed_fastq_truncated_record", NULL, { { "x.fq", "@r1\nACGT\n+\nIIII\n@r2\nAC\n" } }, CK_EMBED "{D}/x.fq", 1,
      "x.fq:" },
    { "embed_gzip_fastq_short_quality", gzip_fastq_short, { { 0 } }, CK_EMBED "{D}/x.fq.gz", 1, "x.fq.gz:4" },
    { "embed_gzip_truncated", gzip_truncated, { { 0 } }, CK_EMBED "{D}/x.fa.gz", 1, "x.fa.gz" },
    { "embed_gzip_garbage_after_magic", NULL, { { "x.fa.gz", "\x1f\x8b\x08junkjunkjunk" } }, CK_EMBED "{D}/x.fa.gz",
      1, "x.fa.gz" },
    { "embed_bgzip_truncated_block", bgzf_truncated, { { 0 } }, CK_EMBED "{D}/x.fa.gz", 1, "x.fa.gz" },
    { "embed_bgzip_digit_in_sequence", bgzf_digit, { { 0 } }, CK_EMBED "{D}/x.fa.gz", 1, "x.fa.gz:3" },
    { "embed_input_missing", NULL, { { 0 } }, CK_EMBED "{D}/nope.fa", 1, "nope.fa" },
    { "embed_input_is_a_directory", NULL, { { "sub/", "" } }, CK_EMBED "{D}/sub", 1, "sub" },
    { "embed_input_unreadable", unreadable, { { 0 } }, CK_EMBED "{D}/x.fa", 1, "x.fa", 1 },
    { "embed_record_longer_than_the_model", NULL, { { 0 } }, CK_EMBED "testdata/lambda_virus.fa", 1, "--chunk" },

    /* --ref with .fai/.gzi, region strings */
    { "embed_fai_past_the_contig_end", lambda_fai_too_long, { { 0 } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa.gz -o {D}/e.tsv NC_001416.1:90001-90100", 1, "lambda_virus.fa.gz" },
    { "embed_fai_zero_line_bases", NULL, { FA(">a\nACGTACGTACGT\n"), { "x.fa.fai", "a\t12\t3\t0\t13\n" } },
      CK_EMBED "--ref {D}/x.fa a:1-5", 1, "x.fa.fai:1" },
    { "embed_ref_first_line_blanks", NULL, { FA(">a\n    \nAC\n") }, CK_EMBED "--ref {D}/x.fa a:1-2", 1, "x.fa: cannot be indexed" },
    { "embed_ref_ragged_lines", NULL, { FA(">s1\nACGTACGT\nACG\nACGTACGT\n") }, CK_EMBED "--ref {D}/x.fa s1:1-5", 1,
      "x.fa: cannot be indexed" },   /* htslib's indexer does not say which line */
    { "embed_ref_bgzip_ragged_fai_no_gzi", bgzf_ragged_no_gzi, { { 0 } }, CK_EMBED "--ref {D}/x.fa.gz a:1-5", 1,
      "x.fa.gz" },
    { "embed_ref_plain_gzip", gzip_fasta, { { 0 } }, CK_EMBED "--ref {D}/x.fa.gz a:1-4", 1, "x.fa.gz" },
    { "embed_ref_missing", NULL, { { 0 } }, CK_EMBED "--ref {D}/nope.fa a:1-4", 1, "nope.fa" },
    { "embed_ref_is_a_directory", NULL, { { "sub/", "" } }, CK_EMBED "--ref {D}/sub a:1-4", 1, "sub" },
    { "embed_region_unknown_contig", lambda_plain, { { 0 } }, CK_EMBED "--ref {D}/lambda_virus.fa chrZ:1-10", 1,
      "chrZ" },
    { "embed_region_end_before_start", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa NC_001416.1:100-50", 1, "NC_001416.1:100-50" },
    { "embed_region_past_the_contig_end", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa NC_001416.1:48400-48600", 1, "48502" },
    { "embed_region_not_a_number", lambda_plain, { { 0 } }, CK_EMBED "--ref {D}/lambda_virus.fa NC_001416.1:1-x",
      1, "NC_001416.1:1-x" },

    /* BED files */
    { "embed_bed_end_before_start", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions testdata/bad/end_before_start.bed", 1, "end_before_start.bed:1" },
    { "embed_bed_two_columns", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions testdata/bad/two_columns.bed", 1, "two_columns.bed:1" },
    { "embed_bed_not_a_number", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions testdata/bad/not_a_number.bed", 1, "not_a_number.bed:1" },
    { "embed_bed_bad_strand", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions testdata/bad/bad_strand.bed", 1, "bad_strand.bed:1" },
    { "embed_bed_space_separated", lambda_plain, { { 0 } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions testdata/bad/space_separated.bed", 1, "space_separated.bed:1" },
    { "embed_bed_unknown_contig", lambda_plain, { { 0 } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa --regions testdata/bad/unknown_contig.bed -o {D}/e.tsv", 1,
      "unknown_contig.bed:1" },
    { "embed_bed_past_the_contig_end", lambda_plain, { { 0 } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa --regions testdata/bad/past_end.bed -o {D}/e.tsv", 1, "past_end.bed:2" },
    { "embed_bed_missing", lambda_plain, { { 0 } }, CK_EMBED "--ref {D}/lambda_virus.fa --regions {D}/nope.bed", 1,
      "nope.bed" },
    { "embed_bed_is_a_directory", lambda_plain, { { "sub/", "" } },
      CK_EMBED "--ref {D}/lambda_virus.fa --regions {D}/sub", 1, "sub" },

    /* embed options and outputs */
    { "embed_regions_without_ref", NULL, { { 0 } }, CK_EMBED "--regions testdata/lambda_regions.bed", 2, "--ref" },
    { "embed_npy_to_stdout", NULL, { FA(">a\nACGT\n") }, CK_EMBED_TO "--format npy {D}/x.fa", 2, "--format npy" },
    { "embed_pool_cls", NULL, { FA(">a\nACGT\n") }, CK_EMBED "--pool cls {D}/x.fa", 2, "--pool cls" },
    { "embed_unknown_format", NULL, { FA(">a\nACGT\n") }, CK_EMBED "--format csv {D}/x.fa", 2, "--format" },
    { "embed_layer_not_a_number", NULL, { FA(">a\nACGT\n") }, CK_EMBED "--layer two {D}/x.fa", 2, "--layer" },
    { "embed_layer_past_the_model", NULL, { FA(">a\nACGT\n") }, CK_EMBED_TO "--layer 9 -o {D}/e.tsv {D}/x.fa", 1,
      "--layer 9" },
    { "embed_chunk_zero", NULL, { FA(">a\nACGT\n") }, CK_EMBED "--chunk 0 {D}/x.fa", 2, "--chunk" },
    { "embed_threads_zero", NULL, { FA(">a\nACGT\n") }, CK_EMBED "-t 0 {D}/x.fa", 2, "--threads" },
    { "embed_without_from", NULL, { FA(">a\nACGT\n") }, "embed {D}/x.fa", 2, "--from" },
    { "embed_without_input", NULL, { { 0 } }, CK_EMBED, 2, "INPUT" },
    { "embed_from_missing", NULL, { FA(">a\nACGT\n") }, "embed --from {D}/nope.safetensors {D}/x.fa", 1,
      "nope.safetensors" },
    { "embed_from_a_fasta", NULL, { FA(">a\nACGT\n") }, "embed --from {D}/x.fa {D}/x.fa -o {D}/e.tsv", 1, "x.fa" },
    { "embed_from_missing_tensors", ckpt_missing_tensors, { FA(">a\nACGT\n") },
      "embed --from {D}/h.safetensors -o {D}/e.tsv {D}/x.fa", 1, "h.safetensors" },
    { "embed_safetensors_id_metadata", NULL, { FA(">__metadata__\nACGTAC\n") },
      CK_EMBED_TO "--format safetensors -o {D}/e.st {D}/x.fa", 1, "__metadata__" },
    { "embed_safetensors_duplicate_id", NULL, { FA(">a\nACGT\n>a\nACGA\n") },
      CK_EMBED_TO "--format safetensors -o {D}/e.st {D}/x.fa", 1, "'a'" },
    { "embed_npy_pool_none_unequal_lengths", NULL, { FA(">a\nACGT\n>b\nACGTA\n") },
      CK_EMBED_TO "--format npy --pool none -o {D}/e.npy {D}/x.fa", 1, "'b'" },
    { "embed_output_in_a_missing_directory", NULL, { FA(">a\nACGT\n") }, CK_EMBED_TO "-o {D}/nodir/e.tsv {D}/x.fa", 1,
      "nodir/e.tsv" },
    { "embed_output_is_the_input", NULL, { FA(">a\nACGT\n") }, CK_EMBED_TO "-o {D}/x.fa {D}/x.fa", 2,
      "-o {D}/x.fa: is also an input" },
    { "embed_output_is_the_input_by_another_name", NULL, { FA(">a\nACGT\n"), { "sub/", "" } },
      CK_EMBED_TO "-o {D}/sub/../x.fa {D}/x.fa", 2, "is also an input" },
    { "embed_output_is_a_hard_link_to_the_input", hard_link, { { 0 } }, CK_EMBED_TO "-o {D}/l.fa {D}/x.fa", 2,
      "-o {D}/l.fa: is also an input ({D}/x.fa)" },
    { "embed_output_is_the_ref", lambda_plain, { { 0 } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa -o {D}/lambda_virus.fa NC_001416.1:1-50", 2, "is also an input" },
    { "embed_output_is_the_ref_index", lambda_plain, { { 0 } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa -o {D}/lambda_virus.fa.fai NC_001416.1:1-50", 2, "is also an input" },
    { "embed_output_is_the_bed", lambda_plain, { { "r.bed", "NC_001416.1\t0\t50\n" } },
      CK_EMBED_TO "--ref {D}/lambda_virus.fa --regions {D}/r.bed -o {D}/r.bed", 2, "is also an input" },
    { "embed_output_is_the_checkpoint", copy_lm, { FA(">a\nACGT\n") },
      "embed --quiet --from {D}/ck.safetensors -o {D}/ck.safetensors {D}/x.fa", 2, "is also an input" },

    /* checkpoints (info) */
    { "info_missing", NULL, { { 0 } }, "info --quiet {D}/nope.safetensors", 1, "nope.safetensors" },
    { "info_directory", NULL, { { "sub/", "" } }, "info --quiet {D}/sub", 1, "sub" },
    { "info_empty_file", st_empty, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "h.safetensors" },
    { "info_shorter_than_the_length_field", st_short, { { 0 } }, "info --quiet {D}/h.safetensors", 1,
      "h.safetensors" },
    { "info_header_length_huge", st_huge_len, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "h.safetensors" },
    { "info_header_length_past_the_end", st_len_past_end, { { 0 } }, "info --quiet {D}/h.safetensors", 1,
      "h.safetensors" },
    { "info_header_not_json", st_not_json, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "h.safetensors" },
    { "info_header_not_an_object", st_not_object, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "h.safetensors" },
    { "info_unknown_dtype", st_bad_dtype, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "Q7" },
    { "info_shape_does_not_fit_the_bytes", st_shape_vs_bytes, { { 0 } }, "info --quiet {D}/h.safetensors", 1,
      "'t'" },
    { "info_offsets_past_the_end", st_offsets_past_end, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "'t'" },
    { "info_negative_shape", st_negative_shape, { { 0 } }, "info --quiet {D}/h.safetensors", 1, "'t'" },
    { "info_metadata_not_strings", st_metadata_not_strings, { { 0 } }, "info --quiet {D}/h.safetensors", 1,
      "__metadata__" },
    { "info_json_is_the_checkpoint", copy_lm, { { 0 } }, "info --quiet --json {D}/ck.safetensors {D}/ck.safetensors",
      2, "--json {D}/ck.safetensors: is also an input" },
    { "info_json_in_a_missing_directory", copy_lm, { { 0 } }, "info --quiet --json {D}/nodir/i.json {D}/ck.safetensors",
      1, "nodir/i.json" },
    { "info_two_checkpoints", copy_lm, { { 0 } }, "info --quiet {D}/ck.safetensors {D}/ck.safetensors", 2, "one CKPT" },
    { "info_unknown_option", NULL, { { 0 } }, "info --bogus x", 2, "--bogus" },

    /* eval */
    { "eval_classifier_with_numeric_classes", cls_numeric_classes, { { 0 } },
      "eval --quiet --from {D}/ck.safetensors testdata/gb_lambda/table", 1, "classes" },
    { "eval_lm_on_a_classification_dataset", NULL, { { 0 } }, "eval --quiet --from {CK} testdata/gb_lambda/table", 1,
      "table" },
    { "eval_classifier_on_a_genome", NULL, { { 0 } }, "eval --quiet --from {CLS} testdata/lambda_virus.fa.gz", 1,
      "lambda_virus.fa.gz" },
    { "eval_classifier_without_task_on_a_dataset", cls_without_task, { { 0 } },
      "eval --quiet --from {D}/ck.safetensors testdata/gb_lambda/table", 1, "table" },
    { "eval_config_not_a_model", st_config_not_a_model, { { 0 } },
      "eval --quiet --from {D}/h.safetensors testdata/lambda_virus.fa.gz", 1, "h.safetensors" },
    { "eval_seq_len_huge", NULL, { { 0 } }, "eval --quiet --from {CK} --seq-len 99999999999 testdata/lambda_virus.fa.gz",
      2, "--seq-len" },
    { "eval_bad_split", NULL, { { 0 } }, "eval --quiet --from {CK} --split dev testdata/lambda_virus.fa.gz", 2,
      "--split" },
    { "eval_bad_layout", NULL, { { 0 } }, "eval --quiet --from {CLS} --layout flat testdata/gb_lambda/table", 2,
      "--layout" },
    { "eval_without_data", NULL, { { 0 } }, "eval --quiet --from {CK}", 2, "DATA" },
    { "eval_bed_bad", NULL, { { 0 } },
      "eval --quiet --from {CK} --regions testdata/bad/end_before_start.bed testdata/lambda_virus.fa.gz", 1,
      "end_before_start.bed:1" },
    { "eval_json_is_the_checkpoint", copy_lm, { { 0 } },
      "eval --quiet --from {D}/ck.safetensors --json {D}/ck.safetensors testdata/lambda_virus.fa.gz", 2,
      "is also an input" },
    { "eval_predictions_is_the_checkpoint", copy_cls, { { 0 } },
      "eval --quiet --from {D}/ck.safetensors --predictions {D}/ck.safetensors testdata/gb_lambda/table", 2,
      "--predictions {D}/ck.safetensors: is also an input" },
    { "eval_predictions_is_the_json", NULL, { { 0 } },
      "eval --quiet --from {CLS} --json {D}/m.json --predictions {D}/m.json testdata/gb_lambda/table", 2,
      "--predictions {D}/m.json: is also --json" },
    { "eval_json_in_a_missing_directory", NULL, { { 0 } },
      "eval --quiet --from {CLS} --json {D}/nodir/m.json testdata/gb_lambda/table", 1, "nodir/m.json" },
    { "eval_runs_directory_without_runs", NULL, { { "runs/", "" } },
      "eval --quiet --from {D}/runs testdata/gb_lambda", 1, "runs" },

    /* finetune on GenomicBenchmarks data */
    { "finetune_on_a_fasta", NULL, { FA(">a\nACGT\n") },
      "finetune --quiet --from {CK} --task gb --epochs 1 {D}/x.fa -o {D}/run", 1, "x.fa" },
    { "finetune_on_an_empty_directory", NULL, { { "data/", "" } },
      "finetune --quiet --from {CK} --task gb --epochs 1 {D}/data -o {D}/run", 1, "data" },
    { "finetune_dataset_with_one_class", gb_one_class, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 {D} -o {D}/run", 1, "one class" },
    { "finetune_class_without_rows", gb_class_without_rows, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 {D} -o {D}/run", 1, "no sequences in 'b'" },
    /* empty sequences are not here: the official loader accepts them, so
     * derfseq keeps them with a warning (test_gb.c) */
    { "finetune_table_without_label_column", gb_table_no_label, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 {D} -o {D}/run", 1, "train.csv:1" },
    { "finetune_coords_without_ref", gb_coords, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 --layout coords {D} -o {D}/run", 1, "--ref" },
    { "finetune_coords_not_a_number", gb_coords, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 --ref {D}/lambda_virus.fa.gz {D} -o {D}/run", 1,
      "a.csv:3" },
    { "finetune_coords_unknown_contig", gb_coords_unknown_contig, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 --ref {D}/lambda_virus.fa.gz {D} -o {D}/run", 1,
      "a.csv:3" },
    { "finetune_from_a_fasta", NULL, { FA(">a\nACGT\n") },
      "finetune --quiet --from {D}/x.fa --task gb --epochs 1 testdata/gb_lambda/table -o {D}/run", 1, "x.fa" },
    { "finetune_without_task", NULL, { { 0 } }, "finetune --quiet --from {CK} testdata/gb_lambda/table -o {D}/run", 2,
      "--task" },
    { "finetune_val_fraction_one", NULL, { { 0 } },
      "finetune --quiet --from {CK} --task gb --val-fraction 1 testdata/gb_lambda/table -o {D}/run", 2,
      "--val-fraction" },
    { "finetune_max_length_huge", NULL, { { 0 } },
      "finetune --quiet --from {CK} --task gb --epochs 1 --max-length 99999999999 testdata/gb_lambda/table -o {D}/run",
      2, "--max-length" },
    { "finetune_log_is_the_checkpoint", copy_lm, { { 0 } },
      "finetune --quiet --from {D}/ck.safetensors --log {D}/ck.safetensors --task gb --epochs 1 "
      "testdata/gb_lambda/table -o {D}/run", 2, "--log {D}/ck.safetensors: is also an input" },
    { "finetune_run_dir_is_the_checkpoint", copy_lm, { { 0 } },
      "finetune --quiet --from {D}/ck.safetensors --task gb --epochs 1 testdata/gb_lambda/table -o {D}/ck.safetensors",
      2, "is also an input" },
    { "finetune_log_in_a_missing_directory", NULL, { { 0 } },
      "finetune --quiet --from {CK} --log {D}/nodir/l.jsonl --task gb --epochs 1 testdata/gb_lambda/table -o {D}/run",
      1, "nodir/l.jsonl" },
    { "finetune_resume_missing", NULL, { { 0 } }, "finetune --quiet --resume {D}/nope", 1, "nope" },

    /* pretrain */
    { "pretrain_genome_without_usable_windows", genome_all_n, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 {D}/g.fa -o {D}/run", 1, "g.fa" },
    { "pretrain_seq_len_huge", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 99999999999 testdata/lambda_virus.fa.gz -o {D}/run",
      2, "--seq-len" },
    { "pretrain_log_is_the_genome", lambda_plain, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 --log {D}/lambda_virus.fa {D}/lambda_virus.fa "
      "-o {D}/run", 2, "--log {D}/lambda_virus.fa: is also an input" },
    { "pretrain_log_is_the_genome_index", lambda_plain, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 --log {D}/lambda_virus.fa.fai "
      "{D}/lambda_virus.fa -o {D}/run", 2, "is also an input" },
    { "pretrain_run_dir_is_the_genome", lambda_plain, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 {D}/lambda_virus.fa -o {D}/lambda_virus.fa", 2,
      "is also an input" },
    { "pretrain_log_in_a_missing_directory", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 --log {D}/nodir/l.jsonl testdata/lambda_virus.fa "
      "-o {D}/run", 1, "nodir/l.jsonl" },
    { "pretrain_unknown_preset", NULL, { { 0 } }, "pretrain --quiet --model nosuch testdata/lambda_virus.fa -o {D}/run",
      2, "nosuch" },
    { "pretrain_genome_missing", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 {D}/nope.fa -o {D}/run", 1, "nope.fa" },
    { "pretrain_genome_is_a_directory", NULL, { { "sub/", "" } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 {D}/sub -o {D}/run", 1, "sub" },
    { "pretrain_genome_fai_zero_line_bases", NULL, { { "g.fa", ">a\nACGTACGTACGT\n" }, { "g.fa.fai", "a\t12\t3\t0\t13\n" } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 4 {D}/g.fa -o {D}/run", 1, "g.fa.fai:1" },
    { "pretrain_config_not_json", NULL, { { "cfg.json", "{\"arch\": hyenadna" } },
      "pretrain --quiet --config {D}/cfg.json --steps 1 --seq-len 32 testdata/lambda_virus.fa -o {D}/run", 1,
      "cfg.json" },
    { "pretrain_unknown_contig", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 --contigs chrZ testdata/lambda_virus.fa "
      "-o {D}/run", 1, "chrZ" },
    { "pretrain_bed_unknown_contig", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --seq-len 32 --regions testdata/bad/unknown_contig.bed "
      "testdata/lambda_virus.fa -o {D}/run", 1, "unknown_contig.bed:1" },
    { "pretrain_resume_missing", NULL, { { 0 } }, "pretrain --quiet --resume {D}/nope", 1, "nope" },
    { "pretrain_steps_and_epochs", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --steps 1 --epochs 1 testdata/lambda_virus.fa -o {D}/run", 2,
      "--epochs" },
    { "pretrain_negative_lr", NULL, { { 0 } },
      "pretrain --quiet --model hyenadna-demo --lr -1 testdata/lambda_virus.fa -o {D}/run", 2, "--lr" },
    { "pretrain_without_output", NULL, { { 0 } }, "pretrain --quiet --model hyenadna-demo testdata/lambda_virus.fa", 2,
      "-o RUN_DIR" },

    /* help and dispatch */
    { "help_unknown_command", NULL, { { 0 } }, "help nosuch", 2, "nosuch" },
    { "unknown_command", NULL, { { 0 } }, "nosuch", 2, "nosuch" },
    { "unknown_top_level_option", NULL, { { 0 } }, "--bogus", 2, "--bogus" },
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* ---- the case directory, before and after ---------------------------- */

typedef struct {
    char path[300];
    long long size;
    uint64_t hash;    /* FNV-1a of the content; 0 for a directory */
} entry;

typedef struct {
    entry e[64];
    int n, overflow;
} listing;

static uint64_t file_hash(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint64_t h = 1469598103934665603ull;
    int c;
    while (fp && (c = getc(fp)) != EOF) h = (h ^ (unsigned char)c) * 1099511628211ull;
    if (fp) fclose(fp);
    return h;
}

static void list_into(listing *l, const char *root, const char *rel)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (l->n == 64) { l->overflow = 1; break; }
        entry *e = &l->e[l->n++];
        snprintf(e->path, sizeof e->path, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        char full[1600];
        snprintf(full, sizeof full, "%s/%s", root, e->path);
        struct stat st;
        int isdir = lstat(full, &st) == 0 && S_ISDIR(st.st_mode);
        e->size = isdir ? -1 : (long long)st.st_size;
        e->hash = isdir ? 0 : file_hash(full);
        if (isdir) list_into(l, root, e->path);
    }
    if (d) closedir(d);
}

static const entry *find_entry(const listing *l, const char *path)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].path, path)) return &l->e[i];
    return NULL;
}

/* A directory of l with nothing in it. */
static int empty_dir(const listing *l, const entry *d)
{
    size_t n = strlen(d->path);
    if (d->size != -1) return 0;
    for (int i = 0; i < l->n; i++)
        if (!strncmp(l->e[i].path, d->path, n) && l->e[i].path[n] == '/') return 0;
    return 1;
}

/* What differs between two listings, as "new x.tmp.AbC; changed x.fa", or
 * "". A new empty directory is no file: a run directory made before the
 * data was found bad does not block a retry (an empty one is taken). */
static void diff_listings(const listing *a, const listing *b, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; i < b->n; i++) {
        const entry *old = find_entry(a, b->e[i].path);
        if (!old && empty_dir(b, &b->e[i])) continue;
        const char *what = !old ? "new" : old->size != b->e[i].size || old->hash != b->e[i].hash ? "changed" : NULL;
        if (what) snprintf(out + strlen(out), cap - strlen(out), "%s%s %s", *out ? "; " : "", what, b->e[i].path);
    }
    for (int i = 0; i < a->n; i++)
        if (!find_entry(b, a->e[i].path))
            snprintf(out + strlen(out), cap - strlen(out), "%sremoved %s", *out ? "; " : "", a->e[i].path);
}

/* ---- running a case, judging it --------------------------------------- */

/* Replaces {D}, {CK} and {CLS}; the checkpoints are built on first use. */
static void expand(const char *tmpl, const char *dir, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (const char *s = tmpl; *s && k + 1 < cap;) {
        const char *val = NULL;
        size_t skip = 0;
        if (!strncmp(s, "{D}", 3)) val = dir, skip = 3;
        else if (!strncmp(s, "{CK}", 4)) val = lm_ckpt(), skip = 4;
        else if (!strncmp(s, "{CLS}", 5)) val = cls_ckpt(), skip = 5;
        if (val) {
            k += (size_t)snprintf(out + k, cap - k, "%s", val);
            if (k >= cap) k = cap - 1;
            s += skip;
        } else {
            out[k++] = *s++;
            out[k] = 0;
        }
    }
}

/* "derfseq CMD: " for a subcommand's case, "derfseq: " for the dispatcher's. */
static void expected_prefix(const char *args, char *out, size_t cap)
{
    static const char *const CMDS[] = { "pretrain", "finetune", "eval", "embed", "info" };
    size_t n = strcspn(args, " ");
    for (int i = 0; i < 5; i++)
        if (strlen(CMDS[i]) == n && !strncmp(args, CMDS[i], n)) {
            snprintf(out, cap, "derfseq %s: ", CMDS[i]);
            return;
        }
    snprintf(out, cap, "derfseq: ");
}

/* Every rule a bad input's answer must follow; 0 when it does, else 1 with
 * each broken rule in why. Kept apart from running, so it can be tested on
 * answers known to be wrong. */
static int judge(int want_status, const char *prefix, const char *needle, int status, const char *out,
                 const char *err, const char *dir_diff, char *why, size_t cap)
{
    why[0] = 0;
#define WHY(...) snprintf(why + strlen(why), cap - strlen(why), __VA_ARGS__)
    if (status != want_status) {
        if (status < 0 || status > 128) WHY("killed by a signal (status %d), expected exit %d; ", status, want_status);
        else WHY("exit status %d, expected %d; ", status, want_status);
    }
    if (nlines(err) != 1 || !*err || err[strlen(err) - 1] != '\n') WHY("stderr is not exactly one line: '%s'; ", err);
    if (strncmp(err, prefix, strlen(prefix)) != 0) WHY("stderr does not start with '%s'; ", prefix);
    if (!strstr(err, needle)) WHY("stderr does not name '%s'; ", needle);
    if (*out) WHY("stdout is not empty: '%.200s'; ", out);
    if (*dir_diff) WHY("files were touched: %s; ", dir_diff);
#undef WHY
    size_t n = strlen(why);
    if (n >= 2) why[n - 2] = 0;
    return why[0] != 0;
}

static void make_case_dir(const bad_case *c, int i, char *dir, size_t cap)
{
    char parent[700];
    snprintf(parent, sizeof parent, "%s/bad", ds_test_tmpdir());
    mkdir(parent, 0755);
    snprintf(dir, cap, "%s/%03d_%s", parent, i, c->name);
    CHECK_MSG(mkdir(dir, 0755) == 0, "cannot create %s", dir);
    if (c->setup) c->setup(dir);
    for (int k = 0; k < 4 && c->files[k].name; k++) {
        size_t n = strlen(c->files[k].name);
        if (c->files[k].name[n - 1] == '/') {
            char sub[300];
            snprintf(sub, sizeof sub, "%.*s", (int)(n - 1), c->files[k].name);
            sub_dir(dir, sub);
        } else {
            put_text(dir, c->files[k].name, c->files[k].text);
        }
    }
}

static int g_failed_cases, g_skipped_cases;

static void run_case(int i)
{
    const bad_case *c = &CASES[i];
    if (c->skip_as_root && geteuid() == 0) {
        printf("skip case %d %s: root reads files whatever their mode\n", i, c->name);
        g_skipped_cases++;
        return;
    }
    char dir[800], args[4096], needle[2048], prefix[64], why[8192], diff[4096];
    static listing before, after;
    make_case_dir(c, i, dir, sizeof dir);
    expand(c->args, dir, args, sizeof args);   /* builds the fixtures before the listing */
    expand(c->needle, dir, needle, sizeof needle);
    expected_prefix(c->args, prefix, sizeof prefix);
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    list_into(&before, dir, "");
    int status = run("%s", args);
    list_into(&after, dir, "");
    diff_listings(&before, &after, diff, sizeof diff);
    if (before.overflow || after.overflow) snprintf(diff, sizeof diff, "more than 64 entries in %s", dir);
    int bad = judge(c->status, prefix, needle, status, g_out, g_err, diff, why, sizeof why);
    if (getenv("DS_BAD_INPUTS_VERBOSE"))   /* the whole table, for a report */
        printf("case %d %s: %s, exit %d: %s", i, c->name, bad ? "FAIL" : "pass", status, *g_err ? g_err : "(no stderr)\n");
    if (bad) {
        ds_test_fail(__FILE__, __LINE__, "case %d %s: %s", i, c->name, why);
        g_failed_cases++;
    }
}

/* The cases of one command; "help" takes the dispatcher's. */
static void run_group(const char *group)
{
    char prefix[64], want[64];
    snprintf(want, sizeof want, strcmp(group, "help") ? "derfseq %s: " : "derfseq: ", group);
    for (int i = 0; i < NCASES; i++) {
        expected_prefix(CASES[i].args, prefix, sizeof prefix);
        if (!strcmp(prefix, want)) run_case(i);
    }
}

TEST(test_bad_inputs_table_has_sixty_named_cases_of_every_command)
{
    int per[6] = { 0 };
    const char *groups[] = { "pretrain", "finetune", "eval", "embed", "info", "help" };
    CHECK_MSG(NCASES >= 60, "only %d cases", NCASES);
    for (int i = 0; i < NCASES; i++) {
        char prefix[64];
        expected_prefix(CASES[i].args, prefix, sizeof prefix);
        for (int g = 0; g < 6; g++) {
            char want[64];
            snprintf(want, sizeof want, g < 5 ? "derfseq %s: " : "derfseq: ", groups[g]);
            per[g] += !strcmp(prefix, want);
        }
        CHECK_MSG(CASES[i].status == 1 || CASES[i].status == 2, "case %d %s: status %d", i, CASES[i].name,
                  CASES[i].status);
        CHECK_MSG(CASES[i].needle && *CASES[i].needle, "case %d %s: no needle", i, CASES[i].name);
        for (int j = 0; j < i; j++) CHECK_MSG(strcmp(CASES[i].name, CASES[j].name), "case %d: name %s twice", i, CASES[i].name);
    }
    for (int g = 0; g < 6; g++) CHECK_MSG(per[g] > 0, "no case for %s", groups[g]);
}

/* A checker that passes everything would make the matrix worthless: it must
 * reject a second stderr line, a wrong status, a crash, output on stdout, a
 * missing needle, and a file left behind. */
TEST(test_bad_inputs_checker_rejects_each_broken_rule)
{
    char why[4096];
    const char *ok_err = "derfseq embed: x.fa:3: expected a base\n";
    CHECK_EQ_INT(judge(1, "derfseq embed: ", "x.fa:3", 1, "", ok_err, "", why, sizeof why), 0);
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 1, "", "derfseq embed: x.fa:3: bad\n[E::fai] more\n", "", why,
                sizeof why) && strstr(why, "one line"));
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 1, "", "derfseq embed: x.fa:3: no newline", "", why, sizeof why));
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 2, "", ok_err, "", why, sizeof why) && strstr(why, "exit status 2"));
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 134, "", ok_err, "", why, sizeof why) && strstr(why, "signal"));
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 1, "a\t0.1\n", ok_err, "", why, sizeof why) && strstr(why, "stdout"));
    CHECK(judge(1, "derfseq embed: ", "x.fa:4", 1, "", ok_err, "", why, sizeof why) && strstr(why, "x.fa:4"));
    CHECK(judge(1, "derfseq eval: ", "x.fa:3", 1, "", ok_err, "", why, sizeof why) && strstr(why, "derfseq eval: "));
    CHECK(judge(1, "derfseq embed: ", "x.fa:3", 1, "", ok_err, "new e.tsv.tmp.x1Y2z3", why, sizeof why) &&
          strstr(why, "e.tsv.tmp"));
}

/* The listing sees what a command leaves: a deliberately successful embed
 * writes its output, which the checker then reports (with the status and
 * the resource line), and an edited input shows as changed. */
TEST(test_bad_inputs_checker_catches_a_real_output_file_and_a_changed_input)
{
    char dir[700], args[2048], diff[4096], why[8192];
    snprintf(dir, sizeof dir, "%s/checker_self_test", ds_test_tmpdir());
    CHECK_EQ_INT(mkdir(dir, 0755), 0);
    put_text(dir, "x.fa", ">a\nACGT\n");
    static listing before, after, edited;
    list_into(&before, dir, "");
    expand("embed --from {CK} -o {D}/e.tsv {D}/x.fa", dir, args, sizeof args);
    int status = run("%s", args);
    CHECK_EQ_INT(status, 0);
    list_into(&after, dir, "");
    diff_listings(&before, &after, diff, sizeof diff);
    CHECK_MSG(!strcmp(diff, "new e.tsv"), "diff '%s'", diff);
    CHECK(judge(1, "derfseq embed: ", "x.fa", status, g_out, g_err, diff, why, sizeof why));
    CHECK(strstr(why, "exit status 0") && strstr(why, "new e.tsv"));
    put_text(dir, "x.fa", ">a\nACGA\n");   /* same size, other bytes */
    list_into(&edited, dir, "");
    diff_listings(&after, &edited, diff, sizeof diff);
    CHECK_MSG(!strcmp(diff, "changed x.fa"), "diff '%s'", diff);
    sub_dir(dir, "run");   /* an empty new directory passes, one holding a file does not */
    static listing with_dir, with_file;
    list_into(&with_dir, dir, "");
    diff_listings(&edited, &with_dir, diff, sizeof diff);
    CHECK_MSG(!strcmp(diff, ""), "diff '%s'", diff);
    put_text(dir, "run/config.json", "{}\n");
    list_into(&with_file, dir, "");
    diff_listings(&edited, &with_file, diff, sizeof diff);
    CHECK_MSG(!strcmp(diff, "new run; new run/config.json"), "diff '%s'", diff);
}

TEST(test_bad_inputs_to_pretrain) { run_group("pretrain"); }
TEST(test_bad_inputs_to_finetune) { run_group("finetune"); }
TEST(test_bad_inputs_to_eval) { run_group("eval"); }
TEST(test_bad_inputs_to_embed) { run_group("embed"); }
TEST(test_bad_inputs_to_info) { run_group("info"); }
TEST(test_bad_inputs_to_help_and_dispatch) { run_group("help"); }
