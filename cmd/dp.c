/* Data-parallel plumbing of the training commands (dp.h). */
#include "cmd/dp.h"
#include "cmd/opts.h"
#include "core/dist.h"
#include "core/error.h"

#include <stdio.h>

void ds_dp_share(long n, long *first, long *count)
{
    ds_dist_share(n, ds_dist_size(), ds_dist_rank(), first, count);
}

static void print_rank_error(const char *cmd)
{
    if (ds_dist_size() > 1 && !ds_dist_root())
        fprintf(stderr, "derfseq %s: rank %d: %s\n", cmd, ds_dist_rank(), ds_errmsg());
    else
        ds_cmd_error(cmd, "%s", ds_errmsg());
}

int ds_dp_setup_failed(const char *cmd, int e)
{
    if (!ds_dist_any(e)) return 0;
    if (e) print_rank_error(cmd);
    else if (ds_dist_root()) fprintf(stderr, "derfseq %s: another rank failed to start (its message is above)\n", cmd);
    return 1;
}

int ds_dp_loop_failed(const char *cmd, int collective)
{
    if (ds_dist_size() <= 1 || collective) {
        if (ds_dist_root()) ds_cmd_error(cmd, "%s", ds_errmsg());
        return 1;
    }
    print_rank_error(cmd);
    ds_dist_abort(1);
    return 1;
}
