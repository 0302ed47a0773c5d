/* Built by test/install_test.sh against an installed derfseq, with
 * `cc hello.c $(pkg-config --cflags --libs derfseq)` only: one Derf forward
 * y = γ·erf(α·x + s) + β through the public API, checked against erff. */
#include <derfseq/derfseq.h>

#include <math.h>
#include <stdio.h>

int main(void) {
    enum { N = 2, C = 3 };
    const float x[N * C] = {-1.5f, -0.25f, 0.f, 0.5f, 1.f, 2.f};
    const float gamma[C] = {1.f, 2.f, 0.5f}, beta[C] = {0.f, 0.1f, -0.2f};
    const float alpha = DS_NORM_ALPHA_INIT, shift = 0.25f;
    float y[N * C];
    ds_derf_forward(y, x, alpha, shift, gamma, beta, N, C);
    double sum = 0, err = 0;
    for (int i = 0; i < N * C; i++) {
        float want = gamma[i % C] * erff(alpha * x[i] + shift) + beta[i % C];
        err = fmax(err, fabs(y[i] - want));
        sum += y[i];
    }
    printf("derf sum %.6f max err %.2g\n", sum, err);
    return err < 1e-5 ? 0 : 1;
}
