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
 * extrapolation (error O(eps⁴)). Returns the worst error over all inputs, where an element's error is
 * |fd − g| / max(|g|, 0.05·max|g| of its tensor, 1e-4). At most
 * `max_per_input` elements of each input are probed (spread evenly).
 * Prints the worst element of any tensor whose error exceeds tol. */
double gc_check(gc_forward fwd, void *ctx, long nout, const float *w, gc_input *in, int nin, float eps,
                int max_per_input, double tol);

#endif
