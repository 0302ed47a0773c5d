/* libFuzzer harness: the FASTA/FASTQ stream reader (lib/io/fasta.c,
 * ds_fasta_open/ds_fasta_next) on arbitrary bytes, plain or compressed.
 * Checks what fasta.h promises of every record it returns. */
#include "fuzz.h"
#include "io/fasta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.fa", data, size);
    ds_fasta_reader *r;
    int e = ds_fasta_open(&r, path);
    FUZZ_ASSERT_MESSAGE(e);
    if (e) { FUZZ_ASSERT(!r); return 0; }
    ds_fasta_record rec;
    int64_t n = 0, last_line = 0;
    while ((e = ds_fasta_next(r, &rec)) == 1) {
        FUZZ_ASSERT(rec.id && rec.id[0] && rec.seq);
        FUZZ_ASSERT((int64_t)strlen(rec.seq) == rec.len);
        FUZZ_ASSERT(rec.index == n++);
        FUZZ_ASSERT(rec.line > last_line);
        last_line = rec.line;
        if (rec.qual && rec.len) {   /* all len quality bytes are there (ASan checks the read) */
            volatile char last = rec.qual[rec.len - 1];
            (void)last;
        }
    }
    FUZZ_ASSERT_MESSAGE(e);
    FUZZ_ASSERT(e <= 0);
    ds_fasta_close(r);
    return 0;
}
