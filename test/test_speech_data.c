/* Tests of lib/io/speech_data.c (derfseq.md "Inputs", Audio): the utterance
 * list from files, directories, LibriSpeech trees (the quirks of real ones:
 * a trans.txt without its final newline, audio without a transcript line,
 * TAB-separated lines, ids that clash across folders), fairseq manifests
 * and stdin lists. Every tree is built here, with tones written by
 * libsndfile. */
#include "test.h"
#include "core/error.h"
#include "io/speech_data.h"

#include <fcntl.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh folder under the scratch dir, named after the test. */
static const char *sdir(const char *name)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/speech", ds_test_tmpdir());
    mkdir(p, 0700);
    snprintf(p, sizeof buf[0], "%s/speech/%s", ds_test_tmpdir(), name);
    return p;
}

/* mkdir -p for the folders of root/rel, then the file. */
static const char *mkfile_path(const char *root, const char *rel)
{
    static char buf[8][800];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", root, rel);
    mkdir(root, 0700);
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) { *s = 0; mkdir(p, 0700); *s = '/'; }
    return p;
}

/* A 16 kHz mono 16-bit tone of `frames` samples at root/rel (FLAC or WAV by extension). */
static void put_audio(const char *root, const char *rel, long frames)
{
    const char *p = mkfile_path(root, rel);
    SF_INFO si = {.samplerate = 16000, .channels = 1,
                  .format = strstr(rel, ".flac") ? SF_FORMAT_FLAC | SF_FORMAT_PCM_16 : SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(p, SFM_WRITE, &si);
    if (!sf) { CHECK_MSG(0, "%s: %s", p, sf_strerror(NULL)); return; }
    short *x = malloc(sizeof *x * (size_t)frames);
    for (long i = 0; i < frames; i++) x[i] = (short)((i * 977) % 20000 - 10000);
    sf_writef_short(sf, x, frames);
    sf_close(sf);
    free(x);
}

static void put_text(const char *root, const char *rel, const char *text)
{
    FILE *fp = fopen(mkfile_path(root, rel), "w");
    fputs(text, fp);
    fclose(fp);
}

static int open1(ds_speech_list *l, const char *input)
{
    char *in[1] = {(char *)input};
    return ds_speech_open(l, in, 1);
}

/* The error of opening `input` must be `code`, one line containing `what`. */
static void check_open_refused(const char *input, int code, const char *what)
{
    ds_speech_list l;
    int e = open1(&l, input);
    CHECK_MSG(e == code, "%s: got %d (%s), expected %d", input, e, e ? ds_errmsg() : "ok", code);
    CHECK_MSG(strstr(ds_errmsg(), what) && !strchr(ds_errmsg(), '\n'), "message '%s' should say '%s'", ds_errmsg(), what);
    if (!e) ds_speech_free(&l);
}

/* A LibriSpeech-shaped tree: two chapters of speaker 1089 (one trans.txt
 * without its final newline), speaker 2412 whose -0001 has no line. */
static const char *libri_tree(void)
{
    const char *root = sdir("LibriSpeech");
    put_audio(root, "test-clean/1089/134686/1089-134686-0000.flac", 800);
    put_audio(root, "test-clean/1089/134686/1089-134686-0001.flac", 900);
    put_text(root, "test-clean/1089/134686/1089-134686.trans.txt",
             "1089-134686-0000 HE HOPED THERE WOULD BE STEW FOR DINNER\n1089-134686-0001 STUFF IT INTO YOU HIS BELLY COUNSELLED HIM");
    put_audio(root, "test-clean/1089/134691/1089-134691-0000.flac", 700);
    put_text(root, "test-clean/1089/134691/1089-134691.trans.txt", "1089-134691-0000 HE COULD WAIT NO LONGER\r\n");
    put_audio(root, "dev-clean/2412/153948/2412-153948-0000.flac", 1000);
    put_audio(root, "dev-clean/2412/153948/2412-153948-0001.flac", 1100);
    put_text(root, "dev-clean/2412/153948/2412-153948.trans.txt",
             "2412-153948-0000 IF THE READER WILL EXCUSE ME I WILL SAY NOTHING OF MY ANTECEDENTS\n");
    return root;
}

TEST(test_speech_librispeech_tree_ids_are_stems_in_sorted_path_order_with_trans_txt_texts)
{
    const char *root = libri_tree();
    ds_speech_list l;
    CHECK_MSG(open1(&l, root) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(l.n, 5);
    if (l.n != 5) { ds_speech_free(&l); return; }
    const char *ids[] = {"2412-153948-0000", "2412-153948-0001", "1089-134686-0000", "1089-134686-0001", "1089-134691-0000"};
    for (int i = 0; i < 5; i++) CHECK_MSG(!strcmp(l.u[i].id, ids[i]), "utterance %d is %s, expected %s", i, l.u[i].id, ids[i]);
    CHECK(l.u[0].text && !strcmp(l.u[0].text, "IF THE READER WILL EXCUSE ME I WILL SAY NOTHING OF MY ANTECEDENTS"));
    /* the last line of a trans.txt without a newline, and a CRLF line */
    CHECK(l.u[3].text && !strcmp(l.u[3].text, "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"));
    CHECK(l.u[4].text && !strcmp(l.u[4].text, "HE COULD WAIT NO LONGER"));
    CHECK(strstr(l.u[2].path, "/test-clean/1089/134686/1089-134686-0000.flac") && l.u[2].n_samples == -1);
    ds_speech_free(&l);
}

TEST(test_speech_librispeech_audio_without_a_transcript_line_is_kept_with_a_warning)
{
    const char *root = libri_tree();
    ds_speech_list l;
    CHECK_MSG(open1(&l, root) == 0, "%s", ds_errmsg());
    CHECK(l.n == 5 && !l.u[1].text && l.n_untranscribed == 1 && l.n_orphan_lines == 0);
    CHECK_MSG(l.warn && strstr(l.warn, "2412-153948-0001.flac: utterance 2412-153948-0001 has no line in ") &&
              strstr(l.warn, "/dev-clean/2412/153948/2412-153948.trans.txt") && !strchr(l.warn, '\n'),
              "warn '%s'", l.warn ? l.warn : "(null)");
    ds_speech_free(&l);
}

TEST(test_speech_require_text_names_the_audio_and_the_trans_txt_missing_its_line)
{
    const char *root = libri_tree();
    ds_speech_list l;
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(ds_speech_require_text(&l), DS_EFORMAT);
    char want[2000];
    snprintf(want, sizeof want,
             "%s/dev-clean/2412/153948/2412-153948-0001.flac: utterance 2412-153948-0001 has no line in "
             "%s/dev-clean/2412/153948/2412-153948.trans.txt", root, root);
    CHECK_MSG(!strcmp(ds_errmsg(), want), "'%s'", ds_errmsg());
    ds_speech_free(&l);
    /* with the line added, every utterance has its text */
    put_text(root, "dev-clean/2412/153948/2412-153948.trans.txt",
             "2412-153948-0000 IF THE READER WILL EXCUSE ME\n2412-153948-0001 IT WILL BE SEEN\n");
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(ds_speech_require_text(&l), 0);
    CHECK(!l.warn);
    ds_speech_free(&l);
}

TEST(test_speech_require_text_says_when_the_chapter_has_no_trans_txt)
{
    const char *root = sdir("notrans");
    put_audio(root, "a/1/a-1-0000.flac", 500);
    put_text(root, "a/1/a-1.trans.txt", "a-1-0000 YES\n");
    put_audio(root, "b/2/b-2-0000.flac", 500);
    ds_speech_list l;
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(ds_speech_require_text(&l), DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "b-2-0000.flac: utterance b-2-0000 has no transcript: ") &&
              strstr(ds_errmsg(), "/b/2/b-2.trans.txt does not exist"), "'%s'", ds_errmsg());
    ds_speech_free(&l);
}

TEST(test_speech_trans_txt_line_without_audio_is_a_warning_naming_file_and_line)
{
    const char *root = sdir("orphan");
    put_audio(root, "7/8/7-8-0000.flac", 500);
    put_text(root, "7/8/7-8.trans.txt", "7-8-0000 ONE\n7-8-0001 TWO\n7-8-0002 THREE\n");
    ds_speech_list l;
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 1 && l.n_orphan_lines == 2 && l.n_untranscribed == 0);
    CHECK_MSG(l.warn && strstr(l.warn, "/7/8/7-8.trans.txt:2: transcript of 7-8-0001 has no audio file beside it") &&
              strstr(l.warn, "0 audio files without a transcript line, 2 transcript lines without audio"),
              "warn '%s'", l.warn ? l.warn : "(null)");
    CHECK_EQ_INT(ds_speech_require_text(&l), 0);
    ds_speech_free(&l);
}

TEST(test_speech_tab_separated_trans_txt_in_a_flat_folder_is_read_like_librispeech)
{
    /* the icefall/sherpa test_wavs layout: WAVs named by id + trans.txt with TABs */
    const char *root = sdir("icefall");
    put_audio(root, "1089-134686-0001.wav", 600);
    put_audio(root, "1221-135766-0002.wav", 600);
    put_text(root, "trans.txt", "1089-134686-0001\tAFTER EARLY NIGHTFALL THE YELLOW LAMPS\n"
                                "1221-135766-0002\tYET THESE THOUGHTS AFFECTED HESTER PRYNNE\n");
    ds_speech_list l;
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(l.n, 2);
    CHECK(l.n == 2 && !strcmp(l.u[0].id, "1089-134686-0001") && l.u[0].text &&
          !strcmp(l.u[0].text, "AFTER EARLY NIGHTFALL THE YELLOW LAMPS"));
    CHECK(l.n == 2 && l.u[1].text && !strcmp(l.u[1].text, "YET THESE THOUGHTS AFFECTED HESTER PRYNNE"));
    CHECK(!l.warn && ds_speech_require_text(&l) == 0);
    ds_speech_free(&l);
}

TEST(test_speech_same_id_from_two_folders_is_refused_naming_both_files)
{
    /* the icefall file named 1089-134686-0001 beside LibriSpeech's own */
    const char *a = sdir("clash_a"), *b = sdir("clash_b");
    put_audio(a, "1089/134686/1089-134686-0001.flac", 500);
    put_text(a, "1089/134686/1089-134686.trans.txt", "1089-134686-0001 STUFF IT INTO YOU\n");
    put_audio(b, "1089-134686-0001.wav", 500);
    put_text(b, "trans.txt", "1089-134686-0001\tAFTER EARLY NIGHTFALL\n");
    ds_speech_list l;
    char *in[2] = {(char *)a, (char *)b};
    CHECK_EQ_INT(ds_speech_open(&l, in, 2), DS_EINVAL);
    CHECK_MSG(strstr(ds_errmsg(), "clash_b/1089-134686-0001.wav: utterance id 1089-134686-0001 is also that of ") &&
              strstr(ds_errmsg(), "clash_a/1089/134686/1089-134686-0001.flac"), "'%s'", ds_errmsg());
}

TEST(test_speech_same_file_given_twice_is_refused_as_a_duplicate_id)
{
    const char *root = sdir("twice");
    put_audio(root, "x.wav", 500);
    char p[700];
    snprintf(p, sizeof p, "%s/x.wav", root);
    ds_speech_list l;
    char *in[2] = {p, p};
    CHECK_EQ_INT(ds_speech_open(&l, in, 2), DS_EINVAL);
    CHECK(strstr(ds_errmsg(), "x.wav: utterance id ") && strstr(ds_errmsg(), "(ids must be unique)"));
}

TEST(test_speech_two_lines_for_one_id_in_trans_txt_are_refused_naming_both_lines)
{
    const char *root = sdir("dupline");
    put_audio(root, "3/4/3-4-0000.flac", 500);
    put_text(root, "3/4/3-4.trans.txt", "3-4-0000 ONE\n3-4-0001 TWO\n3-4-0000 AGAIN\n");
    check_open_refused(root, DS_EFORMAT, "3-4.trans.txt:3: utterance 3-4-0000 already has a line at ");
    CHECK(strstr(ds_errmsg(), "3-4.trans.txt:1"));
}

TEST(test_speech_plain_directory_lists_audio_recursively_in_sorted_path_order_with_paths_as_ids)
{
    const char *root = sdir("plain");
    put_audio(root, "b.wav", 500);
    put_audio(root, "a/z.flac", 500);
    put_audio(root, "a-c.WAV", 500);
    put_audio(root, ".hidden.wav", 500);
    put_text(root, "notes.txt", "not audio\n");
    put_text(root, "a/readme.md", "no\n");
    ds_speech_list l;
    if (open1(&l, root)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(l.n, 3);
    const char *want[] = {"a-c.WAV", "a/z.flac", "b.wav"};   /* strcmp order: '-' < '/' */
    for (long i = 0; i < l.n && i < 3; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", root, want[i]);
        CHECK_MSG(!strcmp(l.u[i].path, p) && !strcmp(l.u[i].id, p) && !l.u[i].text, "utterance %ld: %s", i, l.u[i].id);
    }
    CHECK(!l.warn);
    ds_speech_free(&l);
}

TEST(test_speech_directory_without_audio_is_refused_naming_it)
{
    const char *root = sdir("noaudio");
    put_text(root, "x/readme.txt", "nothing\n");
    check_open_refused(root, DS_EFORMAT, "noaudio: no audio files");
}

TEST(test_speech_missing_input_is_an_io_error_naming_it)
{
    check_open_refused(sdir("no-such-thing.flac"), DS_EIO, "no-such-thing.flac: cannot open: No such file");
}

TEST(test_speech_audio_file_input_has_its_path_as_id_and_decodes_on_load)
{
    const char *root = sdir("single");
    put_audio(root, "one.flac", 4321);
    char p[700];
    snprintf(p, sizeof p, "%s/one.flac", root);
    ds_speech_list l;
    if (open1(&l, p)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 1 && !strcmp(l.u[0].id, p) && !l.u[0].text && l.u[0].n_samples == -1);
    float *x = NULL;
    long n = 0;
    CHECK_EQ_INT(ds_speech_load(&l, 0, 16000, 400, &x, &n), 0);
    CHECK_EQ_INT(n, 4321);
    CHECK(x && fabsf(x[1] - (977 - 10000) / 32768.0f) < 1e-7f);
    free(x);
    /* the list holds paths only: the audio is read at load time */
    unlink(p);
    CHECK_EQ_INT(ds_speech_load(&l, 0, 16000, 400, &x, &n), DS_EIO);
    CHECK(x == NULL && strstr(ds_errmsg(), "one.flac: cannot open"));
    ds_speech_free(&l);
}

/* A manifest at root/name with `body` after the root line. */
static const char *manifest(const char *root, const char *name, const char *body)
{
    static char buf[4][800];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", root, name);
    FILE *fp = fopen(p, "w");
    fprintf(fp, "%s\n%s", root, body);
    fclose(fp);
    return p;
}

TEST(test_speech_manifest_joins_the_root_keeps_n_samples_and_ids_are_relpaths)
{
    const char *root = sdir("manifest");
    put_audio(root, "audio/a.flac", 1234);
    put_audio(root, "audio/b.wav", 2345);
    const char *m = manifest(root, "train.tsv", "audio/b.wav\t2345\naudio/a.flac\t1234\n");
    ds_speech_list l;
    if (open1(&l, m)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(l.n, 2);
    char p[800];
    snprintf(p, sizeof p, "%s/audio/b.wav", root);
    CHECK(l.n == 2 && !strcmp(l.u[0].id, "audio/b.wav") && !strcmp(l.u[0].path, p) && l.u[0].n_samples == 2345);
    CHECK(l.n == 2 && !strcmp(l.u[1].id, "audio/a.flac") && l.u[1].n_samples == 1234 && l.u[1].line == 3);
    float *x = NULL;
    long n = 0;
    CHECK_EQ_INT(ds_speech_load(&l, 1, 16000, 400, &x, &n), 0);
    CHECK_EQ_INT(n, 1234);
    free(x);
    CHECK_EQ_INT(ds_speech_require_text(&l), DS_EFORMAT);
    CHECK_MSG(strstr(ds_errmsg(), "train.tsv:2: utterance audio/b.wav has no transcript"), "'%s'", ds_errmsg());
    ds_speech_free(&l);
}

TEST(test_speech_manifest_bad_lines_are_refused_naming_file_and_line)
{
    const char *root = sdir("badmanifest");
    put_audio(root, "a.flac", 500);
    struct { const char *body, *what; } c[] = {
        {"a.flac 500\n", "bad1.tsv:2: expected RELPATH<TAB>N_SAMPLES, got no TAB"},
        {"a.flac\t500\n\n", "bad2.tsv:3: expected RELPATH<TAB>N_SAMPLES, got an empty line"},
        {"a.flac\t500\t7\n", "bad3.tsv:2: expected RELPATH<TAB>N_SAMPLES, got more than 2 fields"},
        {"a.flac\t500\na.flac\tfive\n", "bad4.tsv:3: N_SAMPLES 'five' is not a positive sample count"},
        {"a.flac\t0\n", "bad5.tsv:2: N_SAMPLES '0' is not a positive sample count"},
        {"a.flac\t-5\n", "bad6.tsv:2: N_SAMPLES '-5'"},
        {"\t500\n", "bad7.tsv:2: expected RELPATH<TAB>N_SAMPLES, got an empty RELPATH"},
        {"", "bad8.tsv: a manifest without utterances"},
    };
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%d.tsv", i + 1);
        check_open_refused(manifest(root, name, c[i].body), DS_EFORMAT, c[i].what);
    }
    /* a first line that is not a directory */
    char p[700];
    snprintf(p, sizeof p, "%s/noroot.tsv", root);
    put_text(root, "noroot.tsv", "a.flac\t500\n");
    check_open_refused(p, DS_EFORMAT, "noroot.tsv:1: expected the root directory of a fairseq manifest");
    put_text(root, "goneroot.tsv", "/no/such/root\na.flac\t500\n");
    snprintf(p, sizeof p, "%s/goneroot.tsv", root);
    check_open_refused(p, DS_EFORMAT, "goneroot.tsv:1: root directory /no/such/root does not exist");
}

TEST(test_speech_manifest_n_samples_that_disagree_with_the_file_are_refused_on_load)
{
    const char *root = sdir("countmanifest");
    put_audio(root, "a.flac", 1000);
    const char *m = manifest(root, "c.tsv", "a.flac\t999\n");
    ds_speech_list l;
    if (open1(&l, m)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    float *x = (float *)1;
    long n = 1;
    CHECK_EQ_INT(ds_speech_load(&l, 0, 16000, 400, &x, &n), DS_EFORMAT);
    CHECK(x == NULL && n == 0);
    CHECK_MSG(strstr(ds_errmsg(), "c.tsv:2: ") && strstr(ds_errmsg(), "a.flac has 1000 frames, the manifest says 999"),
              "'%s'", ds_errmsg());
    ds_speech_free(&l);
}

TEST(test_speech_manifest_wrd_file_gives_one_transcript_per_line)
{
    const char *root = sdir("wrd");
    put_audio(root, "a.flac", 500);
    put_audio(root, "b.flac", 500);
    const char *m = manifest(root, "dev.tsv", "a.flac\t500\nb.flac\t500\n");
    put_text(root, "dev.wrd", "HELLO WORLD\nGOOD BYE\n");
    ds_speech_list l;
    if (open1(&l, m)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 2 && l.u[0].text && !strcmp(l.u[0].text, "HELLO WORLD") && l.u[1].text &&
          !strcmp(l.u[1].text, "GOOD BYE"));
    CHECK_EQ_INT(ds_speech_require_text(&l), 0);
    ds_speech_free(&l);
    put_text(root, "dev.wrd", "HELLO WORLD\n");
    check_open_refused(m, DS_EFORMAT, "dev.wrd: 1 lines for the 2 utterances of ");
    put_text(root, "dev.wrd", "A\nB\nC");
    check_open_refused(m, DS_EFORMAT, "dev.wrd:3: more lines than the 2 utterances of ");
}

/* Runs ds_speech_add(l, "-") with stdin read from a file holding `text`. */
static int add_stdin(ds_speech_list *l, const char *text)
{
    const char *p = mkfile_path(sdir("stdin"), "list.txt");
    put_text(sdir("stdin"), "list.txt", text);
    fflush(stdin);
    int saved = dup(STDIN_FILENO), fd = open(p, O_RDONLY);
    dup2(fd, STDIN_FILENO);
    close(fd);
    int r = ds_speech_add(l, "-");
    dup2(saved, STDIN_FILENO);
    close(saved);
    clearerr(stdin);
    return r;
}

TEST(test_speech_stdin_lists_audio_paths_one_per_line_with_paths_as_ids)
{
    const char *root = sdir("stdinaudio");
    put_audio(root, "x.wav", 500);
    put_audio(root, "y.flac", 600);
    char text[2000];
    snprintf(text, sizeof text, "%s/y.flac\r\n\n%s/x.wav", root, root);
    ds_speech_list l;
    memset(&l, 0, sizeof l);
    CHECK_MSG(add_stdin(&l, text) == 0, "%s", ds_errmsg());
    CHECK_EQ_INT(ds_speech_finish(&l), 0);
    CHECK_EQ_INT(l.n, 2);
    CHECK(l.n == 2 && strstr(l.u[0].id, "/y.flac") && strstr(l.u[1].path, "/x.wav") && l.u[1].line == 3);
    CHECK(l.n == 2 && !strcmp(l.u[0].src, "(stdin)"));
    ds_speech_free(&l);
}

TEST(test_speech_stdin_list_with_a_missing_file_names_stdin_and_the_line)
{
    const char *root = sdir("stdinmissing");
    put_audio(root, "x.wav", 500);
    char text[2000];
    snprintf(text, sizeof text, "%s/x.wav\n%s/gone.wav\n", root, root);
    ds_speech_list l;
    memset(&l, 0, sizeof l);
    CHECK_EQ_INT(add_stdin(&l, text), DS_EIO);
    CHECK_MSG(!strncmp(ds_errmsg(), "(stdin):2: ", 11) && strstr(ds_errmsg(), "gone.wav: No such file"), "'%s'",
              ds_errmsg());
    ds_speech_free(&l);
    memset(&l, 0, sizeof l);
    CHECK_EQ_INT(add_stdin(&l, "\n\n"), DS_EFORMAT);
    CHECK(strstr(ds_errmsg(), "(stdin): no audio file paths"));
    ds_speech_free(&l);
}

TEST(test_speech_bundled_librispeech_mini_tree_lists_three_transcribed_utterances)
{
    ds_speech_list l;
    if (open1(&l, "testdata/speech/LibriSpeech-mini")) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(l.n, 3);
    const char *ids[] = {"9001-1-0000", "9001-1-0001", "9001-1-0002"}, *txt[] = {"FRONT CENTER", "FRONT LEFT", "REAR RIGHT"};
    for (int i = 0; i < 3 && i < l.n; i++)
        CHECK_MSG(!strcmp(l.u[i].id, ids[i]) && l.u[i].text && !strcmp(l.u[i].text, txt[i]), "%s: %s", l.u[i].id,
                  l.u[i].text ? l.u[i].text : "(none)");
    CHECK(!l.warn && ds_speech_require_text(&l) == 0);
    for (long i = 0; i < l.n; i++) {
        float *x = NULL;
        long n = 0;
        CHECK_MSG(ds_speech_load(&l, i, 16000, 400, &x, &n) == 0 && n > 16000, "%s: %s", l.u[i].id, ds_errmsg());
        free(x);
    }
    ds_speech_free(&l);
}

/* ---- transcript TSVs: PATH<TAB>TRANSCRIPT ---- */

#define MINI "testdata/speech/LibriSpeech-mini/9001/1/"

/* root/name holding `body`; root gets a link `mini` to the bundled chapter,
 * so relative PATHs can name real LibriSpeech files. */
static const char *transcript_tsv(const char *root, const char *name, const char *body)
{
    static char buf[4][800];
    static int k;
    char *p = buf[k++ & 3], abs[4096], link_path[800];
    put_text(root, name, body);
    snprintf(p, sizeof buf[0], "%s/%s", root, name);
    snprintf(link_path, sizeof link_path, "%s/mini", root);
    if (realpath(MINI, abs) && access(link_path, F_OK)) CHECK(symlink(abs, link_path) == 0);
    return p;
}

TEST(test_speech_transcript_tsv_paths_are_relative_to_its_folder_ids_as_written_texts_the_rest)
{
    const char *root = sdir("trtsv");
    /* a header in any case, CRLF, a blank line, the last line without its newline */
    const char *t = transcript_tsv(root, "dev.tsv",
                                   "Path\tTranscript\r\nmini/9001-1-0002.flac\tREAR RIGHT\r\n\n"
                                   "mini/9001-1-0000.flac\tFRONT CENTER");
    ds_speech_list l;
    if (open1(&l, t)) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK_EQ_INT(l.n, 2);
    char p[900];
    snprintf(p, sizeof p, "%s/mini/9001-1-0002.flac", root);
    CHECK(l.n == 2 && !strcmp(l.u[0].id, "mini/9001-1-0002.flac") && !strcmp(l.u[0].path, p));
    CHECK(l.n == 2 && l.u[0].text && !strcmp(l.u[0].text, "REAR RIGHT") && l.u[0].line == 2 && l.u[0].n_samples == -1);
    CHECK(l.n == 2 && l.u[1].text && !strcmp(l.u[1].text, "FRONT CENTER") && l.u[1].line == 4 && !strcmp(l.u[1].src, t));
    CHECK(!l.warn && ds_speech_require_text(&l) == 0);
    float *x = NULL;
    long n = 0;
    CHECK_MSG(ds_speech_load(&l, 1, 16000, 400, &x, &n) == 0 && n > 16000, "%s", ds_errmsg());
    free(x);
    ds_speech_free(&l);
}

TEST(test_speech_transcript_tsv_keeps_absolute_paths_and_tabs_inside_the_transcript)
{
    const char *root = sdir("trtsvabs");
    char abs[4096], body[9000];
    CHECK(realpath(MINI "9001-1-0001.flac", abs) != NULL);
    /* no header: line 1 with a TAB is what makes it a transcript TSV */
    snprintf(body, sizeof body, "%s\tFRONT\tLEFT \n", abs);
    ds_speech_list l;
    if (open1(&l, transcript_tsv(root, "abs.tsv", body))) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 1 && !strcmp(l.u[0].id, abs) && !strcmp(l.u[0].path, abs) && l.u[0].line == 1);
    CHECK(l.n == 1 && l.u[0].text && !strcmp(l.u[0].text, "FRONT\tLEFT "));
    ds_speech_free(&l);
    /* the header's other spelling, then the same file by a relative path: two ids, one file */
    snprintf(body, sizeof body, "PATH\tTEXT\n%s\tFRONT LEFT\nmini/9001-1-0001.flac\tFRONT LEFT\n", abs);
    if (open1(&l, transcript_tsv(root, "abs2.tsv", body))) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 2 && l.u[0].line == 2 && !strcmp(l.u[1].id, "mini/9001-1-0001.flac"));
    ds_speech_free(&l);
}

TEST(test_speech_transcript_tsv_named_without_a_folder_reads_paths_from_the_working_directory)
{
    const char *root = sdir("trtsvcwd");
    transcript_tsv(root, "here.tsv", "mini/9001-1-0000.flac\tFRONT CENTER\n");
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || chdir(root)) { CHECK_MSG(0, "chdir %s", root); return; }
    ds_speech_list l;
    int e = open1(&l, "here.tsv");
    char msg[2000];
    snprintf(msg, sizeof msg, "%s", e ? ds_errmsg() : "");
    CHECK(chdir(cwd) == 0);
    CHECK_MSG(e == 0, "%s", msg);
    if (e) return;
    CHECK(l.n == 1 && !strcmp(l.u[0].path, "mini/9001-1-0000.flac") && !strcmp(l.u[0].text, "FRONT CENTER"));
    ds_speech_free(&l);
}

TEST(test_speech_tsv_whose_line_1_has_no_tab_is_still_a_fairseq_manifest)
{
    const char *root = sdir("trtsvmanifest");
    put_audio(root, "a.flac", 500);
    ds_speech_list l;
    if (open1(&l, manifest(root, "m.tsv", "a.flac\t500\n"))) { CHECK_MSG(0, "%s", ds_errmsg()); return; }
    CHECK(l.n == 1 && l.u[0].n_samples == 500 && !l.u[0].text);
    ds_speech_free(&l);
    /* a transcript line under a root line is a manifest line with a bad N_SAMPLES */
    check_open_refused(manifest(root, "m2.tsv", "a.flac\tHELLO\n"), DS_EFORMAT, "m2.tsv:2: N_SAMPLES 'HELLO'");
    /* and a manifest that lost its root line is not read as an utterance whose words are "500" */
    put_text(root, "headless.tsv", "a.flac\t500\n");
    char p[800];
    snprintf(p, sizeof p, "%s/headless.tsv", root);
    check_open_refused(p, DS_EFORMAT, "headless.tsv:1: expected the root directory of a fairseq manifest, got RELPATH<TAB>N_SAMPLES");
}

TEST(test_speech_transcript_tsv_bad_lines_are_refused_naming_file_and_line)
{
    const char *root = sdir("trtsvbad");
    struct { const char *body, *what; } c[] = {
        {"mini/9001-1-0000.flac\tFRONT CENTER\nmini/9001-1-0001.flac FRONT LEFT\n",
         "bad1.tsv:2: expected PATH<TAB>TRANSCRIPT, got no TAB"},
        {"path\ttranscript\n\tFRONT CENTER\n", "bad2.tsv:2: expected PATH<TAB>TRANSCRIPT, got an empty PATH"},
        {"mini/9001-1-0000.flac\t\n",
         "bad3.tsv:1: expected PATH<TAB>TRANSCRIPT, got an empty transcript for mini/9001-1-0000.flac"},
        {"mini/9001-1-0000.flac\tA\nmini/9001-1-0001.flac\t  \t\r\n", "bad4.tsv:2: expected PATH<TAB>TRANSCRIPT, got an empty transcript"},
        {"path\ttext\n", "bad5.tsv: a transcript TSV without utterances"},
        {"mini\tA DIRECTORY\n", "/mini is not a file (expected PATH<TAB>TRANSCRIPT of an audio file)"},
        {"mini/9001-1-0000.flac\tFRONT CENTER\r\nmini/9001-1-0000.flac\tFRONT CENTER\r\n",
         "bad7.tsv:2: utterance id mini/9001-1-0000.flac is also that of "},
        {"", "bad8.tsv: an empty file (expected a fairseq manifest or PATH<TAB>TRANSCRIPT lines)"},
    };
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%d.tsv", i + 1);
        check_open_refused(transcript_tsv(root, name, c[i].body), i == 6 ? DS_EINVAL : DS_EFORMAT, c[i].what);
    }
    /* the duplicate names both lines */
    check_open_refused(transcript_tsv(root, "bad7.tsv", c[6].body), DS_EINVAL, "bad7.tsv:1 (ids must be unique)");
}

TEST(test_speech_transcript_tsv_path_without_a_file_is_an_io_error_naming_the_line_and_the_path)
{
    const char *root = sdir("trtsvgone");
    char want[900];
    snprintf(want, sizeof want, "gone.tsv:2: %s/mini/9001-1-0009.flac: No such file", root);
    check_open_refused(transcript_tsv(root, "gone.tsv", "mini/9001-1-0000.flac\tFRONT CENTER\nmini/9001-1-0009.flac\tX\n"),
                       DS_EIO, want);
    /* a header is only a header on line 1 */
    check_open_refused(transcript_tsv(root, "late.tsv", "mini/9001-1-0000.flac\tFRONT CENTER\npath\ttranscript\n"),
                       DS_EIO, "late.tsv:2: ");
}
