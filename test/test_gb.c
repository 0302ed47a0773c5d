/* GenomicBenchmarks: the three layouts read the same sequences, bad rows fail
 * with file:line, the chr and transcript-version rules resolve region names,
 * and a fine-tune learns the bundled lambda task above chance with identical
 * metrics whichever layout eval reads. */
#include "test.h"
#include "cli.h"
#include "core/error.h"
#include "io/gb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GB "testdata/gb_lambda"
#define LAMBDA "testdata/lambda_virus.fa.gz"

static int cmp_rec(const void *a, const void *b)
{
    const ds_gb_record *x = a, *y = b;
    return x->label != y->label ? x->label - y->label : strcmp(x->seq, y->seq);
}

TEST(test_gb_three_layouts_read_the_same_sequences)
{
    ds_gb_split s[3];
    const char *dirs[3] = { GB "/tree", GB "/coords", GB "/table" };
    const int want_layout[3] = { DS_GB_TREE, DS_GB_COORDS, DS_GB_TABLE };
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(ds_gb_read(&s[i], dirs[i], "train", DS_GB_AUTO, LAMBDA, NULL, 0) == 0, "%s", ds_errmsg());
        CHECK_EQ_INT(s[i].layout, want_layout[i]);
        CHECK_EQ_INT(s[i].n, 120);
        CHECK(s[i].nclass == 2 && !strcmp(s[i].classes[0], "left_arm") && !strcmp(s[i].classes[1], "right_arm"));
        qsort(s[i].r, (size_t)s[i].n, sizeof *s[i].r, cmp_rec);
    }
    for (int i = 1; i < 3; i++)
        for (long k = 0; k < 120 && k < s[i].n; k++)
            CHECK_MSG(s[i].r[k].label == s[0].r[k].label && !strcmp(s[i].r[k].seq, s[0].r[k].seq),
                      "%s record %ld differs from the tree layout", dirs[i], k);
    for (int i = 0; i < 3; i++) ds_gb_free(&s[i]);
}

static const char *make_dir(const char *name)
{
    const char *p = tmp_path(name);
    mkdir(p, 0755);
    return p;
}

static void write(const char *dir, const char *file, const char *text)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *fp = fopen(p, "w");
    fputs(text, fp);
    fclose(fp);
}

/* A coords dataset with one class file holding `row` after a good one. */
static const char *coords_with(const char *name, const char *row)
{
    char d[700], t[800];
    snprintf(d, sizeof d, "%s", make_dir(name));
    snprintf(t, sizeof t, "%s/train", d);
    mkdir(t, 0755);
    char text[600];
    snprintf(text, sizeof text, "id,region,start,end,strand\na,NC_001416.1,0,10,+\n%s\n", row);
    write(t, "pos.csv", text);
    write(t, "neg.csv", "id,region,start,end,strand\nb,NC_001416.1,20,30,-\n");
    return tmp_path(name);
}

TEST(test_gb_bad_rows_name_file_and_line)
{
    struct { const char *row, *msg; } bad[] = {
        { "x,NC_001416.1,5,9", "pos.csv:3: expected 5 columns" },
        { "x,NC_001416.1,50,9,+", "pos.csv:3: start (50) > end (9)" },
        { "x,chrQ,5,9,+", "pos.csv:3: region 'chrQ' is not in the reference" },
        { "x,NC_001416.1,a,9,+", "pos.csv:3: start 'a'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu", i);
        const char *dir = coords_with(name, bad[i].row);
        ds_gb_split s;
        CHECK_MSG(ds_gb_read(&s, dir, "train", DS_GB_AUTO, LAMBDA, NULL, 0) == DS_EFORMAT && strstr(ds_errmsg(), bad[i].msg),
                  "row '%s': got '%s'", bad[i].row, ds_errmsg());
    }
    ds_gb_split s;
    const char *dir = coords_with("noref", "x,NC_001416.1,5,9,+");
    CHECK(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) < 0 && strstr(ds_errmsg(), "--ref"));
    /* an empty class folder, and a label outside a checkpoint's classes */
    char d[700], t[800], c[900];
    snprintf(d, sizeof d, "%s", make_dir("tree_empty"));
    snprintf(t, sizeof t, "%s/train", d);
    mkdir(t, 0755);
    snprintf(c, sizeof c, "%s/a", t);
    mkdir(c, 0755);
    write(c, "1.txt", "ACGT");
    snprintf(c, sizeof c, "%s/b", t);
    mkdir(c, 0755);
    CHECK(ds_gb_read(&s, d, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT && strstr(ds_errmsg(), "empty class folder"));
    char *classes[2] = { "left_arm", "other" };
    CHECK(ds_gb_read(&s, GB "/table", "test", DS_GB_AUTO, NULL, classes, 2) == DS_EFORMAT &&
          strstr(ds_errmsg(), "test.csv:") && strstr(ds_errmsg(), "label 'right_arm' is not one of the model's classes"));
    CHECK(ds_gb_read(&s, tmp_path("nothing"), "train", DS_GB_AUTO, NULL, NULL, 0) < 0 &&
          strstr(ds_errmsg(), "not a GenomicBenchmarks dataset"));
}

/* A crash fuzz_gb reproduces: the row's sequence was allocated before its end was
 * checked against the contig, so a huge end asked malloc for exabytes. */
TEST(test_gb_coords_end_far_past_the_contig_is_refused_naming_the_row)
{
    const char *dir = coords_with("far_end", "x,NC_001416.1,0,4611686018427387904,+");
    ds_gb_split s;
    CHECK_MSG(ds_gb_read(&s, dir, "train", DS_GB_AUTO, LAMBDA, NULL, 0) == DS_EFORMAT &&
              strstr(ds_errmsg(), "pos.csv:3: end (4611686018427387904) is past the end of 'NC_001416.1' (48502 bp"),
              "got '%s'", ds_errmsg());
}

TEST(test_gb_region_names_follow_chr_and_transcript_version_rules)
{
    char d[700], t[800];
    snprintf(d, sizeof d, "%s", make_dir("names"));
    write(d, "ref.fa", ">1\nACGTACGTaaaa\n>ENST00000371014.5\nGGGGCCCCAAAA\n>MT\nTTTTTTTTTTTT\n");
    snprintf(t, sizeof t, "%s/train", d);
    mkdir(t, 0755);
    write(t, "x.csv", "id,region,start,end,strand\na,chr1,0,4,+\nb,ENST00000371014,0,4,\nc,chrMT,0,2,-\nd,1,8,12,-\n");
    write(t, "y.csv", "id,region,start,end,strand\ne,chr1,4,8,+\n");
    write(t, "z.csv", "id,region,start,end,strand\n");   /* a class with no rows in this subset is fine */
    char ref[900];
    snprintf(ref, sizeof ref, "%s/ref.fa", d);
    ds_gb_split s;
    CHECK_MSG(ds_gb_read(&s, d, "train", DS_GB_COORDS, ref, NULL, 0) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.nclass, 3);
    if (s.n == 5) {
        CHECK(!strcmp(s.r[0].seq, "ACGT"));
        CHECK(!strcmp(s.r[1].seq, "GGGG"));      /* version-less id, empty strand = forward */
        CHECK(!strcmp(s.r[2].seq, "AA"));        /* chrMT → MT, '-' reverse-complemented */
        CHECK(!strcmp(s.r[3].seq, "TTTT"));      /* soft-masked aaaa, upper-cased as GB's unmasked reference, on '-' */
        CHECK(!strcmp(s.r[3].id, "x:d") && s.r[4].label == 1);
    }
    ds_gb_free(&s);
}

TEST(test_finetune_learns_the_lambda_task_and_eval_agrees_across_layouts)
{
    const char *run_dir = tmp_path("ft");
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --norm layernorm --task gb --lr 3e-3 --epochs 30 --batch-size 16 "
                     "--patience 30 --val-fraction 0.2 -t 2 --quiet " GB "/tree -o '%s'", run_dir), 0);
    CHECK_MSG(g_err[0] == 0, "%s", g_err);
    static char val[1 << 14];
    char vpath[700];
    snprintf(vpath, sizeof vpath, "%s/validation.tsv", run_dir);
    slurp(vpath, val, sizeof val);
    CHECK_MSG(!strncmp(val, "id\tclass\n", 9) && nlines(val) == 25, "validation.tsv: %d lines", nlines(val));   /* 20% of 120 */
    char best[700], pred[700];
    snprintf(best, sizeof best, "%s/best.safetensors", run_dir);
    snprintf(pred, sizeof pred, "%s/pred.tsv", run_dir);
    static char first[1 << 16];
    const char *layouts[3] = { "tree", "coords", "table" };
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(run("eval --from '%s' --ref " LAMBDA " --json - --predictions '%s' --quiet " GB "/%s", best, pred,
                         layouts[i]), 0);
        char *acc = strstr(g_out, "\"accuracy\":");
        double a = acc ? strtod(acc + 11, NULL) : 0;
        CHECK_MSG(a >= 0.7, "%s: test accuracy %.3f, not above chance", layouts[i], a);
        char *metrics = strstr(g_out, "\"n\":");   /* everything but the data path */
        if (i == 0 && metrics) snprintf(first, sizeof first, "%s", metrics);
        else CHECK_MSG(metrics && !strcmp(metrics, first), "%s layout gives other metrics", layouts[i]);
    }
    static char tsv[1 << 16];
    slurp(pred, tsv, sizeof tsv);
    CHECK(!strncmp(tsv, "id\ttrue\tpredicted\tp_left_arm\tp_right_arm\n", 40));
    CHECK_EQ_INT(nlines(tsv), 41);
    CHECK_ERROR(run("eval --from '%s' --quiet testdata/gb_lambda/coords", best), 1, " eval", "--ref");
    /* suite mode: RUNS/<name>/best.safetensors against DATA/<name>/, one row per dataset */
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/runs/lambda' '%s/data' && cp '%s' '%s/runs/lambda/' && "
                              "ln -s \"$PWD/" GB "/tree\" '%s/data/lambda'", run_dir, run_dir, best, run_dir, run_dir);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(run("eval --from '%s/runs' --quiet '%s/data'", run_dir, run_dir), 0);
    const char *head = "dataset\tn\taccuracy\tmcc\tmacro_f1\nlambda\t40\t";
    CHECK_MSG(!strncmp(g_out, head, strlen(head)) && nlines(g_out) == 2,
              "suite table: '%s'", g_out);
}

TEST(test_finetune_resume_is_bitwise_identical_to_an_uninterrupted_run)
{
    char a[600], b[600], fa[700], fb[700];
    snprintf(a, sizeof a, "%s", tmp_path("ft_whole"));
    snprintf(b, sizeof b, "%s", tmp_path("ft_split"));
    const char *opts = "--model hyenadna-demo --norm derf --task gb --lr 3e-3 --epochs 4 --batch-size 16 -t 2 --quiet";
    CHECK_EQ_INT(run("finetune %s " GB "/table -o '%s'", opts, a), 0);
    CHECK_EQ_INT(run("finetune %s " GB "/table -o '%s' --stop-at 2", opts, b), 0);
    CHECK_EQ_INT(run("finetune --resume '%s' --quiet -t 2", b), 0);
    snprintf(fa, sizeof fa, "%s/last.safetensors", a);
    snprintf(fb, sizeof fb, "%s/last.safetensors", b);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", fa, fb);
    CHECK_MSG(system(cmd) == 0, "resumed fine-tune differs from the uninterrupted one");
    CHECK_ERROR(run("finetune %s " GB "/table -o '%s'", opts, a), 1, " finetune", "--resume");
    CHECK_ERROR(run("finetune --resume '%s' " GB "/table", a), 2, " finetune", "--resume");
}
