/* lib/core/log: one compact JSON object per line, appended, flushed; a
 * file that cannot be opened is an error naming it. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "test.h"

static int write_steps(const char *path, int from, int to)
{
    ds_log *log = ds_log_open(path);
    if (!log) return -1;
    for (int s = from; s <= to; s++) {
        json_t *o = json_pack("{s:i, s:f, s:f}", "step", s, "loss", 2.0 / s, "lr", 1e-3);
        if (ds_log_write(log, o)) return -1;
        json_decref(o);
    }
    return ds_log_close(log);
}

TEST(test_log_writes_one_object_per_line_and_appends)
{
    char path[600], line[256];
    snprintf(path, sizeof path, "%s/log.jsonl", ds_test_tmpdir());
    CHECK(write_steps(path, 1, 2) == 0);
    CHECK(write_steps(path, 3, 3) == 0);   /* a resumed run continues the file */
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    int n = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        CHECK_MSG(o, "line %d is not JSON: %s", n + 1, e.text);
        CHECK_EQ_INT(json_integer_value(json_object_get(o, "step")), n + 1);
        CHECK(strncmp(line, "{\"step\":", 8) == 0);   /* compact, in insertion order */
        json_decref(o);
        n++;
    }
    if (fp) fclose(fp);
    CHECK_EQ_INT(n, 3);
}

TEST(test_log_open_failure_names_the_file)
{
    ds_log *log = ds_log_open("/nonexistent-dir/log.jsonl");
    CHECK(log == NULL);
    CHECK(strstr(ds_errmsg(), "/nonexistent-dir/log.jsonl"));
    CHECK(ds_log_close(NULL) == 0);
}

/* A run's log and the user's --log get the same lines; a missing user log is fine. */
TEST(test_log_pair_writes_each_line_to_both_logs)
{
    char a[600], b[600], ta[256], tb[256];
    snprintf(a, sizeof a, "%s/pair_run.jsonl", ds_test_tmpdir());
    snprintf(b, sizeof b, "%s/pair_user.jsonl", ds_test_tmpdir());
    remove(a);
    remove(b);
    ds_log_pair p;
    CHECK_EQ_INT(ds_log_pair_open(&p, a, b), 0);
    CHECK_EQ_INT(ds_log_pair_write(&p, json_pack("{s:i}", "step", 1)), 0);
    CHECK_EQ_INT(ds_log_pair_write(&p, json_pack("{s:i}", "step", 2)), 0);
    CHECK(ds_log_pair_write(&p, NULL) == DS_ENOMEM);   /* a json_pack that failed */
    CHECK_EQ_INT(ds_log_pair_close(&p), 0);
    FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
    int n = 0;
    while (fa && fb && fgets(ta, sizeof ta, fa)) {
        CHECK(fgets(tb, sizeof tb, fb) && !strcmp(ta, tb));
        n++;
    }
    CHECK_EQ_INT(n, 2);
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    CHECK_EQ_INT(ds_log_pair_open(&p, a, NULL), 0);
    CHECK(p.user == NULL);
    CHECK_EQ_INT(ds_log_pair_close(&p), 0);
    CHECK(ds_log_pair_open(&p, "/nonexistent-dir/x.jsonl", NULL) != 0 && strstr(ds_errmsg(), "/nonexistent-dir/x.jsonl"));
}
