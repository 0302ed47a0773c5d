/* lib/core: Philox known answers, the RNG's streams, the parameter table
 * and the activation arena. */
#include "test.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/rng.h"

#include <string.h>

TEST(test_philox_matches_random123_known_answers)
{
    uint32_t w[4];
    ds_philox(0, 0, 0, w);
    CHECK(w[0] == 0x6627e8d5u && w[1] == 0xe169c58du && w[2] == 0xbc57ac4cu && w[3] == 0x9b00dbd8u);
    ds_philox(~0ull, ~0ull, ~0ull, w);
    CHECK(w[0] == 0x408f276du && w[1] == 0x41c83b0eu && w[2] == 0xa20bc7c6u && w[3] == 0x6d5451fdu);
    /* counter 243f6a88 85a308d3 13198a2e 03707344, key a4093822 299f31d0 */
    ds_philox(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, w);
    CHECK(w[0] == 0xd16cfe09u && w[1] == 0x94fdccebu && w[2] == 0x5001e420u && w[3] == 0x24126ea1u);
}

TEST(test_philox_block_gives_the_scalar_philox_words)
{
    /* counters from 0, across the 2^32 carry into the high word, and large;
     * keys and streams with both halves set */
    const uint64_t starts[3] = { 0, 0xfffffff8ull, 123456789012345ull };
    const uint64_t keys[2] = { 20240611, 0xfedcba9876543210ull }, streams[2] = { 77, 0x0123456789abcdefull };
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 2; k++) {
            uint32_t blk[DS_PHILOX_BLOCK][4], one[4];
            ds_philox_block(keys[k], streams[k], starts[s], blk);
            for (int i = 0; i < DS_PHILOX_BLOCK; i++) {
                ds_philox(keys[k], streams[k], starts[s] + (uint64_t)i, one);
                CHECK_MSG(!memcmp(blk[i], one, sizeof one), "counter %llu: block and scalar words differ",
                          (unsigned long long)(starts[s] + (uint64_t)i));
            }
        }
}

TEST(test_rng_streams_are_reproducible_and_independent)
{
    ds_rng a, b, c;
    ds_rng_init(&a, 7, 1);
    ds_rng_init(&b, 7, 1);
    ds_rng_init(&c, 7, 2);
    int same = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = ds_rng_u32(&a), y = ds_rng_u32(&b), z = ds_rng_u32(&c);
        CHECK(x == y);
        same += x == z;
    }
    CHECK(same < 3);
    /* the sequential generator walks the same words as the stateless one */
    ds_rng_init(&a, 9, 4);
    for (int i = 0; i < 10; i++) CHECK(ds_rng_uniform(&a) == ds_rng_uniform_at(9, 4, (uint64_t)i));
    /* moments of the normal generator */
    double s = 0, s2 = 0;
    enum { n = 200000 };
    for (int i = 0; i < n; i++) { double x = ds_rng_normal(&c); s += x; s2 += x * x; }
    CHECK_NEAR(s / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 1.0, 0.02);
    long hist[10] = {0};
    for (int i = 0; i < 100000; i++) hist[ds_rng_below(&c, 10)]++;
    for (int k = 0; k < 10; k++) CHECK_MSG(hist[k] > 9500 && hist[k] < 10500, "bucket %d: %ld", k, hist[k]);
}

TEST(test_params_table_lays_out_aligned_blocks_and_rejects_duplicates)
{
    ds_params ps;
    ds_params_init(&ps);
    int64_t s1[2] = { 3, 5 }, s2[1] = { 1 }, bad[1] = { 0 };
    CHECK_EQ_INT(ds_params_add(&ps, "a.weight", 2, s1, 1), 0);
    CHECK_EQ_INT(ds_params_add(&ps, "a.alpha", 1, s2, 0), 1);
    CHECK_EQ_INT(ds_params_add_buffer(&ps, "a.z", 1, s2), 2);
    CHECK(ds_params_add(&ps, "a.weight", 1, s2, 0) < 0);
    CHECK(strstr(ds_errmsg(), "a.weight") != NULL);
    CHECK(ds_params_add(&ps, "b", 1, bad, 0) < 0);
    CHECK_EQ_INT(ds_params_add_alias(&ps, "a.alpha_again", 1), 3);
    CHECK_EQ_INT(ds_params_alloc(&ps), 0);
    CHECK_EQ_INT(ps.p[3].offset, ps.p[1].offset);   /* shared storage, no new space */
    CHECK_EQ_INT(ps.total, 48);
    CHECK_EQ_INT(ps.p[1].offset % 16, 0);
    CHECK_EQ_INT(ps.p[1].offset, 16);
    CHECK_EQ_INT(((uintptr_t)ds_params_data(&ps, 1)) % 64, 0);
    CHECK_EQ_INT(ds_params_count(&ps), 16);   /* the buffer is not a parameter */
    CHECK_EQ_INT(ds_params_find(&ps, "a.z"), 2);
    CHECK_EQ_INT(ds_params_find(&ps, "nope"), -1);
    char buf[32];
    CHECK(!strcmp(ds_shape_str(ps.p[0].shape, 2, buf, sizeof buf), "[3,5]"));
    ds_params_grad(&ps, 0)[4] = 3;
    ds_params_zero_grad(&ps);
    CHECK(ds_params_grad(&ps, 0)[4] == 0);
    ds_params_free(&ps);
}

TEST(test_arena_measure_pass_sizes_the_real_arena)
{
    ds_arena m, a;
    ds_arena_measure(&m);
    CHECK(ds_arena_take(&m, 10) == NULL);
    ds_arena_take(&m, 100);
    CHECK_EQ_INT(m.used, 16 + 112);
    CHECK_EQ_INT(ds_arena_init(&a, m.used), 0);
    float *x = ds_arena_take(&a, 10), *y = ds_arena_take(&a, 100);
    CHECK(x && y && y - x == 16);
    CHECK(ds_arena_take(&a, 1) == NULL);   /* full: the sizing was exact */
    ds_arena_reset(&a);
    CHECK(ds_arena_take(&a, 10) == x);
    ds_arena_free(&a);
}

TEST(test_error_message_can_wrap_the_previous_one)
{
    ds_err(DS_EFORMAT, "regions.bed:%d: unknown contig '%s'", 1, "chrQ");
    int r = ds_err(DS_EINVAL, "%s: %s", "embed", ds_errmsg());
    CHECK_EQ_INT(r, DS_EINVAL);
    CHECK_MSG(!strcmp(ds_errmsg(), "embed: regions.bed:1: unknown contig 'chrQ'"), "got '%s'", ds_errmsg());
}
