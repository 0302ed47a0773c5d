/* Bounded BGZF line reading (linebuf.h). Reads 64 KiB at a time with
 * bgzf_read and cuts lines out of that buffer, instead of bgzf_getline,
 * which grows its string until it meets a newline. */
#include "io/linebuf.h"

#include <htslib/hts_log.h>
#include <stdlib.h>
#include <string.h>

#define LINEBUF_SIZE (1 << 16)

int ds_linebuf_init(ds_linebuf *b, BGZF *fp)
{
    b->fp = fp;
    b->pos = b->end = 0;
    return (b->buf = malloc(LINEBUF_SIZE)) ? 0 : -1;
}

void ds_linebuf_free(ds_linebuf *b)
{
    free(b->buf);
    b->buf = NULL;
}

/* 1 with more bytes buffered, 0 at the end, -1 on a read error. */
static int refill(ds_linebuf *b)
{
    enum htsLogLevel lv = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF);   /* the caller reports a corrupt block once */
    ssize_t got = bgzf_read(b->fp, b->buf, LINEBUF_SIZE);
    hts_set_log_level(lv);
    if (got < 0) return -1;
    b->pos = 0;
    b->end = (size_t)got;
    return got > 0;
}

int ds_linebuf_get(ds_linebuf *b, kstring_t *s, size_t max_header, size_t max)
{
    int any = 0, e;
    s->l = 0;
    b->first = 0;
    for (;;) {
        if (b->pos == b->end && (e = refill(b)) <= 0) {
            if (e < 0) return DS_LINE_EREAD;
            break;
        }
        any = 1;
        const char *p = b->buf + b->pos, *nl = memchr(p, '\n', b->end - b->pos);
        size_t n = nl ? (size_t)(nl - p) : b->end - b->pos;
        if (!s->l) b->first = *p;
        if (s->l + n > (b->first == '>' || b->first == '@' ? max_header : max)) return DS_LINE_ETOOLONG;
        if (kputsn(p, n, s) < 0) return DS_LINE_ENOMEM;
        b->pos += n + (nl != NULL);
        if (nl) break;
    }
    if (!any) return DS_LINE_EOF;
    return kputs("", s) < 0 ? DS_LINE_ENOMEM : DS_LINE_OK;
}
