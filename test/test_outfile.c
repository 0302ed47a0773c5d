/* lib/io/outfile.c: an output exists whole or not at all; no temp file
 * outlives a commit or an abort. */
#include "test.h"
#include "core/error.h"
#include "io/outfile.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh empty directory per test, so counting its entries is exact. */
static const char *fresh_dir(const char *name)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/of_%s", ds_test_tmpdir(), name);
    CHECK_MSG(mkdir(dir, 0755) == 0, "cannot create %s", dir);
    return dir;
}

static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

static int file_is(const char *path, const char *text)
{
    char buf[64] = { 0 };
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    return n == strlen(text) && !memcmp(buf, text, n);
}

TEST(test_outfile_target_appears_only_at_commit_and_the_temp_file_is_beside_it)
{
    const char *dir = fresh_dir("commit");
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("first", o.fp);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_INT(count_entries(dir, "x.txt.tmp."), 1);
    CHECK_EQ_INT(ds_outfile_commit(&o), 0);
    CHECK(file_is(path, "first"));
    CHECK_EQ_INT(count_entries(dir, ""), 1);
    ds_outfile_abort(&o);   /* safe after commit */
    CHECK(file_is(path, "first"));
}

TEST(test_outfile_commit_replaces_an_existing_file)
{
    const char *dir = fresh_dir("replace");
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    CHECK_EQ_INT(ds_write_file_atomic(path, "old contents", 12), 0);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("new", o.fp);
    CHECK(file_is(path, "old contents"));   /* untouched until commit */
    CHECK_EQ_INT(ds_outfile_commit(&o), 0);
    CHECK(file_is(path, "new"));
    CHECK_EQ_INT(count_entries(dir, ""), 1);
}

TEST(test_outfile_abort_leaves_no_file_and_no_temp_file)
{
    const char *dir = fresh_dir("abort");
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("partial", o.fp);
    ds_outfile_abort(&o);
    CHECK_EQ_INT(count_entries(dir, ""), 0);
    ds_outfile_abort(&o);   /* twice is harmless */
}

TEST(test_outfile_abort_keeps_the_previous_file)
{
    const char *dir = fresh_dir("keep");
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    CHECK_EQ_INT(ds_write_file_atomic(path, "first", 5), 0);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("partial", o.fp);
    ds_outfile_abort(&o);
    CHECK(file_is(path, "first"));
    CHECK_EQ_INT(count_entries(dir, ""), 1);
}

TEST(test_outfile_gets_the_permissions_open_would_give)
{
    const char *dir = fresh_dir("mode");
    char path[700];
    snprintf(path, sizeof path, "%s/x.txt", dir);
    mode_t old = umask(022);
    CHECK_EQ_INT(ds_write_file_atomic(path, "x", 1), 0);
    umask(old);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
}

TEST(test_outfile_failed_rename_reports_it_and_removes_the_temp_file)
{
    const char *dir = fresh_dir("rename");
    char path[700], inner[800];
    snprintf(path, sizeof path, "%s/x", dir);
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), 0);
    fputs("data", o.fp);
    /* a non-empty directory appears at the target: rename cannot replace it */
    CHECK(mkdir(path, 0755) == 0);
    snprintf(inner, sizeof inner, "%s/keep", path);
    CHECK_EQ_INT(ds_write_file_atomic(inner, "k", 1), 0);
    CHECK_EQ_INT(ds_outfile_commit(&o), DS_EIO);
    CHECK_MSG(strstr(ds_errmsg(), path) && strstr(ds_errmsg(), "rename"), "%s", ds_errmsg());
    CHECK_EQ_INT(count_entries(dir, "x.tmp."), 0);
    ds_outfile_abort(&o);
    CHECK_EQ_INT(ds_outfile_commit(&o), DS_EINVAL);   /* nothing left to commit */
}

TEST(test_outfile_write_error_is_reported_at_commit)
{
    ds_outfile o;
    if (access("/dev/full", W_OK) != 0) return;   /* not on this system */
    CHECK_EQ_INT(ds_outfile_open(&o, "/dev/full"), 0);
    for (int i = 0; i < 10000; i++) fputs("0123456789", o.fp);
    CHECK_EQ_INT(ds_outfile_commit(&o), DS_EIO);
    CHECK_MSG(strstr(ds_errmsg(), "/dev/full") && strstr(ds_errmsg(), "write failed"), "%s", ds_errmsg());
}

TEST(test_outfile_writes_special_files_directly_and_dash_is_stdout)
{
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, "/dev/null"), 0);
    fputs("discarded", o.fp);
    CHECK_EQ_INT(ds_outfile_commit(&o), 0);
    struct stat sb;
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
    CHECK_EQ_INT(ds_outfile_open(&o, "-"), 0);
    CHECK(o.fp == stdout && o.tmp == NULL);
    CHECK_EQ_INT(ds_outfile_commit(&o), 0);
    CHECK(fflush(stdout) == 0 && fileno(stdout) == 1);   /* commit must not close stdout */
}

TEST(test_outfile_open_in_a_missing_directory_names_the_path)
{
    char path[700];
    snprintf(path, sizeof path, "%s/no-such-dir/x", ds_test_tmpdir());
    ds_outfile o;
    CHECK_EQ_INT(ds_outfile_open(&o, path), DS_EIO);
    CHECK_MSG(strstr(ds_errmsg(), path) != NULL, "%s", ds_errmsg());
    CHECK(o.fp == NULL && o.path == NULL && o.tmp == NULL);
    ds_outfile_abort(&o);
}

TEST(test_write_file_atomic_writes_every_byte)
{
    const char *dir = fresh_dir("atomic");
    char path[700];
    snprintf(path, sizeof path, "%s/bin", dir);
    unsigned char buf[5000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7);
    CHECK_EQ_INT(ds_write_file_atomic(path, buf, sizeof buf), 0);
    FILE *fp = fopen(path, "rb");
    unsigned char got[6000];
    size_t n = fp ? fread(got, 1, sizeof got, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n == sizeof buf && !memcmp(got, buf, n));
    CHECK_EQ_INT(ds_write_file_atomic(path, NULL, 0), 0);   /* an empty file is a valid output */
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
}

/* Ctrl-C or a scheduler's SIGTERM in the middle of a write: the process dies
 * by that signal as before, and neither the temp file nor the target exists. */
static void interrupted_write(int sig)
{
    const char *dir = fresh_dir(sig == SIGINT ? "sigint" : "sigterm");
    char path[700];
    snprintf(path, sizeof path, "%s/out.tsv", dir);
    /* A suite started in the background by a shell inherits SIGINT ignored
     * (POSIX asynchronous lists), as a job under nohup does: ds_outfile
     * keeps an ignored signal ignored, so the write goes on. */
    struct sigaction old;
    int ignored = sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ds_outfile o;
        if (ds_outfile_open(&o, path)) _exit(3);
        fputs("half a row", o.fp);
        fflush(o.fp);
        raise(sig);
        _exit(4);   /* not reached */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (ignored) {
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 4, "signal %d is ignored here, yet the child stopped (status %d)",
                  sig, status);
        return;
    }
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == sig, "the child did not die by signal %d (status %d)", sig,
              status);
    CHECK_EQ_INT(count_entries(dir, ""), 0);
}

TEST(test_outfile_interrupted_by_sigint_or_sigterm_leaves_no_file) { interrupted_write(SIGINT); interrupted_write(SIGTERM); }
/* ---- ds_out_check_distinct ------------------------------------------ */

static void touch(const char *path)
{
    FILE *fp = fopen(path, "w");
    CHECK_MSG(fp != NULL, "cannot create %s", path);
    if (fp) { fputs("x\n", fp); fclose(fp); }
}

TEST(test_out_check_distinct_refuses_an_output_that_is_an_input_by_any_name)
{
    const char *dir = fresh_dir("distinct");
    char in[700], dotted[720], hard[700], sym[700];
    snprintf(in, sizeof in, "%s/in.fa", dir);
    snprintf(dotted, sizeof dotted, "%s/./in.fa", dir);
    snprintf(hard, sizeof hard, "%s/hard.fa", dir);
    snprintf(sym, sizeof sym, "%s/sym.fa", dir);
    touch(in);
    CHECK_EQ_INT(link(in, hard), 0);
    CHECK_EQ_INT(symlink(in, sym), 0);
    const char *inputs[] = { NULL, "-", in };
    CHECK_EQ_INT(ds_out_check_distinct(in, inputs, 3), DS_EINVAL);
    CHECK_MSG(strstr(ds_errmsg(), "in.fa: is also an input; refusing to overwrite it"), "'%s'", ds_errmsg());
    CHECK_EQ_INT(ds_out_check_distinct(dotted, inputs, 3), DS_EINVAL);
    CHECK_MSG(strstr(ds_errmsg(), "(") && strstr(ds_errmsg(), "/in.fa)"), "names the input: '%s'", ds_errmsg());
    CHECK_EQ_INT(ds_out_check_distinct(hard, inputs, 3), DS_EINVAL);
    CHECK_EQ_INT(ds_out_check_distinct(sym, inputs, 3), DS_EINVAL);
}

TEST(test_out_check_distinct_refuses_the_index_beside_an_input)
{
    const char *dir = fresh_dir("sidecar");
    char in[700], fai[720], gzi[720];
    snprintf(in, sizeof in, "%s/g.fa.gz", dir);
    snprintf(fai, sizeof fai, "%s.fai", in);
    snprintf(gzi, sizeof gzi, "%s.gzi", in);
    touch(in), touch(fai), touch(gzi);
    const char *inputs[] = { in };
    CHECK_EQ_INT(ds_out_check_distinct(fai, inputs, 1), DS_EINVAL);
    CHECK_EQ_INT(ds_out_check_distinct(gzi, inputs, 1), DS_EINVAL);
}

TEST(test_out_check_distinct_accepts_new_files_stdout_and_special_files)
{
    const char *dir = fresh_dir("accept");
    char in[700], other[700], missing[700];
    snprintf(in, sizeof in, "%s/in.fa", dir);
    snprintf(other, sizeof other, "%s/other.tsv", dir);
    snprintf(missing, sizeof missing, "%s/new.tsv", dir);
    touch(in), touch(other);
    const char *inputs[] = { in, "-", NULL, missing };
    CHECK_EQ_INT(ds_out_check_distinct(other, inputs, 4), 0);   /* an existing, different file */
    CHECK_EQ_INT(ds_out_check_distinct(missing, inputs, 4), 0); /* not there yet: nothing to overwrite */
    CHECK_EQ_INT(ds_out_check_distinct("-", inputs, 4), 0);
    CHECK_EQ_INT(ds_out_check_distinct(NULL, inputs, 4), 0);
    const char *devnull[] = { "/dev/null" };
    CHECK_EQ_INT(ds_out_check_distinct("/dev/null", devnull, 1), 0);
    CHECK_EQ_INT(ds_out_check_distinct(in, inputs, 0), 0);
}

TEST(test_out_check_creatable_names_an_output_in_a_missing_directory)
{
    const char *dir = fresh_dir("creatable");
    char ok[700], missing[700], sub[700];
    snprintf(ok, sizeof ok, "%s/new.tsv", dir);
    snprintf(missing, sizeof missing, "%s/nodir/new.tsv", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK_EQ_INT(mkdir(sub, 0755), 0);
    CHECK_EQ_INT(ds_out_check_creatable(ok), 0);
    CHECK_EQ_INT(ds_out_check_creatable("-"), 0);
    CHECK_EQ_INT(ds_out_check_creatable("/dev/null"), 0);
    CHECK_EQ_INT(ds_out_check_creatable(missing), DS_EIO);
    CHECK_MSG(strstr(ds_errmsg(), "nodir/new.tsv: cannot be created"), "'%s'", ds_errmsg());
    CHECK_EQ_INT(ds_out_check_creatable(sub), DS_EIO);
    CHECK_MSG(strstr(ds_errmsg(), "is a directory"), "'%s'", ds_errmsg());
    CHECK_EQ_INT(count_entries(dir, ""), 1);   /* checking created nothing */
}
