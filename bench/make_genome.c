/* make_genome [TOTAL_BP] [SEED]: a synthetic genome in FASTA on stdout, for
 * bench/genome_scale.sh: the 25 contigs of GRCh38 (chr1-22, X, Y, M) at
 * their lengths scaled to TOTAL_BP (default 3,088,286,401, GRCh38 itself),
 * random bases with N runs where GRCh38 has its large ones: 10 kb
 * telomeres, a centromere of 3% at 40% of each contig, the short arms of
 * the acrocentric chr13-15, 21 and 22 (their first 15%), half of chrY, and
 * a 50 kb gap every 10 Mb. About 5.5% of the bases are N, as in GRCh38.
 * Lines of 60 bases, upper case. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; int64_t len; } CONTIGS[] = {
    { "chr1", 248956422 }, { "chr2", 242193529 }, { "chr3", 198295559 }, { "chr4", 190214555 },
    { "chr5", 181538259 }, { "chr6", 170805979 }, { "chr7", 159345973 }, { "chr8", 145138636 },
    { "chr9", 138394717 }, { "chr10", 133797422 }, { "chr11", 135086622 }, { "chr12", 133275309 },
    { "chr13", 114364328 }, { "chr14", 107043718 }, { "chr15", 101991189 }, { "chr16", 90338345 },
    { "chr17", 83257441 }, { "chr18", 80373285 }, { "chr19", 58617616 }, { "chr20", 64444167 },
    { "chr21", 46709983 }, { "chr22", 50818468 }, { "chrX", 156040895 }, { "chrY", 57227415 },
    { "chrM", 16569 },
};
#define NCONTIGS ((int)(sizeof CONTIGS / sizeof CONTIGS[0]))
#define GRCH38_BP 3088286401.0

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)   /* xorshift64* */
{
    g_s ^= g_s >> 12; g_s ^= g_s << 25; g_s ^= g_s >> 27;
    return g_s * 2685821657736338717ull;
}

static int acrocentric(const char *n)
{
    return !strcmp(n, "chr13") || !strcmp(n, "chr14") || !strcmp(n, "chr15") || !strcmp(n, "chr21") || !strcmp(n, "chr22");
}

/* A contig's N runs, from its name and length. */
typedef struct { int none, acro, y; int64_t len, tel, cen, clen, every, gap; } layout;

static layout layout_of(const char *name, int64_t len, double scale)
{
    layout l = { !strcmp(name, "chrM"), acrocentric(name), !strcmp(name, "chrY"), len, (int64_t)(10000 * scale) + 1,
                 (int64_t)(0.4 * (double)len), (int64_t)(0.03 * (double)len), (int64_t)(10e6 * scale) + 1,
                 (int64_t)(50000 * scale) };
    return l;
}

/* 1 if position i is in one of the contig's N runs. */
static int is_n(const layout *l, int64_t i)
{
    if (l->none) return 0;
    if (i < l->tel || i >= l->len - l->tel) return 1;
    if (i >= l->cen && i < l->cen + l->clen) return 1;
    if (l->acro && i < (int64_t)(0.15 * (double)l->len)) return 1;
    if (l->y && i >= l->len / 2) return 1;
    return i % l->every >= l->every - l->gap;
}

int main(int argc, char **argv)
{
    double total = argc > 1 ? atof(argv[1]) : GRCH38_BP;
    if (argc > 2) g_s ^= strtoull(argv[2], NULL, 10) * 0xbf58476d1ce4e5b9ull;
    if (!(total >= 1e4)) { fprintf(stderr, "usage: make_genome [TOTAL_BP >= 10000] [SEED]\n"); return 2; }
    double scale = total / GRCH38_BP;
    static char buf[1 << 20];
    size_t k = 0;
    for (int c = 0; c < NCONTIGS; c++) {
        int64_t len = (int64_t)((double)CONTIGS[c].len * scale);
        if (len < 2000) len = 2000;
        k += (size_t)snprintf(buf + k, 64, ">%s\n", CONTIGS[c].name);
        layout lay = layout_of(CONTIGS[c].name, len, scale);
        uint64_t r = 0;
        int left = 0;
        for (int64_t i = 0; i < len; i++) {
            if (!left) { r = next(); left = 32; }
            buf[k++] = is_n(&lay, i) ? 'N' : "ACGT"[r & 3];
            r >>= 2;
            left--;
            if (i % 60 == 59 || i == len - 1) buf[k++] = '\n';
            if (k > sizeof buf - 128) {
                if (fwrite(buf, 1, k, stdout) != k) { perror("make_genome"); return 1; }
                k = 0;
            }
        }
    }
    if (fwrite(buf, 1, k, stdout) != k || fflush(stdout)) { perror("make_genome"); return 1; }
    return 0;
}
