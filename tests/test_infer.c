/* Inference engine vs PyTorch: torchvision ResNet-18 (eval mode, computed
 * in float64 by tests/pytorch/make_infer_fixtures.py) at every tap, fp32 and
 * bf16, every stop stage, batch sizes 1..max, bad input.
 *
 * The weights and inputs are not stored (47 MB): both sides make them with
 * the same counter-based generator (pn_resnet18_synthetic() here,
 * gen_tensor() in the python script), checked first against spot values in
 * the fixture. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

/* torchvision resnet18(num_classes=ncls) state dict from the generator */
static void make_resnet18(pn_statedict *sd, int ncls)
{
    pn_error err = {0};
    if (pn_resnet18_synthetic(sd, ncls, &err) != PN_OK) fail_msg("%s", err.msg);
}

static float *gen_input(const char *name, int n, int h, int w)
{
    int64_t shape[4] = {n, 3, h, w};
    size_t numel = (size_t)n * 3 * h * w;
    float *x = malloc(sizeof(float) * numel);
    assert_non_null(x);
    pn_synthetic_fill(name, 4, shape, x, numel);
    return x;
}

/* ---- fixture ---------------------------------------------------------------- */

static pn_statedict g_fix;
static pn_statedict g_net;

static void load_fixture(pn_statedict *sd, const char *path)
{
    pn_error err = {0};
    if (pn_safetensors_load(path, sd, &err) != PN_OK) fail_msg("%s", err.msg);
}

static const pn_tensor *fix(const char *name)
{
    const pn_tensor *t = pn_statedict_findc(&g_fix, name);
    if (!t) fail_msg("fixture tensor %s missing: rerun tests/pytorch/make_infer_fixtures.py", name);
    return t;
}

static int setup(void **state)
{
    (void)state;
    load_fixture(&g_fix, tu_fixture("infer_resnet18.safetensors"));
    make_resnet18(&g_net, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pn_statedict_free(&g_fix);
    pn_statedict_free(&g_net);
    return 0;
}

/* Floor for the relative error: the reference tensor's RMS. Entries smaller
 * than the typical magnitude are the sum of much larger terms that cancel, so
 * they are compared in absolute terms (|got - want| / rms). PyTorch's own
 * float32 forward reaches <= 4e-6 against the float64 reference in this
 * metric (printed by make_infer_fixtures.py); with a floor of 0.1 * rms it
 * would itself fail 1e-5 (3e-5 at layer2..4). */
static double rms_floor(const pn_tensor *t)
{
    double s = 0;
    const float *v = t->data;
    for (size_t i = 0; i < t->numel; i++) s += (double)v[i] * v[i];
    return sqrt(s / (double)t->numel);
}

static void check(const char *what, const float *got, const pn_tensor *want, size_t off, size_t n,
                  double rtol)
{
    double fl = rms_floor(want);
    double e = tu_max_rel_err(what, got, (const float *)want->data + off, n, fl, rtol);
    printf("  %-22s max rel err %.3g (floor %.3g)\n", what, e, fl);
    if (!(e <= rtol)) fail_msg("%s: max relative error %.3g > %.3g", what, e, rtol);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_generator_matches_python(void **state)
{
    (void)state;
    const pn_tensor *w = fix("gen.conv1.weight"), *x = fix("gen.input64");
    const pn_tensor *cw = pn_statedict_findc(&g_net, "conv1.weight");
    assert_memory_equal(cw->data, w->data, 16 * sizeof(float));
    float *in = gen_input("input64", 4, 64, 64);
    assert_memory_equal(in, x->data, 16 * sizeof(float));
    free(in);
}

static void test_fold_bn_hand(void **state)
{
    (void)state;
    // w (2, 2); gamma, beta, mean, var by hand
    float w[4] = {1, -2, 0.5f, 4}, b[2];
    float g[2] = {2, 0.5f}, be[2] = {0.1f, -1}, m[2] = {1, -2}, v[2] = {3, 0.25f};
    pn_error err = {0};
    assert_int_equal(pn_fold_bn(w, b, 2, 2, g, be, m, v, 1e-5, "bn", &err), PN_OK);
    double s0 = 2 / sqrt(3 + 1e-5), s1 = 0.5 / sqrt(0.25 + 1e-5);
    assert_true(w[0] == (float)(1 * s0) && w[1] == (float)(-2 * s0));
    assert_true(w[2] == (float)(0.5 * s1) && w[3] == (float)(4 * s1));
    assert_true(b[0] == (float)(0.1f - 1 * s0) && b[1] == (float)(-1 + 2 * s1));
    float vbad[2] = {3, -1};
    assert_int_equal(pn_fold_bn(w, b, 2, 2, g, be, m, vbad, 1e-5, "layer1.0.bn1", &err),
                     PN_E_NUMERIC);
    assert_non_null(strstr(err.msg, "layer1.0.bn1"));
}

static pn_infer *mk(int max_batch, int hw, pn_infer_stage stop, int want_l4, int bf16)
{
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = max_batch, c.height = c.width = hw, c.stop = stop, c.want_layer4 = want_l4;
    c.bf16 = bf16;
    pn_infer *e = NULL;
    pn_error err = {0};
    if (pn_infer_create(&e, &g_net, &c, &err) != PN_OK) fail_msg("create: %s", err.msg);
    return e;
}

static void run_ok(pn_infer *e, const float *x, int n, float *out, float *l4)
{
    pn_error err = {0};
    if (pn_infer_run(e, x, n, out, l4, &err) != PN_OK) fail_msg("run: %s", err.msg);
}

/* Every stop stage on the 64x64 batch of 4, fp32, against the float64 taps. */
static void test_fp32_taps_64(void **state)
{
    (void)state;
    float *x = gen_input("input64", 4, 64, 64);
    for (int s = PN_INFER_STEM; s <= PN_INFER_LOGITS; s++) {
        char key[64];
        snprintf(key, sizeof key, "s64.%s", pn_infer_stage_name(s));
        const pn_tensor *want = fix(key);
        pn_infer *e = mk(4, 64, s, s >= PN_INFER_LAYER4, 0);
        int64_t chw[3];
        size_t per = pn_infer_stage_shape(e, s, chw);
        assert_int_equal(per * 4, want->numel);
        float *out = malloc(sizeof(float) * want->numel);
        float *l4 = s >= PN_INFER_LAYER4 ? malloc(sizeof(float) * 4 * 512 * 2 * 2) : NULL;
        run_ok(e, x, 4, out, l4);
        check(key, out, want, 0, want->numel, TU_FP32_RTOL);
        if (l4) check("s64.layer4 (side)", l4, fix("s64.layer4"), 0, 4 * 512 * 4, TU_FP32_RTOL);
        free(out), free(l4);
        pn_infer_free(e);
    }
    free(x);
}

/* Full 224x224 forward, batch 2: logits, pooled features, layer4 for CAM, and
 * the freeze-boundary stages layer2 / layer3. */
static void test_fp32_224(void **state)
{
    (void)state;
    float *x = gen_input("input224", 2, 224, 224);
    pn_infer *e = mk(2, 224, PN_INFER_LOGITS, 1, 0);
    assert_int_equal(pn_infer_num_classes(e), 2);
    float logits[4], *l4 = malloc(sizeof(float) * 2 * 512 * 49);
    run_ok(e, x, 2, logits, l4);
    check("s224.logits", logits, fix("s224.logits"), 0, 4, TU_FP32_RTOL);
    check("s224.layer4", l4, fix("s224.layer4"), 0, 2 * 512 * 49, TU_FP32_RTOL);
    pn_infer_free(e);
    free(l4);
    static const pn_infer_stage st[3] = {PN_INFER_LAYER2, PN_INFER_LAYER3, PN_INFER_POOL};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "s224.%s", pn_infer_stage_name(st[i]));
        const pn_tensor *want = fix(key);
        e = mk(2, 224, st[i], 0, 0);
        float *out = malloc(sizeof(float) * want->numel);
        run_ok(e, x, 2, out, NULL);
        check(key, out, want, 0, want->numel, TU_FP32_RTOL);
        free(out);
        pn_infer_free(e);
    }
    free(x);
}

static void test_bf16_224(void **state)
{
    (void)state;
    float *x = gen_input("input224", 2, 224, 224);
    pn_infer *e = mk(2, 224, PN_INFER_LOGITS, 0, 1);
    if (!pn_infer_is_bf16(e)) printf("  %s\n", pn_infer_notice(e));
    float logits[4];
    run_ok(e, x, 2, logits, NULL);
    const pn_tensor *want = fix("s224.logits");
    double mx = 0;
    for (int i = 0; i < 4; i++) mx = fmax(mx, fabs(((float *)want->data)[i]));
    // relative to the largest logit of the image batch (bf16 has an 8-bit mantissa)
    double e1 = tu_max_rel_err("bf16 logits", logits, want->data, 4, mx, 3e-2);
    printf("  bf16 logits max err / max|logit| = %.3g (%s)\n", e1,
           pn_infer_is_bf16(e) ? "bf16" : "fp32 fallback");
    assert_true(e1 <= 3e-2);
    pn_infer_free(e);
    free(x);
}

/* Batches 1..max on one engine: each image's result equals the fixture row,
 * whichever position and batch size it is computed in. */
static void test_batch_sizes(void **state)
{
    (void)state;
    float *x = gen_input("input64", 4, 64, 64);
    const pn_tensor *want = fix("s64.logits"), *wp = fix("s64.pool");
    size_t img = 3 * 64 * 64;
    pn_infer *e = mk(4, 64, PN_INFER_LOGITS, 0, 0);
    pn_infer *ep = mk(3, 64, PN_INFER_POOL, 0, 0);
    for (int rep = 0; rep < 2; rep++)
        for (int n = 1; n <= 4; n++)
            for (int first = 0; first + n <= 4; first++) {
                float out[8];
                char what[64];
                run_ok(e, x + first * img, n, out, NULL);
                snprintf(what, sizeof what, "logits n=%d from %d", n, first);
                check(what, out, want, (size_t)first * 2, (size_t)n * 2, TU_FP32_RTOL);
                if (n <= 3) {
                    float pool[3 * 512];
                    run_ok(ep, x + first * img, n, pool, NULL);
                    snprintf(what, sizeof what, "pool n=%d from %d", n, first);
                    check(what, pool, wp, (size_t)first * 512, (size_t)n * 512, TU_FP32_RTOL);
                }
            }
    pn_infer_free(e);
    pn_infer_free(ep);
    free(x);
}

/* A head with 3 classes: logits = fc(pool) with the engine's own pool. */
static void test_three_classes(void **state)
{
    (void)state;
    pn_statedict sd;
    make_resnet18(&sd, 3);
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = 2, c.height = 64, c.width = 96, c.threads = 1;
    pn_infer *e, *ep;
    pn_error err = {0};
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_OK);
    c.stop = PN_INFER_POOL;
    assert_int_equal(pn_infer_create(&ep, &sd, &c, &err), PN_OK);
    assert_int_equal(pn_infer_num_classes(e), 3);
    assert_int_equal(pn_infer_threads(e), 1);
    int64_t chw[3];
    assert_int_equal(pn_infer_stage_shape(e, PN_INFER_LAYER4, chw), 512 * 2 * 3);
    assert_true(chw[1] == 2 && chw[2] == 3);
    float *x = gen_input("input64x96", 2, 64, 96);
    float logits[6], pool[1024];
    assert_int_equal(pn_infer_run(e, x, 2, logits, NULL, &err), PN_OK);
    assert_int_equal(pn_infer_run(ep, x, 2, pool, NULL, &err), PN_OK);
    const float *w = pn_statedict_findc(&sd, "fc.weight")->data;
    const float *b = pn_statedict_findc(&sd, "fc.bias")->data;
    float want[6];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            double acc = b[k];
            for (int j = 0; j < 512; j++) acc += (double)w[k * 512 + j] * pool[i * 512 + j];
            want[i * 3 + k] = (float)acc;
        }
    assert_memory_equal(logits, want, sizeof want);
    free(x);
    pn_infer_free(e);
    pn_infer_free(ep);
    pn_statedict_free(&sd);
}

static void test_bad_input(void **state)
{
    (void)state;
    pn_statedict sd;
    make_resnet18(&sd, 2);
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = 2, c.height = c.width = 64;
    pn_infer *e = NULL;
    pn_error err = {0};
    // missing keys: all of them named in one message
    pn_statedict_remove(&sd, "layer3.1.bn2.running_var");
    pn_statedict_remove(&sd, "fc.bias");
    pn_statedict_remove(&sd, "layer1.0.conv1.weight");
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_null(e);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "missing layer3.1.bn2.running_var"));
    assert_non_null(strstr(err.msg, "missing fc.bias"));
    assert_non_null(strstr(err.msg, "missing layer1.0.conv1.weight"));
    assert_non_null(strstr(err.msg, "3 problems"));
    // stop at layer2: the missing layer3 / fc tensors are not needed, layer1's still is
    c.stop = PN_INFER_LAYER2;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_null(strstr(err.msg, "layer3"));
    assert_non_null(strstr(err.msg, "layer1.0.conv1.weight"));
    pn_statedict_free(&sd);

    // wrong shape, and an integer tensor where a float one is expected
    make_resnet18(&sd, 2);
    pn_tensor *t = pn_statedict_find(&sd, "layer2.0.downsample.0.weight");
    t->shape[1] = 32, t->shape[0] = 256; /* same numel, wrong shape */
    pn_statedict_remove(&sd, "bn1.bias");
    int64_t one = 64;
    assert_int_equal(pn_statedict_add(&sd, "bn1.bias", PN_I64, 1, &one, NULL, NULL, &err), PN_OK);
    c.stop = PN_INFER_LOGITS;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "layer2.0.downsample.0.weight has shape [256, 32, 1, 1], "
                                    "expected [128, 64, 1, 1]"));
    assert_non_null(strstr(err.msg, "bn1.bias is int64"));
    pn_statedict_free(&sd);

    // fc with a bad shape
    make_resnet18(&sd, 2);
    t = pn_statedict_find(&sd, "fc.weight");
    t->shape[0] = 4, t->shape[1] = 256;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "fc.weight has shape [4, 256]"));
    t->shape[0] = 2, t->shape[1] = 512;

    // bad configurations
    c.max_batch = 0;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "max_batch"));
    c.max_batch = 2, c.height = 16;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "16x64"));
    c.height = 64, c.stop = PN_INFER_LAYER3, c.want_layer4 = 1;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "want_layer4"));
    c.stop = (pn_infer_stage)42, c.want_layer4 = 0;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_E_ARG);

    // bad runs: n > max_batch, n = 0, layer4 not prepared, NULL buffers
    c.stop = PN_INFER_LOGITS;
    assert_int_equal(pn_infer_create(&e, &sd, &c, &err), PN_OK);
    float *x = gen_input("input64", 3, 64, 64), out[6];
    assert_int_equal(pn_infer_run(e, x, 3, out, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "batch of 3 images is not in 1..2"));
    assert_int_equal(pn_infer_run(e, x, 0, out, NULL, &err), PN_E_ARG);
    assert_int_equal(pn_infer_run(e, x, 1, out, out, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "want_layer4"));
    assert_int_equal(pn_infer_run(e, NULL, 1, out, NULL, &err), PN_E_ARG);
    assert_int_equal(pn_infer_run(e, x, 2, out, NULL, &err), PN_OK);
    pn_infer_free(e);
    pn_infer_free(NULL);
    free(x);
    pn_statedict_free(&sd);

    assert_int_equal(pn_infer_stage_from_name("layer3"), PN_INFER_LAYER3);
    assert_int_equal(pn_infer_stage_from_name("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_matches_python),
        cmocka_unit_test(test_fold_bn_hand),
        cmocka_unit_test(test_fp32_taps_64),
        cmocka_unit_test(test_fp32_224),
        cmocka_unit_test(test_bf16_224),
        cmocka_unit_test(test_batch_sizes),
        cmocka_unit_test(test_three_classes),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
