/* derfseq eval: metrics of a checkpoint on held-out data, as a table on
 * stdout and optionally JSON (derfseq.md "Outputs", "Metrics"). No model yet. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/threads.h"

typedef struct {
    ds_common_opts co;
    const char *from, *ref, *regions;
    long batch_size, seq_len;   /* seq_len 0: the model's length */
} eval_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "ref", required_argument, NULL, OPT_REF },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "batch-size", required_argument, NULL, OPT_BATCH },
    { "seq-len", required_argument, NULL, OPT_SEQLEN },
    DS_LONGOPT_JSON, DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const eval_opts *o)
{
    char b[32];
    fprintf(fp, "Usage: derfseq eval --from CKPT [options] DATA...\n\n"
                "Prints the metrics of CKPT on DATA as a table on stdout: accuracy, MCC,\n"
                "macro F1 and per-class recall for classifiers; loss, perplexity and bits\n"
                "per base for DNA language models; contrastive and diversity loss and code\n"
                "perplexity for speech pretraining; WER and CER for CTC.\n\n"
                "Input:\n");
    ds_usage_line(fp, "    --from CKPT", "checkpoint to evaluate (safetensors)", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for regions and coordinate datasets", "none");
    ds_usage_line(fp, "    --regions BED", "evaluate these regions (the 'test' split if a 4th column)", "all of DATA");
    snprintf(b, sizeof b, "%ld", o->batch_size);
    ds_usage_line(fp, "    --batch-size N", "sequences per batch", b);
    ds_usage_line(fp, "    --seq-len N", "tokens per sequence", "the model's length");
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(eval_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:h", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case OPT_BATCH:
            if (ds_parse_long(&o->co, "batch-size", optarg, 1, &o->batch_size)) return 2;
            break;
        case OPT_SEQLEN:
            if (ds_parse_long(&o->co, "seq-len", optarg, 1, &o->seq_len)) return 2;
            break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return 0;
}

int main_eval(int argc, char **argv)
{
    eval_opts o = { .batch_size = 8 };
    ds_common_defaults(&o.co, "eval", DS_O_THREADS | DS_O_SEED | DS_O_JSON | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if (!o.from) return ds_usage_error(o.co.cmd, "missing --from CKPT");
    if (optind == argc) return ds_usage_error(o.co.cmd, "missing DATA");
    ds_threads_set(o.co.threads);
    if (ds_check_inputs(o.co.cmd, argv + optind, argc - optind)) return 1;
    char *name = NULL;
    if (ds_from_model_name(o.co.cmd, o.from, &name)) return 1;
    rc = ds_not_built(o.co.cmd, name);
    free(name);
    return rc;
}
