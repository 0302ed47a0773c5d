/* libFuzzer harness: region strings and BED files (lib/io/regions.c). The
 * first line of the input is a region string ("chr:beg-end"), the rest a
 * BED file; every region that parses is resolved against a small reference
 * (the lambda genome of testdata/ plus short "chr1" and "MT" contigs, for
 * the chr-prefix hints) and fetched. */
#include "fuzz.h"
#include "io/regions.h"

static ds_ref *g_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *lambda = fuzz_copy_testdata("lambda_virus.fa", "ref.fa");
    FILE *fp = fopen(lambda, "ab");
    if (!fp) fuzz_die("appending", lambda);
    fputs(">chr1 short\nACGTACGTNNacgt\nACGTAC\n>MT\nGATTACA\n", fp);
    fclose(fp);
    if (ds_ref_open(&g_ref, lambda)) {
        fprintf(stderr, "fuzz_regions: %s\n", ds_errmsg());
        exit(2);
    }
    return 0;
}

/* Resolves and fetches one region; errors are fine, crashes and lies are not. */
static void resolve_fetch(ds_region *g, const char *src)
{
    int e = ds_region_resolve(g_ref, g, src);
    FUZZ_ASSERT_MESSAGE(e);
    if (e) return;
    FUZZ_ASSERT(g->beg >= 0 && g->end >= g->beg);
    char *buf = malloc((size_t)(g->end - g->beg) + 1);
    FUZZ_ASSERT(buf);
    FUZZ_ASSERT(ds_region_fetch(g_ref, g, src, buf) == 0);   /* resolved: it is in the reference */
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[2];
    size_t len[2];
    int np = fuzz_split(data, size, "\n", part, len, 2);
    char *s = strndup((const char *)part[0], len[0]);   /* stops at a NUL, as a C string argument would */
    FUZZ_ASSERT(s);
    ds_region g;
    int e = ds_region_parse(s, &g);
    FUZZ_ASSERT_MESSAGE(e);
    if (!e) {
        FUZZ_ASSERT(g.chrom && g.chrom[0] && g.beg >= 0 && (g.end == -1 || g.end > g.beg));
        resolve_fetch(&g, NULL);
        ds_region_free(&g);
    }
    if (!ds_region_parse_whole(s, &g)) {
        resolve_fetch(&g, NULL);
        ds_region_free(&g);
    }
    free(s);
    if (np < 2) return 0;
    const char *bed = fuzz_write("in.bed", part[1], len[1]);
    ds_regions rs = { 0 };
    e = ds_bed_read(bed, &rs);
    FUZZ_ASSERT_MESSAGE(e);
    if (!e) {
        for (int i = 0; i < rs.n; i++) {
            ds_region *r = &rs.r[i];
            FUZZ_ASSERT(r->chrom && r->chrom[0] && r->beg >= 0 && r->end >= r->beg && r->line > 0);
            FUZZ_ASSERT(r->strand == '+' || r->strand == '-' || r->strand == '.');
            FUZZ_ASSERT(!rs.basenji || r->split != DS_SPLIT_NONE);
            if (i < 64) resolve_fetch(r, rs.path);
        }
    }
    ds_regions_free(&rs);
    return 0;
}
