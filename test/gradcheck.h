/* Finite-difference gradient checks for ops: perturb each input element,
 * measure the change of L = Σ w·out (in double), compare with the analytic
 * gradient the op's backward wrote for dout = w. */
#ifndef DS_GRADCHECK_H
#define DS_GRADCHECK_H

typedef struct {
    const char *name;
    float *x;          /* the input to perturb (in place, restored) */
    const float *g;    /* analytic gradient of L w.r.t. x */
    long n;
    float eps;         /* step for this input; 0: gc_check's eps */
} gc_input;

/* Runs the forward into out[nout] from the current inputs. */
typedef void (*gc_forward)(void *ctx, float *out);

/* Central differences at eps and eps/2, combined by Richardson
 * extrapolation (error O(eps⁴)), at a step of eps·max(1, rms of the
 * tensor) unless the input sets its own. Returns the worst error over all
 * inputs, where a tensor's error is normwise over its probed elements:
 * ||fd − g|| / max(||g||, 1e-4·sqrt(probes)). At most `max_per_input`
 * elements of each input are probed (spread evenly). Prints the element
 * that differs most for any tensor whose error exceeds tol. */
double gc_check(gc_forward fwd, void *ctx, long nout, const float *w, gc_input *in, int nin, float eps,
                int max_per_input, double tol);

#endif
