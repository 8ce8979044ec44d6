/* bf16 requested on a CPU without avx512_core_bf16: the engine falls back to
 * fp32 with a one-line notice, never an error. The missing CPU feature is
 * simulated by capping oneDNN's ISA at avx512_core (or avx2 on older
 * machines) before any primitive is created, so this test needs its own
 * process. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "pneumo.h"
#include "infer/synthetic.h"

static void test_bf16_falls_back(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_error err = {0};
    assert_int_equal(pn__resnet18_synthetic(&sd, 2, &err), PN_OK);
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = 2, c.height = c.width = 64, c.bf16 = 1;
    pn_infer *e = NULL;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_OK);
    assert_non_null(e);
    printf("  %s\n", err.msg);
    assert_int_equal(pn_infer_is_bf16(e), 0);
    assert_non_null(strstr(err.msg, "avx512_core_bf16"));
    assert_null(strchr(err.msg, '\n'));
    assert_string_equal(pn_infer_notice(e), err.msg);

    // and it computes the fp32 result: the same as a plain fp32 engine
    c.bf16 = 0;
    pn_infer *f;
    pn_error err2 = {0};
    assert_int_equal(pn_infer_create(&f, &sd, &c, &err2), PN_OK);
    assert_string_equal(pn_infer_notice(f), "");
    int64_t shape[4] = {2, 3, 64, 64};
    float *x = malloc(sizeof(float) * 2 * 3 * 64 * 64), a[4], b[4];
    assert_non_null(x);
    pn__synthetic_fill("input64", 4, shape, x, 2 * 3 * 64 * 64);
    assert_int_equal(pn_infer_run(e, x, 2, a, NULL, &err), PN_OK);
    assert_int_equal(pn_infer_run(f, x, 2, b, NULL, &err), PN_OK);
    assert_memory_equal(a, b, sizeof a);
    free(x);
    pn_infer_free(e);
    pn_infer_free(f);
    pn_statedict_free(&sd);
}

/* bf16 training asked for on such a CPU: an fp32 model and a notice */
static void test_train_bf16_falls_back(void **state)
{
    (void)state;
    pn_model_config c = {.num_classes = 2, .max_batch = 2, .height = 64, .width = 64,
                         .freeze = PN_FREEZE_LAYER4, .bf16 = 1};
    pn_model *m = NULL;
    pn_error err = {0};
    assert_int_equal(pn_model_create(&m, &c, &err), PN_OK);
    assert_non_null(m);
    printf("  %s\n", err.msg);
    assert_int_equal(pn_model_is_bf16(m), 0);
    assert_non_null(strstr(err.msg, "avx512_core_bf16"));
    assert_non_null(strstr(err.msg, "training in fp32"));
    assert_null(strchr(err.msg, '\n'));
    /* and it trains (in fp32) */
    float x[2 * 3 * 64 * 64], loss;
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)(i % 17) / 8.0f - 1.0f;
    int labels[2] = {0, 1};
    assert_int_equal(pn_model_init_torchvision(m, 1, &err), PN_OK);
    assert_int_equal(pn_model_train_step(m, x, labels, 2, NULL, 1e-4, &loss, NULL, &err), PN_OK);
    assert_true(loss > 0 && loss < 10);
    pn_model_free(m);
}

int main(void)
{
    // before any other oneDNN call
    if (dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core) != dnnl_success)
        dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_falls_back),
        cmocka_unit_test(test_train_bf16_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
