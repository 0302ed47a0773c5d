/* AdamW against the update written out in double, decay groups, schedules
 * and gradient clipping. */
#include "test.h"
#include "core/error.h"
#include "nn/optim.h"

#include <math.h>
#include <string.h>

static void two_tensors(ds_params *ps)
{
    ds_params_init(ps);
    int64_t a[2] = { 3, 5 }, b[1] = { 7 }, c[1] = { 2 };
    ds_params_add(ps, "w", 2, a, 1);
    ds_params_add(ps, "norm.weight", 1, b, 0);
    ds_params_add_buffer(ps, "buf", 1, c);
    ds_params_alloc(ps);
}

TEST(test_adamw_matches_written_out_update_and_skips_no_decay_and_buffers)
{
    ds_params ps;
    two_tensors(&ps);
    const int n = 15 + 7;
    float *w = ds_params_data(&ps, 0), *nw = ds_params_data(&ps, 1), *buf = ds_params_data(&ps, 2);
    ds_test_fill_uniform(w, 15, -1, 1, 1);
    ds_test_fill_uniform(nw, 7, -1, 1, 2);
    buf[0] = 3; buf[1] = 4;
    double p[22], m[22] = {0}, v[22] = {0};
    for (int i = 0; i < 15; i++) p[i] = w[i];
    for (int i = 0; i < 7; i++) p[15 + i] = nw[i];
    ds_adamw opt;
    ds_adamw_cfg cfg = { 0.9f, 0.95f, 1e-8f, 0.1f };
    CHECK_EQ_INT(ds_adamw_init(&opt, &ps, cfg), 0);
    for (int step = 1; step <= 5; step++) {
        float g[22];
        ds_test_fill_uniform(g, n, -1, 1, 10 + step);
        memcpy(ds_params_grad(&ps, 0), g, 15 * sizeof(float));
        memcpy(ds_params_grad(&ps, 1), g + 15, 7 * sizeof(float));
        ds_params_grad(&ps, 2)[0] = 100.0f;   /* a buffer's gradient must be ignored */
        double lr = 1e-2 * step;
        ds_adamw_step(&opt, &ps, (float)lr);
        for (int i = 0; i < n; i++) {
            double wd = i < 15 ? 0.1 : 0.0;
            p[i] *= 1 - lr * wd;
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.95 * v[i] + 0.05 * (double)g[i] * g[i];
            double mh = m[i] / (1 - pow(0.9, step)), vh = v[i] / (1 - pow(0.95, step));
            p[i] -= lr * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < 15; i++) CHECK_NEAR(w[i], p[i], 2e-6);
    for (int i = 0; i < 7; i++) CHECK_NEAR(nw[i], p[15 + i], 2e-6);
    CHECK(buf[0] == 3 && buf[1] == 4);
    CHECK_EQ_INT(opt.step, 5);
    ds_adamw_free(&opt);
    ds_params_free(&ps);
}

TEST(test_schedule_warms_up_then_decays_to_min_lr)
{
    ds_schedule s = { DS_SCHED_COSINE, 1e-3f, 1e-4f, 10, 110 };
    CHECK_NEAR(ds_schedule_lr(&s, 0), 1e-4, 1e-9);
    CHECK_NEAR(ds_schedule_lr(&s, 9), 1e-3, 1e-9);
    CHECK_NEAR(ds_schedule_lr(&s, 10), 1e-3, 1e-9);
    CHECK_NEAR(ds_schedule_lr(&s, 60), 5.5e-4, 1e-9);   /* half way: the mean of lr and min_lr */
    CHECK_NEAR(ds_schedule_lr(&s, 110), 1e-4, 1e-9);
    CHECK_NEAR(ds_schedule_lr(&s, 500), 1e-4, 1e-9);
    s.kind = DS_SCHED_LINEAR;
    CHECK_NEAR(ds_schedule_lr(&s, 35), 1e-3 - 0.25 * 9e-4, 1e-9);
    s.kind = DS_SCHED_CONSTANT;
    CHECK_NEAR(ds_schedule_lr(&s, 80), 1e-3, 1e-9);
    CHECK_EQ_INT(ds_schedule_parse("linear"), DS_SCHED_LINEAR);
    CHECK_EQ_INT(ds_schedule_parse("step"), -1);
}

TEST(test_grad_clip_scales_to_max_norm_like_torch)
{
    ds_params ps;
    two_tensors(&ps);
    float *g = ds_params_grad(&ps, 0), *h = ds_params_grad(&ps, 1);
    for (int i = 0; i < 15; i++) g[i] = 1.0f;
    for (int i = 0; i < 7; i++) h[i] = -2.0f;
    ds_params_grad(&ps, 2)[0] = 1000.0f;   /* buffers do not count */
    float norm = ds_grad_clip(&ps, 1.0f);
    CHECK_NEAR(norm, sqrt(15 + 28.0), 1e-5);
    double after = 0;
    for (int i = 0; i < 15; i++) after += (double)g[i] * g[i];
    for (int i = 0; i < 7; i++) after += (double)h[i] * h[i];
    CHECK_NEAR(sqrt(after), 1.0, 1e-5);
    float again = ds_grad_clip(&ps, 5.0f);   /* below the limit: untouched */
    CHECK_NEAR(again, 1.0, 1e-5);
    CHECK_NEAR(g[0], 1.0f / (sqrt(43.0) + 1e-6), 1e-6);
    ds_params_free(&ps);
}

/* timm's CosineLRScheduler(t_initial = T - W, warmup_t = W, warmup_prefix,
 * warmup_lr_init, lr_min), written out: lr(t) = w0 + t (lr - w0) / W in the
 * warm-up, then lr_min + (lr - lr_min)(1 + cos(pi (t - W) / (T - W))) / 2. */
TEST(test_schedule_timm_cosine_follows_the_official_hg38_schedule)
{
    ds_schedule s = { DS_SCHED_TIMM_COSINE, 6e-4f, 1e-4f, 10, 100, 1e-6f };
    CHECK_NEAR(ds_schedule_lr(&s, 0), 1e-6, 1e-12);                        /* warmup_lr_init, not lr/W */
    CHECK_NEAR(ds_schedule_lr(&s, 5), 1e-6 + 5 * (6e-4 - 1e-6) / 10, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 10), 6e-4, 1e-10);                       /* the peak right after warm-up */
    CHECK_NEAR(ds_schedule_lr(&s, 55), 1e-4 + 0.5 * 5e-4 * (1 + cos(M_PI * 45 / 90)), 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 100), 1e-4, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 150), 1e-4, 1e-10);                      /* held at lr_min */
    CHECK_EQ_INT(ds_schedule_parse("timm-cosine"), DS_SCHED_TIMM_COSINE);
    CHECK(!strcmp(ds_schedule_name(DS_SCHED_TIMM_COSINE), "timm-cosine"));
}

/* fairseq's tri_stage (wav2vec 2.0 fine-tuning: phase_ratio [0.1, 0.4, 0.5],
 * init_lr_scale 0.01, final_lr_scale 0.05) over max_update 100 at lr 1e-3,
 * worked by hand: W, H, D = 10, 40, 50; init_lr 1e-5, warmup_rate
 * (1e-3 − 1e-5)/10 = 9.9e-5, so u 0 → 1e-5, u 5 → 1e-5 + 5·9.9e-5 = 5.05e-4,
 * u 9 → 9.01e-4 (the warm-up never reaches the peak itself); u 10..49 → 1e-3;
 * decay_factor −ln(0.05)/50, so u 50 → 1e-3, u 75 → 1e-3·√0.05 = 2.2360680e-4,
 * u 100 → 1e-3·0.05 = 5e-5; past that, final_lr 5e-5. */
static ds_schedule w2v_tri_stage(long max_update)
{
    ds_schedule s;
    const double ratio[3] = { 0.1, 0.4, 0.5 };
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, max_update, ratio, 0.01, 0.05), 0);
    return s;
}

TEST(test_tri_stage_takes_the_stage_lengths_from_phase_ratio_like_fairseq)
{
    ds_schedule s = w2v_tri_stage(20000);   /* wav2vec2 base_10h: max_update 20000 */
    CHECK_EQ_INT(s.kind, DS_SCHED_TRI_STAGE);
    CHECK_EQ_INT(s.warmup_steps, 2000);
    CHECK_EQ_INT(s.hold_steps, 8000);
    CHECK_EQ_INT(s.decay_steps, 10000);
    /* int(10 · 0.7) is 7 in Python's double; 10 · 0.7f would truncate to 6 */
    const double r[3] = { 0.7, 0.2, 0.1 };
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 10, r, 0.01, 0.05), 0);
    CHECK_EQ_INT(s.warmup_steps, 7);
    CHECK_EQ_INT(s.hold_steps, 2);
    CHECK_EQ_INT(s.decay_steps, 1);
}

TEST(test_tri_stage_lr_at_the_stage_boundaries_is_fairseqs)
{
    ds_schedule s = w2v_tri_stage(100);
    CHECK_NEAR(ds_schedule_lr(&s, 0), 1e-5, 1e-11);       /* init_lr: the lr of the first update */
    CHECK_NEAR(ds_schedule_lr(&s, 5), 5.05e-4, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 9), 9.01e-4, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 10), 1e-3, 1e-10);      /* hold */
    CHECK_NEAR(ds_schedule_lr(&s, 49), 1e-3, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 50), 1e-3, 1e-10);      /* decay, 0 steps in */
    CHECK_NEAR(ds_schedule_lr(&s, 75), 2.2360680e-4, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 100), 5e-5, 1e-11);     /* the decay's last step is the final lr */
}

TEST(test_tri_stage_holds_the_final_lr_after_the_decay)
{
    ds_schedule s = w2v_tri_stage(100);
    CHECK_NEAR(ds_schedule_lr(&s, 101), 5e-5, 1e-11);
    CHECK_NEAR(ds_schedule_lr(&s, 1000000), 5e-5, 1e-11);
    CHECK_NEAR(s.min_lr, 5e-5, 1e-11);
}

TEST(test_tri_stage_rises_holds_and_falls_monotonically)
{
    ds_schedule s = w2v_tri_stage(100);
    for (long u = 1; u < 10; u++) CHECK(ds_schedule_lr(&s, u) > ds_schedule_lr(&s, u - 1));
    for (long u = 11; u <= 50; u++) CHECK(ds_schedule_lr(&s, u) == ds_schedule_lr(&s, 10));
    for (long u = 51; u <= 100; u++) CHECK(ds_schedule_lr(&s, u) < ds_schedule_lr(&s, u - 1));
    for (long u = 0; u < 200; u++) CHECK(ds_schedule_lr(&s, u) <= 1e-3f && ds_schedule_lr(&s, u) >= 1e-5f * 0.999f);
}

TEST(test_tri_stage_without_warmup_starts_at_the_peak)
{
    ds_schedule s;
    const double r[3] = { 0.0, 0.5, 0.5 };
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 10, r, 0.01, 0.05), 0);
    CHECK_EQ_INT(s.warmup_steps, 0);
    CHECK_NEAR(ds_schedule_lr(&s, 0), 1e-3, 1e-10);      /* warmup_rate 0, no division by 0 */
    CHECK_NEAR(ds_schedule_lr(&s, 5), 1e-3, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 10), 5e-5, 1e-11);
}

TEST(test_tri_stage_without_decay_steps_drops_to_the_final_lr)
{
    /* fairseq divides by decay_steps 0; derfseq keeps the one step at the peak */
    ds_schedule s;
    const double r[3] = { 0.5, 0.5, 0.0 };
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 10, r, 0.01, 0.05), 0);
    CHECK_NEAR(ds_schedule_lr(&s, 10), 1e-3, 1e-10);
    CHECK_NEAR(ds_schedule_lr(&s, 11), 5e-5, 1e-11);
    CHECK(isfinite(ds_schedule_lr(&s, 10)));
}

TEST(test_tri_stage_refuses_ratios_not_adding_to_one_and_a_zero_final_scale)
{
    ds_schedule s;
    const double short_r[3] = { 0.1, 0.4, 0.4 }, neg[3] = { -0.1, 0.6, 0.5 }, ok[3] = { 0.1, 0.4, 0.5 };
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 100, short_r, 0.01, 0.05), DS_EINVAL);
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 100, neg, 0.01, 0.05), DS_EINVAL);
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 0, ok, 0.01, 0.05), DS_EINVAL);
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 100, ok, 0.01, 0.0), DS_EINVAL);   /* ln 0 */
    CHECK_EQ_INT(ds_schedule_tri_stage(&s, 1e-3f, 100, ok, -0.5, 0.05), DS_EINVAL);
}

/* The DNA commands build their schedule from the common fields only: a
 * tri-stage one then gets warm-up --warmup, hold 40% of the steps, decay
 * over the rest, scales 0.01 and 0.05 (10/40/50 when the warm-up is 10%). */
TEST(test_tri_stage_from_the_common_fields_only_is_wav2vec2s_shape)
{
    ds_schedule s = { DS_SCHED_TRI_STAGE, 1e-3f, 1e-4f, 10, 100 }, w = w2v_tri_stage(100);
    for (long u = 0; u <= 120; u++) CHECK_NEAR(ds_schedule_lr(&s, u), ds_schedule_lr(&w, u), 1e-12);
    ds_schedule late = { DS_SCHED_TRI_STAGE, 1e-3f, 0, 90, 100 };   /* warm-up past 60%: no decay steps left */
    CHECK(isfinite(ds_schedule_lr(&late, 90)));
    CHECK_NEAR(ds_schedule_lr(&late, 150), 5e-5, 1e-11);
    CHECK_EQ_INT(ds_schedule_parse("tri-stage"), DS_SCHED_TRI_STAGE);
    CHECK(!strcmp(ds_schedule_name(DS_SCHED_TRI_STAGE), "tri-stage"));
}
