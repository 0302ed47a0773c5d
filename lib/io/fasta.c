/* FASTA/FASTQ streaming with htslib's kseq over BGZF (which reads plain,
 * gzip and bgzip alike) and reference random access with faidx. htslib's own
 * log lines are silenced here: errors come back as one derfseq message. */
#include "io/fasta.h"
#include "core/error.h"

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kseq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

KSEQ_INIT(BGZF *, bgzf_read)

struct ds_fasta_reader {
    BGZF *fp;
    kseq_t *ks;
    char *path;
    int64_t n;
};

int ds_fasta_open(ds_fasta_reader **out, const char *path)
{
    *out = NULL;
    ds_fasta_reader *r = calloc(1, sizeof *r);
    if (!r) return ds_err(DS_ENOMEM, "out of memory");
    r->path = strdup(!strcmp(path, "-") ? "(stdin)" : path);
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    r->fp = !strcmp(path, "-") ? bgzf_dopen(STDIN_FILENO, "r") : bgzf_open(path, "r");
    hts_set_log_level(lv);
    if (!r->fp) { int e = ds_err_errno(DS_EIO, "%s: cannot open", r->path); ds_fasta_close(r); return e; }
    int c = bgzf_peek(r->fp);
    if (c == -1) { ds_fasta_close(r); return ds_err(DS_EFORMAT, "%s: no sequence records (empty input)", path); }
    if (c != '>' && c != '@') {
        ds_fasta_close(r);
        return ds_err(DS_EFORMAT, "%s:1: expected '>' (FASTA) or '@' (FASTQ) at the start of a record", path);
    }
    r->ks = kseq_init(r->fp);
    *out = r;
    return 0;
}

int ds_fasta_next(ds_fasta_reader *r, ds_fasta_record *rec)
{
    int len = kseq_read(r->ks);
    if (len == -1) return 0;
    if (len == -2) return ds_err(DS_EFORMAT, "%s: record %lld ('%s'): quality line length differs from the sequence",
                                 r->path, (long long)r->n + 1, r->ks->name.s);
    if (len < 0) return ds_err(DS_EIO, "%s: read error after record %lld (truncated or corrupt compressed data?)",
                               r->path, (long long)r->n);
    if (!r->ks->name.l) return ds_err(DS_EFORMAT, "%s: record %lld: empty header line", r->path, (long long)r->n + 1);
    rec->id = r->ks->name.s;
    rec->seq = r->ks->seq.s;
    rec->len = (int64_t)r->ks->seq.l;
    rec->index = r->n++;
    return 1;
}

void ds_fasta_close(ds_fasta_reader *r)
{
    if (!r) return;
    if (r->ks) kseq_destroy(r->ks);
    if (r->fp) bgzf_close(r->fp);
    free(r->path);
    free(r);
}

struct ds_ref {
    faidx_t *fai;
    char *path;
};

int ds_ref_open(ds_ref **out, const char *path)
{
    *out = NULL;
    if (access(path, R_OK)) return ds_err_errno(DS_EIO, "%s: cannot open reference", path);
    ds_ref *r = calloc(1, sizeof *r);
    if (!r) return ds_err(DS_ENOMEM, "out of memory");
    r->path = strdup(path);
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);
    r->fai = fai_load3(path, NULL, NULL, FAI_CREATE);
    hts_set_log_level(lv);
    if (!r->fai) {
        BGZF *fp = bgzf_open(path, "r");
        int gz = fp && bgzf_compression(fp) == 1;   /* gzip but not bgzip */
        if (fp) bgzf_close(fp);
        ds_ref_close(r);
        if (gz) return ds_err(DS_EFORMAT, "%s: gzip-compressed but not bgzip, so it cannot be indexed; recompress with "
                                          "'zcat %s | bgzip > x.fa.gz' or decompress it", path, path);
        return ds_err(DS_EFORMAT, "%s: cannot read or build the FASTA index (%s.fai); is it FASTA, and is its directory "
                                  "writable? ('samtools faidx %s' builds it elsewhere)", path, path, path);
    }
    *out = r;
    return 0;
}

void ds_ref_close(ds_ref *r)
{
    if (!r) return;
    if (r->fai) fai_destroy(r->fai);
    free(r->path);
    free(r);
}

int ds_ref_ncontigs(const ds_ref *r) { return faidx_nseq(r->fai); }
const char *ds_ref_contig_name(const ds_ref *r, int i) { return faidx_iseq(r->fai, i); }
/* htslib 1.16 (Debian 12) has no faidx_seq_len64; int covers every human contig */
int64_t ds_ref_contig_len(const ds_ref *r, int i) { return faidx_seq_len(r->fai, faidx_iseq(r->fai, i)); }
const char *ds_ref_path(const ds_ref *r) { return r->path; }

int ds_ref_has_contig(const ds_ref *r, const char *name) { return faidx_has_seq(r->fai, name) == 1; }

int ds_ref_contig_index(const ds_ref *r, const char *name)
{
    int n = faidx_nseq(r->fai);
    for (int i = 0; i < n; i++)
        if (!strcmp(faidx_iseq(r->fai, i), name)) return i;
    char alt[256];
    if (!strncmp(name, "chr", 3)) snprintf(alt, sizeof alt, "%s", name + 3);
    else snprintf(alt, sizeof alt, "chr%s", name);
    if (faidx_has_seq(r->fai, alt))
        return ds_err(DS_EINVAL, "%s: unknown contig '%s' (the reference has '%s')", r->path, name, alt);
    return ds_err(DS_EINVAL, "%s: unknown contig '%s' (%d contigs, e.g. '%s')", r->path, name, n,
                  n ? faidx_iseq(r->fai, 0) : "none");
}

int ds_ref_fetch(const ds_ref *r, const char *name, int64_t beg, int64_t end, char *buf)
{
    int i = ds_ref_contig_index(r, name);
    if (i < 0) return i;
    int64_t clen = ds_ref_contig_len(r, i);
    if (beg < 0 || end < beg)
        return ds_err(DS_EINVAL, "%s: %s:%lld-%lld: end (%lld) < start (%lld)", r->path, name, (long long)beg,
                      (long long)end, (long long)end, (long long)beg);
    if (end > clen)
        return ds_err(DS_EINVAL, "%s: %s:%lld-%lld: end is past the contig's length %lld", r->path, name,
                      (long long)beg, (long long)end, (long long)clen);
    if (end == beg) return 0;
    hts_pos_t len = 0;
    char *s = faidx_fetch_seq64(r->fai, name, beg, end - 1, &len);
    if (!s || len != end - beg) {
        free(s);
        return ds_err(DS_EIO, "%s: cannot read %s:%lld-%lld", r->path, name, (long long)beg, (long long)end);
    }
    memcpy(buf, s, (size_t)len);
    free(s);
    return 0;
}

static char complement(char c)
{
    static const char from[] = "ACGTURYKMBVDHNacgturykmbvdhn", to[] = "TGCAAYRMKVBHDNtgcaayrmkvbhdn";
    const char *p = c ? strchr(from, c) : NULL;
    return p ? to[p - from] : c;
}

void ds_revcomp(char *s, int64_t n)
{
    for (int64_t i = 0, j = n - 1; i <= j; i++, j--) {
        char a = complement(s[i]), b = complement(s[j]);
        s[i] = b;
        s[j] = a;
    }
}
