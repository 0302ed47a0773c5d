/* DNA input (lib/io fasta, regions, tokenizer, genome_windows) on the bundled
 * lambda phage genome and the broken files in testdata/bad/. */
#include "test.h"
#include "core/error.h"
#include "io/fasta.h"
#include "io/genome_windows.h"
#include "io/regions.h"
#include "io/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAMBDA "testdata/lambda_virus.fa.gz"

static char *read_all(const char *path, int64_t *len, char **id)
{
    ds_fasta_reader *r;
    if (ds_fasta_open(&r, path)) { CHECK_MSG(0, "%s", ds_errmsg()); return NULL; }
    ds_fasta_record rec;
    char *s = NULL;
    if (ds_fasta_next(r, &rec) == 1) {
        s = malloc((size_t)rec.len + 1);
        memcpy(s, rec.seq, (size_t)rec.len + 1);
        *len = rec.len;
        if (id) *id = strdup(rec.id);
    }
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 0);
    ds_fasta_close(r);
    return s;
}

static const char *tmpfile_with(const char *name, const char *content)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", ds_test_tmpdir(), name);
    FILE *fp = fopen(path, "w");
    fputs(content, fp);
    fclose(fp);
    return path;
}

TEST(test_fasta_plain_gzip_and_bgzip_stream_the_same_records)
{
    int64_t n1, n2;
    char *id = NULL;
    char *bgz = read_all(LAMBDA, &n1, &id);
    CHECK(bgz && n1 == 48502 && id && !strcmp(id, "NC_001416.1"));
    char cmd[800];
    snprintf(cmd, sizeof cmd, "zcat %s > %s/plain.fa && zcat %s | gzip -c > %s/g.fa.gz", LAMBDA, ds_test_tmpdir(), LAMBDA,
             ds_test_tmpdir());
    CHECK_EQ_INT(system(cmd), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/plain.fa", ds_test_tmpdir());
    char *plain = read_all(path, &n2, NULL);
    CHECK(plain && n2 == n1 && !memcmp(plain, bgz, (size_t)n1));
    free(plain);
    snprintf(path, sizeof path, "%s/g.fa.gz", ds_test_tmpdir());
    char *gz = read_all(path, &n2, NULL);
    CHECK(gz && n2 == n1 && !memcmp(gz, bgz, (size_t)n1));
    free(gz);
    free(bgz);
    free(id);
}

TEST(test_fasta_reads_multi_record_fasta_and_fastq)
{
    const char *p = tmpfile_with("multi.fq", "@r1 first\nACGTN\n+\nIIIII\n@r2\nacg\n+\n!!!\n");
    ds_fasta_reader *r;
    CHECK_EQ_INT(ds_fasta_open(&r, p), 0);
    ds_fasta_record rec;
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
    CHECK(!strcmp(rec.id, "r1") && rec.len == 5 && !memcmp(rec.seq, "ACGTN", 5) && rec.index == 0);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 1);
    CHECK(!strcmp(rec.id, "r2") && rec.len == 3 && !memcmp(rec.seq, "acg", 3) && rec.index == 1);
    CHECK_EQ_INT(ds_fasta_next(r, &rec), 0);
    ds_fasta_close(r);
}

TEST(test_fasta_bad_inputs_give_one_line_errors_naming_the_file)
{
    ds_fasta_reader *r;
    CHECK(ds_fasta_open(&r, "testdata/bad/empty.fa") == DS_EFORMAT && strstr(ds_errmsg(), "empty.fa: no sequence records"));
    CHECK(ds_fasta_open(&r, "testdata/bad/no_header.fa") == DS_EFORMAT && strstr(ds_errmsg(), "no_header.fa:1: expected '>'"));
    CHECK(ds_fasta_open(&r, "testdata/bad/missing.fa") == DS_EIO && strstr(ds_errmsg(), "missing.fa"));
    CHECK_EQ_INT(ds_fasta_open(&r, "testdata/bad/short_quality.fq"), 0);
    ds_fasta_record rec;
    CHECK(ds_fasta_next(r, &rec) == DS_EFORMAT && strstr(ds_errmsg(), "quality"));
    ds_fasta_close(r);
    CHECK(!strchr(ds_errmsg(), '\n'));
}

TEST(test_faidx_fetch_equals_streamed_slice_and_checks_ranges)
{
    int64_t n;
    char *all = read_all(LAMBDA, &n, NULL);
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA), 0);
    CHECK_EQ_INT(ds_ref_ncontigs(ref), 1);
    CHECK_EQ_INT(ds_ref_contig_len(ref, 0), 48502);
    char buf[300];
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 1000, 1300, buf), 0);
    CHECK(all && !memcmp(buf, all + 1000, 300));
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 48402, 48502, buf), 0);
    CHECK(all && !memcmp(buf, all + 48402, 100));
    CHECK(ds_ref_fetch(ref, "chrX", 0, 10, buf) == DS_EINVAL && strstr(ds_errmsg(), "unknown contig 'chrX'"));
    CHECK(ds_ref_fetch(ref, "NC_001416.1", 300, 120, buf) == DS_EINVAL && strstr(ds_errmsg(), "end (120) < start (300)"));
    CHECK(ds_ref_fetch(ref, "NC_001416.1", 48500, 48600, buf) == DS_EINVAL && strstr(ds_errmsg(), "past the contig"));
    ds_ref_close(ref);
    free(all);
}

TEST(test_faidx_builds_a_missing_index_and_explains_plain_gzip)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "zcat %s > %s/noidx.fa && printf '>chr1\\nACGT\\n' | gzip -c > %s/plain_gzip.fa.gz", LAMBDA,
             ds_test_tmpdir(), ds_test_tmpdir());
    CHECK_EQ_INT(system(cmd), 0);
    char path[700], fai[720];
    snprintf(path, sizeof path, "%s/noidx.fa", ds_test_tmpdir());
    snprintf(fai, sizeof fai, "%s.fai", path);
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, path), 0);
    CHECK(access(fai, F_OK) == 0);
    ds_ref_close(ref);
    snprintf(path, sizeof path, "%s/plain_gzip.fa.gz", ds_test_tmpdir());
    CHECK(ds_ref_open(&ref, path) == DS_EFORMAT && strstr(ds_errmsg(), "not bgzip") && strstr(ds_errmsg(), path));
    /* a chr-prefix mismatch is pointed out */
    snprintf(cmd, sizeof cmd, "printf '>chr1\\nACGTACGT\\n' > %s/chr.fa", ds_test_tmpdir());
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(path, sizeof path, "%s/chr.fa", ds_test_tmpdir());
    CHECK_EQ_INT(ds_ref_open(&ref, path), 0);
    CHECK(ds_ref_contig_index(ref, "1") < 0 && strstr(ds_errmsg(), "the reference has 'chr1'"));
    CHECK(ds_ref_has_contig(ref, "chr1") && !ds_ref_has_contig(ref, "chr1:1-4"));
    ds_ref_close(ref);
}

TEST(test_region_strings_are_one_based_inclusive)
{
    ds_region r;
    CHECK_EQ_INT(ds_region_parse("chr1:1,001-2,000", &r), 0);
    CHECK(!strcmp(r.chrom, "chr1") && r.beg == 1000 && r.end == 2000);
    ds_region_free(&r);
    CHECK_EQ_INT(ds_region_parse("NC_001416.1", &r), 0);
    CHECK(r.beg == 0 && r.end == -1);
    ds_region_free(&r);
    CHECK_EQ_INT(ds_region_parse("chr2:501", &r), 0);
    CHECK(r.beg == 500 && r.end == -1);
    ds_region_free(&r);
    CHECK(ds_region_parse("chr1:300-120", &r) == DS_EINVAL && strstr(ds_errmsg(), "end (120) < start (300)"));
    CHECK(ds_region_parse("chr1:x-5", &r) == DS_EINVAL);
    CHECK(ds_region_parse("chr1:0-5", &r) == DS_EINVAL && strstr(ds_errmsg(), "1-based"));
}

TEST(test_bed_reads_names_strands_and_basenji_splits)
{
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_regions.bed", &rs), 0);
    CHECK_EQ_INT(rs.n, 3);
    CHECK(rs.n == 3 && rs.r[1].beg == 1000 && rs.r[1].end == 1300 && rs.r[1].strand == '-' &&
          !strcmp(rs.r[1].name, "region_b") && rs.r[1].split == DS_SPLIT_NONE && rs.r[1].line == 2);
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_splits.bed", &rs), 0);
    CHECK(rs.n == 3 && rs.r[0].split == DS_SPLIT_TRAIN && rs.r[1].split == DS_SPLIT_VALID && rs.r[2].split == DS_SPLIT_TEST);
    CHECK(rs.n == 3 && rs.r[0].name == NULL);
    ds_regions_free(&rs);
    /* comments, track lines and CRLF are fine */
    const char *p = tmpfile_with("c.bed", "# comment\ntrack name=x\nchr1\t5\t10\r\n");
    CHECK_EQ_INT(ds_bed_read(p, &rs), 0);
    CHECK(rs.n == 1 && rs.r[0].end == 10 && rs.r[0].line == 3);
    ds_regions_free(&rs);
}

TEST(test_bed_malformed_lines_name_file_and_line)
{
    struct { const char *file, *msg; } bad[] = {
        { "testdata/bad/end_before_start.bed", "end_before_start.bed:1: end (50) < start (100)" },
        { "testdata/bad/two_columns.bed", "two_columns.bed:1: expected at least 3 tab-separated columns" },
        { "testdata/bad/not_a_number.bed", "not_a_number.bed:1: start 'abc' is not a non-negative integer" },
        { "testdata/bad/bad_strand.bed", "bad_strand.bed:1: strand '*'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_regions rs = {0};
        CHECK_MSG(ds_bed_read(bad[i].file, &rs) == DS_EFORMAT && strstr(ds_errmsg(), bad[i].msg),
                  "%s: got '%s'", bad[i].file, ds_errmsg());
        ds_regions_free(&rs);
    }
}

TEST(test_reverse_complement_handles_case_and_iupac)
{
    char s[] = "ACGTNacgtnRY";
    ds_revcomp(s, (int64_t)strlen(s));
    CHECK(!strcmp(s, "RYnacgtNACGT"));
    char odd[] = "AAC";
    ds_revcomp(odd, 3);
    CHECK(!strcmp(odd, "GTT"));
}

TEST(test_tokenizer_matches_official_ids_and_case_rules)
{
    int32_t ids[16];
    CHECK_EQ_INT(ds_tokenize("ACGTN", 5, 0, ids), 5);
    CHECK(ids[0] == 7 && ids[1] == 8 && ids[2] == 9 && ids[3] == 10 && ids[4] == 11);
    CHECK_EQ_INT(ds_tokenize("acgtnX-", 7, 0, ids), 7);   /* HyenaDNA: lower case is [UNK] */
    for (int i = 0; i < 7; i++) CHECK_EQ_INT(ids[i], DS_TOK_UNK);
    CHECK_EQ_INT(ds_tokenize("acgtnX", 6, DS_TOK_UPPER, ids), 6);   /* Caduceus: upper-cased first */
    CHECK(ids[0] == 7 && ids[3] == 10 && ids[4] == 11 && ids[5] == DS_TOK_UNK);
    CHECK_EQ_INT(ds_tokenize("AC", 2, DS_TOK_ADD_CLS | DS_TOK_ADD_SEP, ids), 4);
    CHECK(ids[0] == DS_TOK_CLS && ids[1] == 7 && ids[3] == DS_TOK_SEP);
    CHECK_EQ_INT(ds_tokenize("NAn", 3, DS_TOK_N_TO_PAD | DS_TOK_UPPER, ids), 3);
    CHECK(ids[0] == DS_TOK_PAD && ids[1] == DS_TOK_A && ids[2] == DS_TOK_PAD);
    CHECK(ds_token_char(9) == 'G' && ds_token_char(DS_TOK_SEP) == '?');
}

TEST(test_windows_are_deterministic_resumable_and_skip_n)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA), 0);
    ds_windows a, b;
    CHECK_EQ_INT(ds_windows_init(&a, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 7), 0);
    CHECK_EQ_INT(ds_windows_init(&b, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 7), 0);
    char s1[256], s2[256];
    int64_t b1, b2, first = -1;
    int c;
    int differ = 0;
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(ds_windows_next(&a, s1, &c, &b1), 0);
        CHECK_EQ_INT(ds_windows_next(&b, s2, &c, &b2), 0);
        CHECK(b1 == b2 && !memcmp(s1, s2, 256));
        CHECK(b1 + 256 <= 48502 - 2425);   /* never in the held-out 5% tail */
        if (first < 0) first = b1; else differ |= b1 != first;
    }
    CHECK(differ);
    /* restoring the draw counter continues exactly */
    uint64_t saved = a.draws;
    CHECK_EQ_INT(ds_windows_next(&a, s1, &c, &b1), 0);
    b.draws = saved;
    CHECK_EQ_INT(ds_windows_next(&b, s2, &c, &b2), 0);
    CHECK(b1 == b2);
    /* another seed draws other windows */
    ds_windows other;
    CHECK_EQ_INT(ds_windows_init(&other, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 8), 0);
    CHECK_EQ_INT(ds_windows_next(&other, s2, &c, &b2), 0);
    CHECK(b2 != first);
    ds_windows_free(&other);
    /* the held-out tail tiles without overlap */
    ds_windows v;
    CHECK_EQ_INT(ds_windows_init(&v, ref, NULL, NULL, DS_SPLIT_VALID, 256, 0, 7), 0);
    CHECK_EQ_INT(ds_windows_ntiles(&v), 2425 / 256);
    int skip;
    CHECK_EQ_INT(ds_windows_tile(&v, 0, s1, &skip), 0);
    CHECK(skip == 0);
    ds_windows_free(&v);
    ds_windows_free(&a);
    ds_windows_free(&b);
    ds_ref_close(ref);
}

TEST(test_windows_with_too_many_n_are_skipped_and_splits_come_from_bed)
{
    char fa[4200] = ">chrN\n";
    for (int i = 0; i < 2000; i++) strcat(fa, i < 1000 ? "N" : "A");
    strcat(fa, "\n");
    const char *p = tmpfile_with("n.fa", fa);
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, p), 0);
    ds_windows w;
    CHECK_EQ_INT(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_NONE, 100, 5, 3), 0);
    char s[100];
    int64_t beg;
    for (int i = 0; i < 30; i++) {
        CHECK_EQ_INT(ds_windows_next(&w, s, NULL, &beg), 0);
        CHECK_MSG(beg >= 995, "window at %lld holds more than 5 N", (long long)beg);
    }
    ds_windows_free(&w);
    ds_ref_close(ref);
    /* Basenji BED: only the requested split's rows */
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA), 0);
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_splits.bed", &rs), 0);
    CHECK_EQ_INT(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_TEST, 500, 0, 1), 0);
    CHECK(w.n == 1 && w.iv[0].beg == 44000 && ds_windows_ntiles(&w) == 9);
    ds_windows_free(&w);
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_read("testdata/bad/unknown_contig.bed", &rs), 0);
    CHECK(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_NONE, 50, 0, 1) == DS_EINVAL &&
          strstr(ds_errmsg(), "unknown contig 'chrUnknown'") && strstr(ds_errmsg(), "unknown_contig.bed:1:"));
    ds_regions_free(&rs);
    ds_ref_close(ref);
}
