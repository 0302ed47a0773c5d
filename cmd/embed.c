/* derfseq embed: embeddings of sequences or regions as TSV, .npy or
 * safetensors (derfseq.md "Embedding options", "Outputs"). No model yet. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/threads.h"

static const char *const FORMATS[] = { "tsv", "npy", "safetensors", NULL };
static const char *const POOLS[] = { "mean", "last", "cls", "none", NULL };

typedef struct {
    ds_common_opts co;
    const char *from, *ref, *regions, *out;
    int format, pool;         /* indices into FORMATS, POOLS */
    long layer;               /* -1: the final normed output */
    long batch_size, seq_len; /* seq_len 0: the model's length */
} embed_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "ref", required_argument, NULL, OPT_REF },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "output", required_argument, NULL, 'o' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "pool", required_argument, NULL, OPT_POOL },
    { "layer", required_argument, NULL, OPT_LAYER },
    { "batch-size", required_argument, NULL, OPT_BATCH },
    { "seq-len", required_argument, NULL, OPT_SEQLEN },
    DS_LONGOPT_THREADS, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const embed_opts *o)
{
    char b[32];
    fprintf(fp, "Usage: derfseq embed --from CKPT [options] INPUT...\n\n"
                "Embeds every record of INPUT (FASTA/FASTQ, audio, or chr:start-end with\n"
                "--ref) in input order, deterministically (eval mode, no dropout).\n\n"
                "Input:\n");
    ds_usage_line(fp, "    --from CKPT", "checkpoint (safetensors)", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for --regions and chr:start-end inputs", "none");
    ds_usage_line(fp, "    --regions BED", "embed these regions of --ref; '-' strand reverse-complemented", "none");
    snprintf(b, sizeof b, "%ld", o->batch_size);
    ds_usage_line(fp, "    --batch-size N", "records per batch", b);
    ds_usage_line(fp, "    --seq-len N", "maximum tokens per record", "the model's length");
    fprintf(fp, "\nOutput:\n");
    ds_usage_line(fp, "-o, --output FILE", "where to write ('-': stdout)", "-");
    ds_usage_line(fp, "    --format NAME", "tsv|npy|safetensors", FORMATS[o->format]);
    ds_usage_line(fp, "    --pool NAME", "mean|last|cls over tokens, or none: one row per token", POOLS[o->pool]);
    ds_usage_line(fp, "    --layer N", "output of block N (0-based)", "the final normed output");
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(embed_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:h", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case 'o': o->out = optarg; break;
        case OPT_FORMAT:
            if ((o->format = ds_parse_choice(&o->co, "format", optarg, FORMATS)) < 0) return 2;
            break;
        case OPT_POOL:
            if ((o->pool = ds_parse_choice(&o->co, "pool", optarg, POOLS)) < 0) return 2;
            break;
        case OPT_LAYER:
            if (ds_parse_long(&o->co, "layer", optarg, 0, &o->layer)) return 2;
            break;
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

/* Inputs are files, unless --ref makes them chr:start-end regions. */
static int check_inputs(const embed_opts *o, char **inputs, int n)
{
    if (o->ref && ds_check_input(o->co.cmd, o->ref)) return 1;
    if (o->regions && ds_check_input(o->co.cmd, o->regions)) return 1;
    return o->ref ? 0 : ds_check_inputs(o->co.cmd, inputs, n);
}

int main_embed(int argc, char **argv)
{
    embed_opts o = { .out = "-", .layer = -1, .batch_size = 8 };
    ds_common_defaults(&o.co, "embed", DS_O_THREADS | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if (!o.from) return ds_usage_error(o.co.cmd, "missing --from CKPT");
    if (optind == argc && !o.regions) return ds_usage_error(o.co.cmd, "missing INPUT");
    if (o.regions && !o.ref) return ds_usage_error(o.co.cmd, "--regions needs --ref FASTA");
    ds_threads_set(o.co.threads);
    if (check_inputs(&o, argv + optind, argc - optind)) return 1;
    char *name = NULL;
    if (ds_from_model_name(o.co.cmd, o.from, &name)) return 1;
    rc = ds_not_built(o.co.cmd, name);
    free(name);
    return rc;
}
