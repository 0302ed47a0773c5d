/* derfseq: dispatches `derfseq <command> ...` to main_<command>, and answers
 * help and --version itself (derfseq.md "Command line"). */
#include <cblas.h>
#include <fftw3.h>
#include <htslib/hts.h>
#include <jansson.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/threads.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *what;
} COMMANDS[] = {
    { "pretrain", main_pretrain, "train an encoder from scratch on DNA or audio" },
    { "finetune", main_finetune, "train a task head (and the encoder) from a checkpoint" },
    { "eval", main_eval, "metrics of a checkpoint on held-out data" },
    { "embed", main_embed, "embeddings of sequences or regions" },
    { "info", main_info, "config, parameter count and tensor table of a checkpoint" },
    { "compare", main_compare, "the paper's norm comparison: pretrain, fine-tune, eval per norm and seed" },
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

#ifndef DS_BUILD_FLAGS
#define DS_BUILD_FLAGS "unknown"
#endif

/* --version: derfseq's version, then each library's as it reports itself at
 * run time (the shared objects actually loaded, not the headers built
 * against) and the compiler flags of this build, for bug reports. */
static void version(void)
{
    printf("derfseq %s\n", DS_VERSION);
    printf("htslib %s\n", hts_version());
    printf("%s\n", openblas_get_config());   /* "OpenBLAS 0.3.21 ... USE_OPENMP Zen ..." */
    printf("FFTW %s\n", fftwf_version);
    printf("libsndfile %s\n", sf_version_string());
    printf("libsamplerate %s\n", src_get_version());
    printf("jansson %s\n", jansson_version_str());
    printf("build: %s\n", DS_BUILD_FLAGS);
    printf("MPI: %s\n", ds_dist_library());
    const char *spin = getenv("GOMP_SPINCOUNT"), *policy = getenv("OMP_WAIT_POLICY");
    printf("threads: %d, GOMP_SPINCOUNT=%s, OMP_WAIT_POLICY=%s, denormals %s\n", ds_threads_get(),
           spin ? spin : "(unset)", policy ? policy : "(unset)",
           ds_threads_denormals_flushed() ? "flushed to zero (FTZ/DAZ)" : "kept");
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: derfseq <command> [options] [inputs]\n\n"
                "Normalization-free sequence encoders (HyenaDNA, Caduceus, wav2vec2) with\n"
                "Derf, DyT, LayerNorm or RMSNorm, trained and run on CPUs.\n\nCommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(fp, "  %-11s %s\n", COMMANDS[i].name, COMMANDS[i].what);
    fprintf(fp, "  %-11s %s\n\nOptions:\n", "help [CMD]", "this text, or the options of CMD");
    ds_usage_line(fp, "-V, --version", "print the version, the libraries' versions and the build flags", NULL);
    ds_usage_line(fp, "-h, --help", "show this help and exit", NULL);
    fprintf(fp, "\n'derfseq <command> --help' lists a command's options and their defaults.\n"
                "Models: HyenaDNA and Caduceus (DNA: pretraining, GenomicBenchmarks\n"
                "classification), wav2vec2 (speech: pretraining, CTC speech recognition).\n");
}

static int find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(name, COMMANDS[i].name) == 0) return i;
    return -1;
}

/* `derfseq help CMD` is `derfseq CMD --help`. */
static int help(int argc, char **argv)
{
    if (argc < 2) { usage(stdout); return 0; }
    int i = find_command(argv[1]);
    if (i < 0) return ds_usage_error(NULL, "unknown command '%s'", argv[1]);
    char *args[] = { (char *)COMMANDS[i].name, "--help", NULL };
    return COMMANDS[i].fn(2, args);
}

int main(int argc, char **argv)
{
    ds_threads_init(argv);   /* short OpenMP spins, FTZ/DAZ: before any thread exists */
    ds_dist_init(&argc, &argv);   /* MPI, when a launcher started this process */
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) { version(); return 0; }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) { usage(stdout); return 0; }
    if (strcmp(cmd, "help") == 0) return help(argc - 1, argv + 1);
    int i = find_command(cmd);
    if (i >= 0) {
        /* pretrain and finetune train data-parallel under mpirun/srun (lib/core/dist.h) */
        int parallel = !strcmp(cmd, "pretrain") || !strcmp(cmd, "finetune");
        int help_only = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
        if (!help_only && ds_dist_check(cmd, parallel)) {
            fprintf(stderr, "derfseq %s: %s\n", cmd, ds_errmsg());
            ds_dist_finalize();
            return 1;
        }
        int rc = COMMANDS[i].fn(argc - 1, argv + 1);
        ds_dist_finalize();
        return rc;
    }
    if (cmd[0] == '-') return ds_usage_error(NULL, "unknown option '%s'", cmd);
    return ds_usage_error(NULL, "unknown command '%s'", cmd);
}
