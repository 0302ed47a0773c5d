/* Tests of lib/io/fasta.c (derfseq.md "Inputs"): FASTA/FASTQ streaming in
 * every compression and faidx random access, on the bundled lambda phage
 * genome and reads and the broken files in testdata/bad/. */
#include "test.h"
#include "core/error.h"
#include "io/fasta.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAMBDA_FA "testdata/lambda_virus.fa"
#define LAMBDA_BGZ "testdata/lambda_virus.fa.gz"
#define LAMBDA_LEN 48502
#define READS_FQ "testdata/lambda_reads.fq"

/* A path under this file's own scratch folder, so no other test's file (or
 * stale .fai) is in the way; one of a few rotating buffers. */
static const char *tmp_path(const char *name)
{
    static char buf[4][600];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/fasta", ds_test_tmpdir());
    mkdir(p, 0700);
    snprintf(p, sizeof buf[0], "%s/fasta/%s", ds_test_tmpdir(), name);
    return p;
}

static const char *tmp_file(const char *name, const char *content)
{
    const char *p = tmp_path(name);
    FILE *fp = fopen(p, "w");
    if (fp) { fputs(content, fp); fclose(fp); }
    return p;
}

static int shell(const char *fmt, const char *a, const char *b)
{
    char cmd[1500];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

/* All records of a file, concatenated as "id\tseq\tqual\n" lines. */
static char *slurp_records(const char *path, int *n)
{
    ds_fasta_reader *r;
    *n = 0;
    if (ds_fasta_open(&r, path)) { CHECK_MSG(0, "%s", ds_errmsg()); return NULL; }
    size_t cap = 1 << 16, len = 0;
    char *all = malloc(cap);
    ds_fasta_record rec;
    int e;
    while ((e = ds_fasta_next(r, &rec)) == 1) {
        size_t need = len + strlen(rec.id) + 2 * (size_t)rec.len + 4;
        if (need > cap) { while (need > cap) cap *= 2; all = realloc(all, cap); }
        len += (size_t)sprintf(all + len, "%s\t%s\t%s\n", rec.id, rec.seq, rec.qual ? rec.qual : "");
        CHECK_EQ_INT(rec.index, *n);
        (*n)++;
    }
    CHECK_MSG(e == 0, "%s: %s", path, ds_errmsg());
    ds_fasta_close(r);
    return all;
}

TEST(test_fasta_plain_gzip_and_bgzip_stream_identical_records)
{
    CHECK_EQ_INT(shell("gzip -c %s > %s", LAMBDA_FA, tmp_path("lambda.fa.gz")), 0);
    int n1, n2, n3;
    char *plain = slurp_records(LAMBDA_FA, &n1);
    char *bgz = slurp_records(LAMBDA_BGZ, &n2);
    char *gz = slurp_records(tmp_path("lambda.fa.gz"), &n3);
    CHECK(n1 == 1 && n2 == 1 && n3 == 1);
    CHECK(plain && bgz && gz && !strcmp(plain, bgz) && !strcmp(plain, gz));
    CHECK(plain && !strncmp(plain, "NC_001416.1\tGGGCGGCGACCTCGCGGG", 30) && strlen(plain) == 12 + LAMBDA_LEN + 2);
    free(plain); free(bgz); free(gz);
}

TEST(test_fasta_real_fastq_with_quality_lines_starting_with_at_and_plus)
{
    ds_fasta_reader *r;
    CHECK_EQ_INT(ds_fasta_open(&r, READS_FQ), 0);
    ds_fasta_record rec;
    int n = 0;
    while (ds_fasta_next(r, &rec) == 1) {
        char id[16];
        snprintf(id, sizeof id, "r%d", n + 1);
        CHECK_MSG(!strcmp(rec.id, id), "record %d is '%s'", n, rec.id);
        CHECK(rec.qual && (int64_t)strlen(rec.qual) == rec.len && (int64_t)strlen(rec.seq) == rec.len);
        CHECK_EQ_INT(rec.line, 4 * n + 1);
        if (n == 0) CHECK(rec.len == 122 && rec.qual[0] == '+' && !strncmp(rec.seq, "TGAATGCGAACTCCGG", 16));
        if (n == 26) CHECK(rec.qual[0] == '@');
        n++;
    }
    CHECK_EQ_INT(n, 30);
    ds_fasta_close(r);
    /* the same records through bgzip */
    CHECK_EQ_INT(shell("bgzip -c %s > %s", READS_FQ, tmp_path("reads.fq.gz")), 0);
    int n1, n2;
    char *a = slurp_records(READS_FQ, &n1), *b = slurp_records(tmp_path("reads.fq.gz"), &n2);
    CHECK(n1 == 30 && n2 == 30 && a && b && !strcmp(a, b));
    free(a); free(b);
}

TEST(test_fasta_wrapped_records_blank_lines_and_crlf)
{
    const char *p = tmp_file("wrapped.fq", "\n@q1 desc\nACG\nTA\n+q1\n@@@\n++\n@q2\tx\r\nAC\r\n+\r\nII\r\n");
    ds_fasta_reader *r;
    ds_fasta_record rec;
    CHECK_EQ_INT(ds_fasta_open(&r, p), 0);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
    CHECK(!strcmp(rec.id, "q1") && rec.len == 5 && !strcmp(rec.seq, "ACGTA") && !strcmp(rec.qual, "@@@++"));
    CHECK_EQ_INT(rec.line, 2);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
    CHECK(!strcmp(rec.id, "q2") && !strcmp(rec.seq, "AC") && !strcmp(rec.qual, "II") && rec.line == 8);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 0);
    ds_fasta_close(r);
    p = tmp_file("multi.fa", ">a one\nAC\ngt\n\n>b\n>c\nNNNN\n");
    CHECK_EQ_INT(ds_fasta_open(&r, p), 0);
    const char *want[][2] = { { "a", "ACgt" }, { "b", "" }, { "c", "NNNN" } };
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
        CHECK_MSG(!strcmp(rec.id, want[i][0]) && !strcmp(rec.seq, want[i][1]) && !rec.qual, "record %d", i);
    }
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 0);
    ds_fasta_close(r);
}

TEST(test_fasta_dash_reads_stdin_and_leaves_it_open)
{
    int saved = dup(STDIN_FILENO), fd = open(LAMBDA_BGZ, O_RDONLY);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, STDIN_FILENO);
    close(fd);
    ds_fasta_reader *r;
    ds_fasta_record rec;
    CHECK_EQ_INT(ds_fasta_open(&r, "-"), 0);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
    CHECK(!strcmp(rec.id, "NC_001416.1") && rec.len == LAMBDA_LEN);
    ds_fasta_close(r);
    CHECK(fcntl(STDIN_FILENO, F_GETFD) != -1);
    dup2(saved, STDIN_FILENO);
    close(saved);
}

TEST(test_fasta_errors_name_the_file_line_and_record)
{
    ds_fasta_reader *r;
    ds_fasta_record rec;
    CHECK(ds_fasta_open(&r, "testdata/bad/empty.fa") == DS_EFORMAT &&
          !strcmp(ds_errmsg(), "testdata/bad/empty.fa: no sequence records"));
    CHECK(ds_fasta_open(&r, "testdata/bad/no_header.fa") == DS_EFORMAT &&
          !strcmp(ds_errmsg(), "testdata/bad/no_header.fa:1: expected '>' or '@' at the start of a record"));
    CHECK(ds_fasta_open(&r, "testdata/bad/missing.fa") == DS_EIO && strstr(ds_errmsg(), "testdata/bad/missing.fa"));
    struct { const char *file, *msg; } bad[] = {
        { "testdata/bad/short_quality.fq", "short_quality.fq:4: record 1 'r1': quality length 2 differs from sequence length 4" },
        { "testdata/bad/fastq_missing_plus.fq", "fastq_missing_plus.fq:3: expected the '+' line of record 1 'r1'" },
        { "testdata/bad/junk_between_records.fq", "junk_between_records.fq:5: expected '>' or '@' at the start of a record" },
        { "testdata/bad/digit_in_sequence.fa", "digit_in_sequence.fa:3: unexpected character '1' in the sequence of record 1 's1'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int e = ds_fasta_open(&r, bad[i].file);
        CHECK_EQ_INT(e, 0);
        if (e) continue;
        while ((e = ds_fasta_next(r, &rec)) == 1) {}
        CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), bad[i].msg) && !strchr(ds_errmsg(), '\n'), "%s: got '%s'",
                  bad[i].file, ds_errmsg());
        ds_fasta_close(r);
    }
    /* truncated compressed data is a read error, not a short record */
    CHECK_EQ_INT(shell("head -c 5000 %s > %s", LAMBDA_BGZ, tmp_path("cut.fa.gz")), 0);
    int e = ds_fasta_open(&r, tmp_path("cut.fa.gz"));   /* one BGZF block: fails on the first line */
    if (!e) { while ((e = ds_fasta_next(r, &rec)) == 1) {} ds_fasta_close(r); }
    CHECK_MSG(e == DS_EIO && strstr(ds_errmsg(), "cut.fa.gz: read error"), "got %d '%s'", e, ds_errmsg());
}

TEST(test_ref_lists_contigs_and_fetch_equals_the_streamed_slice)
{
    int n;
    char *all = slurp_records(LAMBDA_FA, &n);
    const char *seq = all ? all + strlen("NC_001416.1\t") : NULL;
    const char *paths[] = { LAMBDA_FA, LAMBDA_BGZ };
    for (int k = 0; k < 2; k++) {
        ds_ref *ref;
        CHECK_EQ_INT(ds_ref_open(&ref, paths[k]), 0);
        CHECK_EQ_INT(ds_ref_ncontigs(ref), 1);
        CHECK(!strcmp(ds_ref_contig_name(ref, 0), "NC_001416.1") && ds_ref_contig_len(ref, 0) == LAMBDA_LEN);
        CHECK(!ds_ref_index_is_temporary(ref));
        static char buf[LAMBDA_LEN];
        const int64_t cuts[][2] = { { 0, 70 }, { 69, 142 }, { 1000, 1300 }, { 48402, LAMBDA_LEN }, { 0, LAMBDA_LEN } };
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", cuts[i][0], cuts[i][1], buf), 0);
            CHECK_MSG(seq && !memcmp(buf, seq + cuts[i][0], (size_t)(cuts[i][1] - cuts[i][0])), "%s [%lld, %lld)",
                      paths[k], (long long)cuts[i][0], (long long)cuts[i][1]);
        }
        CHECK_EQ_INT(ds_ref_fetch_i(ref, 0, 500, 500, buf), 0);   /* empty range */
        ds_ref_close(ref);
    }
    free(all);
}

TEST(test_ref_builds_a_missing_index_beside_plain_bgzip_and_fastq_files)
{
    CHECK_EQ_INT(shell("cp %s %s", LAMBDA_FA, tmp_path("noidx.fa")), 0);
    CHECK_EQ_INT(shell("cp %s %s", LAMBDA_BGZ, tmp_path("noidx.fa.gz")), 0);
    ds_ref *ref;
    char buf[64], want[64];
    CHECK_EQ_INT(ds_ref_open(&ref, tmp_path("noidx.fa")), 0);
    CHECK(access(tmp_path("noidx.fa.fai"), F_OK) == 0 && !ds_ref_index_is_temporary(ref));
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 30000, 30064, want), 0);
    ds_ref_close(ref);
    CHECK_EQ_INT(ds_ref_open(&ref, tmp_path("noidx.fa.gz")), 0);
    CHECK(access(tmp_path("noidx.fa.gz.fai"), F_OK) == 0 && access(tmp_path("noidx.fa.gz.gzi"), F_OK) == 0);
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 30000, 30064, buf), 0);
    CHECK(!memcmp(buf, want, 64));
    ds_ref_close(ref);
    /* FASTQ is indexed too, as 'samtools fqidx' does */
    CHECK_EQ_INT(shell("cp %s %s", READS_FQ, tmp_path("reads.fq")), 0);
    CHECK_EQ_INT(ds_ref_open(&ref, tmp_path("reads.fq")), 0);
    CHECK(ds_ref_ncontigs(ref) == 30 && ds_ref_contig_len(ref, 0) == 122);
    CHECK_EQ_INT(ds_ref_fetch(ref, "r1", 0, 16, buf), 0);
    CHECK(!memcmp(buf, "TGAATGCGAACTCCGG", 16));
    ds_ref_close(ref);
}

TEST(test_ref_builds_a_temporary_index_when_the_fai_cannot_be_written)
{
    /* a folder where the .fai should go stops htslib even for root */
    const char *ro = tmp_path("ro");
    CHECK_EQ_INT(shell("mkdir -p %s/tmp %s/x.fa.fai", ro, ro), 0);
    CHECK_EQ_INT(shell("cp " LAMBDA_FA " %s/x.fa%s", ro, ""), 0);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp_path("ro/tmp"), 1);
    ds_ref *ref;
    int e = ds_ref_open(&ref, tmp_path("ro/x.fa"));
    if (old) { setenv("TMPDIR", old, 1); free(old); } else unsetenv("TMPDIR");
    CHECK_MSG(e == 0, "%s", ds_errmsg());
    if (e) return;
    CHECK(ds_ref_index_is_temporary(ref) && ds_ref_contig_len(ref, 0) == LAMBDA_LEN);
    char buf[8];
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 0, 8, buf), 0);
    CHECK(!memcmp(buf, "GGGCGGCG", 8));
    ds_ref_close(ref);
    CHECK_EQ_INT(shell("rmdir %s%s", tmp_path("ro/tmp"), ""), 0);   /* nothing left behind */
}

TEST(test_ref_plain_gzip_non_fasta_and_ragged_fasta_cannot_be_indexed)
{
    ds_ref *ref;
    CHECK_EQ_INT(shell("gzip -c %s > %s", LAMBDA_FA, tmp_path("plain.fa.gz")), 0);
    const char *gz = tmp_path("plain.fa.gz");
    CHECK(ds_ref_open(&ref, gz) == DS_EFORMAT && strstr(ds_errmsg(), gz) && strstr(ds_errmsg(), "not bgzip") &&
          strstr(ds_errmsg(), "| bgzip >"));
    CHECK(access(tmp_path("plain.fa.gz.fai"), F_OK) != 0);
    CHECK(ds_ref_open(&ref, "testdata/lambda_regions.bed") == DS_EFORMAT &&
          strstr(ds_errmsg(), "lambda_regions.bed: not a FASTA file"));
    CHECK_EQ_INT(shell("cp testdata/bad/ragged_lines.fa %s%s", tmp_path("ragged.fa"), ""), 0);
    CHECK(ds_ref_open(&ref, tmp_path("ragged.fa")) == DS_EFORMAT && strstr(ds_errmsg(), "samtools faidx") &&
          strstr(ds_errmsg(), "lines of different lengths"));
    CHECK(ds_ref_open(&ref, "testdata/bad/missing.fa") == DS_EIO && strstr(ds_errmsg(), "missing.fa"));
    CHECK(!strchr(ds_errmsg(), '\n'));
}

TEST(test_ref_range_errors_name_the_contig_and_the_bounds)
{
    ds_ref *ref;
    char buf[300];
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    CHECK(ds_ref_fetch(ref, "chrX", 0, 10, buf) == DS_EINVAL &&
          strstr(ds_errmsg(), "unknown contig 'chrX' in testdata/lambda_virus.fa.gz") && strstr(ds_errmsg(), "'NC_001416.1'"));
    CHECK(ds_ref_fetch(ref, "NC_001416.1", 300, 120, buf) == DS_EINVAL && strstr(ds_errmsg(), "end (120) < start (300)"));
    CHECK(ds_ref_fetch(ref, "NC_001416.1", 48500, 48600, buf) == DS_EINVAL &&
          strstr(ds_errmsg(), "end (48600) is past the contig's end (48502 bp)"));
    CHECK(ds_ref_fetch(ref, "NC_001416.1", -5, 10, buf) == DS_EINVAL && strstr(ds_errmsg(), "start (-5) is negative"));
    ds_ref_close(ref);
    /* a "chr" prefix mismatch is pointed out both ways, and chrM ↔ MT */
    CHECK_EQ_INT(ds_ref_open(&ref, tmp_file("chr.fa", ">chr1\nACGTACGT\n>MT\nAC\n>2\nGG\n")), 0);
    CHECK(ds_ref_contig_index(ref, "1") == DS_EINVAL && strstr(ds_errmsg(), "the reference has 'chr1'"));
    CHECK(ds_ref_contig_index(ref, "chr2") == DS_EINVAL && strstr(ds_errmsg(), "the reference has '2'"));
    CHECK(ds_ref_contig_index(ref, "chrM") == DS_EINVAL && strstr(ds_errmsg(), "the reference has 'MT'"));
    CHECK(ds_ref_contig_index(ref, "2") == 2 && ds_ref_contig_index(ref, "chr1") == 0);
    CHECK(ds_ref_has_contig(ref, "MT") && !ds_ref_has_contig(ref, "chr1:1-4") && !ds_ref_has_contig(ref, ""));
    ds_ref_close(ref);
}
