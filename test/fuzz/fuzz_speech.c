/* libFuzzer harness: the speech inputs (lib/io/speech_data.c, lib/io/audio.c).
 * The first byte picks the case (low 2 bits), the rest is the data:
 *   0  the body of a fairseq manifest (its root line is written here: the
 *      scratch folder, which holds a.flac, a real 16 kHz utterance); with
 *      bit 2 set, the whole .tsv as it is (a transcript TSV, PATH<TAB>TEXT,
 *      its paths relative to the scratch folder)
 *   1  the trans.txt of a LibriSpeech chapter 9001/1 holding 9001-1-0000.flac
 *      and 9001-1-0001.flac
 *   2  the bytes of an audio file, read at 16 kHz (this mostly exercises
 *      libsndfile under our error paths)
 *   3  a list of paths, one per line (as on stdin), relative to the scratch folder
 * Invariants: an error has a one-line message; a list has unique ids, a path
 * and id per utterance; decoded audio is finite. */
#include "fuzz.h"
#include "io/audio.h"
#include "io/speech_data.h"

#include <math.h>

/* libsndfile's known leak on a refused malformed Ogg (see test/test_audio.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:vorbis_info_init\n"; }

static char g_flac[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    snprintf(g_flac, sizeof g_flac, "%s", fuzz_copy_testdata("speech/LibriSpeech-mini/9001/1/9001-1-0000.flac", "src.flac"));
    return 0;
}

static void put_flac(const char *name)
{
    char p[600];
    fuzz_path(p, sizeof p, name);
    if (link(g_flac, p)) fuzz_die("link", p);
}

static void check_message(void)
{
    FUZZ_ASSERT(ds_errmsg()[0] && !strchr(ds_errmsg(), '\n'));
}

static void check_list(ds_speech_list *l)
{
    FUZZ_ASSERT(l->n > 0);
    for (long i = 0; i < l->n; i++) {
        FUZZ_ASSERT(l->u[i].path && l->u[i].id);
        for (long j = 0; j < i; j++) FUZZ_ASSERT(strcmp(l->u[i].id, l->u[j].id));
    }
    FUZZ_ASSERT(!l->warn || !strchr(l->warn, '\n'));
    if (ds_speech_require_text(l)) check_message();
    float *x;
    long n;
    if (ds_speech_load(l, 0, DS_AUDIO_RATE, 400, &x, &n) == 0) {
        for (long i = 0; i < n; i++) FUZZ_ASSERT(isfinite(x[i]));
        free(x);
    } else {
        check_message();
    }
}

static void open_and_check(const char *input)
{
    ds_speech_list l;
    char *in[1] = {(char *)input};
    ds_err_clear();
    if (ds_speech_open(&l, in, 1)) { check_message(); return; }
    check_list(&l);
    ds_speech_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    int mode = data[0] & 3, raw_tsv = data[0] & 4;
    data++, size--;
    fuzz_remove("sp");
    fuzz_mkdir("sp");
    char p[600], root[600];
    fuzz_path(root, sizeof root, "sp");
    if (mode == 0) {
        put_flac("sp/a.flac");
        fuzz_path(p, sizeof p, "sp/m.tsv");
        FILE *fp = fopen(p, "wb");
        if (!fp || (!raw_tsv && fprintf(fp, "%s\n", root) < 0) || (size && fwrite(data, 1, size, fp) != size) ||
            fclose(fp))
            fuzz_die("writing", p);
        open_and_check(p);
    } else if (mode == 1) {
        fuzz_mkdir("sp/9001");
        fuzz_mkdir("sp/9001/1");
        put_flac("sp/9001/1/9001-1-0000.flac");
        put_flac("sp/9001/1/9001-1-0001.flac");
        fuzz_write("sp/9001/1/9001-1.trans.txt", data, size);
        open_and_check(root);
    } else if (mode == 2) {
        const char *a = fuzz_write("sp/x.wav", data, size);
        float *x;
        long n;
        ds_err_clear();
        if (ds_audio_read(a, DS_AUDIO_RATE, 0, &x, &n) == 0) {
            FUZZ_ASSERT(n > 0);
            for (long i = 0; i < n; i++) FUZZ_ASSERT(isfinite(x[i]));
            free(x);
        } else {
            check_message();
        }
    } else {
        put_flac("sp/a.flac");
        const char *list = fuzz_write("sp/list.txt", data, size);
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd) || chdir(root)) fuzz_die("chdir", root);
        FILE *fp = fopen(list, "rb");
        if (!fp) fuzz_die("opening", list);
        ds_speech_list l;
        memset(&l, 0, sizeof l);
        ds_err_clear();
        int r = ds_speech_add_list(&l, fp, "(stdin)");
        fclose(fp);
        if (!r) r = ds_speech_finish(&l);
        if (r) check_message();
        else check_list(&l);
        ds_speech_free(&l);
        if (chdir(cwd)) fuzz_die("chdir", cwd);
    }
    return 0;
}
