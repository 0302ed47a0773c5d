/* derfseq finetune: trains a task head (and the encoder) from a checkpoint
 * (derfseq.md "Command line", genomic_benchmarks.md). No model is built yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/threads.h"

static const char *const TASKS[] = { "cls", "ctc", NULL };

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *from, *ref, *out;
    int task;                 /* index into TASKS, -1 before --task */
} finetune_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "task", required_argument, NULL, OPT_TASK },
    { "ref", required_argument, NULL, OPT_REF },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

/* The GenomicBenchmarks recipe (genomic_benchmarks.md): batch 128, 10
 * epochs (Caduceus), lr 6e-4, wd 0.1, cosine with 1% warm-up, one
 * validation per epoch. */
static void defaults(finetune_opts *o)
{
    memset(o, 0, sizeof *o);
    ds_common_defaults(&o->co, "finetune", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o->tr);
    o->tr.steps = 0;
    o->tr.epochs = 10;
    o->tr.batch_size = 128;
    o->tr.seq_len = 0;
    o->tr.eval_every = 0;
    o->tr.save_every = 0;
    o->task = -1;
}

static void usage(FILE *fp, const finetune_opts *o)
{
    fprintf(fp, "Usage: derfseq finetune --from CKPT --task TASK [options] DATA -o RUN_DIR\n\n"
                "Trains a task head and the encoder of CKPT. DATA is a GenomicBenchmarks\n"
                "dataset (<name>/{train,test}/<class>/*.txt, or <class>.csv[.gz] with --ref),\n"
                "a sequence,label CSV/TSV, or transcribed audio for ctc.\n\n"
                "Task:\n");
    ds_usage_line(fp, "    --from CKPT", "pretrained checkpoint (safetensors)", "required");
    ds_usage_line(fp, "    --task TASK", "cls (sequence classification) or ctc (speech)", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for coordinate-layout datasets", "none");
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "\nTraining:\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(finetune_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:h", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_TASK:
            if ((o->task = ds_parse_choice(&o->co, "task", optarg, TASKS)) < 0) return 2;
            break;
        case OPT_REF: o->ref = optarg; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

/* A resumed run takes checkpoint, task and directory from RUN_DIR. */
static int check_required(const finetune_opts *o, int ndata)
{
    const char *cmd = o->co.cmd;
    if (!o->tr.resume && !o->from) return ds_usage_error(cmd, "missing --from CKPT");
    if (!o->tr.resume && o->task < 0) return ds_usage_error(cmd, "missing --task cls|ctc");
    if (!o->tr.resume && !o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (ndata != 1) return ds_usage_error(cmd, ndata ? "expected one DATA, got %d" : "missing DATA", ndata);
    return 0;
}

int main_finetune(int argc, char **argv)
{
    finetune_opts o;
    defaults(&o);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind))) return rc;
    ds_threads_set(o.co.threads);
    if (ds_check_inputs(o.co.cmd, argv + optind, 1)) return 1;
    char *name = NULL;
    if (o.from && ds_from_model_name(o.co.cmd, o.from, &name)) return 1;
    rc = ds_not_built(o.co.cmd, name);
    free(name);
    return rc;
}
