/* derfseq embed: embeddings of sequences or regions as TSV (plain or
 * bgzf), .npy (with an .ids.tsv beside it), .npz (ids with the array) or
 * safetensors (derfseq.md "Embedding options", "Outputs"), one record at a
 * time in input order, in eval mode; memory does not grow with the number of
 * records. Caduceus checkpoints embed both strands as the official inference
 * does (caduceus.md §2.6): PS averages its RC-equivariant halves, Ph runs
 * the record and its reverse complement (post-hoc conjoining). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/lm.h"
#include "cmd/opts.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "io/fasta.h"
#include "io/npy.h"
#include "io/outfile.h"
#include "io/regions.h"
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "hyenadna.h"
#include "io/tsv.h"
#include "io/zip.h"
#include "caduceus.h"
#include "io/audio.h"
#include "io/speech_data.h"
#include "presets.h"
#include "wav2vec2.h"

static const char *const FORMATS[] = { "tsv", "npy", "safetensors", "tsv.gz", "npz", NULL };
static const char *const POOLS[] = { "mean", "last", "cls", "none", NULL };
enum { FMT_TSV, FMT_NPY, FMT_ST, FMT_TSVGZ, FMT_NPZ };
/* What -o's name says, longest suffix first (".tsv.gz" before ".tsv"). */
static const struct { const char *ext; int format; } EXTENSIONS[] = {
    { ".tsv.gz", FMT_TSVGZ }, { ".tsv", FMT_TSV }, { ".npy", FMT_NPY }, { ".npz", FMT_NPZ },
    { ".safetensors", FMT_ST },
};
enum { POOL_MEAN, POOL_LAST, POOL_CLS, POOL_NONE };
enum { OPT_CHUNK = 1200, OPT_TOKENS, OPT_STRANDS, OPT_HEADER };
/* Tokenization rules (lib/io/tokenizer.h): derfseq's (upper-case, N → [PAD],
 * as in pretraining), the official tokenizer of the architecture, and the
 * same with [SEP] appended (what the tokenizer adds as special tokens).
 * HyenaDNA's keeps case (lower case → [UNK]), N = 11, no special tokens: the
 * GenomicBenchmarks recipe; -hf appends [SEP] as the LongSafari -hf
 * checkpoints' tokenizer. Caduceus's upper-cases first, N = 11, and is the
 * default for a Caduceus checkpoint: its inference (and GenomicBenchmarks)
 * adds no special tokens (caduceus.md §2.1). */
static const char *const TOKENS[] = { "derfseq", "official", "official-hf", NULL };
enum { TOK_DERFSEQ, TOK_OFFICIAL, TOK_OFFICIAL_HF };
static const int TOKEN_FLAGS[] = { DS_TOK_UPPER | DS_TOK_N_TO_PAD, 0, DS_TOK_ADD_SEP };
static const int CADUCEUS_TOKEN_FLAGS[] = { DS_TOK_UPPER | DS_TOK_N_TO_PAD, DS_TOK_UPPER, DS_TOK_UPPER | DS_TOK_ADD_SEP };
/* Which Caduceus strands the rows hold (caduceus.md §2.6): avg = the
 * RC-averaged per-strand channels (PS; Ph conjoined with its reverse
 * complement), fwd = the forward strand alone, both = PS's full hidden state
 * [fwd | RC(rc)] of 2·d_model channels. */
static const char *const STRANDS[] = { "avg", "fwd", "both", NULL };
enum { STR_AVG, STR_FWD, STR_BOTH };
/* Where a row comes from: the hidden state, the model's features, the
 * forward half of PS's hidden state, or a block's output. */
enum { SRC_HIDDEN, SRC_FEAT, SRC_FWD_HALF, SRC_LAYER };

#define NPY_HEADER 128

typedef struct {
    ds_common_opts co;
    const char *from, *ref, *regions, *out;
    int format, pool;         /* indices into FORMATS, POOLS */
    int format_set, header;   /* --format given; --header */
    long layer;               /* -1: the final normed output */
    long chunk;               /* 0: a record longer than the model allows is an error */
    int tokens;               /* index into TOKENS; -1: the architecture's default */
    int strands, strands_set; /* index into STRANDS; given on the command line */
} embed_opts;

static const struct option LONGOPTS[] = {
    { "from", required_argument, NULL, OPT_FROM },
    { "ref", required_argument, NULL, OPT_REF },
    { "regions", required_argument, NULL, OPT_REGIONS },
    { "output", required_argument, NULL, 'o' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "pool", required_argument, NULL, OPT_POOL },
    { "layer", required_argument, NULL, OPT_LAYER },
    { "chunk", required_argument, NULL, OPT_CHUNK },
    { "tokens", required_argument, NULL, OPT_TOKENS },
    { "strands", required_argument, NULL, OPT_STRANDS },
    { "header", no_argument, NULL, OPT_HEADER },
    DS_LONGOPT_THREADS, DS_LONGOPT_QUIET, DS_LONGOPT_HELP,
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *fp, const embed_opts *o)
{
    fprintf(fp, "Usage: derfseq embed --from CKPT [options] INPUT...\n"
                "Usage: derfseq embed --from CKPT --ref FASTA [options] [chr:beg-end...]\n\n"
                "Embeds every record of INPUT (FASTA/FASTQ, plain or gzip, '-' for stdin) or every\n"
                "region of --ref in input order, deterministically (eval mode, no dropout).\n"
                "Regions are samtools': chr, chr:beg, chr:beg-end (1-based, inclusive) and\n"
                "{name}:beg-end for a contig whose name holds ':'.\n"
                "HyenaDNA: by default the rules the checkpoint records (derfseq's: bases\n"
                "upper-cased and N as [PAD], as in pretraining; a converted official one:\n"
                "official or official-hf); --tokens official keeps the official HyenaDNA tokenizer's rules\n"
                "(lower case is [UNK], N is N), official-hf also appends [SEP] as the -hf\n"
                "checkpoints' tokenizer. Caduceus: by default the official Caduceus inference\n"
                "tokenizer (upper case, N is N, no special tokens); official-hf appends [SEP],\n"
                "derfseq maps N to [PAD]. '-' strand BED regions are reverse-complemented.\n"
                "Caduceus rows are RC-averaged by default (--strands avg): Caduceus-PS gives\n"
                "the mean of its forward and reverse-complement channels, Caduceus-Ph runs the\n"
                "record and its reverse complement and averages them (conjoined, as the\n"
                "official inference); fwd is the forward strand alone; both (PS only) is the\n"
                "full 2 x d_model hidden state [fwd | RC(rc)].\n\n"
                "Input:\n");
    ds_usage_line(fp, "    --from CKPT", "checkpoint (safetensors)", "required");
    ds_usage_line(fp, "    --ref FASTA", "reference for --regions and chr:beg-end inputs", "none");
    ds_usage_line(fp, "    --regions BED", "embed these regions of --ref", "none");
    ds_usage_line(fp, "    --chunk N", "split longer records into N-token chunks", "off: error");
    ds_usage_line(fp, "    --tokens NAME", "derfseq|official|official-hf tokenization",
                  o->tokens >= 0 ? TOKENS[o->tokens] : "the checkpoint's (HyenaDNA), official (Caduceus)");
    fprintf(fp, "\nOutput:\n");
    ds_usage_line(fp, "-o, --output FILE", "where to write ('-': stdout, TSV only)", "-");
    ds_usage_line(fp, "    --format NAME", "tsv|tsv.gz|npy|npz|safetensors", "from -o's extension, else tsv");
    ds_usage_line(fp, "    --header", "TSV: first a line of column names", "off");
    ds_usage_line(fp, "    --pool NAME", "mean|last over tokens, or none: one row per token", POOLS[o->pool]);
    ds_usage_line(fp, "    --layer N", "output of block N (0-based), before the final norm", "the final normed output");
    ds_usage_line(fp, "    --strands NAME", "Caduceus: avg|fwd|both (see above)", STRANDS[o->strands]);
    fprintf(fp, "    --layer works for HyenaDNA and for Caduceus-Ph with --strands fwd.\n");
    fprintf(fp, "    -o's extension picks the format: .tsv, .tsv.gz (bgzf: zcat, bgzip -d read it),\n"
                "    .npy, .npz, .safetensors; --format must agree with it, and names the format of\n"
                "    any other name. Every file is written to a temp file and renamed when complete.\n"
                "    TSV: id<TAB>v1... per record (pool none: id<TAB>pos<TAB>v1... per token);\n"
                "    --header first prints 'id<TAB>v1<TAB>...<TAB>vD' ('id<TAB>pos<TAB>v1...').\n"
                "    pos is the 0-based token (speech: frame) index in the record as embedded: a\n"
                "    '-' strand region counts along its reverse complement, pos 0 = its last base.\n"
                "    npy: [n, d]; pool none: [L, d] for one record, [n, L, d] for equal lengths;\n"
                "    X.npy also gets X.ids.tsv: one line per row of the array reshaped to [-1, d],\n"
                "    the id (pool none: id<TAB>pos).\n"
                "    npz (numpy.load): 'embeddings' (float32, the array .npy holds), 'ids' (unicode,\n"
                "    [n], record order); pool none also 'pos' (int64, embeddings' shape without d).\n"
                "    safetensors: one tensor per record, named by its id.\n"
                "    With --chunk, mean pools over all chunks' tokens and last takes the last token.\n");
    fprintf(fp, "    Speech (a wav2vec2 checkpoint): INPUT is audio files (WAV, FLAC, OGG, MP3),\n"
                "    directories, a LibriSpeech tree, a fairseq manifest (.tsv) or '-' (a list of\n"
                "    paths); one row per utterance (pool none: per 20 ms frame), named by its\n"
                "    utterance id (LibriSpeech) or its path. Audio is mixed to mono and resampled\n"
                "    to 16 kHz; --layer N is the output of transformer layer N (HF's\n"
                "    hidden_states[N+1]); the default is the final output (after LN_enc in pre-LN).\n");
    fprintf(fp, "\nGeneral:\n");
    ds_usage_common(fp, &o->co);
}

static int parse(embed_opts *o, int argc, char **argv)
{
    int c, r;
    while ((c = getopt_long(argc, argv, ":t:o:qh", LONGOPTS, NULL)) != -1) {
        if ((r = ds_opts_common(&o->co, c, optarg)) < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case OPT_FROM: o->from = optarg; break;
        case OPT_REF: o->ref = optarg; break;
        case OPT_REGIONS: o->regions = optarg; break;
        case 'o': o->out = optarg; break;
        case OPT_FORMAT:
            if ((o->format = ds_parse_choice(&o->co, "format", optarg, FORMATS)) < 0) return 2;
            o->format_set = 1;
            break;
        case OPT_HEADER: o->header = 1; break;
        case OPT_POOL:
            if ((o->pool = ds_parse_choice(&o->co, "pool", optarg, POOLS)) < 0) return 2;
            break;
        case OPT_LAYER:
            if (ds_parse_long(&o->co, "layer", optarg, 0, &o->layer)) return 2;
            break;
        case OPT_CHUNK:
            if (ds_parse_long(&o->co, "chunk", optarg, 1, &o->chunk)) return 2;
            break;
        case OPT_TOKENS:
            if ((o->tokens = ds_parse_choice(&o->co, "tokens", optarg, TOKENS)) < 0) return 2;
            break;
        case OPT_STRANDS:
            if ((o->strands = ds_parse_choice(&o->co, "strands", optarg, STRANDS)) < 0) return 2;
            o->strands_set = 1;
            break;
        default: return ds_opts_unknown(&o->co, c, argv);
        }
    }
    return 0;
}

/* Without --ref an INPUT is a file: one that does not exist but reads as
 * a region (chr1:1-100, {name}:1-100) was meant as one, so say what it needs
 * rather than "cannot open". */
static int check_no_region_without_ref(const embed_opts *o, int nargs, char **args)
{
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (!strcmp(a, "-") || access(a, F_OK) == 0 || (!strchr(a, ':') && a[0] != '{')) continue;
        ds_region g;
        int e = ds_region_parse(a, &g);
        free(g.chrom);
        ds_err_clear();
        if (!e) return ds_usage_error(o->co.cmd, "%s: a region needs the reference: give --ref FASTA", a);
    }
    return 0;
}

/* The format -o's extension names, or -1. */
static int format_of_name(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof EXTENSIONS / sizeof EXTENSIONS[0]; i++) {
        size_t k = strlen(EXTENSIONS[i].ext);
        if (n > k && !strcmp(path + n - k, EXTENSIONS[i].ext)) return EXTENSIONS[i].format;
    }
    return -1;
}

/* --format from -o's extension; a usage error (2) when the two disagree or
 * the format cannot go where -o says. */
static int choose_format(embed_opts *o)
{
    int ext = strcmp(o->out, "-") ? format_of_name(o->out) : -1;
    if (ext >= 0 && o->format_set && ext != o->format)
        return ds_usage_error(o->co.cmd, "-o %s names %s output, --format says %s", o->out, FORMATS[ext],
                              FORMATS[o->format]);
    if (ext >= 0) o->format = ext;
    if (o->format != FMT_TSV && !strcmp(o->out, "-"))
        return ds_usage_error(o->co.cmd, "--format %s needs -o FILE (it is finished by seeking back)", FORMATS[o->format]);
    if (o->header && o->format != FMT_TSV && o->format != FMT_TSVGZ)
        return ds_usage_error(o->co.cmd, "--header applies to TSV output; this run writes %s", FORMATS[o->format]);
    return 0;
}

/* X.npy's ids beside it: X.ids.tsv (another name: NAME.ids.tsv); none for
 * a target that is not a regular file (/dev/null). */
static char *sidecar_name(const char *out)
{
    struct stat sb;
    if (stat(out, &sb) == 0 && !S_ISREG(sb.st_mode)) return NULL;
    size_t n = strlen(out), k = n > 4 && !strcmp(out + n - 4, ".npy") ? n - 4 : n;
    char *p = malloc(k + sizeof ".ids.tsv");
    if (p) snprintf(p, k + sizeof ".ids.tsv", "%.*s.ids.tsv", (int)k, out);
    return p;
}

/* -o must not be --from, --ref (or its index), --regions or an INPUT. */
static int check_output(const embed_opts *o, int nargs, char **args)
{
    const char *in[nargs + 3];
    in[0] = o->from, in[1] = o->ref, in[2] = o->regions;
    for (int i = 0; i < nargs; i++) in[3 + i] = args[i];
    int rc = ds_check_output(o->co.cmd, "-o", o->out, in, nargs + 3);
    char *side = !rc && o->format == FMT_NPY ? sidecar_name(o->out) : NULL;
    if (side) rc = ds_check_output(o->co.cmd, "-o", side, in, nargs + 3);
    free(side);
    return rc;
}

/* ---- writer ----------------------------------------------------------- */

typedef struct {
    int format, pool, d;
    ds_outfile out;
    FILE *tsv;               /* TSV rows: out.fp, or a bgzf stream onto it */
    FILE *data;              /* safetensors: tensor bytes until the header is known */
    json_t *index;           /* safetensors: name → entry */
    size_t offset;
    long records, rows_per_record;   /* npy, npz: same L for every record (pool none) */
    ds_outfile side;         /* npy: the .ids.tsv beside it (side.fp NULL: none) */
    ds_zip zip;              /* npz */
    char *idbuf;             /* npz: the ids so far, each NUL-terminated */
    size_t idlen, idcap;
    int idmax;               /* npz: the longest id in code points */
} writer;

/* The code points of UTF-8 s into out (NULL: count only), or -1 when s is
 * not UTF-8. */
static int utf8_decode(const char *s, uint32_t *out)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
        int k = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (k < 0) return -1;
        uint32_t c = k ? *p & (0x3f >> k) : *p;
        for (int i = 1; i <= k; i++) {
            if ((p[i] & 0xc0) != 0x80) return -1;
            c = c << 6 | (p[i] & 0x3f);
        }
        if (out) out[n] = c;
        p += k + 1;
    }
    return n;
}

static int tsv_header(FILE *fp, int pool_none, int d)
{
    fputs(pool_none ? "id\tpos" : "id", fp);
    for (int k = 1; k <= d; k++) fprintf(fp, "\tv%d", k);
    return fputc('\n', fp) == EOF ? ds_err_errno(DS_EIO, "write failed") : 0;
}

static int writer_open(writer *w, const embed_opts *o, int d)
{
    memset(w, 0, sizeof *w);
    w->format = o->format;
    w->pool = o->pool;
    w->d = d;
    w->rows_per_record = -1;
    int e = ds_outfile_open(&w->out, o->out);
    if (e) return e;
    w->tsv = w->out.fp;
    if (w->format == FMT_NPY) {   /* a placeholder header, rewritten with the final shape */
        int64_t shape[2] = { 0, d };
        e = ds_npy_write_header_sized(w->out.fp, 2, shape, NPY_HEADER);
        char *side = sidecar_name(o->out);
        if (!e && side) e = ds_outfile_open(&w->side, side);
        free(side);
    } else if (w->format == FMT_NPZ) {
        ds_zip_init(&w->zip, w->out.fp);
        e = ds_zip_begin(&w->zip, "embeddings.npy", NPY_HEADER);
    } else if (w->format == FMT_ST) {
        w->data = tmpfile();
        w->index = json_object();
        if (!w->data) e = ds_err_errno(DS_EIO, "cannot create a temporary file");
    } else if (w->format == FMT_TSVGZ && !(w->tsv = ds_bgzf_stream(w->out.fp)))
        e = DS_EIO;
    if (!e && o->header) e = tsv_header(w->tsv, w->pool == POOL_NONE, d);
    return e;
}

/* An id must fit where it goes, checked before the record is encoded, so
 * nothing reaches the output path on error: a safetensors tensor name must
 * be unique, non-empty, UTF-8 and not the metadata key; an npz id UTF-8 (a
 * numpy unicode string); an .ids.tsv line free of tabs and newlines. */
static int writer_check_id(const writer *w, const char *id)
{
    char shown[256];
    if (w->format == FMT_NPZ && utf8_decode(id, NULL) < 0)
        return ds_err(DS_EINVAL, "record %ld: id '%s' is not UTF-8, so numpy cannot read it as a string (use --format "
                      "npy or tsv, or rename the record)", w->records + 1, ds_st_name_show(id, shown, sizeof shown));
    if (w->side.fp && strpbrk(id, "\t\n\r"))
        return ds_err(DS_EINVAL, "record %ld: id '%s' holds a tab or newline, which would shift the lines of the "
                      ".ids.tsv", w->records + 1, ds_st_name_show(id, shown, sizeof shown));
    if (w->format != FMT_ST) return 0;
    const char *why = ds_st_name_problem(id);
    if (why)
        return ds_err(DS_EINVAL, "record %ld: id '%s' %s, so it cannot name a safetensors tensor (use --format tsv "
                      "or npy, or rename the record)", w->records + 1, ds_st_name_show(id, shown, sizeof shown), why);
    if (json_object_get(w->index, id))
        return ds_err(DS_EINVAL, "record %ld: id '%s' appears twice; safetensors names must be unique",
                      w->records + 1, ds_st_name_show(id, shown, sizeof shown));
    return 0;
}

/* npy, npz: one array, so pool none needs the same length for every record. */
static int check_rows(writer *w, const char *id, long rows)
{
    if (w->rows_per_record >= 0 && rows != w->rows_per_record && w->pool == POOL_NONE)
        return ds_err(DS_EINVAL, "record '%s' has %ld tokens, earlier ones %ld: one .%s holds equal lengths only "
                                 "(use --format safetensors or tsv)", id, rows, w->rows_per_record, FORMATS[w->format]);
    w->rows_per_record = rows;
    return 0;
}

/* The .ids.tsv lines of one record: its id per row (pool none: id<TAB>pos). */
static int sidecar_record(writer *w, const char *id, long rows)
{
    for (long r = 0; r < rows; r++)
        if (w->pool == POOL_NONE ? fprintf(w->side.fp, "%s\t%ld\n", id, r) < 0 : fprintf(w->side.fp, "%s\n", id) < 0)
            return ds_err_errno(DS_EIO, "write failed");
    return 0;
}

static int npz_keep_id(writer *w, const char *id)
{
    size_t n = strlen(id) + 1;
    if (w->idlen + n > w->idcap) {
        size_t cap = (w->idlen + n) * 2;
        char *p = realloc(w->idbuf, cap);
        if (!p) return ds_err(DS_ENOMEM, "out of memory for the ids at record %ld", w->records + 1);
        w->idbuf = p;
        w->idcap = cap;
    }
    memcpy(w->idbuf + w->idlen, id, n);
    w->idlen += n;
    int k = utf8_decode(id, NULL);
    if (k > w->idmax) w->idmax = k;
    return 0;
}

static int writer_record(writer *w, const char *id, const float *v, long rows)
{
    int e = 0;
    size_t bytes = sizeof(float) * (size_t)w->d * (size_t)rows;
    if (w->format == FMT_TSV || w->format == FMT_TSVGZ) {
        for (long r = 0; r < rows && !e; r++)
            e = w->pool == POOL_NONE ? ds_tsv_write_token_row(w->tsv, id, r, v + r * w->d, w->d)
                                     : ds_tsv_write_row(w->tsv, id, v, w->d);
    } else if (w->format == FMT_NPY) {
        if ((e = check_rows(w, id, rows))) return e;
        if (fwrite(v, sizeof(float) * (size_t)w->d, (size_t)rows, w->out.fp) != (size_t)rows) e = ds_err_errno(DS_EIO, "write failed");
        if (!e && w->side.fp) e = sidecar_record(w, id, rows);
    } else if (w->format == FMT_NPZ) {
        if ((e = check_rows(w, id, rows)) || (e = npz_keep_id(w, id))) return e;
        e = ds_zip_write(&w->zip, v, bytes);
    } else {
        if ((e = writer_check_id(w, id))) return e;
        json_t *shape = w->pool == POOL_NONE ? json_pack("[I, i]", (json_int_t)rows, w->d) : json_pack("[i]", w->d);
        if (json_object_set_new(w->index, id, json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                                                        "data_offsets", (json_int_t)w->offset, (json_int_t)(w->offset + bytes))))
            return ds_err(DS_ENOMEM, "out of memory for the safetensors header at record %ld", w->records + 1);
        w->offset += bytes;
        if (fwrite(v, 1, bytes, w->data) != bytes) e = ds_err_errno(DS_EIO, "temporary file: write failed");
    }
    w->records++;
    return e;
}

/* The shape of the one array of npy and npz: [n, d]; pool none [L, d] for
 * one record, [n, L, d] for more. Returns the number of dimensions. */
static int array_shape(const writer *w, int64_t shape[3])
{
    shape[0] = w->records, shape[1] = w->d, shape[2] = 0;
    if (w->pool != POOL_NONE) return 2;
    if (w->records == 1) { shape[0] = w->rows_per_record; return 2; }
    shape[1] = w->rows_per_record, shape[2] = w->d;
    return 3;
}

static int finish_npy(writer *w)
{
    int64_t shape[3];
    int nd = array_shape(w, shape);
    if (fflush(w->out.fp) || fseek(w->out.fp, 0, SEEK_SET)) return ds_err_errno(DS_EIO, "cannot rewrite the npy header");
    int e = ds_npy_write_header_sized(w->out.fp, nd, shape, NPY_HEADER);
    if (!e && fseek(w->out.fp, 0, SEEK_END)) e = ds_err_errno(DS_EIO, "seek failed");
    return e;
}

/* One npz member: an .npy header of dtype descr, then what fill writes. */
static int npz_begin(writer *w, const char *name, const char *descr, int nd, const int64_t *shape)
{
    char hdr[DS_NPY_HEADER_MAX];
    int n = ds_npy_header_format(hdr, sizeof hdr, descr, nd, shape, 0);
    int e = n < 0 ? n : ds_zip_begin(&w->zip, name, 0);
    return e ? e : ds_zip_write(&w->zip, hdr, (size_t)n);
}

/* ids.npy: '<U{longest}', [n], each id as UCS-4 padded with zeros. */
static int npz_ids(writer *w)
{
    int width = w->idmax > 0 ? w->idmax : 1;
    char descr[24];
    snprintf(descr, sizeof descr, "<U%d", width);
    int64_t n = w->records;
    uint32_t *u = calloc((size_t)width, sizeof *u);
    int e = u ? npz_begin(w, "ids.npy", descr, 1, &n) : ds_err(DS_ENOMEM, "out of memory");
    for (const char *id = w->idbuf; !e && id && id < w->idbuf + w->idlen; id += strlen(id) + 1) {
        memset(u, 0, sizeof *u * (size_t)width);
        utf8_decode(id, u);
        e = ds_zip_write(&w->zip, u, sizeof *u * (size_t)width);
    }
    free(u);
    return e ? e : ds_zip_end(&w->zip, NULL);
}

/* pos.npy (pool none): int64, the shape of embeddings without d; the token
 * index t of every row. */
static int npz_pos(writer *w, int nd, const int64_t *shape)
{
    int e = npz_begin(w, "pos.npy", "<i8", nd - 1, shape);
    for (int64_t r = 0; r < w->records * w->rows_per_record && !e; r++) {
        int64_t t = r % w->rows_per_record;
        e = ds_zip_write(&w->zip, &t, sizeof t);
    }
    return e ? e : ds_zip_end(&w->zip, NULL);
}

static int finish_npz(writer *w)
{
    int64_t shape[3];
    int nd = array_shape(w, shape);
    char hdr[NPY_HEADER];
    int e = ds_npy_header_format(hdr, sizeof hdr, "<f4", nd, shape, NPY_HEADER);
    if (e >= 0) e = ds_zip_end(&w->zip, hdr);
    if (!e) e = npz_ids(w);
    if (!e && w->pool == POOL_NONE) e = npz_pos(w, nd, shape);
    return e ? e : ds_zip_finish(&w->zip);
}

static int finish_safetensors(writer *w)
{
    char *hdr = json_dumps(w->index, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr) return ds_err(DS_ENOMEM, "out of memory");
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(padded >> (8 * i));
    fwrite(len8, 1, 8, w->out.fp);
    fwrite(hdr, 1, hlen, w->out.fp);
    for (size_t i = hlen; i < padded; i++) fputc(' ', w->out.fp);
    free(hdr);
    rewind(w->data);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, w->data)) > 0)
        if (fwrite(buf, 1, n, w->out.fp) != n) return ds_err_errno(DS_EIO, "write failed");
    return ferror(w->data) ? ds_err(DS_EIO, "temporary file: read failed") : 0;
}

static int writer_close(writer *w, int ok)
{
    int e = 0;
    if (w->tsv && w->tsv != w->out.fp && fclose(w->tsv) && ok)   /* the bgzf stream: its EOF block */
        e = ds_err_errno(DS_EIO, "%s: bgzf write failed", w->out.path);
    if (ok && !e && w->format == FMT_NPY) e = finish_npy(w);
    if (ok && !e && w->format == FMT_NPZ) e = finish_npz(w);
    if (ok && !e && w->format == FMT_ST) e = finish_safetensors(w);
    if (ok && !e) e = ds_outfile_commit(&w->out);
    if (ok && !e && w->side.fp) e = ds_outfile_commit(&w->side);
    if (!ok || e) ds_outfile_abort(&w->out);
    ds_outfile_abort(&w->side);
    if (w->data) fclose(w->data);
    json_decref(w->index);
    free(w->idbuf);
    return e;
}

/* ---- encoder ---------------------------------------------------------- */

typedef struct {
    const embed_opts *o;
    ds_model *m;
    int tok_flags;            /* DS_TOK_* of the chosen rule */
    int src, d;               /* SRC_*, and the width of a row */
    int32_t *ids;
    float *rows;              /* pool none: [L, d] for the record; else [1, d] */
    float *feat;              /* SRC_FEAT, SRC_FWD_HALF: [L, d] of one chunk */
    size_t cap_ids, cap_rows, cap_feat;
    writer w;
} embedder;

static int grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return ds_err(DS_ENOMEM, "out of memory for a record of %zu bytes", need);
    *p = q;
    *cap = need;
    return 0;
}

/* The rows [L, E->d] of the last encode, as E->src says. */
static int chunk_rows(embedder *E, int L, const float **rows)
{
    ds_model *m = E->m;
    if (E->src == SRC_HIDDEN) { *rows = m->hidden; return 0; }
    if (E->src == SRC_LAYER) { *rows = m->vt->layer_output(m, (int)E->o->layer); return 0; }
    int e = grow((void **)&E->feat, &E->cap_feat, sizeof(float) * (size_t)L * E->d);
    if (e) return e;
    if (E->src == SRC_FEAT) m->vt->features(m, E->feat);
    else
        for (int t = 0; t < L; t++)   /* the fwd half of [fwd | RC(rc)] */
            memcpy(E->feat + (size_t)t * E->d, m->hidden + (size_t)t * m->d_model, sizeof(float) * (size_t)E->d);
    *rows = E->feat;
    return 0;
}

/* Encodes ids[0, n) in chunks no longer than the model allows and pools. */
static int embed_ids(embedder *E, const char *id, int64_t n)
{
    ds_model *m = E->m;
    int d = E->d;
    long chunk = E->o->chunk ? E->o->chunk : m->max_len;
    if (n > m->max_len && !E->o->chunk)
        return ds_err(DS_EINVAL, "record '%s' has %lld tokens, more than the model's %d (use --chunk N)", id, (long long)n,
                      m->max_len);
    if (chunk > m->max_len) return ds_err(DS_EINVAL, "--chunk %ld exceeds the model's %d tokens", chunk, m->max_len);
    if (n == 0) return ds_err(DS_EINVAL, "record '%s' is empty", id);
    int none = E->o->pool == POOL_NONE;
    int e = grow((void **)&E->rows, &E->cap_rows, sizeof(float) * (size_t)d * (none ? (size_t)n : 1));
    if (e) return e;
    if (!none) memset(E->rows, 0, sizeof(float) * (size_t)d);
    for (int64_t s = 0; s < n; s += chunk) {
        int L = (int)(n - s < chunk ? n - s : chunk);
        const float *h;
        if ((e = m->vt->reserve(m, 1, L)) || (e = m->vt->encode(m, E->ids + s, 1, L, 0, 0, 0)) ||
            (e = chunk_rows(E, L, &h)))
            return e;
        if (none) memcpy(E->rows + (size_t)s * d, h, sizeof(float) * (size_t)L * d);
        else if (E->o->pool == POOL_LAST) memcpy(E->rows, h + (size_t)(L - 1) * d, sizeof(float) * (size_t)d);
        else
            for (int t = 0; t < L; t++)
                for (int c = 0; c < d; c++) E->rows[c] += h[(size_t)t * d + c] / (float)n;
    }
    return writer_record(&E->w, id, E->rows, none ? (long)n : 1);
}

static int embed_seq(embedder *E, const char *id, const char *seq, int64_t len)
{
    int e = writer_check_id(&E->w, id);
    if (!e) e = grow((void **)&E->ids, &E->cap_ids, sizeof(int32_t) * (size_t)(len + 2));
    if (e) return e;
    int64_t n = ds_tokenize(seq, len, E->tok_flags, E->ids);
    return embed_ids(E, id, n);
}

static int embed_files(embedder *E, char **paths, int n, long *count)
{
    for (int i = 0; i < n; i++) {
        ds_fasta_reader *r;
        int e = ds_fasta_open(&r, paths[i]);
        ds_fasta_record rec;
        while (!e && (e = ds_fasta_next(r, &rec)) == 1) {
            e = embed_seq(E, rec.id, rec.seq, rec.len);
            /* a record the model cannot take (empty, too long, a bad id): say where it is */
            if (e == DS_EINVAL) e = ds_err(e, "%s:%lld: %s", paths[i], (long long)rec.line, ds_errmsg());
            (*count)++;
        }
        ds_fasta_close(r);
        if (e < 0) return e;
    }
    return 0;
}

static int embed_region(embedder *E, ds_ref *ref, ds_region *g, char **buf, size_t *cap, long *count)
{
    const char *src = g->line ? E->o->regions : NULL;
    int e = ds_region_resolve(ref, g, src);   /* contig, range; end = -1 → contig length */
    if (!e) e = grow((void **)buf, cap, (size_t)(g->end - g->beg) + 1);
    if (!e) e = ds_region_fetch(ref, g, src, *buf);   /* '-' strand reverse-complemented */
    if (e) return e;
    /* A BED row's id joins back to its BED: the name (column 4), else
     * bedtools getfasta's chrom:start-end in the BED's own coordinates, with
     * (+)/(-) when the row has a strand, as getfasta -s. A region argument
     * keeps the samtools form it was given in, 1-based. */
    char id[512];
    if (g->name) snprintf(id, sizeof id, "%s", g->name);
    else if (g->line)
        snprintf(id, sizeof id, "%s:%lld-%lld%s", g->chrom, (long long)g->beg, (long long)g->end,
                 g->strand == '-' ? "(-)" : g->strand == '+' ? "(+)" : "");
    else snprintf(id, sizeof id, "%s:%lld-%lld", g->chrom, (long long)g->beg + 1, (long long)g->end);
    (*count)++;
    return embed_seq(E, id, *buf, g->end - g->beg);
}

static int embed_regions(embedder *E, char **args, int nargs, long *count)
{
    ds_ref *ref;
    char *buf = NULL;
    size_t cap = 0;
    int e = ds_ref_open(&ref, E->o->ref);
    if (e) return e;
    if (E->o->regions) {   /* streamed: a BED of any size in constant memory */
        ds_bed_reader *bed;
        ds_region g;
        int got = 0;
        if (!(e = ds_bed_open(&bed, E->o->regions))) {
            while (!e && (got = ds_bed_next(bed, &g)) == 1) {
                e = embed_region(E, ref, &g, &buf, &cap, count);
                ds_region_free(&g);
            }
            if (!e && got < 0) e = got;
            ds_bed_close(bed);
        }
    }
    for (int i = 0; !e && i < nargs; i++) {
        ds_region g;
        /* a contig named like a region ("22:20000001-21000000") is that
         * whole contig, as samtools resolves it */
        if (ds_ref_has_contig(ref, args[i])) e = ds_region_parse_whole(args[i], &g);
        else e = ds_region_parse(args[i], &g);
        if (!e) e = embed_region(E, ref, &g, &buf, &cap, count);
        ds_region_free(&g);
    }
    free(buf);
    ds_ref_close(ref);
    return e;
}

/* ---- audio (wav2vec2) ------------------------------------------------- */

/* Every utterance of the audio inputs (files, directories, LibriSpeech
 * trees, manifests, '-'), one at a time: decoded, mixed to mono and
 * resampled to 16 kHz on demand, so memory is that of the longest one. Rows
 * are the 20 ms frames of the final output (or --layer's), named by the
 * utterance id (LibriSpeech: the file stem; else the path). */
static int embed_audio(embedder *E, char **inputs, int n, long *count)
{
    ds_model *m = E->m;
    const ds_w2v_config *c = ds_w2v_cfg(m);
    ds_speech_list l;
    int e = ds_speech_open(&l, inputs, n);
    if (e) return e;
    /* audio without a transcript is normal here; transcript lines without
     * their audio file say the corpus is incomplete */
    if (l.warn && l.n_orphan_lines && !E->o->co.quiet) fprintf(stderr, "[W::embed] %s\n", l.warn);
    /* every header first: a file that is not audio fails before any row is written */
    for (long i = 0; i < l.n && !e; i++) {
        ds_audio_info info;
        e = ds_audio_probe(l.u[i].path, &info);
    }
    m->eval_only = 1;
    if (E->o->layer >= 0) ds_w2v_keep_layer(m, (int)E->o->layer + 1);
    long reserved = 0;
    int d = E->d, none = E->o->pool == POOL_NONE;
    for (long i = 0; i < l.n && !e; i++) {
        float *x = NULL;
        long ns = 0;
        const char *id = l.u[i].id;
        if (!(e = writer_check_id(&E->w, id))) e = ds_speech_load(&l, i, DS_W2V_RATE, ds_w2v_min_samples(c), &x, &ns);
        if (!e && ns > reserved && !(e = ds_w2v_reserve(m, 1, ns))) reserved = ns;
        const float *wave[1] = { x };
        if (!e) e = ds_w2v_encode(m, wave, &ns, 1, NULL, 0, 0, 0);
        free(x);
        if (e) break;
        int T = ds_w2v_lens(m)[0];
        const float *h = E->o->layer >= 0 ? ds_w2v_hidden_state(m, (int)E->o->layer + 1) : m->hidden;
        if ((e = grow((void **)&E->rows, &E->cap_rows, sizeof(float) * (size_t)d * (none ? (size_t)T : 1)))) break;
        if (none) memcpy(E->rows, h, sizeof(float) * (size_t)T * d);
        else if (E->o->pool == POOL_LAST) memcpy(E->rows, h + (size_t)(T - 1) * d, sizeof(float) * (size_t)d);
        else {
            for (int k = 0; k < d; k++) {
                double s = 0;
                for (int t = 0; t < T; t++) s += h[(size_t)t * d + k];
                E->rows[k] = (float)(s / T);
            }
        }
        e = writer_record(&E->w, id, E->rows, none ? T : 1);
        (*count)++;
    }
    ds_speech_free(&l);
    return e;
}

/* The options a speech checkpoint cannot honour are usage errors. */
static int choose_output_audio(embedder *E, embed_opts *o)
{
    const char *bad = o->ref ? "--ref" : o->regions ? "--regions" : o->chunk ? "--chunk" : o->tokens >= 0 ? "--tokens"
                      : o->strands_set ? "--strands" : NULL;
    if (bad) return ds_usage_error(o->co.cmd, "%s applies to DNA checkpoints; %s is a wav2vec2 (speech) model", bad, o->from);
    E->src = o->layer >= 0 ? SRC_LAYER : SRC_HIDDEN;
    E->d = E->m->d_model;
    return 0;
}

/* Tokenizer, strands and row source for the loaded checkpoint; a usage
 * error (2) for an option its architecture cannot honour. Sets the model
 * flags that reserve reads: rc_conjoin for Ph avg, and eval_only (one layer
 * of activations, so long records fit) unless --layer needs every block's. */
static int choose_output(embedder *E, embed_opts *o)
{
    ds_model *m = E->m;
    int cad = !strcmp(m->vt->arch, "caduceus"), ps = cad && ds_caduceus_is_rcps(m);
    if (o->tokens < 0 && cad) o->tokens = TOK_OFFICIAL;
    /* HyenaDNA: the rules the checkpoint records (a converted official one
     * says official or official-hf), so the official numbers need no flag */
    for (int i = 0; o->tokens < 0 && TOKENS[i]; i++)
        if (!strcmp(TOKENS[i], ds_hyena_tokenizer(m))) o->tokens = i;
    E->tok_flags = cad ? CADUCEUS_TOKEN_FLAGS[o->tokens] : TOKEN_FLAGS[o->tokens];
    E->src = o->layer >= 0 ? SRC_LAYER : SRC_HIDDEN;
    E->d = m->d_model;
    m->eval_only = o->layer < 0;
    if (!cad) {
        if (o->strands_set)
            return ds_usage_error(o->co.cmd, "--strands applies to Caduceus checkpoints; %s is a one-strand %s model",
                                  o->from, m->vt->arch);
        return 0;
    }
    if (o->strands == STR_BOTH && !ps)
        return ds_usage_error(o->co.cmd, "--strands both: %s is Caduceus-Ph, whose hidden state is one strand of "
                              "d_model %d channels; use avg (conjoined with the reverse complement) or fwd",
                              o->from, m->d_model);
    if (o->layer >= 0 && (ps || o->strands != STR_FWD))
        return ds_usage_error(o->co.cmd, "--layer is available for HyenaDNA and for Caduceus-Ph with --strands fwd "
                              "(a two-strand run keeps no per-block outputs)");
    if (o->layer >= 0) return 0;
    if (o->strands == STR_AVG) {
        E->src = SRC_FEAT;
        E->d = m->d_feat;
        m->rc_conjoin = !ps;   /* PS always runs both strands */
    } else if (o->strands == STR_FWD && ps) {
        E->src = SRC_FWD_HALF;
        E->d = m->d_feat;
    }
    return 0;
}

int main_embed(int argc, char **argv)
{
    double t0 = ds_realtime();
    embed_opts o = { .out = "-", .layer = -1, .tokens = -1 };
    ds_common_defaults(&o.co, "embed", DS_O_THREADS | DS_O_QUIET);
    if (argc < 2) { usage(stderr, &o); return 2; }
    int rc = parse(&o, argc, argv);
    if (rc) return rc;
    if (o.co.help) { usage(stdout, &o); return 0; }
    if (!o.from) return ds_usage_error(o.co.cmd, "missing --from CKPT");
    if (optind == argc && !o.regions) return ds_usage_error(o.co.cmd, "missing INPUT");
    if (o.regions && !o.ref) return ds_usage_error(o.co.cmd, "--regions needs --ref FASTA");
    if (!o.ref && (rc = check_no_region_without_ref(&o, argc - optind, argv + optind))) return rc;
    if ((rc = choose_format(&o))) return rc;
    if (o.pool == POOL_CLS)
        return ds_usage_error(o.co.cmd, "--pool cls: DNA inputs carry no [CLS] token here; use mean or last");
    if ((rc = check_output(&o, argc - optind, argv + optind))) return rc;
    ds_threads_set(o.co.threads);
    embedder E = { .o = &o };
    int e = ds_model_load(&E.m, o.from);
    int audio = !e && ds_w2v_is(E.m);
    if (!e && (rc = audio ? choose_output_audio(&E, &o) : choose_output(&E, &o))) {
        ds_model_free(E.m);
        return rc;
    }
    if (!e && o.layer >= E.m->n_layer)
        e = ds_err(DS_EINVAL, "--layer %ld: the model has blocks 0..%d", o.layer, E.m->n_layer - 1);
    int opened = 0;
    if (!e) e = writer_open(&E.w, &o, E.d), opened = 1;
    long count = 0;
    if (!e) e = audio ? embed_audio(&E, argv + optind, argc - optind, &count)
                : o.ref ? embed_regions(&E, argv + optind, argc - optind, &count)
                        : embed_files(&E, argv + optind, argc - optind, &count);
    if (!e && !count) e = ds_err(DS_EINVAL, "no records to embed");
    if (opened) {
        int e2 = writer_close(&E.w, !e);
        if (!e) e = e2;
    }
    free(E.ids);
    free(E.rows);
    free(E.feat);
    ds_model_free(E.m);
    if (e) return ds_cmd_error(o.co.cmd, "%s", ds_errmsg());
    if (!o.co.quiet) {
        fprintf(stderr, "[M::embed] %ld records\n", count);
        ds_resource_line(t0);
    }
    return 0;
}
