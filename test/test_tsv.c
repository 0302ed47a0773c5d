/* lib/io/tsv.c: id<TAB>v1<TAB>... rows (derfseq.md "Outputs"), values
 * that read back within float32 printing precision. */
#include "test.h"
#include "core/error.h"
#include "io/tsv.h"

#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

/* Everything written to fp so far, as a string (static buffer). */
static const char *contents(FILE *fp)
{
    static char buf[4096];
    fflush(fp);
    rewind(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    return buf;
}

TEST(test_tsv_row_is_the_id_then_tab_separated_values)
{
    FILE *fp = tmpfile();
    float v[4] = { 1, -2.5f, 1e-7f, 0 };
    CHECK_EQ_INT(ds_tsv_write_row(fp, "chr1:0-100", v, 4), 0);
    CHECK_EQ_INT(ds_tsv_write_row(fp, "b", v, 0), 0);
    const char *s = contents(fp);
    CHECK_MSG(!strcmp(s, "chr1:0-100\t1\t-2.5\t1e-07\t0\nb\n"), "got '%s'", s);
    fclose(fp);
}

TEST(test_tsv_token_row_has_the_position_second)
{
    FILE *fp = tmpfile();
    float v[2] = { 0.5f, 3 };
    CHECK_EQ_INT(ds_tsv_write_token_row(fp, "seq", 17, v, 2), 0);
    const char *s = contents(fp);
    CHECK_MSG(!strcmp(s, "seq\t17\t0.5\t3\n"), "got '%s'", s);
    fclose(fp);
}

TEST(test_tsv_values_read_back_within_float_printing_precision)
{
    FILE *fp = tmpfile();
    float v[64];
    ds_test_fill_uniform(v, 64, -1000, 1000, 9);
    v[0] = 3.4028235e38f;
    v[1] = -1.1754944e-38f;
    CHECK_EQ_INT(ds_tsv_write_row(fp, "r", v, 64), 0);
    /* the reader downstream is not derfseq: parse without the FTZ/DAZ that
     * derfseq's threads run with (glibc's strtof flushes FLT_MIN under it) */
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr & ~0x8040u);
    char *p = strchr(contents(fp), '\t');
    for (int i = 0; i < 64 && p; i++) {
        char *end;
        float x = strtof(p + 1, &end);
        CHECK_MSG(fabsf(x - v[i]) <= 1e-6f * fabsf(v[i]), "value %d: %.9g read back as %.9g", i, v[i], x);
        p = *end == '\t' ? end : NULL;
    }
    _mm_setcsr(csr);
    fclose(fp);
}

TEST(test_tsv_refuses_an_id_with_a_tab_or_newline)
{
    FILE *fp = tmpfile();
    float v[1] = { 1 };
    CHECK_EQ_INT(ds_tsv_write_row(fp, "a\tb", v, 1), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "'a...'") != NULL);
    CHECK_EQ_INT(ds_tsv_write_token_row(fp, "a\nb", 0, v, 1), DS_EINVAL);
    CHECK_MSG(contents(fp)[0] == 0, "a refused row was partly written");
    fclose(fp);
}
