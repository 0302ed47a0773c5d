/* derfseq compare: the paper's norm comparison as one command (issue 9;
 * norms.md, genomic_benchmarks.md): per norm and seed, pretrain a trunk on
 * the same genome and schedule, score its held-out loss and its training
 * loss in evaluation mode, fine-tune it on each GenomicBenchmarks dataset
 * and score the test split; then mean ± sd, 95 % CIs and paired
 * differences against LayerNorm. Every piece is an ordinary derfseq run
 * directory under OUT, so a killed comparison continues where it stopped. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/error.h"
#include "core/threads.h"
#include "io/outfile.h"

#define MAX_NORMS 4
#define MAX_SEEDS 32
#define MAX_DATA 16
#define MAX_ARGS 96

enum { OPT_NORMS = 1500, OPT_SEEDS, OPT_STEPS_P, OPT_EPOCHS_F, OPT_PARGS, OPT_FARGS, OPT_EVAL_W, OPT_MAX_JOBS, OPT_GENOME };

typedef struct {
    ds_common_opts co;
    const char *model, *genome, *ref, *out, *pargs, *fargs;
    char norms[MAX_NORMS][16];
    int nnorm;
    long seeds[MAX_SEEDS];
    int nseed;
    long steps, epochs, eval_windows, max_jobs;
    char **data;
    int ndata;
} compare_opts;

/* snprintf whose truncation of an over-long path is checked where it
 * matters (the paths are the user's OUT plus short suffixes). */
static void fmt(char *dst, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *dst, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(dst, cap, f, ap);
    va_end(ap);
}

static const struct option LONGOPTS[] = {
    { "model", required_argument, NULL, OPT_MODEL },
    { "genome", required_argument, NULL, OPT_GENOME },
    { "ref", required_argument, NULL, OPT_REF },
    { "norms", required_argument, NULL, OPT_NORMS },
    { "seeds", required_argument, NULL, OPT_SEEDS },
    { "steps", required_argument, NULL, OPT_STEPS_P },
    { "epochs", required_argument, NULL, OPT_EPOCHS_F },
    { "pretrain-args", required_argument, NULL, OPT_PARGS },
    { "finetune-args", required_argument, NULL, OPT_FARGS },
    { "eval-windows", required_argument, NULL, OPT_EVAL_W },
    { "max-jobs", required_argument, NULL, OPT_MAX_JOBS },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPT_THREADS, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const compare_opts *o)
{
    char b[32];
    fprintf(fp, "Usage: derfseq compare --model PRESET --genome FASTA [options] -o OUT [DATASET...]\n\n"
                "The paper's comparison: for every norm and seed, pretrains a trunk on FASTA,\n"
                "scores its held-out loss and its training loss in evaluation mode, fine-tunes\n"
                "it on each GenomicBenchmarks DATASET and scores the test split. Prints mean +- sd,\n"
                "95%% CI and the paired difference to LayerNorm; writes OUT/summary.tsv,\n"
                "OUT/runs.tsv, OUT/curves.tsv (and OUT/curves.png with gnuplot). Every run is a\n"
                "derfseq run directory under OUT: rerun the same command to continue.\n\n");
    ds_usage_line(fp, "    --model PRESET", "model preset of every trunk", "required");
    ds_usage_line(fp, "    --genome FASTA", "genome to pretrain on (bgzip + .fai or plain)", "required");
    ds_usage_line(fp, "    --norms LIST", "comma-separated norms", "derf,dyt,layernorm,rmsnorm");
    ds_usage_line(fp, "    --seeds LIST", "comma-separated seeds, at least 3 for a CI", "1,2,3");
    fmt(b, sizeof b, "%ld", o->steps);
    ds_usage_line(fp, "    --steps N", "pretraining steps of each trunk", b);
    fmt(b, sizeof b, "%ld", o->epochs);
    ds_usage_line(fp, "    --epochs N", "fine-tuning epochs per dataset", b);
    ds_usage_line(fp, "    --pretrain-args ARGS", "more pretrain options, space-separated", "none");
    ds_usage_line(fp, "    --finetune-args ARGS", "more finetune options, space-separated", "none");
    fmt(b, sizeof b, "%ld", o->eval_windows);
    ds_usage_line(fp, "    --eval-windows N", "windows scored for the held-out and training loss", b);
    ds_usage_line(fp, "    --ref FASTA", "reference of coordinate-layout datasets", "none");
    ds_usage_line(fp, "    --max-jobs N", "run at most N pretrain/finetune jobs, then stop (time slices)", "all");
    ds_usage_line(fp, "-o, --output OUT", "directory of the comparison", "required");
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

/* "a,b,c" into at most max items of cap bytes; the count, or -1. */
static int split_list(const char *s, char (*items)[16], int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0 || len >= 16 || n == max) return -1;
        memcpy(items[n], p, len);
        items[n++][len] = 0;
        p = q ? q + 1 : p + len;
        if (q && !*p) return -1;
    }
    return n;
}

static int parse(compare_opts *o, int argc, char **argv)
{
    int c, r;
    char tmp[MAX_SEEDS][16];
    while ((c = getopt_long(argc, argv, ":t:o:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_MODEL: o->model = optarg; break;
        case OPT_GENOME: o->genome = optarg; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_NORMS:
            o->nnorm = split_list(optarg, o->norms, MAX_NORMS);
            for (int i = 0; i < o->nnorm; i++)
                if (strcmp(o->norms[i], "derf") && strcmp(o->norms[i], "dyt") && strcmp(o->norms[i], "layernorm") &&
                    strcmp(o->norms[i], "rmsnorm"))
                    o->nnorm = -1;
            if (o->nnorm <= 0)
                return ds_usage_error(o->co.cmd, "--norms: expected a comma-separated list of derf, dyt, layernorm, "
                                      "rmsnorm (each once), got '%s'", optarg);
            break;
        case OPT_SEEDS:
            o->nseed = split_list(optarg, tmp, MAX_SEEDS);
            for (int i = 0; i < o->nseed; i++) {
                char *end;
                errno = 0;
                o->seeds[i] = strtol(tmp[i], &end, 10);
                if (errno || *end || o->seeds[i] < 0) o->nseed = -1;
            }
            if (o->nseed <= 0)
                return ds_usage_error(o->co.cmd, "--seeds: expected a comma-separated list of at most %d seeds, got '%s'",
                                      MAX_SEEDS, optarg);
            break;
        case OPT_STEPS_P: if (ds_parse_long(&o->co, "steps", optarg, 1, &o->steps)) return 2; break;
        case OPT_EPOCHS_F: if (ds_parse_long(&o->co, "epochs", optarg, 1, &o->epochs)) return 2; break;
        case OPT_EVAL_W: if (ds_parse_long(&o->co, "eval-windows", optarg, 1, &o->eval_windows)) return 2; break;
        case OPT_MAX_JOBS: if (ds_parse_long(&o->co, "max-jobs", optarg, 1, &o->max_jobs)) return 2; break;
        case OPT_PARGS: o->pargs = optarg; break;
        case OPT_FARGS: o->fargs = optarg; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    if (o->co.help) return 0;
    if (!o->model) return ds_usage_error(o->co.cmd, "missing --model PRESET");
    if (!o->genome) return ds_usage_error(o->co.cmd, "missing --genome FASTA");
    if (!o->out) return ds_usage_error(o->co.cmd, "missing -o OUT");
    if (argc - optind > MAX_DATA) return ds_usage_error(o->co.cmd, "at most %d datasets", MAX_DATA);
    o->data = argv + optind;
    o->ndata = argc - optind;
    return 0;
}

/* ---- sub-jobs: this binary, run as a child ---------------------------- */

typedef struct {
    char *v[MAX_ARGS + 1];
    int n;
    char buf[8192];
    size_t used;
} argv_b;

static void arg(argv_b *a, const char *s)
{
    size_t len = strlen(s) + 1;
    if (a->n >= MAX_ARGS || a->used + len > sizeof a->buf) return;   /* checked by run_job */
    a->v[a->n++] = memcpy(a->buf + a->used, s, len);
    a->used += len;
    a->v[a->n] = NULL;
}

static void argf(argv_b *a, const char *pattern, long v)
{
    char s[32];
    fmt(s, sizeof s, pattern, v);
    arg(a, s);
}

/* The space-separated words of extra, as arguments. */
static void args_split(argv_b *a, const char *extra)
{
    char w[1024];
    for (const char *p = extra ? extra : ""; *p;) {
        while (*p == ' ' || *p == '\t') p++;
        size_t n = strcspn(p, " \t");
        if (!n) break;
        fmt(w, sizeof w, "%.*s", (int)(n < sizeof w ? n : sizeof w - 1), p);
        arg(a, w);
        p += n;
    }
}

/* Runs `derfseq ARGS` with its stdout into out_path (NULL: /dev/null) and
 * its stderr passed through; 0, or an error naming the job. */
static int run_job(const char *what, argv_b *a, const char *out_path)
{
    if (a->n >= MAX_ARGS) return ds_err(DS_EINVAL, "%s: too many arguments", what);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return ds_err_errno(DS_EIO, "cannot start %s", what);
    if (pid == 0) {
        FILE *fp = freopen(out_path ? out_path : "/dev/null", "w", stdout);
        if (!fp) _exit(127);
        a->v[0] = "derfseq";
        /* this very binary, even if a rebuild replaced the file meanwhile */
        execv("/proc/self/exe", a->v);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st)) return ds_err(DS_EIO, "%s was killed by signal %d", what, WTERMSIG(st));
    return ds_err(DS_EIO, "%s failed (exit %d; its message is above)", what, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- the plan --------------------------------------------------------- */

typedef struct {
    compare_opts *o;
    char out[PATH_MAX];
    long jobs;          /* jobs run by this process */
    int stopped;        /* --max-jobs reached */
} compare;

static void path(char *dst, size_t cap, const compare *c, const char *pattern, const char *a, long s)
{
    char tail[600];
    fmt(tail, sizeof tail, pattern, a, s);
    fmt(dst, cap, "%s/%s", c->out, tail);
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static int mkdirs(const char *p)
{
    char tmp[PATH_MAX];
    fmt(tmp, sizeof tmp, "%s", p);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return ds_err_errno(DS_EIO, "%s: cannot create", tmp);
            *s = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST) return ds_err_errno(DS_EIO, "%s: cannot create", tmp);
    return 0;
}

/* A job is done when its marker exists; a killed one resumes from its run
 * directory's state, a new one starts. */
static int want_job(compare *c, const char *done)
{
    if (exists(done)) return 0;
    if (c->o->max_jobs && c->jobs >= c->o->max_jobs) { c->stopped = 1; return 0; }
    return 1;
}

static int mark_done(const char *done) { return ds_write_file_atomic(done, "done\n", 5); }

static void common_args(const compare *c, argv_b *a)
{
    arg(a, "-t");
    argf(a, "%ld", (long)ds_threads_get());
    arg(a, "--quiet");
}

static void progress(const compare *c, const char *pattern, const char *a, long b)
{
    if (c->o->co.quiet) return;
    fprintf(stderr, "[M::compare] ");
    fprintf(stderr, pattern, a, b);
    fputc('\n', stderr);
}

/* "derfseq CMD --resume DIR" when DIR holds a saved state (a killed run),
 * else "derfseq CMD" for the caller to complete; 1 when resuming. */
static int begin_job(const compare *c, argv_b *a, const char *cmd, const char *dir, const char *norm, long seed)
{
    char st[PATH_MAX], what[64];
    arg(a, "derfseq");
    arg(a, cmd);
    fmt(st, sizeof st, "%s/state.safetensors", dir);
    int resume = exists(st);
    fmt(what, sizeof what, "%s %%s seed %%ld%s", cmd, resume ? ": resuming" : "");
    progress(c, what, norm, seed);
    if (resume) {
        arg(a, "--resume");
        arg(a, dir);
    }
    return resume;
}

static int pretrain_job(compare *c, const char *norm, long seed)
{
    char dir[PATH_MAX], done[PATH_MAX];
    path(dir, sizeof dir, c, "pretrain/%s-s%ld", norm, seed);
    fmt(done, sizeof done, "%s.done", dir);
    if (!want_job(c, done)) return 0;
    argv_b a = { .n = 0 };
    if (!begin_job(c, &a, "pretrain", dir, norm, seed)) {
        arg(&a, "--model"); arg(&a, c->o->model);
        arg(&a, "--norm"); arg(&a, norm);
        arg(&a, "--seed"); argf(&a, "%ld", seed);
        arg(&a, "--steps"); argf(&a, "%ld", c->o->steps);
        arg(&a, "--eval-windows"); argf(&a, "%ld", c->o->eval_windows);
        arg(&a, "--eval-train");
        args_split(&a, c->o->pargs);
        arg(&a, "-o"); arg(&a, dir);
        arg(&a, c->o->genome);
    }
    common_args(c, &a);
    c->jobs++;
    int e = run_job("pretrain", &a, NULL);
    char js[PATH_MAX + 32], what[64];
    /* the loss on the training windows with dropout off, and the held-out loss */
    for (int k = 0; !e && k < 2; k++) {
        argv_b b = { .n = 0 };
        arg(&b, "derfseq");
        arg(&b, "eval");
        fmt(js, sizeof js, "%s/last.safetensors", dir);
        arg(&b, "--from"); arg(&b, js);
        arg(&b, "--max-windows"); argf(&b, "%ld", c->o->eval_windows);
        if (k == 0) { arg(&b, "--split"); arg(&b, "train"); }
        fmt(js, sizeof js, "%s/%s.json", dir, k ? "heldout" : "train_eval");
        arg(&b, "--json"); arg(&b, js);
        arg(&b, c->o->genome);
        common_args(c, &b);
        fmt(what, sizeof what, "eval of pretrain %s seed %ld", norm, seed);
        e = run_job(what, &b, NULL);
    }
    return e ? e : mark_done(done);
}

/* The directory name of a dataset: its last path component. */
static const char *base(const char *p, char *buf, size_t cap)
{
    fmt(buf, cap, "%s", p);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static int finetune_job(compare *c, const char *data, const char *norm, long seed)
{
    char dir[PATH_MAX], done[PATH_MAX], trunk[PATH_MAX], name[512], key[700];
    fmt(key, sizeof key, "finetune/%s/%%s-s%%ld", base(data, name, sizeof name));
    path(dir, sizeof dir, c, key, norm, seed);
    fmt(done, sizeof done, "%s.done", dir);
    if (!want_job(c, done)) return 0;
    char parent[PATH_MAX];
    fmt(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = 0;
    int e = mkdirs(parent);
    if (e) return e;
    argv_b a = { .n = 0 };
    if (!begin_job(c, &a, "finetune", dir, norm, seed)) {
        path(trunk, sizeof trunk, c, "pretrain/%s-s%ld/last.safetensors", norm, seed);
        arg(&a, "--from"); arg(&a, trunk);
        arg(&a, "--task"); arg(&a, "gb");
        arg(&a, "--seed"); argf(&a, "%ld", seed);
        arg(&a, "--epochs"); argf(&a, "%ld", c->o->epochs);
        if (c->o->ref) { arg(&a, "--ref"); arg(&a, c->o->ref); }
        args_split(&a, c->o->fargs);
        arg(&a, "-o"); arg(&a, dir);
        arg(&a, data);
    }
    common_args(c, &a);
    c->jobs++;
    e = run_job("finetune", &a, NULL);
    if (!e) {
        argv_b b = { .n = 0 };
        char ck[PATH_MAX + 32], js[PATH_MAX + 32];
        arg(&b, "derfseq");
        arg(&b, "eval");
        fmt(ck, sizeof ck, "%s/best.safetensors", dir);
        arg(&b, "--from"); arg(&b, ck);
        if (c->o->ref) { arg(&b, "--ref"); arg(&b, c->o->ref); }
        fmt(js, sizeof js, "%s/test.json", dir);
        arg(&b, "--json"); arg(&b, js);
        arg(&b, data);
        common_args(c, &b);
        e = run_job("eval of a fine-tune", &b, NULL);
    }
    return e ? e : mark_done(done);
}

/* ---- statistics --------------------------------------------------------- */

/* Two-sided 95 % Student t quantile for df degrees of freedom. */
static double t95(int df)
{
    static const double t[] = { 0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042 };
    return df < 1 ? NAN : df <= 30 ? t[df] : 1.96;
}

typedef struct { double mean, sd, lo, hi; int n; } summary_t;

static summary_t stats(const double *x, int n)
{
    summary_t s = { 0, NAN, NAN, NAN, 0 };
    for (int i = 0; i < n; i++) if (isfinite(x[i])) { s.mean += x[i]; s.n++; }
    if (!s.n) { s.mean = NAN; return s; }
    s.mean /= s.n;
    if (s.n < 2) return s;
    double ss = 0;
    for (int i = 0; i < n; i++) if (isfinite(x[i])) ss += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = sqrt(ss / (s.n - 1));
    double h = t95(s.n - 1) * s.sd / sqrt((double)s.n);
    s.lo = s.mean - h;
    s.hi = s.mean + h;
    return s;
}

static double json_num(const char *file, const char *key)
{
    json_error_t e;
    json_t *j = json_load_file(file, 0, &e);
    json_t *v = j ? json_object_get(j, key) : NULL;
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(j);
    return x;
}

/* The metrics of every run: [metric][norm][seed]. */
enum { M_HELDOUT, M_TRAIN_EVAL, M_ACC0, MAX_METRICS = M_ACC0 + 2 * MAX_DATA };

static void metric_name(const compare *c, int m, char *buf, size_t cap)
{
    char name[512];
    if (m == M_HELDOUT) fmt(buf, cap, "pretrain\theldout_bits_per_base");
    else if (m == M_TRAIN_EVAL) fmt(buf, cap, "pretrain\ttrain_eval_bits_per_base");
    else fmt(buf, cap, "%s\ttest_%s", base(c->o->data[(m - M_ACC0) / 2], name, sizeof name), (m - M_ACC0) % 2 ? "mcc" : "accuracy");
}

static void collect(const compare *c, double (*v)[MAX_NORMS][MAX_SEEDS], int nm)
{
    char p[PATH_MAX], name[512], key[700];
    for (int n = 0; n < c->o->nnorm; n++)
        for (int s = 0; s < c->o->nseed; s++) {
            const char *norm = c->o->norms[n];
            long seed = c->o->seeds[s];
            path(p, sizeof p, c, "pretrain/%s-s%ld/heldout.json", norm, seed);
            v[M_HELDOUT][n][s] = json_num(p, "bits_per_base");
            path(p, sizeof p, c, "pretrain/%s-s%ld/train_eval.json", norm, seed);
            v[M_TRAIN_EVAL][n][s] = json_num(p, "bits_per_base");
            for (int d = 0; d < c->o->ndata && M_ACC0 + 2 * d + 1 < nm; d++) {
                fmt(key, sizeof key, "finetune/%s/%%s-s%%ld/test.json", base(c->o->data[d], name, sizeof name));
                path(p, sizeof p, c, key, norm, seed);
                v[M_ACC0 + 2 * d][n][s] = json_num(p, "accuracy");
                v[M_ACC0 + 2 * d + 1][n][s] = json_num(p, "mcc");
            }
        }
}

static int index_of(const compare_opts *o, const char *norm)
{
    for (int i = 0; i < o->nnorm; i++) if (!strcmp(o->norms[i], norm)) return i;
    return -1;
}

static int write_tables(const compare *c)
{
    static double v[MAX_METRICS][MAX_NORMS][MAX_SEEDS];
    int nm = M_ACC0 + 2 * c->o->ndata;
    collect(c, v, nm);
    char p[PATH_MAX];
    ds_outfile runs, sum;
    fmt(p, sizeof p, "%s/runs.tsv", c->out);
    int e = ds_outfile_open(&runs, p);
    if (e) return e;
    fprintf(runs.fp, "task\tmetric\tnorm\tseed\tvalue\n");
    for (int m = 0; m < nm; m++)
        for (int n = 0; n < c->o->nnorm; n++)
            for (int s = 0; s < c->o->nseed; s++) {
                char name[600];
                metric_name(c, m, name, sizeof name);
                fprintf(runs.fp, "%s\t%s\t%ld\t%.6f\n", name, c->o->norms[n], c->o->seeds[s], v[m][n][s]);
            }
    if ((e = ds_outfile_commit(&runs))) return e;
    fmt(p, sizeof p, "%s/summary.tsv", c->out);
    if ((e = ds_outfile_open(&sum, p))) return e;
    /* paired by seed: the same seed draws the same windows and init for every norm */
    int ln = index_of(c->o, "layernorm");
    fprintf(sum.fp, "task\tmetric\tnorm\tn\tmean\tsd\tci95_lo\tci95_hi\tminus_layernorm\tdiff_ci95_lo\tdiff_ci95_hi\n");
    for (int m = 0; m < nm; m++)
        for (int n = 0; n < c->o->nnorm; n++) {
            char name[600];
            metric_name(c, m, name, sizeof name);
            summary_t st = stats(v[m][n], c->o->nseed);
            double d[MAX_SEEDS];
            for (int s = 0; s < c->o->nseed; s++) d[s] = ln >= 0 ? v[m][n][s] - v[m][ln][s] : NAN;
            summary_t sd = ln >= 0 && n != ln ? stats(d, c->o->nseed) : (summary_t){ NAN, NAN, NAN, NAN, 0 };
            fprintf(sum.fp, "%s\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", name, c->o->norms[n], st.n, st.mean,
                    st.sd, st.lo, st.hi, sd.mean, sd.lo, sd.hi);
        }
    if ((e = ds_outfile_commit(&sum))) return e;
    /* the table on stdout, for the reader */
    FILE *in = fopen(p, "r");
    char line[1024];
    while (in && fgets(line, sizeof line, in)) fputs(line, stdout);
    if (in) fclose(in);
    return fflush(stdout) ? ds_err_errno(DS_EIO, "standard output") : 0;
}

/* Held-out loss over steps (and the training loss as logged) of every
 * pretraining run, from the run logs; a PNG when gnuplot is installed. */
static int write_curves(const compare *c)
{
    char p[PATH_MAX], logp[PATH_MAX], line[4096];
    ds_outfile out;
    fmt(p, sizeof p, "%s/curves.tsv", c->out);
    int e = ds_outfile_open(&out, p);
    if (e) return e;
    fprintf(out.fp, "norm\tseed\tstep\tkind\tbits_per_base\n");
    long nkind[2] = { 0, 0 };   /* rows of held-out and of eval-mode training loss */
    for (int n = 0; n < c->o->nnorm; n++)
        for (int s = 0; s < c->o->nseed; s++) {
            path(logp, sizeof logp, c, "pretrain/%s-s%ld/log.jsonl", c->o->norms[n], c->o->seeds[s]);
            FILE *fp = fopen(logp, "r");
            while (fp && fgets(line, sizeof line, fp)) {
                json_error_t je;
                json_t *j = json_loads(line, 0, &je);
                json_t *st = json_object_get(j, "step"), *vl = json_object_get(j, "val_bits_per_base"),
                       *tl = json_object_get(j, "loss"), *te = json_object_get(j, "train_eval_bits_per_base");
                nkind[1] += json_is_integer(st) && json_is_number(te);
                nkind[0] += json_is_integer(st) && json_is_number(vl);
                if (json_is_integer(st) && json_is_number(te))
                    fprintf(out.fp, "%s\t%ld\t%lld\ttrain_eval\t%.6f\n", c->o->norms[n], c->o->seeds[s],
                            (long long)json_integer_value(st), json_number_value(te));
                if (json_is_integer(st) && json_is_number(vl))
                    fprintf(out.fp, "%s\t%ld\t%lld\theldout\t%.6f\n", c->o->norms[n], c->o->seeds[s],
                            (long long)json_integer_value(st), json_number_value(vl));
                else if (json_is_integer(st) && json_is_number(tl))
                    fprintf(out.fp, "%s\t%ld\t%lld\ttrain\t%.6f\n", c->o->norms[n], c->o->seeds[s],
                            (long long)json_integer_value(st), json_number_value(tl) / log(2.0));
                json_decref(j);
            }
            if (fp) fclose(fp);
        }
    if ((e = ds_outfile_commit(&out))) return e;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        if (!c->o->co.quiet) fprintf(stderr, "[M::compare] gnuplot not installed: curves.tsv only (apt-get install gnuplot-nox for curves.png)\n");
        return 0;
    }
    char gp[PATH_MAX], cmd[3 * PATH_MAX];
    fmt(gp, sizeof gp, "%s/curves.gp", c->out);
    FILE *g = fopen(gp, "w");
    if (!g) return ds_err_errno(DS_EIO, "%s: cannot write", gp);
    /* two panels: held-out loss and the training loss in evaluation mode */
    fprintf(g, "set terminal png size 1400,600\nset output '%s/curves.png'\nset datafile separator '\\t'\n"
               "set xlabel 'step'\nset key top right\nset multiplot layout 1,%d\n", c->out, (nkind[0] > 0) + (nkind[1] > 0));
    const char *kinds[2] = { "heldout", "train_eval" }, *titles[2] = { "held-out", "training, evaluation mode" };
    for (int k = 0; k < 2; k++) {
        if (!nkind[k]) continue;   /* a panel without points would fail the whole plot */
        fprintf(g, "set ylabel '%s bits per base'\nplot", titles[k]);
        for (int n = 0; n < c->o->nnorm; n++)
            for (int s = 0; s < c->o->nseed; s++)
                fprintf(g, "%s '%s/curves.tsv' every ::1 using 3:(strcol(1) eq '%s' && $2 == %ld && strcol(4) eq '%s' "
                           "? $5 : 1/0) with linespoints lc %d title '%s s%ld'", n + s ? "," : "", c->out,
                        c->o->norms[n], c->o->seeds[s], kinds[k], n + 1, c->o->norms[n], c->o->seeds[s]);
        fputc('\n', g);
    }
    fprintf(g, "unset multiplot");
    fputc('\n', g);
    fclose(g);
    fmt(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", gp);
    if (!nkind[0] && !nkind[1]) return 0;
    if (system(cmd) != 0 && !c->o->co.quiet) fprintf(stderr, "[M::compare] gnuplot failed: curves.tsv only\n");
    return 0;
}

/* OUT/compare.json holds the settings; a rerun with other settings would
 * mix two comparisons, so it is refused. */
static int check_settings(compare *c, int argc, char **argv)
{
    json_t *j = json_object();
    json_t *args = json_array();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--max-jobs")) { i++; continue; }
        if (!strncmp(argv[i], "--threads", 9) || !strncmp(argv[i], "--max-jobs=", 11) || !strcmp(argv[i], "--quiet"))
            continue;
        json_array_append_new(args, json_string(argv[i]));
    }
    json_object_set_new(j, "compare_args", args);
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!text) return ds_err(DS_ENOMEM, "out of memory for the comparison settings");
    char p[PATH_MAX];
    fmt(p, sizeof p, "%s/compare.json", c->out);
    int e = 0;
    if (exists(p)) {
        FILE *fp = fopen(p, "r");
        static char old[1 << 16];
        size_t n = fp ? fread(old, 1, sizeof old - 1, fp) : 0;
        if (fp) fclose(fp);
        old[n] = 0;
        if (strcmp(old, text))
            e = ds_err(DS_EINVAL, "%s: holds a comparison with other settings; rerun it as it was started or choose "
                       "another -o", c->out);
    } else {
        e = ds_write_file_atomic(p, text, strlen(text));
    }
    free(text);
    return e;
}

int main_compare(int argc, char **argv)
{
    compare_opts o = { .steps = 300, .epochs = 10, .eval_windows = 64, .nnorm = 4, .nseed = 3,
                       .norms = { "derf", "dyt", "layernorm", "rmsnorm" }, .seeds = { 1, 2, 3 } };
    ds_common_defaults(&o.co, "compare", DS_O_THREADS | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if (ds_check_input(o.co.cmd, o.genome)) return 1;
    for (int i = 0; i < o.ndata; i++) if (ds_check_input(o.co.cmd, o.data[i])) return 1;
    ds_threads_set(o.co.threads);
    compare c = { .o = &o };
    fmt(c.out, sizeof c.out, "%s", o.out);
    int e = mkdirs(c.out);
    if (!e) e = check_settings(&c, argc, argv);
    char pre[PATH_MAX];
    fmt(pre, sizeof pre, "%s/pretrain", c.out);
    if (!e) e = mkdirs(pre);
    for (int s = 0; !e && s < o.nseed; s++)
        for (int n = 0; !e && n < o.nnorm; n++) e = pretrain_job(&c, o.norms[n], o.seeds[s]);
    for (int d = 0; !e && d < o.ndata; d++)
        for (int s = 0; !e && s < o.nseed; s++)
            for (int n = 0; !e && n < o.nnorm; n++) e = finetune_job(&c, o.data[d], o.norms[n], o.seeds[s]);
    if (!e && c.stopped) {
        if (!o.co.quiet) fprintf(stderr, "[M::compare] stopped after %ld jobs (--max-jobs); rerun to continue\n", c.jobs);
        return 0;
    }
    if (!e) e = write_tables(&c);
    if (!e) e = write_curves(&c);
    if (e) return ds_cmd_error(o.co.cmd, "%s", ds_errmsg());
    return 0;
}
