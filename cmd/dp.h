/* What the data-parallel training commands (pretrain, finetune) share on
 * top of lib/core/dist.h: the rank's share of a global batch, and stopping
 * every rank together when one of them fails. */
#ifndef DS_CMD_DP_H
#define DS_CMD_DP_H

/* Rows [*first, *first + *count) of a global batch of n rows: rank r of R
 * takes the r-th of R near-equal contiguous parts (the first n % R ranks
 * one row more), so R ranks together read exactly the rows one process
 * would, in the same order. */
void ds_dp_share(long n, long *first, long *count);

/* After a setup that can fail on one rank (the run directory, the data,
 * the model): 0 when every rank succeeded; otherwise the ranks that
 * failed print their error, rank 0 says when it was another rank, and
 * every rank gets 1 (its exit status). With one process: e is printed as
 * usual ("derfseq CMD: msg") and 1 returned when e != 0. */
int ds_dp_setup_failed(const char *cmd, int e);

/* The exit of a training command whose loop failed with the message in
 * ds_errmsg(). collective = 1 when every rank met the same error at the
 * same point (a divergence measured on summed values): rank 0 prints it
 * and every rank returns 1. Otherwise (one rank's I/O error, say), with
 * several ranks this rank prints "derfseq CMD: rank R: msg" and ends the
 * job (the others wait in a collective that would never complete). */
int ds_dp_loop_failed(const char *cmd, int collective);

#endif
