/* libFuzzer harness: the GenomicBenchmarks readers (lib/io/gb.c). The first
 * byte picks the case, the rest is the data:
 *   bits 0-1  0 table CSV, 1 table TSV, 2 coords, 3 tree
 *   bit 2     classes fixed to {left_arm, right_arm} (as a checkpoint fixes them)
 *   bit 3     layout detected (DS_GB_AUTO) instead of given
 * Coords: the data is up to three <class>.csv files separated by
 * "\n##class\n" (classes left_arm, right_arm, third), against the lambda
 * genome of testdata/. Tree: up to four sequence files separated by
 * "\n##file\n", alternately in the left_arm and right_arm folders. */
#include "fuzz.h"
#include "io/gb.h"

static const char *g_classes[3] = { "left_arm", "right_arm", "third" };
static char g_ref[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    snprintf(g_ref, sizeof g_ref, "%s", fuzz_copy_testdata("lambda_virus.fa", "ref.fa"));
    fuzz_copy_testdata("lambda_virus.fa.fai", "ref.fa.fai");
    return 0;
}

/* coords: gb/train/<class>.csv per part; tree: gb/train/<class>/<i>.txt */
static void write_parts(const uint8_t *data, size_t size, int tree)
{
    const uint8_t *part[4];
    size_t len[4];
    int np = fuzz_split(data, size, tree ? "\n##file\n" : "\n##class\n", part, len, tree ? 4 : 3);
    for (int i = 0; i < np; i++) {
        char name[128];
        if (tree) snprintf(name, sizeof name, "gb/train/%s/%d.txt", g_classes[i % 2], i);
        else snprintf(name, sizeof name, "gb/train/%s.csv", g_classes[i]);
        fuzz_write(name, part[i], len[i]);
    }
}

static void check_split(const ds_gb_split *s)
{
    FUZZ_ASSERT(s->n > 0 && s->nclass > 0);
    for (int i = 1; i < s->nclass; i++) FUZZ_ASSERT(strcmp(s->classes[i - 1], s->classes[i]) < 0);
    for (long i = 0; i < s->n; i++) {
        FUZZ_ASSERT(s->r[i].id && s->r[i].seq);
        FUZZ_ASSERT(s->r[i].label >= 0 && s->r[i].label < s->nclass);
        FUZZ_ASSERT((int64_t)strlen(s->r[i].seq) <= s->r[i].len);   /* a NUL byte may end the C string early */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    int mode = data[0] & 3, fixed = data[0] & 4, detect = data[0] & 8;
    data++, size--;
    fuzz_remove("gb");
    fuzz_mkdir("gb");
    int layout = DS_GB_TABLE;
    if (mode == 0) fuzz_write("gb/train.csv", data, size);
    if (mode == 1) fuzz_write("gb/train.tsv", data, size);
    if (mode == 2) {
        layout = DS_GB_COORDS;
        fuzz_mkdir("gb/train");
        write_parts(data, size, 0);
    }
    if (mode == 3) {
        layout = DS_GB_TREE;
        fuzz_mkdir("gb/train");
        fuzz_mkdir("gb/train/left_arm");
        fuzz_mkdir("gb/train/right_arm");
        write_parts(data, size, 1);
    }
    char dir[600];
    fuzz_path(dir, sizeof dir, "gb");
    ds_gb_split s;
    int e = ds_gb_read(&s, dir, "train", detect ? DS_GB_AUTO : layout, mode == 2 ? g_ref : NULL,
                       fixed ? (char *const *)g_classes : NULL, fixed ? 2 : 0);
    FUZZ_ASSERT_MESSAGE(e);
    if (!e) {
        check_split(&s);
        ds_gb_free(&s);
    }
    return 0;
}
