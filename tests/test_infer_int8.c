/* int8 inference (src/infer/quant.c, the int8 plan of src/infer/plan.c),
 * the dynamic schedule (sched.c) and Winograd, against the fp32 engine on the shared X-ray images: calibration on
 * training images, logits / pooled features / layer4 within a stated
 * tolerance, the calibration metadata, pn_quantize_model's report, and the
 * refusals (no / older / foreign calibration, another class count, too few
 * or one-class calibration images).
 *
 * Tolerances (measured on this suite's synthetic ResNet-18 and the 8 test
 * images: see the numbers printed): the int8 error is quantization noise, not
 * rounding, so it is stated relative to the spread of the fp32 values:
 *   pooled features  max |d| <= 0.05 x max |fp32 feature|
 *   logits           max |d| <= 0.05 x max |fp32 logit|
 *   layer4           max |d| <= 0.10 x max |fp32 layer4| */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pneumo.h"
#include "infer/synthetic.h"
#include "ops/dnn.h"

#define NB 8 /* batch */

static pn_statedict g_sd; /* synthetic weights + the calibration metadata */
static pn_dataset *g_ds;
static float *g_x; /* NB test images */

static pn_infer *engine(const pn_statedict *sd, int int8, pn_stage stop, int l4)
{
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = NB, c.threads = 2, c.int8 = int8, c.stop = stop, c.want_layer4 = l4;
    pn_infer *e = NULL;
    pn_error err = {0};
    if (pn_infer_create(&e, sd, &c, &err)) fail_msg("%s", err.msg);
    return e;
}

static void load(pn_split s, const size_t *idx, size_t n, float *x, int *y)
{
    pn_loader *l;
    pn_error err = {0};
    pn_decode_opts o = {0};
    if (pn_loader_create(&l, g_ds, s, idx, n, NB, 2, &o, 0, &err)) fail_msg("%s", err.msg);
    int nb = 0;
    if (pn_loader_next(l, x, y, NULL, &nb, &err) || nb != (int)n) fail_msg("load: %s", err.msg);
    pn_loader_free(l);
}

static int setup(void **state)
{
    (void)state;
    pn_error err = {0};
    char p[1024];
    snprintf(p, sizeof p, "%s/chest_xray", tu_data_dir());
    if (pn_dataset_open(p, &g_ds, &err)) fail_msg("%s", err.msg);
    if (pn__resnet18_synthetic(&g_sd, 2, &err)) fail_msg("%s", err.msg);
    g_x = malloc(sizeof(float) * NB * 3 * 224 * 224);
    float *xc = malloc(sizeof(float) * NB * 3 * 224 * 224);
    assert_non_null(g_x);
    assert_non_null(xc);
    /* calibration: 4 batches of 8 training images spread over the split */
    pn_infer *cal = engine(&g_sd, 0, PN_STAGE_LOGITS, 0);
    size_t total = pn_dataset_count(g_ds, PN_SPLIT_TRAIN);
    for (int b = 0; b < 4; b++) {
        size_t idx[NB];
        for (int i = 0; i < NB; i++) idx[i] = (size_t)(b * NB + i) * total / 32;
        load(PN_SPLIT_TRAIN, idx, NB, xc, NULL);
        if (pn_infer_calibrate(cal, xc, NB, NULL, &err)) fail_msg("%s", err.msg);
    }
    assert_int_equal(pn_infer_calibrated_images(cal), 32);
    if (pn_infer_calibration_meta(cal, &g_sd, &err)) fail_msg("%s", err.msg);
    pn_infer_free(cal);
    size_t idx[NB];
    for (int i = 0; i < NB; i++) idx[i] = (size_t)i;
    load(PN_SPLIT_TEST, idx, NB, g_x, NULL);
    free(xc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pn_statedict_free(&g_sd);
    pn_dataset_free(g_ds);
    free(g_x);
    return 0;
}

static double maxabs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static void test_int8_close_to_fp32(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_infer *f = engine(&g_sd, 0, PN_STAGE_LOGITS, 1), *q = engine(&g_sd, 1, PN_STAGE_LOGITS, 1);
    assert_int_equal(pn_infer_is_int8(q), 1);
    assert_int_equal(pn_infer_is_int8(f), 0);
    const size_t L4 = (size_t)NB * 512 * 7 * 7;
    float lf[NB * 2], lq[NB * 2], *l4f = malloc(sizeof(float) * L4), *l4q = malloc(sizeof(float) * L4);
    assert_non_null(l4f);
    assert_non_null(l4q);
    if (pn_infer_run(f, g_x, NB, lf, l4f, &err)) fail_msg("%s", err.msg);
    if (pn_infer_run(q, g_x, NB, lq, l4q, &err)) fail_msg("%s", err.msg);
    double dl = maxdiff(lf, lq, NB * 2), ml = maxabs(lf, NB * 2);
    double d4 = maxdiff(l4f, l4q, L4), m4 = maxabs(l4f, L4);
    printf("int8 vs fp32: logits max |d| %.4g of max |logit| %.4g (%.2f%%); layer4 %.4g of %.4g "
           "(%.2f%%)\n", dl, ml, 100 * dl / ml, d4, m4, 100 * d4 / m4);
    assert_true(dl <= 0.05 * ml);
    assert_true(d4 <= 0.10 * m4);
    assert_true(dl > 0); /* it really ran int8: not bit-equal to fp32 */
    /* a smaller batch (its own plan) gives the same int8 numbers per image */
    float l1[2];
    if (pn_infer_run(q, g_x + 3 * 3 * 224 * 224, 1, l1, NULL, &err)) fail_msg("%s", err.msg);
    assert_true(fabs(l1[0] - lq[6]) <= 1e-4 * (1 + fabs(lq[6])));
    assert_true(fabs(l1[1] - lq[7]) <= 1e-4 * (1 + fabs(lq[7])));
    pn_infer_free(f);
    pn_infer_free(q);
    /* the pooled features (the feature pass) */
    f = engine(&g_sd, 0, PN_STAGE_POOL, 0), q = engine(&g_sd, 1, PN_STAGE_POOL, 0);
    float pf[NB * 512], pq[NB * 512];
    if (pn_infer_run(f, g_x, NB, pf, NULL, &err)) fail_msg("%s", err.msg);
    if (pn_infer_run(q, g_x, NB, pq, NULL, &err)) fail_msg("%s", err.msg);
    double dp = maxdiff(pf, pq, NB * 512), mp = maxabs(pf, NB * 512);
    printf("int8 vs fp32: pooled features max |d| %.4g of %.4g (%.2f%%)\n", dp, mp, 100 * dp / mp);
    assert_true(dp <= 0.05 * mp);
    pn_infer_free(f);
    pn_infer_free(q);
    free(l4f);
    free(l4q);
}

static void test_calibration_meta(void **state)
{
    (void)state;
    assert_string_equal(pn_statedict_get_meta(&g_sd, "pneumo.int8.format"), "1");
    assert_string_equal(pn_statedict_get_meta(&g_sd, "pneumo.int8.classes"), "2");
    const char *r = pn_statedict_get_meta(&g_sd, "pneumo.int8.ranges");
    assert_non_null(r);
    /* the input range: the largest |normalized pixel| of 32 X-rays; ImageNet
     * normalization puts white (1.0) of the blue channel at (1-0.406)/0.225 = 2.64 */
    assert_non_null(strstr(r, "\"input\":2.64"));
    assert_non_null(strstr(r, "\"layer4.1.conv2\":"));
    assert_non_null(strstr(r, "\"layer2.0.downsample.0\":"));
    assert_int_equal(strlen(pn_statedict_get_meta(&g_sd, "pneumo.int8.weights_sha256")), 64);
}

/* a copy of g_sd's tensors with its own metadata */
static void copy_sd(pn_statedict *d, int ncls)
{
    pn_error err = {0};
    if (pn__resnet18_synthetic(d, ncls, &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < g_sd.nmeta; i++)
        pn_statedict_set_meta(d, g_sd.meta[i].key, g_sd.meta[i].value, &err);
}

static void expect_fail(const pn_statedict *sd, pn_infer_config c, const char *needle)
{
    pn_infer *e = NULL;
    pn_error err = {0};
    pn_status st = pn_infer_create(&e, sd, &c, &err);
    assert_int_not_equal(st, PN_OK);
    assert_null(e);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_bad_calibration(void **state)
{
    (void)state;
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = 1, c.int8 = 1;
    pn_statedict sd;
    pn_error err = {0};
    /* no calibration at all */
    if (pn__resnet18_synthetic(&sd, 2, &err)) fail_msg("%s", err.msg);
    expect_fail(&sd, c, "pneumo quantize");
    /* an int8 file from an older pneumo (no format, or format 0) */
    pn_statedict_set_meta(&sd, "pneumo.int8.ranges", pn_statedict_get_meta(&g_sd, "pneumo.int8.ranges"), &err);
    expect_fail(&sd, c, "older pneumo");
    pn_statedict_set_meta(&sd, "pneumo.int8.format", "0", &err);
    expect_fail(&sd, c, "calibration format 0");
    pn_statedict_free(&sd);
    /* quantized for 2 classes, head with 3 */
    copy_sd(&sd, 3);
    expect_fail(&sd, c, "quantized for 2 classes but its head has 3");
    pn_statedict_free(&sd);
    /* the weights changed after calibration */
    copy_sd(&sd, 2);
    ((float *)pn_statedict_find(&sd, "layer3.0.bn1.running_var")->data)[5] *= 1.01f;
    expect_fail(&sd, c, "measured on other weights");
    pn_statedict_free(&sd);
    /* a range missing */
    copy_sd(&sd, 2);
    pn_statedict_set_meta(&sd, "pneumo.int8.ranges", "{\"input\":2.64}", &err);
    expect_fail(&sd, c, "no usable range for conv1");
    /* int8 with bf16 */
    c.bf16 = 1;
    expect_fail(&sd, c, "int8 cannot be combined with bf16");
    pn_statedict_free(&sd);
    /* calibration on a bf16 / int8 engine */
    pn_infer *q = engine(&g_sd, 1, PN_STAGE_POOL, 0);
    assert_int_equal(pn_infer_calibrate(q, g_x, 1, NULL, &err), PN_E_ARG);
    pn_infer_free(q);
}

/* DATA with train/{NORMAL,PNEUMONIA} of nn, np images and test/ of 4 + 4
 * (symlinks to the shared images) */
static char *make_set(const char *dir, int nn, int np)
{
    static char root[1024];
    snprintf(root, sizeof root, "%s/set", dir);
    const int cnt[2][2] = {{nn, np}, {4, 4}};
    const char *sp[2] = {"train", "test"}, *cl[2] = {"NORMAL", "PNEUMONIA"};
    mkdir(root, 0755);
    for (int s = 0; s < 2; s++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", root, sp[s]);
        mkdir(p, 0755);
        for (int c = 0; c < 2; c++) {
            snprintf(p, sizeof p, "%s/%s/%s", root, sp[s], cl[c]);
            mkdir(p, 0755);
            const pn_item *it;
            for (int i = 0; i < cnt[s][c]; i++) {
                it = pn_dataset_item(g_ds, PN_SPLIT_TRAIN,
                                     c == 0 ? (size_t)i : pn_dataset_count(g_ds, PN_SPLIT_TRAIN) - 1 - (size_t)i);
                char to[1300];
                snprintf(to, sizeof to, "%s/%d.jpeg", p, i);
                char *abs = realpath(it->name, NULL);
                if (!abs || symlink(abs, to)) fail_msg("symlink %s", to);
                free(abs);
            }
        }
    }
    return root;
}

static void test_quantize_model(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char model[1100], out[1100];
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(out, sizeof out, "%s/m.int8.safetensors", dir);
    pn_statedict sd;
    pn_error err = {0};
    pn_model_meta meta;
    pn_model_meta_default(&meta);
    if (pn__resnet18_synthetic(&sd, 2, &err)) fail_msg("%s", err.msg);
    if (pn_modelfile_save(model, &sd, &meta, &err)) fail_msg("%s", err.msg);
    pn_statedict_free(&sd);
    pn_quant_opts o;
    pn_quant_opts_default(&o);
    o.batch = 8, o.threads = 2, o.calib_images = 16;
    pn_quant_report r;
    pn_dataset *ds = NULL;
    /* five calibration images */
    const char *set = make_set(dir, 3, 2);
    if (pn_dataset_open(set, &ds, &err)) fail_msg("%s", err.msg);
    assert_int_equal(pn_quantize_model(model, ds, &o, out, &r, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "the train split has 5 images; int8 calibration needs at least 16"));
    pn_dataset_free(ds);
    tu_rmtree(set);
    /* one class among the calibration images (20 NORMAL, 1 PNEUMONIA) */
    set = make_set(dir, 20, 1);
    if (pn_dataset_open(set, &ds, &err)) fail_msg("%s", err.msg);
    assert_int_equal(pn_quantize_model(model, ds, &o, out, &r, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "all of one class"));
    pn_dataset_free(ds);
    tu_rmtree(set);
    /* a good one: 12 + 12 */
    set = make_set(dir, 12, 12);
    if (pn_dataset_open(set, &ds, &err)) fail_msg("%s", err.msg);
    if (pn_quantize_model(model, ds, &o, out, &r, &err)) fail_msg("%s", err.msg);
    assert_int_equal(r.calib_images, 16);
    assert_int_equal(r.images, 8);
    assert_true(r.max_dp >= r.mean_dp && r.mean_dp >= 0 && r.max_dp <= 1);
    assert_true(isfinite(r.auc_fp32) && isfinite(r.auc_int8));
    pn_dataset_free(ds);
    /* the file: loads as a model, carries the report, runs int8 */
    pn_model_meta m2;
    if (pn_modelfile_load(out, &sd, &m2, &err)) fail_msg("%s", err.msg);
    const char *acc = pn_statedict_get_meta(&sd, "pneumo.int8.accuracy");
    assert_non_null(acc);
    char want[64];
    snprintf(want, sizeof want, "\"images\":8");
    assert_non_null(strstr(acc, want));
    assert_non_null(strstr(acc, "\"mean_abs_dp\":"));
    assert_non_null(strstr(acc, "\"delta_auc\":"));
    assert_non_null(strstr(pn_statedict_get_meta(&sd, "pneumo.int8.calibration"), "\"images\":16"));
    pn_infer *q = engine(&sd, 1, PN_STAGE_LOGITS, 0);
    assert_int_equal(pn_infer_is_int8(q), 1);
    pn_infer_free(q);
    pn_statedict_free(&sd);
    /* a model of another class count than the data */
    pn_classifier c;
    if (pn_classifier_open(&c, out, 2, 2, PN_INFER_INT8, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(pn_infer_is_int8(c.engine), 1);
    pn_classifier_free(&c);
    assert_int_not_equal(pn_classifier_open(&c, model, 2, 2, PN_INFER_INT8, 0, &err), PN_OK);
    assert_non_null(strstr(err.msg, "no int8 calibration"));
    tu_rmtree(dir);
}

/* The dynamic schedule (src/infer/sched.c, the default with >= 2 threads)
 * gives the same bits as the static one, fp32 and int8, outputs and layer4,
 * with a batch that leaves a short last chunk. */
static void test_schedule_bit_identical(void **state)
{
    (void)state;
    const int n = 13;
    pn_error err = {0};
    int64_t shape[4] = {n, 3, 224, 224};
    size_t in = (size_t)n * 3 * 224 * 224, L4 = (size_t)n * 512 * 49;
    float *x = malloc(sizeof(float) * in), *l4[2], lg[2][n * 2];
    assert_non_null(x);
    pn__synthetic_fill("input_sched", 4, shape, x, in);
    for (int int8 = 0; int8 < 2; int8++) {
        for (int k = 0; k < 2; k++) {
            setenv("PNEUMO_INFER_SCHEDULE", k ? "dynamic" : "static", 1);
            pn_infer_config c = pn_infer_config_default();
            c.max_batch = 16, c.threads = 2, c.int8 = int8, c.want_layer4 = 1;
            pn_infer *e = NULL;
            if (pn_infer_create(&e, &g_sd, &c, &err)) fail_msg("%s", err.msg);
            l4[k] = malloc(sizeof(float) * L4);
            assert_non_null(l4[k]);
            if (pn_infer_run(e, x, n, lg[k], l4[k], &err)) fail_msg("%s", err.msg);
            pn_infer_free(e);
        }
        unsetenv("PNEUMO_INFER_SCHEDULE");
        assert_memory_equal(lg[0], lg[1], sizeof lg[0]);
        assert_memory_equal(l4[0], l4[1], sizeof(float) * L4);
        free(l4[0]);
        free(l4[1]);
    }
    free(x);
}

/* Winograd: oneDNN 2.6 has it for avx512_core only; elsewhere a notice and
 * the direct algorithm's very numbers. Where it runs: within 1e-4 relative
 * of direct (the bound on the logits). */
static void test_winograd(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_infer_config c = pn_infer_config_default();
    c.max_batch = 2, c.threads = 2;
    pn_infer *d = NULL, *w = NULL;
    if (pn_infer_create(&d, &g_sd, &c, &err)) fail_msg("%s", err.msg);
    c.winograd = 1;
    if (pn_infer_create(&w, &g_sd, &c, &err)) fail_msg("%s", err.msg);
    float a[4], b[4];
    if (pn_infer_run(d, g_x, 2, a, NULL, &err) || pn_infer_run(w, g_x, 2, b, NULL, &err))
        fail_msg("%s", err.msg);
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) != dnnl_cpu_isa_avx512_core) {
        assert_int_equal(pn_infer_is_winograd(w), 0);
        assert_non_null(strstr(pn_infer_notice(w), "no Winograd convolution for this CPU"));
        assert_memory_equal(a, b, sizeof a);
        printf("notice (this CPU): %s\n", pn_infer_notice(w));
    } else {
        assert_int_equal(pn_infer_is_winograd(w), 1);
        tu_assert_close("winograd logits", b, a, 4, 1.0, 1e-4);
    }
    pn_infer_free(d);
    pn_infer_free(w);

    /* a full batch of NB on 2 threads (the size where fp32 uses the dynamic
     * schedule; Winograd keeps oneDNN's static split) and then a partial
     * batch of 3, whose plan is built later from the kept float weights
     * (Winograd's weights format depends on the batch and cannot be
     * reordered from): both within 1e-4 of direct */
    c.max_batch = NB, c.winograd = 0;
    float fa[NB * 2], fb[NB * 2];
    if (pn_infer_create(&d, &g_sd, &c, &err)) fail_msg("%s", err.msg);
    c.winograd = 1;
    if (pn_infer_create(&w, &g_sd, &c, &err)) fail_msg("%s", err.msg);
    for (int n = NB; n >= 3; n -= NB - 3) {
        if (pn_infer_run(d, g_x, n, fa, NULL, &err) || pn_infer_run(w, g_x, n, fb, NULL, &err))
            fail_msg("batch %d: %s", n, err.msg);
        tu_assert_close("winograd logits, batch", fb, fa, (size_t)n * 2, 1.0, 1e-4);
        if (pn_infer_is_winograd(w)) {
            double e = tu_max_rel_err("winograd", fb, fa, (size_t)n * 2, 1.0, 1.0);
            printf("winograd vs direct, batch %d: max relative logit error %.3g\n", n, e);
        }
    }
    pn_infer_free(d);
    pn_infer_free(w);
    c.bf16 = 1;
    expect_fail(&g_sd, c, "winograd is fp32 only");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_close_to_fp32),
        cmocka_unit_test(test_calibration_meta),
        cmocka_unit_test(test_bad_calibration),
        cmocka_unit_test(test_quantize_model),
        cmocka_unit_test(test_schedule_bit_identical),
        cmocka_unit_test(test_winograd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
