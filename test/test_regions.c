/* Tests of lib/io/regions.c (derfseq.md "Inputs"): chr:beg-end strings,
 * BED rows (names, strands, the Basenji split column), their checks against
 * the lambda reference, and reverse complement. */
#include "test.h"
#include "core/error.h"
#include "io/fasta.h"
#include "io/regions.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LAMBDA_BGZ "testdata/lambda_virus.fa.gz"

static const char *tmp_file(const char *name, const char *content)
{
    static char path[4][600];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, sizeof path[0], "%s/regions", ds_test_tmpdir());
    mkdir(p, 0700);   /* this file's own folder: no other test's files in the way */
    snprintf(p, sizeof path[0], "%s/regions/%s", ds_test_tmpdir(), name);
    FILE *fp = fopen(p, "w");
    if (fp) { fputs(content, fp); fclose(fp); }
    return p;
}

static int parsed(const char *s, const char *chrom, int64_t beg, int64_t end)
{
    ds_region r;
    if (ds_region_parse(s, &r)) { ds_test_fail(__FILE__, __LINE__, "'%s': %s", s, ds_errmsg()); return 0; }
    int ok = !strcmp(r.chrom, chrom) && r.beg == beg && r.end == end && r.strand == '+' && !r.line && !r.name;
    if (!ok) ds_test_fail(__FILE__, __LINE__, "'%s' → %s [%lld, %lld)", s, r.chrom, (long long)r.beg, (long long)r.end);
    ds_region_free(&r);
    return ok;
}

TEST(test_region_string_is_one_based_inclusive_with_commas_and_whole_contigs)
{
    CHECK(parsed("chr1:1,001-2,000", "chr1", 1000, 2000));
    CHECK(parsed("chr1:1001-2000", "chr1", 1000, 2000));
    CHECK(parsed("chr1:5-5", "chr1", 4, 5));
    CHECK(parsed("NC_001416.1", "NC_001416.1", 0, -1));
    CHECK(parsed("chr2:501", "chr2", 500, -1));
    CHECK(parsed("chr2:501-", "chr2", 500, -1));
    ds_region r;
    CHECK(ds_region_parse("chr1:300-120", &r) == DS_EINVAL && strstr(ds_errmsg(), "end (120) < start (300)"));
    CHECK(ds_region_parse("chr1:0-5", &r) == DS_EINVAL && strstr(ds_errmsg(), "1-based"));
    const char *bad[] = { "chr1:x-5", "chr1:1-2x", "chr1:-5", ":1-5", "chr1:,5-6", "chr1:" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(ds_region_parse(bad[i], &r) == DS_EINVAL && strstr(ds_errmsg(), bad[i]), "'%s' accepted", bad[i]);
    CHECK_EQ_INT(ds_region_parse_whole("HLA-A*01:01:01:01", &r), 0);
    CHECK(!strcmp(r.chrom, "HLA-A*01:01:01:01") && r.beg == 0 && r.end == -1);
    ds_region_free(&r);
}

/* samtools' braces name a contig that holds ':' with or without a range. */
TEST(test_region_string_takes_samtools_braces_for_names_with_colons)
{
    CHECK(parsed("{HLA-A*01:01}:3-10", "HLA-A*01:01", 2, 10));
    CHECK(parsed("{HLA-A*01:01}:3", "HLA-A*01:01", 2, -1));
    CHECK(parsed("{HLA-A*01:01}", "HLA-A*01:01", 0, -1));
    CHECK(parsed("{chr1}:1,001-2,000", "chr1", 1000, 2000));
    ds_region r;
    const char *bad[] = { "{HLA-A*01:01", "{HLA-A*01:01}3-10", "{}:1-5", "{x}:0-5", "{x}:9-3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(ds_region_parse(bad[i], &r) == DS_EINVAL && strstr(ds_errmsg(), bad[i]), "'%s' accepted", bad[i]);
}

TEST(test_region_string_resolves_against_the_reference)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_region r;
    CHECK_EQ_INT(ds_region_parse("NC_001416.1", &r), 0);
    CHECK_EQ_INT(ds_region_resolve(ref, &r, NULL), 0);
    CHECK(r.beg == 0 && r.end == 48502);
    ds_region_free(&r);
    CHECK_EQ_INT(ds_region_parse("NC_001416.1:48001-49000", &r), 0);
    CHECK(ds_region_resolve(ref, &r, NULL) == DS_EINVAL &&
          !strcmp(ds_errmsg(), "region NC_001416.1:48001-49000: end (49000) is past the contig's end (NC_001416.1 has "
                               "48502 bp)"));
    ds_region_free(&r);
    CHECK_EQ_INT(ds_region_parse("NC_001416.1:48600", &r), 0);
    CHECK(ds_region_resolve(ref, &r, NULL) == DS_EINVAL && strstr(ds_errmsg(), "start (48599) is past the contig's end"));
    ds_region_free(&r);
    CHECK_EQ_INT(ds_region_parse("chrNC_001416.1:1-10", &r), 0);
    CHECK(ds_region_resolve(ref, &r, NULL) == DS_EINVAL &&
          strstr(ds_errmsg(), "region chrNC_001416.1:1-10: unknown contig 'chrNC_001416.1'") &&
          strstr(ds_errmsg(), "the reference has 'NC_001416.1'"));
    ds_region_free(&r);
    ds_ref_close(ref);
}

TEST(test_bed_reads_names_scores_and_strands)
{
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_regions.bed", &rs), 0);
    CHECK_EQ_INT(rs.n, 3);
    CHECK(!rs.basenji && rs.path && !strcmp(rs.path, "testdata/lambda_regions.bed"));
    if (rs.n == 3) {
        CHECK(!strcmp(rs.r[0].chrom, "NC_001416.1") && rs.r[0].beg == 0 && rs.r[0].end == 200 &&
              !strcmp(rs.r[0].name, "left_end") && rs.r[0].strand == '+' && rs.r[0].line == 1);
        CHECK(rs.r[1].beg == 1000 && rs.r[1].end == 1300 && rs.r[1].strand == '-' && !strcmp(rs.r[1].name, "region_b") &&
              rs.r[1].split == DS_SPLIT_NONE && rs.r[1].line == 2);
        CHECK(rs.r[2].end == 48502 && !strcmp(rs.r[2].name, "right_end"));
    }
    ds_regions_free(&rs);
    /* 3 columns: no name, no strand ('.', fetched as given); 4 columns of ordinary names; '.' is no name */
    CHECK_EQ_INT(ds_bed_read(tmp_file("n.bed", "c\t1\t5\nc\t2\t6\tpromoter\nc\t3\t7\t.\t0\t.\n"), &rs), 0);
    CHECK(rs.n == 3 && !rs.basenji && !rs.r[0].name && rs.r[0].strand == '.' && !strcmp(rs.r[1].name, "promoter") &&
          !rs.r[2].name && rs.r[2].strand == '.');
    ds_regions_free(&rs);
}

/* embed streams a BED of any size: the reader yields ds_bed_read's rows one
 * at a time, and a bad row after good ones fails at that row. */
TEST(test_bed_reader_streams_the_rows_ds_bed_read_gives)
{
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_regions.bed", &rs), 0);
    ds_bed_reader *rd;
    CHECK_EQ_INT(ds_bed_open(&rd, "testdata/lambda_regions.bed"), 0);
    ds_region g;
    int n = 0, got;
    while ((got = ds_bed_next(rd, &g)) == 1) {
        CHECK(n < rs.n && !strcmp(g.chrom, rs.r[n].chrom) && g.beg == rs.r[n].beg && g.end == rs.r[n].end &&
              g.strand == rs.r[n].strand && g.line == rs.r[n].line);
        ds_region_free(&g);
        n++;
    }
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(n, rs.n);
    ds_bed_close(rd);
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_open(&rd, tmp_file("late.bed", "c\t1\t5\nc\t9\t2\n")), 0);
    CHECK_EQ_INT(ds_bed_next(rd, &g), 1);
    ds_region_free(&g);
    CHECK(ds_bed_next(rd, &g) == DS_EFORMAT && strstr(ds_errmsg(), "late.bed:2: end (2) < start (9)"));
    ds_bed_close(rd);
}

TEST(test_bed_minus_strand_rows_are_fetched_reverse_complemented)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_regions.bed", &rs), 0);
    CHECK_EQ_INT(ds_regions_resolve(ref, &rs), 0);
    char fwd[300], got[300], want[300];
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 1000, 1300, fwd), 0);
    CHECK_EQ_INT(ds_region_fetch(ref, &rs.r[1], rs.path, got), 0);
    static const char from[] = "ACGTacgtNn", to[] = "TGCAtgcaNn";
    for (int i = 0; i < 300; i++) want[299 - i] = to[strchr(from, fwd[i]) - from];
    CHECK(!memcmp(got, want, 300));
    CHECK_EQ_INT(ds_region_fetch(ref, &rs.r[0], rs.path, got), 0);   /* '+' as stored */
    CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", 0, 200, fwd), 0);
    CHECK(!memcmp(got, fwd, 200));
    ds_regions_free(&rs);
    ds_ref_close(ref);
}

TEST(test_bed_basenji_split_column_is_detected_per_file)
{
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_splits.bed", &rs), 0);
    CHECK(rs.n == 3 && rs.basenji);
    if (rs.n == 3) {
        CHECK(rs.r[0].split == DS_SPLIT_TRAIN && rs.r[1].split == DS_SPLIT_VALID && rs.r[2].split == DS_SPLIT_TEST);
        CHECK(!rs.r[0].name && rs.r[0].beg == 0 && rs.r[2].end == 48502);
    }
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_read(tmp_file("val.bed", "c\t0\t10\tval\nc\t10\t20\tvalidation\nc\t20\t30\ttrain\n"), &rs), 0);
    CHECK(rs.n == 3 && rs.basenji && rs.r[0].split == DS_SPLIT_VALID && rs.r[1].split == DS_SPLIT_VALID);
    ds_regions_free(&rs);
    /* a 6-column BED whose name happens to be "test" is not a split file */
    CHECK_EQ_INT(ds_bed_read(tmp_file("named.bed", "c\t0\t10\ttest\t0\t-\n"), &rs), 0);
    CHECK(rs.n == 1 && !rs.basenji && rs.r[0].split == DS_SPLIT_NONE && !strcmp(rs.r[0].name, "test"));
    ds_regions_free(&rs);
    CHECK(ds_split_parse("train") == DS_SPLIT_TRAIN && ds_split_parse("Train") == DS_SPLIT_NONE);
    CHECK(!strcmp(ds_split_name(DS_SPLIT_VALID), "valid") && !strcmp(ds_split_name(DS_SPLIT_NONE), "none"));
}

TEST(test_bed_skips_comments_track_browser_lines_and_reads_gzip)
{
    ds_regions rs = {0};
    const char *p = tmp_file("c.bed", "# comment\ntrack name=x\nbrowser position c:1-5\n\nchr1\t5\t10\r\n");
    CHECK_EQ_INT(ds_bed_read(p, &rs), 0);
    CHECK(rs.n == 1 && rs.r[0].beg == 5 && rs.r[0].end == 10 && rs.r[0].line == 5 && !strcmp(rs.r[0].chrom, "chr1"));
    ds_regions_free(&rs);
    char gz[700], cmd[1400];
    snprintf(gz, sizeof gz, "%s", tmp_file("r.bed.gz", ""));
    snprintf(cmd, sizeof cmd, "gzip -c testdata/lambda_regions.bed > %s", gz);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(ds_bed_read(gz, &rs), 0);
    CHECK(rs.n == 3 && rs.r[1].strand == '-' && rs.r[2].line == 3);
    ds_regions_free(&rs);
}

TEST(test_bed_malformed_lines_are_reported_with_file_and_line)
{
    struct { const char *file, *msg; } bad[] = {
        { "testdata/bad/end_before_start.bed", "testdata/bad/end_before_start.bed:1: end (50) < start (100)" },
        { "testdata/bad/two_columns.bed", "testdata/bad/two_columns.bed:1: expected at least 3 tab-separated columns, got 2" },
        { "testdata/bad/not_a_number.bed", "testdata/bad/not_a_number.bed:1: start 'abc' is not a non-negative integer" },
        { "testdata/bad/bad_strand.bed", "testdata/bad/bad_strand.bed:1: strand '*', expected '+', '-' or '.'" },
        { "testdata/bad/space_separated.bed", "testdata/bad/space_separated.bed:1: expected at least 3 tab-separated "
                                              "columns, got 1 (columns must be separated by tabs, not spaces)" },
        { "testdata/bad/basenji_mixed.bed", "testdata/bad/basenji_mixed.bed:2: expected a split (train, valid or test) "
                                            "in column 4 as on the first row, got 'promoter'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_regions rs = {0};
        CHECK_MSG(ds_bed_read(bad[i].file, &rs) == DS_EFORMAT && !strcmp(ds_errmsg(), bad[i].msg), "%s: got '%s'",
                  bad[i].file, ds_errmsg());
        ds_regions_free(&rs);
    }
    struct { const char *text, *msg; } odd[] = {
        { "c\t0\t10\nc\t-5\t10\n", "odd.bed:2: start '-5' is not a non-negative integer" },
        { "c\t+5\t10\n", "odd.bed:1: start '+5' is not a non-negative integer" },
        { "c\t5\t\n", "odd.bed:1: end is empty" },
        { "c\t5\t99999999999999999999\n", "odd.bed:1: end '99999999999999999999' is too large" },
        { "\t5\t10\n", "odd.bed:1: empty chrom column" },
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        ds_regions rs = {0};
        CHECK_MSG(ds_bed_read(tmp_file("odd.bed", odd[i].text), &rs) == DS_EFORMAT && strstr(ds_errmsg(), odd[i].msg),
                  "case %zu: got '%s'", i, ds_errmsg());
        ds_regions_free(&rs);
    }
    ds_regions rs = {0};
    CHECK(ds_bed_read("testdata/bad/missing.bed", &rs) == DS_EIO && strstr(ds_errmsg(), "testdata/bad/missing.bed"));
    ds_regions_free(&rs);
}

TEST(test_bed_rows_off_the_reference_fail_with_file_and_line)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/bad/past_end.bed", &rs), 0);
    CHECK(ds_regions_resolve(ref, &rs) == DS_EINVAL &&
          !strcmp(ds_errmsg(), "testdata/bad/past_end.bed:2: end (48503) is past the contig's end (NC_001416.1 has 48502 bp)"));
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_read("testdata/bad/unknown_contig.bed", &rs), 0);
    CHECK(ds_regions_resolve(ref, &rs) == DS_EINVAL &&
          strstr(ds_errmsg(), "testdata/bad/unknown_contig.bed:1: unknown contig 'chrUnknown' in testdata/lambda_virus.fa.gz"));
    ds_regions_free(&rs);
    ds_ref_close(ref);
}

TEST(test_reverse_complement_handles_case_and_iupac)
{
    char s[] = "ACGTNacgtnRYKMBVDHSWUu-*x";
    ds_revcomp(s, (int64_t)strlen(s));
    CHECK_MSG(!strcmp(s, "x*-aAWSDHBVKMRYnacgtNACGT"), "got %s", s);
    char odd[] = "AAC";
    ds_revcomp(odd, 3);
    CHECK(!strcmp(odd, "GTT"));
    char one[] = "g";
    ds_revcomp(one, 1);
    CHECK(one[0] == 'c');
    ds_revcomp(one, 0);
    CHECK(one[0] == 'c');
}

TEST(test_bed_line_longer_than_the_limit_is_refused_reading_no_further)
{
    /* a newline-free file twice the limit: refused at line 2, after one good row */
    const char *p = tmp_file("long.bed", "NC_001416.1\t0\t10\n");
    FILE *fp = fopen(p, "a");
    for (size_t i = 0; fp && i < 2 * DS_BED_MAX_LINE; i++) fputc('x', fp);
    if (fp) fclose(fp);
    ds_regions rs = {0};
    int e = ds_bed_read(p, &rs);
    CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), "long.bed:2: line longer than 1048576 bytes"), "%d %s", e,
              ds_errmsg());
    ds_regions_free(&rs);
    /* a long but bounded row (a BED12 with many blocks) still reads */
    fp = fopen(p, "w");
    if (fp) {
        fputs("NC_001416.1\t0\t100\tname\t0\t+\t0\t100\t0\t5000\t", fp);
        for (int i = 0; i < 5000; i++) fputs("1,", fp);
        fputc('\n', fp);
        fclose(fp);
    }
    CHECK_EQ_INT(ds_bed_read(p, &rs), 0);
    CHECK(rs.n == 1 && rs.r[0].end == 100 && rs.r[0].strand == '+');
    ds_regions_free(&rs);
}
