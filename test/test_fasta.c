/* Tests of lib/io/fasta.c (derfseq.md "Inputs"): FASTA/FASTQ streaming in
 * every compression and faidx random access, on the bundled lambda phage
 * genome and reads and the broken files in testdata/bad/; the checks of an
 * existing or freshly built faidx index against its file (faidx_check.c),
 * also through derfseq embed; and the bounded line reader. */
#include "test.h"
#include "cli.h"
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
static const char *fa_path(const char *name)
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
    const char *p = fa_path(name);
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
    CHECK_EQ_INT(shell("gzip -c %s > %s", LAMBDA_FA, fa_path("lambda.fa.gz")), 0);
    int n1, n2, n3;
    char *plain = slurp_records(LAMBDA_FA, &n1);
    char *bgz = slurp_records(LAMBDA_BGZ, &n2);
    char *gz = slurp_records(fa_path("lambda.fa.gz"), &n3);
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
    CHECK_EQ_INT(shell("bgzip -c %s > %s", READS_FQ, fa_path("reads.fq.gz")), 0);
    int n1, n2;
    char *a = slurp_records(READS_FQ, &n1), *b = slurp_records(fa_path("reads.fq.gz"), &n2);
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
    CHECK_EQ_INT(shell("head -c 5000 %s > %s", LAMBDA_BGZ, fa_path("cut.fa.gz")), 0);
    int e = ds_fasta_open(&r, fa_path("cut.fa.gz"));   /* one BGZF block: fails on the first line */
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
    CHECK_EQ_INT(shell("cp %s %s", LAMBDA_FA, fa_path("noidx.fa")), 0);
    CHECK_EQ_INT(shell("cp %s %s", LAMBDA_BGZ, fa_path("noidx.fa.gz")), 0);
    ds_ref *ref;
    char buf[64], want[64];
    CHECK_EQ_INT(ds_ref_open(&ref, fa_path("noidx.fa")), 0);
    CHECK(access(fa_path("noidx.fa.fai"), F_OK) == 0 && !ds_ref_index_is_temporary(ref));
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    CHECK(stat(fa_path("noidx.fa.fai"), &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask));   /* not mkstemp's 0600 */
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 30000, 30064, want), 0);
    ds_ref_close(ref);
    CHECK_EQ_INT(ds_ref_open(&ref, fa_path("noidx.fa.gz")), 0);
    CHECK(access(fa_path("noidx.fa.gz.fai"), F_OK) == 0 && access(fa_path("noidx.fa.gz.gzi"), F_OK) == 0);
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 30000, 30064, buf), 0);
    CHECK(!memcmp(buf, want, 64));
    ds_ref_close(ref);
    /* FASTQ is indexed too, as 'samtools fqidx' does */
    CHECK_EQ_INT(shell("cp %s %s", READS_FQ, fa_path("reads.fq")), 0);
    CHECK_EQ_INT(ds_ref_open(&ref, fa_path("reads.fq")), 0);
    CHECK(ds_ref_ncontigs(ref) == 30 && ds_ref_contig_len(ref, 0) == 122);
    CHECK_EQ_INT(ds_ref_fetch(ref, "r1", 0, 16, buf), 0);
    CHECK(!memcmp(buf, "TGAATGCGAACTCCGG", 16));
    ds_ref_close(ref);
}

TEST(test_ref_builds_a_temporary_index_when_the_fai_cannot_be_written)
{
    /* a folder where the .fai should go stops htslib even for root */
    const char *ro = fa_path("ro");
    CHECK_EQ_INT(shell("mkdir -p %s/tmp %s/x.fa.fai", ro, ro), 0);
    CHECK_EQ_INT(shell("cp " LAMBDA_FA " %s/x.fa%s", ro, ""), 0);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", fa_path("ro/tmp"), 1);
    ds_ref *ref;
    int e = ds_ref_open(&ref, fa_path("ro/x.fa"));
    if (old) { setenv("TMPDIR", old, 1); free(old); } else unsetenv("TMPDIR");
    CHECK_MSG(e == 0, "%s", ds_errmsg());
    if (e) return;
    CHECK(ds_ref_index_is_temporary(ref) && ds_ref_contig_len(ref, 0) == LAMBDA_LEN);
    char buf[8];
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 0, 8, buf), 0);
    CHECK(!memcmp(buf, "GGGCGGCG", 8));
    ds_ref_close(ref);
    CHECK_EQ_INT(shell("rmdir %s%s", fa_path("ro/tmp"), ""), 0);   /* nothing left behind */
}

TEST(test_ref_plain_gzip_non_fasta_and_ragged_fasta_cannot_be_indexed)
{
    ds_ref *ref;
    CHECK_EQ_INT(shell("gzip -c %s > %s", LAMBDA_FA, fa_path("plain.fa.gz")), 0);
    const char *gz = fa_path("plain.fa.gz");
    CHECK(ds_ref_open(&ref, gz) == DS_EFORMAT && strstr(ds_errmsg(), gz) && strstr(ds_errmsg(), "not bgzip") &&
          strstr(ds_errmsg(), "| bgzip >"));
    CHECK(access(fa_path("plain.fa.gz.fai"), F_OK) != 0);
    CHECK(ds_ref_open(&ref, "testdata/lambda_regions.bed") == DS_EFORMAT &&
          strstr(ds_errmsg(), "lambda_regions.bed: not a FASTA file"));
    CHECK_EQ_INT(shell("cp testdata/bad/ragged_lines.fa %s%s", fa_path("ragged.fa"), ""), 0);
    CHECK(ds_ref_open(&ref, fa_path("ragged.fa")) == DS_EFORMAT && strstr(ds_errmsg(), "samtools faidx") &&
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

/* ---- faidx index checks ---------------------------------------------- */

/* ds_ref_open's error for path, or "" when it opened (and is closed again). */
static const char *open_error(const char *path)
{
    ds_ref *ref;
    int e = ds_ref_open(&ref, path);
    if (!e) { ds_ref_close(ref); return ""; }
    return ds_errmsg();
}

/* The reference opens (its index built or checked) without an error. */
#define CHECK_OPENS(path)                                                                   \
    do { const char *_p = (path), *_m = open_error(_p); CHECK_MSG(!*_m, "%s: %s", _p, _m); } while (0)

/* Refused with a one-line message holding every needle (up to 3). */
static int refused(const char *path, const char *a, const char *b, const char *c)
{
    const char *m = open_error(path);
    int ok = *m && !strchr(m, '\n') && strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c));
    if (!ok) ds_test_fail(__FILE__, __LINE__, "%s: got '%s'", path, m);
    return ok;
}

/* Three contigs of pseudo-random bases (350 kb: several BGZF blocks),
 * `width` bases a line, LF or CR LF line ends. */
static const char *write_genome(const char *name, int width, int crlf)
{
    const char *p = fa_path(name);
    FILE *fp = fopen(p, "wb");
    const int len[3] = { 200000, 150000, 1000 };
    uint32_t x = 12345;
    for (int c = 0; fp && c < 3; c++) {
        fprintf(fp, ">chr%d some description%s", c + 1, crlf ? "\r\n" : "\n");
        for (int i = 0; i < len[c]; i++) {
            x = x * 1103515245u + 12345u;
            fputc("ACGT"[x >> 30], fp);
            if ((i + 1) % width == 0 || i + 1 == len[c]) fputs(crlf ? "\r\n" : "\n", fp);
        }
    }
    if (fp) fclose(fp);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (fp) { fputs(text, fp); fclose(fp); }
}

TEST(test_fai_with_zero_line_bases_is_refused_naming_the_index)
{
    const char *fa = tmp_file("zero.fa", ">a\nACGTACGTACGT\n");
    char fai[700];
    snprintf(fai, sizeof fai, "%s.fai", fa);
    write_text(fai, "a\t12\t3\t0\t13\n");
    CHECK(refused(fa, "zero.fa.fai:1: contig 'a': line bases (column 4) is 0", "delete the index", NULL));
    write_text(fai, "a\t12\t3\t12\t12\n");
    CHECK(refused(fa, "zero.fa.fai:1: contig 'a': line width (column 5) 12 must be line bases 12 plus", NULL, NULL));
}

TEST(test_fai_past_the_end_of_a_bgzip_file_is_refused_before_htslib_seeks)
{
    CHECK_EQ_INT(shell("mkdir -p %s && cp " LAMBDA_BGZ " " LAMBDA_BGZ ".gzi %s", fa_path("past"), fa_path("past")), 0);
    const char *gz = fa_path("past/lambda_virus.fa.gz");
    char fai[700];
    snprintf(fai, sizeof fai, "%s.fai", gz);
    write_text(fai, "NC_001416.1\t99999\t13\t70\t71\n");
    CHECK(refused(gz, "lambda_virus.fa.gz.fai:1: contig 'NC_001416.1': 99999 bases from byte 13",
                  "past the end of", "(49254 bytes uncompressed)"));
}

TEST(test_fasta_whose_first_sequence_line_is_blanks_cannot_be_indexed_and_leaves_no_index)
{
    /* htslib builds "a 2 3 0 5" for it: a zero line width */
    const char *fa = tmp_file("blanks.fa", ">a\n    \nAC\n");
    CHECK(refused(fa, "blanks.fa: cannot be indexed", "samtools faidx", NULL));
    CHECK(access(fa_path("blanks.fa.fai"), F_OK) != 0);
    CHECK_EQ_INT(shell("ls %s | grep -c 'blanks.fa.fai.' >/dev/null && exit 1 || exit 0%s", fa_path(""), ""), 0);
}

TEST(test_ragged_bgzip_fasta_with_a_fai_but_no_gzi_cannot_be_indexed_and_keeps_the_fai)
{
    const char *gz = fa_path("ragged.fa.gz");
    CHECK_EQ_INT(shell("bgzip -c testdata/bad/ragged_lines.fa > %s%s", gz, ""), 0);
    write_text(fa_path("ragged.fa.gz.fai"), "s1\t10\t4\t4\t5\n");
    CHECK(refused(gz, "ragged.fa.gz: cannot be indexed", "lines of different lengths", NULL));
    CHECK(access(fa_path("ragged.fa.gz.gzi"), F_OK) != 0);
    char buf[64];
    slurp(fa_path("ragged.fa.gz.fai"), buf, sizeof buf);
    CHECK(!strcmp(buf, "s1\t10\t4\t4\t5\n"));   /* never an input overwritten */
}

TEST(test_missing_gzi_beside_a_good_fai_is_built_and_the_fai_is_checked)
{
    CHECK_EQ_INT(shell("mkdir -p %s && cp " LAMBDA_BGZ " " LAMBDA_BGZ ".fai %s", fa_path("nogzi"), fa_path("nogzi")), 0);
    const char *gz = fa_path("nogzi/lambda_virus.fa.gz");
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, gz), 0);
    char buf[8];
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 0, 8, buf), 0);
    CHECK(!memcmp(buf, "GGGCGGCG", 8) && !ds_ref_index_is_temporary(ref));
    ds_ref_close(ref);
    CHECK(access(fa_path("nogzi/lambda_virus.fa.gz.gzi"), F_OK) == 0);
    /* the kept .fai is still checked against the file */
    CHECK_EQ_INT(shell("rm %s.gzi && printf 'NC_001416.1\\t48502\\t14\\t70\\t71\\n' > %s.fai", gz, gz), 0);
    CHECK(refused(gz, "lambda_virus.fa.gz.fai:1: contig 'NC_001416.1': expected a line end just before byte 14", NULL,
                  NULL));
}

TEST(test_stale_fai_with_another_line_width_is_refused_both_ways)
{
    const char *w60 = write_genome("w60.fa", 60, 0), *w70 = write_genome("w70.fa", 70, 0);
    CHECK_OPENS(w60);   /* builds w60.fa.fai */
    CHECK_OPENS(w70);
    CHECK_EQ_INT(shell("cp %s.fai %s.fai.keep", w60, w60), 0);
    CHECK_EQ_INT(shell("cp %s.fai %s.fai", w70, w60), 0);
    CHECK(refused(w60, "w60.fa.fai:1: contig 'chr1': line width (bases per line) 70 does not match", "(60)",
                  "delete the index to rebuild it"));
    CHECK_EQ_INT(shell("cp %s.fai.keep %s.fai", w60, w70), 0);
    CHECK(refused(w70, "w70.fa.fai:1: contig 'chr1': line width (bases per line) 60 does not match",
                  "(70)", NULL));
}

TEST(test_fai_claiming_a_shorter_or_longer_contig_is_refused)
{
    const char *fa = write_genome("len.fa", 60, 0);
    CHECK_OPENS(fa);
    char good[400], fai[700], bad[420];
    snprintf(fai, sizeof fai, "%s.fai", fa);
    slurp(fai, good, sizeof good);
    const char *row2 = strstr(good, "chr2\t150000\t");
    CHECK(row2 != NULL);
    if (!row2) return;
    const char *lens[] = { "149940", "149999", "150060", "150001" };   /* a line short, a base short, ... long */
    for (int i = 0; i < 4; i++) {
        snprintf(bad, sizeof bad, "%.*schr2\t%s%s", (int)(row2 - good), good, lens[i], row2 + strlen("chr2\t150000"));
        write_text(fai, bad);
        char want[100];
        snprintf(want, sizeof want, "len.fa.fai:2: contig 'chr2': its %s bases as indexed do not end", lens[i]);
        CHECK(refused(fa, want, "shorter than indexed", NULL));
    }
    write_text(fai, good);
    CHECK_OPENS(fa);
}

TEST(test_fai_missing_a_record_appended_to_the_fasta_is_refused)
{
    const char *fa = write_genome("appended.fa", 60, 0);
    CHECK_OPENS(fa);
    CHECK_EQ_INT(shell("printf '\\n>chr4 new\\nACGT\\n' >> %s%s", fa, ""), 0);
    CHECK(refused(fa, "appended.fa.fai:3: contig 'chr3': it is the last one indexed, but", "goes on after it at byte",
                  "('>chr4 new'; a record added since the index was built?)"));
}

TEST(test_fai_of_another_fasta_is_refused_at_the_header_check)
{
    const char *fa = write_genome("other.fa", 60, 0);
    char fai[700];
    snprintf(fai, sizeof fai, "%s.fai", fa);
    write_text(fai, "NC_001416.1\t48502\t13\t70\t71\n");
    CHECK(refused(fa, "other.fa.fai:1: contig 'NC_001416.1':", "expected a line end just before byte 13", NULL));
    write_text(fai, "chrX\t200000\t23\t60\t61\n");   /* right place, wrong name */
    CHECK(refused(fa, "other.fa.fai:1: contig 'chrX': expected the line before byte 23", "header >chrX",
                  "found '>chr1 some description'"));
}

TEST(test_fai_rows_with_wrong_columns_or_numbers_are_refused_naming_the_row)
{
    const char *fa = write_genome("rows.fa", 60, 0);
    char fai[700], good[400], text[600];
    CHECK_OPENS(fa);
    snprintf(fai, sizeof fai, "%s.fai", fa);
    slurp(fai, good, sizeof good);
    struct { const char *row, *msg; } bad[] = {
        { "chr9\t1000\t5\n", "rows.fa.fai:4: expected 5 tab-separated columns" },
        { "chr9\t1000\t5\t60\t61\t7\n", "got 6 (a FASTQ index beside a FASTA file?)" },
        { "chr9\t-1\t5\t60\t61\n", "rows.fa.fai:4: contig 'chr9': column 2 (length) '-1' is not a non-negative integer" },
        { "chr9\t10\t5x\t60\t61\n", "column 3 (offset) '5x'" },
        { "chr9\t10\t99999999999999999999\t60\t61\n", "column 3 (offset)" },
        { "\t10\t5\t60\t61\n", "rows.fa.fai:4: expected a contig name" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s", good, bad[i].row);
        write_text(fai, text);
        CHECK(refused(fa, bad[i].msg, "delete the index to rebuild it", NULL));
    }
    write_text(fai, "");
    CHECK(refused(fa, "rows.fa.fai: empty index", NULL, NULL));
}

TEST(test_gzi_of_another_bgzip_file_or_truncated_is_refused)
{
    const char *fa = write_genome("g.fa", 60, 0);
    CHECK_EQ_INT(shell("bgzip -c %s > %s.gz", fa, fa), 0);
    CHECK_EQ_INT(shell("bgzip -l 1 -c %s > %s.l1.gz", fa, fa), 0);
    char gz[700], l1[700];
    snprintf(gz, sizeof gz, "%s.gz", fa);
    snprintf(l1, sizeof l1, "%s.l1.gz", fa);
    CHECK_OPENS(gz);   /* builds g.fa.gz.fai and .gzi */
    CHECK_EQ_INT(shell("cp %s.fai %s.fai", gz, l1), 0);
    CHECK_EQ_INT(shell("cp %s.gzi %s.gzi", gz, l1), 0);
    CHECK(refused(l1, "g.fa.l1.gz.gzi: entry 1: compressed offset", "is not the start of a BGZF block", NULL));
    CHECK_EQ_INT(shell("head -c 20 %s.gzi > %s.gzi", gz, l1), 0);
    CHECK(refused(l1, "g.fa.l1.gz.gzi: expected", "entries of 16 bytes after the count", NULL));
    CHECK_EQ_INT(shell("rm %s.gzi %s.fai", l1, l1), 0);
    CHECK_OPENS(l1);   /* its own index is fine */
}

TEST(test_indexes_of_crlf_unterminated_blank_line_and_fastq_files_are_accepted)
{
    const char *files[][2] = {
        { "ok_crlf.fa", ">a\r\nACGT\r\nAC\r\n>b\r\nGG\r\n" },
        { "ok_noeol.fa", ">a\nACGT\nAC" },
        { "ok_blank.fa", ">a x\nACGT\nAC\n\n>b\n>c\nGG\n\n\n" },
        { "ok_quals.fq", "@r1\nACGT\nAC\n+\n>III\nII\n@r2\nAC\n+r2\n@>\n" },
    };
    for (int i = 0; i < 4; i++) {
        const char *p = tmp_file(files[i][0], files[i][1]);
        for (int pass = 0; pass < 2; pass++) {   /* built, then checked as an existing index */
            ds_ref *ref;
            int e = ds_ref_open(&ref, p);
            CHECK_MSG(e == 0, "%s (pass %d): %s", p, pass, ds_errmsg());
            if (e) break;
            char buf[8];
            int last = ds_ref_ncontigs(ref) - 1;
            CHECK_EQ_INT(ds_ref_fetch_i(ref, last, 0, 2, buf), 0);
            CHECK_MSG(!memcmp(buf, i == 3 ? "AC" : i == 1 ? "AC" : "GG", 2), "%s: %.2s", p, buf);
            ds_ref_close(ref);
        }
    }
    write_genome("ok_crlf_big.fa", 61, 1);
    CHECK_OPENS(fa_path("ok_crlf_big.fa"));
    CHECK_OPENS(fa_path("ok_crlf_big.fa"));
}

/* ---- the same through derfseq embed ----------------------------------- */

/* A one-step pretraining run, made once. */
static const char *fa_ckpt(void)
{
    static char path[700];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/fasta-lm", ds_test_tmpdir());
        CHECK_EQ_INT(run("pretrain --model hyenadna-demo --batch-size 4 --seq-len 100 --eval-windows 8 --steps 1 "
                         "-t 2 --quiet " LAMBDA_BGZ " -o '%s'", path), 0);
        strcat(path, "/last.safetensors");
    }
    return path;
}

/* Nothing but the inputs in dir: no output, no temporary output. */
static int only_inputs(const char *dir, int n)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq %d", dir, n);
    return system(cmd) == 0;
}

TEST(test_embed_refuses_a_fai_past_the_end_of_a_bgzip_reference_and_leaves_no_output)
{
    const char *dir = fa_path("cli1");
    CHECK_EQ_INT(shell("mkdir -p %s && cp " LAMBDA_BGZ " " LAMBDA_BGZ ".gzi %s", dir, dir), 0);
    CHECK_EQ_INT(shell("printf 'NC_001416.1\\t99999\\t13\\t70\\t71\\n' > %s/lambda_virus.fa.gz.fai%s", dir, ""), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/lambda_virus.fa.gz -o %s/e.tsv NC_001416.1:90001-90100", fa_ckpt(),
                    dir, dir), 1, " embed", "lambda_virus.fa.gz.fai:1: contig 'NC_001416.1': 99999 bases");
    CHECK(only_inputs(dir, 3));
}

TEST(test_embed_refuses_a_fai_with_zero_line_bases)
{
    const char *dir = fa_path("cli2");
    CHECK_EQ_INT(shell("mkdir -p %s && printf '>a\\nACGTACGTACGT\\n' > %s/x.fa", dir, dir), 0);
    CHECK_EQ_INT(shell("printf 'a\\t12\\t3\\t0\\t13\\n' > %s/x.fa.fai%s", dir, ""), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/x.fa -o %s/e.tsv a:1-5", fa_ckpt(), dir, dir), 1, " embed",
                "x.fa.fai:1: contig 'a': line bases (column 4) is 0");
    CHECK(only_inputs(dir, 2));
}

TEST(test_embed_refuses_a_reference_whose_first_sequence_line_is_blanks)
{
    const char *dir = fa_path("cli3");
    CHECK_EQ_INT(shell("mkdir -p %s && printf '>a\\n    \\nAC\\n' > %s/x.fa", dir, dir), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/x.fa a:1-2", fa_ckpt(), dir), 1, " embed", "x.fa: cannot be indexed");
    CHECK(only_inputs(dir, 1));
}

TEST(test_embed_refuses_a_ragged_bgzip_reference_with_a_fai_but_no_gzi)
{
    const char *dir = fa_path("cli4");
    CHECK_EQ_INT(shell("mkdir -p %s && bgzip -c testdata/bad/ragged_lines.fa > %s/r.fa.gz", dir, dir), 0);
    CHECK_EQ_INT(shell("printf 's1\\t10\\t4\\t4\\t5\\n' > %s/r.fa.gz.fai%s", dir, ""), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/r.fa.gz s1:1-3", fa_ckpt(), dir), 1, " embed",
                "r.fa.gz: cannot be indexed");
    CHECK(only_inputs(dir, 2));
}

TEST(test_embed_refuses_a_stale_fai_naming_the_row_and_both_widths)
{
    const char *dir = fa_path("cli5");
    CHECK_EQ_INT(shell("mkdir -p %s && printf '>chr1\\nACGTAC\\nACGTAC\\nAC\\n>chr2\\nACGTAC\\nAC\\n' > %s/x.fa", dir, dir), 0);
    CHECK_EQ_INT(shell("printf 'chr1\\t14\\t6\\t6\\t7\\nchr2\\t8\\t29\\t4\\t5\\n' > %s/x.fa.fai%s", dir, ""), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/x.fa chr1:1-5", fa_ckpt(), dir), 1, " embed",
                "x.fa.fai:2: contig 'chr2': line width (bases per line) 4 does not match");
    CHECK(strstr(g_err, "(6); delete the index to rebuild it"));
}

TEST(test_embed_refuses_a_truncated_bgzip_reference_in_one_line_without_htslib_messages)
{
    const char *dir = fa_path("cli6");
    CHECK_EQ_INT(shell("mkdir -p %s && head -c 5000 " LAMBDA_BGZ " > %s/cut.fa.gz", dir, dir), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/cut.fa.gz NC_001416.1:1-10", fa_ckpt(), dir), 1, " embed",
                "cut.fa.gz: read error (truncated or corrupt compressed data?)");
    CHECK_EQ_INT(shell("cp " LAMBDA_BGZ ".fai " LAMBDA_BGZ ".gzi %s%s", dir, ""), 0);
    CHECK_EQ_INT(shell("cd %s && mv lambda_virus.fa.gz.fai cut.fa.gz.fai && mv lambda_virus.fa.gz.gzi cut.fa.gz.gzi%s",
                       dir, ""), 0);
    CHECK_ERROR(run("embed --from '%s' --ref %s/cut.fa.gz NC_001416.1:1-10", fa_ckpt(), dir), 1, " embed",
                "cut.fa.gz: read error (truncated or corrupt compressed data?)");
    CHECK(!strstr(g_err, "[E::") && !strstr(g_err, "[W::"));
}

/* ---- bounded line reading --------------------------------------------- */

/* ds_fasta_next over a whole file: the first error (0 at a clean end). */
static int stream_error(const char *path)
{
    ds_fasta_reader *r;
    ds_fasta_record rec;
    int e = ds_fasta_open(&r, path);
    if (e) return e;
    while ((e = ds_fasta_next(r, &rec)) == 1) {}
    ds_fasta_close(r);
    return e;
}

/* A file of one '>' or '@' header (`head` bytes long, first `lines` lines
 * of `n` bases each) written without building it in memory. */
static const char *write_long(const char *name, int head, int lines, int n, int newline)
{
    const char *p = fa_path(name);
    FILE *fp = fopen(p, "w");
    if (!fp) return p;
    fputc('>', fp);
    for (int i = 1; i < head; i++) fputc('h', fp);
    fputc('\n', fp);
    for (int l = 0; l < lines; l++) {
        for (int i = 0; i < n; i++) fputc("ACGT"[i & 3], fp);
        if (newline) fputc('\n', fp);
    }
    fclose(fp);
    return p;
}

TEST(test_fasta_header_longer_than_the_limit_is_refused_naming_the_line)
{
    ds_fasta_set_limits(4096, 0);
    const char *p = write_long("longhead.fa", 5000, 1, 10, 1);
    int e = stream_error(p);
    CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), "longhead.fa:1: header line longer than 4096 bytes"), "%s",
              ds_errmsg());
    CHECK_EQ_INT(stream_error(write_long("okhead.fa", 4000, 1, 10, 1)), 0);
    ds_fasta_set_limits(0, 0);
    CHECK_EQ_INT(stream_error(p), 0);   /* the default limit is 64 KiB */
}

TEST(test_fasta_record_longer_than_the_limit_is_refused_without_reading_further)
{
    ds_fasta_set_limits(0, 100000);
    /* wrapped: 2000 lines of 60, the record outgrows the limit at line 1668 */
    int e = stream_error(write_long("longrec.fa", 2, 2000, 60, 1));
    CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), "longrec.fa:1668: record 1 'h' is longer than 100000 bases"),
              "%s", ds_errmsg());
    /* no line breaks at all: one endless line is cut at the limit */
    e = stream_error(write_long("oneline.fa", 2, 1, 300000, 0));
    CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), "oneline.fa:2: line longer than 100000 bytes"), "%s",
              ds_errmsg());
    /* a FASTQ quality line may start with '>' and be long: no header limit for it */
    ds_fasta_set_limits(16, 1000);
    CHECK_EQ_INT(stream_error(tmp_file("qual.fq", "@r\nACGTACGTACGTACGTACGT\n+\n>IIIIIIIIIIIIIIIIIII\n")), 0);
    ds_fasta_set_limits(0, 0);
    CHECK_EQ_INT(stream_error(fa_path("longrec.fa")), 0);
}
