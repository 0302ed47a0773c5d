/* Tests of lib/io/genome_windows.c (hyenadna.md §1.8): deterministic,
 * resumable window sampling in proportion to usable length, N skipping, and
 * held-out tiles that never overlap training windows. */
#include "test.h"
#include "core/error.h"
#include "io/fasta.h"
#include "io/genome_windows.h"
#include "io/regions.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LAMBDA_BGZ "testdata/lambda_virus.fa.gz"
#define LAMBDA_LEN 48502
#define HELD 2425   /* 5% of 48502 */

/* A FASTA in the scratch folder from (name, length, fill) contigs: fill is
 * repeated; a lower-case 'n' run makes an N-rich head. */
static const char *write_fasta(const char *file, int n, const char **names, const int *lens, const char **fills)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/windows", ds_test_tmpdir());
    mkdir(path, 0700);   /* this file's own folder: no other test's files (or stale .fai) in the way */
    snprintf(path, sizeof path, "%s/windows/%s", ds_test_tmpdir(), file);
    FILE *fp = fopen(path, "w");
    for (int c = 0; fp && c < n; c++) {
        fprintf(fp, ">%s\n", names[c]);
        size_t k = strlen(fills[c]);
        for (int i = 0; i < lens[c]; i++) {
            fputc(fills[c][i % k], fp);
            if (i % 60 == 59 || i == lens[c] - 1) fputc('\n', fp);
        }
    }
    if (fp) fclose(fp);
    return path;
}

TEST(test_windows_same_seed_same_windows_other_seed_other_windows)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_windows a, b, c;
    CHECK_EQ_INT(ds_windows_init(&a, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 7), 0);
    CHECK_EQ_INT(ds_windows_init(&b, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 7), 0);
    CHECK_EQ_INT(ds_windows_init(&c, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 8), 0);
    char s1[256], s2[256], s3[256];
    int same_c = 0, distinct = 0;
    int64_t prev = -1;
    for (int i = 0; i < 50; i++) {
        int k1, k2, k3;
        int64_t b1, b2, b3;
        CHECK_EQ_INT(ds_windows_next(&a, s1, &k1, &b1), 0);
        CHECK_EQ_INT(ds_windows_next(&b, s2, &k2, &b2), 0);
        CHECK_EQ_INT(ds_windows_next(&c, s3, &k3, &b3), 0);
        CHECK(k1 == 0 && b1 == b2 && k1 == k2 && !memcmp(s1, s2, 256));
        same_c += b3 == b1;
        distinct += b1 != prev;
        prev = b1;
    }
    CHECK(same_c < 3 && distinct > 45);
    CHECK_EQ_INT(ds_windows_state(&a), 50);   /* no N in lambda: one draw per window */
    ds_windows_free(&a); ds_windows_free(&b); ds_windows_free(&c);
    ds_ref_close(ref);
}

TEST(test_windows_state_restore_continues_identically)
{
    const char *names[] = { "nrich", "clean" };
    const int lens[] = { 3000, 2000 };
    const char *fills[] = { "NNNNNNNNNNNNNNNNNNNACGT", "ACGGTCAT" };
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, write_fasta("resume.fa", 2, names, lens, fills)), 0);
    ds_windows a, b;
    CHECK_EQ_INT(ds_windows_init(&a, ref, NULL, NULL, DS_SPLIT_NONE, 40, 30, 11), 0);
    CHECK_EQ_INT(ds_windows_init(&b, ref, NULL, NULL, DS_SPLIT_NONE, 40, 30, 11), 0);
    char s[40], t[40];
    int c1, c2;
    int64_t b1, b2;
    for (int i = 0; i < 25; i++) CHECK_EQ_INT(ds_windows_next(&a, s, NULL, NULL), 0);
    uint64_t saved = ds_windows_state(&a);
    CHECK_EQ_INT(saved, 25);   /* windows, not draws: rejections stay inside a window's stream */
    ds_windows_set_state(&b, saved);
    for (int i = 0; i < 25; i++) {
        CHECK_EQ_INT(ds_windows_next(&a, s, &c1, &b1), 0);
        CHECK_EQ_INT(ds_windows_next(&b, t, &c2, &b2), 0);
        CHECK(c1 == c2 && b1 == b2 && !memcmp(s, t, 40));
    }
    CHECK_EQ_INT(ds_windows_state(&a), ds_windows_state(&b));
    ds_windows_free(&a); ds_windows_free(&b);
    ds_ref_close(ref);
}

/* Data parallelism takes window k of the stream by setting the counter to k:
 * that must be the k-th window of a sequential draw, rejections and all. */
TEST(test_windows_window_k_is_the_same_drawn_in_order_or_directly)
{
    const char *names[] = { "nrich", "clean" };
    const int lens[] = { 3000, 2000 };
    const char *fills[] = { "NNNNNNNNNNNNNNNNNNNACGT", "ACGGTCAT" };
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, write_fasta("direct.fa", 2, names, lens, fills)), 0);
    ds_windows a, b;
    CHECK_EQ_INT(ds_windows_init(&a, ref, NULL, NULL, DS_SPLIT_NONE, 40, 30, 3), 0);
    CHECK_EQ_INT(ds_windows_init(&b, ref, NULL, NULL, DS_SPLIT_NONE, 40, 30, 3), 0);
    char s[64][40], t[40];
    int c[64];
    int64_t beg[64];
    for (int k = 0; k < 64; k++) CHECK_EQ_INT(ds_windows_next(&a, s[k], &c[k], &beg[k]), 0);
    int order[8] = { 63, 0, 17, 5, 40, 41, 2, 33 };
    for (int i = 0; i < 8; i++) {
        int ci;
        int64_t bi;
        ds_windows_set_state(&b, (uint64_t)order[i]);
        CHECK_EQ_INT(ds_windows_next(&b, t, &ci, &bi), 0);
        CHECK(ci == c[order[i]] && bi == beg[order[i]] && !memcmp(t, s[order[i]], 40));
        CHECK_EQ_INT(ds_windows_state(&b), order[i] + 1);
    }
    ds_windows_free(&a); ds_windows_free(&b);
    ds_ref_close(ref);
}

/* A contig's share of the windows is its length less its N runs. */
TEST(test_windows_weight_contigs_by_length_without_their_n_runs)
{
    const char *names[] = { "halfN", "clean" };
    const int lens[] = { 4000, 2000 };
    char fill[4001];
    for (int i = 0; i < 4000; i++) fill[i] = i < 2000 ? 'N' : "ACGT"[i % 4];
    fill[4000] = 0;
    const char *fills[] = { fill, "GGCAT" };
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, write_fasta("halfn.fa", 2, names, lens, fills)), 0);
    ds_windows w;
    CHECK_EQ_INT(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_NONE, 100, 0, 9), 0);
    int counts[2] = { 0 }, draws = 6000;
    char s[100];
    for (int i = 0; i < draws; i++) {
        int ci;
        int64_t b;
        CHECK_EQ_INT(ds_windows_next(&w, s, &ci, &b), 0);
        CHECK(ci == 1 || b >= 2000);   /* no window touches the N run */
        counts[ci]++;
    }
    /* N-free starts: 2000 - 99 + 1 on each contig: half each, not 2/3 */
    CHECK_NEAR((double)counts[0] / draws, 0.5, 0.02);
    ds_windows_free(&w);
    ds_ref_close(ref);
}

TEST(test_windows_with_more_than_max_n_are_skipped)
{
    const char *names[] = { "chrN" };
    const int lens[] = { 2000 };
    char fill[2001];
    for (int i = 0; i < 2000; i++) fill[i] = i < 1000 ? (i % 2 ? 'n' : 'N') : "ACGT"[i % 4];
    fill[2000] = 0;
    const char *fills[] = { fill };
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, write_fasta("n.fa", 1, names, lens, fills)), 0);
    ds_windows w;
    CHECK_EQ_INT(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_NONE, 100, 5, 3), 0);
    char s[100];
    int64_t beg;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ_INT(ds_windows_next(&w, s, NULL, &beg), 0);
        int n = 0;
        for (int j = 0; j < 100; j++) n += s[j] == 'N' || s[j] == 'n';
        CHECK_MSG(beg >= 995 && n <= 5, "window at %lld holds %d N", (long long)beg, n);
    }
    ds_windows_free(&w);
    /* nothing but N: a clear error instead of an endless loop */
    char big[1001];   /* every start in [0, 1000) holds an N */
    CHECK_EQ_INT(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_NONE, 1001, 0, 3), 0);
    CHECK(ds_windows_next(&w, big, NULL, &beg) == DS_EINVAL && strstr(ds_errmsg(), "more than 0 N"));
    ds_windows_free(&w);
    ds_ref_close(ref);
}

TEST(test_windows_sample_contigs_in_proportion_to_usable_length)
{
    const char *names[] = { "short", "long", "tiny" };
    const int lens[] = { 1100, 3100, 50 };
    const char *fills[] = { "ACGT", "GGCA", "T" };
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, write_fasta("two.fa", 3, names, lens, fills)), 0);
    ds_windows w;
    CHECK_EQ_INT(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_NONE, 101, 0, 5), 0);
    CHECK_EQ_INT(w.n, 2);   /* "tiny" cannot hold one window */
    int counts[3] = { 0 }, draws = 8000;
    char s[101];
    for (int i = 0; i < draws; i++) {
        int c;
        int64_t b;
        CHECK_EQ_INT(ds_windows_next(&w, s, &c, &b), 0);
        CHECK(b >= 0 && b + 101 <= lens[c]);
        counts[c]++;
    }
    /* starts: 1000 on "short", 3000 on "long" → 1/4 of the draws */
    CHECK_NEAR((double)counts[0] / draws, 0.25, 0.02);
    CHECK_EQ_INT(counts[2], 0);
    ds_windows_free(&w);
    ds_ref_close(ref);
}

TEST(test_windows_held_out_tiles_never_overlap_training_windows)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_windows train, valid;
    CHECK_EQ_INT(ds_windows_init(&train, ref, NULL, NULL, DS_SPLIT_TRAIN, 256, 0, 1), 0);
    CHECK_EQ_INT(ds_windows_init(&valid, ref, NULL, NULL, DS_SPLIT_VALID, 256, 0, 1), 0);
    char s[256];
    int64_t b, max_end = 0;
    for (int i = 0; i < 3000; i++) {
        CHECK_EQ_INT(ds_windows_next(&train, s, NULL, &b), 0);
        if (b + 256 > max_end) max_end = b + 256;
    }
    CHECK(max_end <= LAMBDA_LEN - HELD && max_end > LAMBDA_LEN - HELD - 100);
    CHECK_EQ_INT(ds_windows_ntiles(&valid), HELD / 256);
    int64_t prev_end = LAMBDA_LEN - HELD;
    for (int64_t k = 0; k < ds_windows_ntiles(&valid); k++) {
        int c, skip = 1;
        CHECK_EQ_INT(ds_windows_tile_pos(&valid, k, &c, &b), 0);
        CHECK(c == 0 && b == prev_end);   /* back to back from the held-out start */
        prev_end = b + 256;
        char want[256];
        CHECK_EQ_INT(ds_windows_tile(&valid, k, s, &skip), 0);
        CHECK_EQ_INT(ds_ref_fetch(ref, "NC_001416.1", b, b + 256, want), 0);
        CHECK(!skip && !memcmp(s, want, 256));
    }
    CHECK(prev_end <= LAMBDA_LEN);
    CHECK(ds_windows_tile(&valid, ds_windows_ntiles(&valid), s, NULL) == DS_EINVAL);
    /* the test split is the same tail; NONE is the whole contig */
    ds_windows test, all;
    CHECK_EQ_INT(ds_windows_init(&test, ref, NULL, NULL, DS_SPLIT_TEST, 256, 0, 1), 0);
    CHECK_EQ_INT(ds_windows_init(&all, ref, NULL, NULL, DS_SPLIT_NONE, 256, 0, 1), 0);
    CHECK(test.n == 1 && test.iv[0].beg == LAMBDA_LEN - HELD && all.iv[0].beg == 0 && all.iv[0].end == LAMBDA_LEN);
    ds_windows_free(&test); ds_windows_free(&all);
    ds_windows_free(&train); ds_windows_free(&valid);
    ds_ref_close(ref);
}

TEST(test_windows_from_a_basenji_bed_keep_to_their_split)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/lambda_splits.bed", &rs), 0);
    ds_windows w;
    CHECK_EQ_INT(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_TRAIN, 500, 0, 2), 0);
    char s[500];
    int64_t b;
    for (int i = 0; i < 500; i++) {
        CHECK_EQ_INT(ds_windows_next(&w, s, NULL, &b), 0);
        CHECK(b >= 0 && b + 500 <= 40000);
    }
    ds_windows_free(&w);
    CHECK_EQ_INT(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_TEST, 500, 0, 1), 0);
    CHECK(w.n == 1 && w.iv[0].beg == 44000 && w.iv[0].end == 48502 && ds_windows_ntiles(&w) == 9);
    ds_windows_free(&w);
    CHECK_EQ_INT(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_NONE, 500, 0, 1), 0);
    CHECK_EQ_INT(w.n, 3);
    ds_windows_free(&w);
    ds_regions_free(&rs);
    ds_ref_close(ref);
}

TEST(test_windows_bad_contigs_and_bed_rows_give_clear_errors)
{
    ds_ref *ref;
    CHECK_EQ_INT(ds_ref_open(&ref, LAMBDA_BGZ), 0);
    ds_windows w;
    ds_regions rs = {0};
    CHECK_EQ_INT(ds_bed_read("testdata/bad/unknown_contig.bed", &rs), 0);
    CHECK(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_NONE, 50, 0, 1) == DS_EINVAL &&
          strstr(ds_errmsg(), "testdata/bad/unknown_contig.bed:1: unknown contig 'chrUnknown'"));
    ds_regions_free(&rs);
    CHECK_EQ_INT(ds_bed_read("testdata/bad/past_end.bed", &rs), 0);
    CHECK(ds_windows_init(&w, ref, &rs, NULL, DS_SPLIT_NONE, 50, 0, 1) == DS_EINVAL &&
          strstr(ds_errmsg(), "past_end.bed:2: end (48503) is past the contig's end"));
    ds_regions_free(&rs);
    CHECK(ds_windows_init(&w, ref, NULL, "chrNC_001416.1", DS_SPLIT_TRAIN, 50, 0, 1) == DS_EINVAL &&
          strstr(ds_errmsg(), "unknown contig 'chrNC_001416.1'") && strstr(ds_errmsg(), "has 'NC_001416.1'"));
    CHECK(ds_windows_init(&w, ref, NULL, "NC_001416.1", DS_SPLIT_TRAIN, 60000, 0, 1) == DS_EINVAL &&
          strstr(ds_errmsg(), "no train interval of at least 60000 bases"));
    CHECK(ds_windows_init(&w, ref, NULL, NULL, DS_SPLIT_TRAIN, 0, 0, 1) == DS_EINVAL);
    ds_ref_close(ref);
}
