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
    /* a label outside a checkpoint's classes */
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
        CHECK(!strcmp(s.r[3].id, "x/d") && s.r[4].label == 1);
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
    const char *head = "dataset\tn\taccuracy\tmajority_baseline\tmcc\tmacro_f1\tauroc\tauprc\tstatus\nlambda\t40\t";
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

/* A tree dataset <name>/train/<class>/<file> from (class, file, text)
 * triples; text NULL makes an empty class folder. */
typedef struct { const char *cls, *file, *text; size_t len; } tree_file;

static const char *tree_with(const char *name, const tree_file *f, int n)
{
    char d[700], p[1200];
    snprintf(d, sizeof d, "%s", make_dir(name));
    snprintf(p, sizeof p, "%s/train", d);
    mkdir(p, 0755);
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/train/%s", d, f[i].cls);
        mkdir(p, 0755);
        if (!f[i].text) continue;
        snprintf(p, sizeof p, "%s/train/%s/%s", d, f[i].cls, f[i].file);
        FILE *fp = fopen(p, "wb");
        if (fp) { fwrite(f[i].text, 1, f[i].len ? f[i].len : strlen(f[i].text), fp); fclose(fp); }
    }
    return tmp_path(name);
}

TEST(test_gb_sequence_with_binary_bytes_is_refused_naming_the_file_and_line)
{
    ds_gb_split s;
    tree_file nul[] = { { "a", "1.txt", "ACGT", 0 }, { "b", "2.txt", "AC\0GT", 5 } };
    const char *dir = tree_with("bin_nul", nul, 2);
    CHECK(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "train/b/2.txt: byte 0x00 at offset 2 of the sequence is not text"), "%s", ds_errmsg());
    tree_file high[] = { { "a", "1.txt", "ACGT", 0 }, { "b", "2.txt", "ACG\xe9T", 0 } };
    dir = tree_with("bin_high", high, 2);
    CHECK(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT && strstr(ds_errmsg(), "byte 0xe9 at offset 3"));
    char d[700];
    snprintf(d, sizeof d, "%s", make_dir("bin_table"));
    write(d, "train.csv", "sequence,label\nACGT,a\nAC\x01GT,b\n");
    CHECK(ds_gb_read(&s, d, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "train.csv:3: byte 0x01 at offset 2"), "%s", ds_errmsg());
    /* the file is named in the command's one-line error too */
    CHECK_ERROR(run("finetune --model hyenadna-demo --task gb --epochs 1 --quiet '%s' -o '%s'", d, tmp_path("ft_bin")), 1,
                " finetune", "train.csv:3: byte 0x01");
}

TEST(test_gb_training_needs_two_classes_with_sequences)
{
    ds_gb_split s;
    tree_file one[] = { { "a", "1.txt", "ACGT", 0 }, { "a", "2.txt", "GGCC", 0 } };
    const char *dir = tree_with("one_class", one, 2);
    CHECK(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "sequences of one class only ('a', no other class)"), "%s", ds_errmsg());
    CHECK_ERROR(run("finetune --model hyenadna-demo --task gb --epochs 1 --quiet '%s' -o '%s'", dir, tmp_path("ft_one")), 1,
                " finetune", "a classifier needs at least two classes with sequences");
    /* a class folder without files, which the official loader accepts, leaves one class with sequences */
    tree_file empty[] = { { "a", "1.txt", "ACGT", 0 }, { "b", NULL, NULL, 0 } };
    dir = tree_with("empty_class", empty, 2);
    CHECK(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "one class only ('a'; no sequences in 'b')"), "%s", ds_errmsg());
    char d[700];
    snprintf(d, sizeof d, "%s", make_dir("one_label"));
    write(d, "train.csv", "sequence,label\nACGT,x\nGGCC,x\n");
    CHECK(ds_gb_read(&s, d, "train", DS_GB_AUTO, NULL, NULL, 0) == DS_EFORMAT && strstr(ds_errmsg(), "one class only ('x'"));
}

TEST(test_gb_class_without_sequences_is_kept_for_eval_with_a_warning)
{
    ds_gb_split s;
    tree_file empty[] = { { "a", "1.txt", "ACGT", 0 }, { "b", NULL, NULL, 0 } };
    const char *dir = tree_with("eval_empty_class", empty, 2);
    char *classes[2] = { "a", "b" };
    CHECK_MSG(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, classes, 2) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(s.n, 1);
    CHECK_MSG(s.warn && strstr(s.warn, "train split: no sequences in class 'b'"), "%s", s.warn ? s.warn : "no warning");
    ds_gb_free(&s);
}

TEST(test_gb_empty_sequences_are_kept_with_a_warning_naming_the_first)
{
    ds_gb_split s;
    tree_file f[] = { { "a", "1.txt", "ACGT", 0 }, { "a", "2.txt", "", 0 }, { "b", "3.txt", "\n", 0 }, { "b", "4.txt", "GG", 0 } };
    const char *dir = tree_with("empty_seq", f, 4);
    CHECK_MSG(ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(s.n_empty, 2);
    CHECK_MSG(s.warn && strstr(s.warn, "2 empty sequences (first: ") && strstr(s.warn, "train/a/2.txt)"),
              "%s", s.warn ? s.warn : "no warning");
    ds_gb_free(&s);
    char d[700];
    snprintf(d, sizeof d, "%s", make_dir("empty_row"));
    write(d, "train.csv", "sequence,label\nACGT,x\n,y\nGG,y\n");
    CHECK_MSG(ds_gb_read(&s, d, "train", DS_GB_AUTO, NULL, NULL, 0) == 0, "%s", ds_errmsg());
    CHECK_MSG(s.warn && strstr(s.warn, "1 empty sequence (first: ") && strstr(s.warn, "train.csv:3)"),
              "%s", s.warn ? s.warn : "no warning");
    ds_gb_free(&s);
    /* finetune says so on stderr, once, and goes on */
    CHECK_EQ_INT(run("finetune --model hyenadna-demo --task gb --epochs 1 --batch-size 4 --val-fraction 0.3 -t 2 --quiet "
                     "'%s' -o '%s'", d, tmp_path("ft_empty")), 0);
    CHECK_MSG(nlines(g_err) == 1 && strstr(g_err, "derfseq finetune: warning: ") && strstr(g_err, "train.csv:3"), "'%s'", g_err);
}

TEST(test_gb_table_line_beyond_the_limit_is_refused_without_reading_it_whole)
{
    const char *dir = make_dir("gb_endless_line");
    char cmd[2000];
    /* 17 MiB without a newline: a newline-free or endless input must not fill memory */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { echo sequence,label; head -c 17825792 /dev/zero | tr '\\0' A; } > train.csv", dir);
    CHECK_EQ_INT(system(cmd), 0);
    ds_gb_split s;
    int e = ds_gb_read(&s, dir, "train", DS_GB_AUTO, NULL, NULL, 0);
    CHECK_MSG(e == DS_EFORMAT && strstr(ds_errmsg(), "train.csv:2: a line longer than 16 MiB"), "got %d '%s'", e,
              ds_errmsg());
    if (!e) ds_gb_free(&s);
    snprintf(cmd, sizeof cmd, "rm -f '%s/train.csv'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}
