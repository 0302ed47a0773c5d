/* derfseq pretrain: trains an encoder from scratch on DNA or audio
 * (derfseq.md "Command line", "Norm family"). No model is built yet. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/threads.h"

typedef struct {
    ds_common_opts co;
    ds_train_opts tr;
    const char *model, *config, *regions, *contigs, *out;
    int prenorm;
} pretrain_opts;

static const struct option LONGOPTS[] = {
    { "model", required_argument, NULL, OPT_MODEL },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "prenorm", no_argument, NULL, OPT_PRENORM },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "contigs", required_argument, NULL, OPT_CONTIGS },
    { "output", required_argument, NULL, 'o' },
    DS_LONGOPTS_NORM,
    DS_LONGOPTS_TRAIN,
    DS_LONGOPT_THREADS, DS_LONGOPT_SEED, DS_LONGOPT_LOG, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const pretrain_opts *o)
{
    fprintf(fp, "Usage: derfseq pretrain --model PRESET|--config FILE [options] DATA... -o RUN_DIR\n\n"
                "Trains an encoder from scratch on DNA (FASTA/FASTQ, plain or gzip) or audio\n"
                "(WAV/FLAC/OGG files, a file list, a LibriSpeech tree or a manifest TSV).\n\n"
                "Model:\n");
    ds_usage_line(fp, "    --model PRESET", "a preset, e.g. hyenadna-tiny-1k", "required, or --config");
    ds_usage_line(fp, "    --config FILE", "model config JSON instead of a preset", "none");
    ds_usage_norm(fp, &o->tr);
    ds_usage_line(fp, "    --prenorm", "wav2vec2: pre-LN blocks as in the paper's Derf run", "off: post-LN");
    fprintf(fp, "\nData and output:\n");
    ds_usage_line(fp, "    --regions BED", "windows from these regions; 4th column train|valid|test", "all contigs");
    ds_usage_line(fp, "    --contigs LIST", "comma-separated contigs to draw windows from", "all");
    ds_usage_line(fp, "-o, --output RUN_DIR", "run directory: config, checkpoints, state, log", "required");
    fprintf(fp, "\nTraining:\n");
    ds_usage_train(fp, &o->tr);
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

/* 0, or the exit status of a usage error. */
static int parse(pretrain_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:h", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) == 0) r = ds_opts_train(&o->co, &o->tr, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_MODEL: o->model = optarg; break;
        case OPT_CONFIG: o->config = optarg; break;
        case OPT_PRENORM: o->prenorm = 1; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case OPT_CONTIGS: o->contigs = optarg; break;
        case 'o': o->out = optarg; break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return ds_train_check(&o->co, &o->tr) ? 2 : 0;
}

/* A resumed run takes its model and directory from RUN_DIR. */
static int check_required(const pretrain_opts *o, int ndata)
{
    const char *cmd = o->co.cmd;
    if (o->model && o->config) return ds_usage_error(cmd, "give --model or --config, not both");
    if (!o->tr.resume && !o->model && !o->config) return ds_usage_error(cmd, "missing --model PRESET or --config FILE");
    if (!o->tr.resume && !o->out) return ds_usage_error(cmd, "missing -o RUN_DIR");
    if (ndata == 0) return ds_usage_error(cmd, "missing DATA (FASTA, FASTQ or audio inputs)");
    return 0;
}

int main_pretrain(int argc, char **argv)
{
    pretrain_opts o = { 0 };
    ds_common_defaults(&o.co, "pretrain", DS_O_THREADS | DS_O_SEED | DS_O_LOG | DS_O_QUIET);
    ds_train_defaults(&o.tr);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if ((rc = check_required(&o, argc - optind))) return rc;
    ds_threads_set(o.co.threads);
    char *name = NULL;
    if (o.config && ds_config_file_model_name(o.co.cmd, o.config, &name)) return 1;
    if (ds_check_inputs(o.co.cmd, argv + optind, argc - optind)) { free(name); return 1; }
    rc = ds_not_built(o.co.cmd, o.model ? o.model : name);
    free(name);
    return rc;
}
