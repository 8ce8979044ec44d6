/* Torch-exact RNG: nn.Linear init, randperm and DataLoader shuffle orders
 * against values dumped by tests/pytorch/make_train_fixtures.py. */
#include "testutil.h"

#include <stdio.h>

#include "pneumo/rng.h"
#include "train_st.h"

static void test_mt19937_reference(void **state)
{
    (void)state;
    /* the C++ standard: the 10000th output of std::mt19937 (seed 5489) */
    pn_rng g;
    pn_rng_seed(&g, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = pn_rng_u32(&g);
    assert_int_equal(v, 4123659995U);
}

static void test_linear_init(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("train_rng.safetensors"));
    uint64_t seeds[] = {0, 42, 12345, (UINT64_C(1) << 32) + 7};
    for (int k = 0; k < 4; k++) {
        char nw[64], nb[64];
        snprintf(nw, sizeof nw, "linear_w_%llu", (unsigned long long)seeds[k]);
        snprintf(nb, sizeof nb, "linear_b_%llu", (unsigned long long)seeds[k]);
        size_t n1, n2;
        const float *w = st_f32(&f, nw, &n1), *b = st_f32(&f, nb, &n2);
        assert_int_equal(n1, 1024);
        assert_int_equal(n2, 2);
        float gw[1024], gb[2];
        pn_rng g;
        pn_rng_seed(&g, seeds[k]);
        pn_rng_linear_init(&g, gw, gb, 2, 512);
        /* bit for bit */
        assert_memory_equal(gw, w, sizeof gw);
        assert_memory_equal(gb, b, sizeof gb);
    }
    st_free(&f);
}

static void test_randperm(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("train_rng.safetensors"));
    int cases[3][2] = {{10, 7}, {800, 1}, {1000, 99}};
    int64_t got[1000];
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "randperm_%d_%d", cases[k][0], cases[k][1]);
        size_t n;
        const int64_t *want = st_i64(&f, name, &n);
        assert_int_equal(n, cases[k][0]);
        pn_rng g;
        pn_rng_seed(&g, (uint64_t)cases[k][1]);
        pn_rng_randperm(&g, n, got);
        assert_memory_equal(got, want, n * sizeof *got);
    }
    /* manual_seed(5); nn.Linear(512,2); three DataLoader(shuffle=True) epochs */
    pn_rng g;
    pn_rng_seed(&g, 5);
    float w[1024], b[2];
    pn_rng_linear_init(&g, w, b, 2, 512);
    for (int e = 0; e < 3; e++) {
        char name[32];
        snprintf(name, sizeof name, "epoch_5_%d", e);
        size_t n;
        const int64_t *want = st_i64(&f, name, &n);
        assert_int_equal(n, 800);
        pn_rng_sampler_epoch(&g, n, got);
        assert_memory_equal(got, want, n * sizeof *got);
    }
    st_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mt19937_reference),
        cmocka_unit_test(test_linear_init),
        cmocka_unit_test(test_randperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
