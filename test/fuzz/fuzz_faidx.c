/* libFuzzer harness: faidx random access (lib/io/fasta.c, ds_ref_open and
 * ds_ref_fetch*). One input holds a FASTA (plain, or bgzip when it starts
 * with the gzip magic) and optionally its index files:
 *     FASTA [ "\n##fai\n" .fai text [ "\n##gzi\n" .gzi bytes ] ]
 * Without a .fai part the index is built from the FASTA (FAI_CREATE). Every
 * contig the index names is looked up and fetched in part and in full.

 *
 * Every index file htslib 1.16 would trust blindly (a zero line width, an
 * offset past the data, a .gzi whose count exceeds its size, a bgzip FASTA
 * with a .fai and no .gzi, an index htslib itself builds with a zero width)
 * reaches ds_ref_open unfiltered: lib/io/faidx_check.c must refuse it with a
 * message, or the harness crashes. */
#include "fuzz.h"
#include "io/fasta.h"


#define SEP_FAI "\n##fai\n"
#define SEP_GZI "\n##gzi\n"

static void fetch_checks(const ds_ref *ref)
{
    int n = ds_ref_ncontigs(ref);
    FUZZ_ASSERT(n > 0);
    for (int i = 0; i < n && i < 8; i++) {
        const char *name = ds_ref_contig_name(ref, i);
        int64_t len = ds_ref_contig_len(ref, i);
        FUZZ_ASSERT(name && len >= 0);
        FUZZ_ASSERT(ds_ref_has_contig(ref, name));
        FUZZ_ASSERT(ds_ref_contig_index(ref, name) >= 0);
        char one[1];
        FUZZ_ASSERT(ds_ref_fetch_i(ref, i, 0, len + 1, one) < 0);   /* past the end: refused, nothing read */
        FUZZ_ASSERT(ds_ref_fetch_i(ref, i, -1, 0, one) < 0);
        int64_t beg = len / 2, end = beg + 64 < len ? beg + 64 : len;
        char win[64];
        FUZZ_ASSERT_MESSAGE(ds_ref_fetch(ref, name, beg, end, win));
        if (len <= (1 << 16)) {
            char *all = malloc((size_t)len + 1);
            FUZZ_ASSERT(all);
            FUZZ_ASSERT_MESSAGE(ds_ref_fetch_i(ref, i, 0, len, all));
            free(all);
        }
    }
    FUZZ_ASSERT(ds_ref_contig_index(ref, "no such contig\001") < 0 && ds_errmsg()[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[3];
    size_t len[3];
    int np = fuzz_split(data, size, SEP_FAI, part, len, 2);
    if (np == 2) np = 1 + fuzz_split(part[1], len[1], SEP_GZI, part + 1, len + 1, 2);
    fuzz_remove("ref");
    fuzz_mkdir("ref");
    int bgzip = len[0] >= 2 && part[0][0] == 0x1f && part[0][1] == 0x8b;
    char fa[600], idx[700];
    fuzz_path(fa, sizeof fa, bgzip ? "ref/ref.fa.gz" : "ref/ref.fa");
    fuzz_write_at(fa, part[0], len[0]);
    if (np >= 2) { snprintf(idx, sizeof idx, "%s.fai", fa); fuzz_write_at(idx, part[1], len[1]); }
    if (np >= 3) { snprintf(idx, sizeof idx, "%s.gzi", fa); fuzz_write_at(idx, part[2], len[2]); }
    ds_ref *ref;
    int e = ds_ref_open(&ref, fa);
    FUZZ_ASSERT_MESSAGE(e);
    if (e) { FUZZ_ASSERT(!ref); return 0; }
    fetch_checks(ref);
    ds_ref_close(ref);
    return 0;
}
