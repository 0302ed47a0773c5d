/* lib/core/dist: the rank shares of a global batch, and the collectives of
 * one process (the plain build, or the MPI build outside a launcher), which
 * every training loop calls unconditionally. The multi-rank behaviour is
 * test/mpi.sh's, under mpirun. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "core/arena.h"
#include "core/dist.h"
#include "core/error.h"
#include "test.h"

TEST(test_dist_shares_cover_a_batch_contiguously_and_evenly)
{
    for (int R = 1; R <= 7; R++)
        for (long n = 0; n <= 50; n++) {
            long next = 0, lo = n, hi = 0;
            for (int r = 0; r < R; r++) {
                long first, count;
                ds_dist_share(n, R, r, &first, &count);
                CHECK_MSG(first == next, "n %ld, R %d, rank %d starts at %ld, not %ld", n, R, r, first, next);
                next = first + count;
                if (count < lo) lo = count;
                if (count > hi) hi = count;
            }
            CHECK_MSG(next == n, "n %ld, R %d: the shares cover %ld rows", n, R, next);
            CHECK_MSG(hi - lo <= 1, "n %ld, R %d: shares of %ld to %ld rows", n, R, lo, hi);
        }
    long first, count;
    ds_dist_share(6, 2, 1, &first, &count);   /* 2 ranks x 3 = 1 x 6: rank 1 reads rows 3-5 */
    CHECK(first == 3 && count == 3);
    ds_dist_share(3, 2, 0, &first, &count);   /* an odd last batch: 2 + 1 */
    CHECK(first == 0 && count == 2);
}

TEST(test_dist_one_process_is_rank_0_of_1_and_its_collectives_keep_values)
{
    CHECK_EQ_INT(ds_dist_rank(), 0);
    CHECK_EQ_INT(ds_dist_size(), 1);
    CHECK(ds_dist_root());
    CHECK_EQ_INT(ds_dist_check("pretrain", 1), 0);
    CHECK_EQ_INT(ds_dist_check("eval", 0), 0);
    float x[5] = { 1.5f, -2.0f, 0.0f, 3.25f, 1e-30f };
    ds_dist_sum_f32(x, 5);
    CHECK(x[0] == 1.5f && x[1] == -2.0f && x[3] == 3.25f && x[4] == 1e-30f);
    double d[2] = { 0.25, -7.0 };
    ds_dist_sum_f64(d, 2);
    CHECK(d[0] == 0.25 && d[1] == -7.0);
    int64_t i[2] = { 5, -3 };
    ds_dist_sum_i64(i, 2);
    ds_dist_max_i64(i + 1, 1);
    CHECK(i[0] == 5 && i[1] == -3);
    CHECK_EQ_INT(ds_dist_any(0), 0);
    CHECK_EQ_INT(ds_dist_any(DS_EIO), 1);
    CHECK(ds_dist_same_u64(42));
    ds_params ps;
    ds_params_init(&ps);
    CHECK_EQ_INT(ds_params_add(&ps, "w", 1, (int64_t[]){ 3 }, 1), 0);
    CHECK_EQ_INT(ds_params_alloc(&ps), 0);
    ps.grad[0] = 1.0f; ps.grad[2] = -4.0f;
    ds_dist_sum_grad(&ps);
    CHECK(ps.grad[0] == 1.0f && ps.grad[2] == -4.0f);
    CHECK(ds_dist_same_params(&ps));
    ds_params_free(&ps);
}

/* The plain build started as one of several ranks refuses to train, so N
 * processes never write one run directory; the MPI build names its MPI. */
TEST(test_dist_plain_build_under_a_launcher_refuses_and_version_names_mpi)
{
    CHECK_EQ_INT(run("--version"), 0);
    const char *line = strstr(g_out, "\nMPI: ");
    CHECK_MSG(line, "--version has no MPI line: %s", g_out);
    if (!line || strncmp(line, "\nMPI: not built", 15)) return;   /* the MPI build: test/mpi.sh runs it under mpirun */
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    const char *dir = tmp_path("dist_plain_run");
    int st = run("pretrain --model hyenadna-demo --steps 1 -o '%s' testdata/lambda_virus.fa.gz", dir);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    CHECK_ERROR(st, 1, " pretrain", "started as rank 1 of 2 by an MPI launcher, but this derfseq was built without MPI");
    CHECK_MSG(access(dir, F_OK) != 0, "%s was created", dir);
}
