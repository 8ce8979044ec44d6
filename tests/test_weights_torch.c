/* Full-size torchvision ResNet-18 files saved by Debian's torch DURING the
 * test (tests/pytorch/weights_torch.py make): every tensor pneumo loads must
 * hash identically to torch's own (converted) tensor; the head/prefix
 * normalisation and checks work on real files; pneumo's exported .pth and
 * model file load strictly in PyTorch with identical tensors and logits. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

static char dir[512];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    char cmd[1400];
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "%s %s/tests/pytorch/weights_torch.py make %s", py, tu_root(), dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

static const char *path_of(const char *name)
{
    static char p[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Compares sd against NAME.sums (name, dtype, shape, sha256 per tensor),
 * in state_dict order unless by_name (safetensors files are sorted). */
static void check_sums_x(const pn_statedict *sd, const char *sums, int by_name)
{
    FILE *f = fopen(path_of(sums), "r");
    assert_non_null(f);
    char name[256], dt[32], shape[128], hex[80];
    size_t i = 0;
    while (fscanf(f, "%255s %31s %127s %79s", name, dt, shape, hex) == 4) {
        assert_true(i < sd->n);
        const pn_tensor *t = by_name ? pn_statedict_findc(sd, name) : &sd->t[i];
        i++;
        assert_non_null(t);
        assert_string_equal(t->name, name);
        assert_string_equal(pn_dtype_name(t->dtype), dt);
        char s[128] = "";
        for (int k = 0; k < t->ndim; k++)
            snprintf(s + strlen(s), sizeof s - strlen(s), k ? "x%lld" : "%lld", (long long)t->shape[k]);
        assert_string_equal(t->ndim ? s : "scalar", shape);
        uint8_t h[32];
        char got[65];
        pn_sha256_buf(t->data, t->numel * pn_dtype_size(t->dtype), h);
        pn_hex(h, 32, got);
        if (strcmp(got, hex)) fail_msg("%s: tensor %s differs from torch's", sums, name);
    }
    fclose(f);
    assert_int_equal(i, sd->n);
}
static void check_sums(const pn_statedict *sd, const char *sums) { check_sums_x(sd, sums, 0); }

static void load_and_check(const char *base, int want_classes, unsigned flags, int want_after)
{
    char pth[64], sums[64];
    snprintf(pth, sizeof pth, "%s.pth", base);
    snprintf(sums, sizeof sums, "%s.sums", base);
    pn_statedict sd;
    pn_error err = {0};
    if (pn_weights_load(path_of(pth), &sd, &err)) fail_msg("%s", err.msg);
    assert_int_equal(sd.n, 122);
    check_sums(&sd, sums);
    int classes = -1;
    if (pn_resnet18_check(&sd, want_classes, flags, &classes, &err)) fail_msg("%s", err.msg);
    assert_int_equal(classes, want_after);
    assert_non_null(pn_statedict_find(&sd, "layer4.1.bn2.running_var"));
    if (want_after) assert_non_null(pn_statedict_find(&sd, "fc.weight"));
    pn_statedict_free(&sd);
}

static void test_1000(void **s) { (void)s; load_and_check("r18_1000", 0, 0, 1000); }
static void test_2(void **s) { (void)s; load_and_check("r18_2", 2, 0, 2); }
static void test_f16(void **s) { (void)s; load_and_check("r18_f16", 2, 0, 2); }
static void test_bf16(void **s) { (void)s; load_and_check("r18_bf16", 2, 0, 2); }
static void test_legacy(void **s) { (void)s; load_and_check("r18_legacy", 2, 0, 2); }
static void test_seed_head(void **s) { (void)s; load_and_check("r18_seed", 2, 0, 2); }
static void test_dataparallel(void **s) { (void)s; load_and_check("r18_dp", 2, 0, 2); }
/* transfer learning: ImageNet head dropped when 2 classes are wanted */
static void test_head_replaced(void **s) { (void)s; load_and_check("r18_1000", 2, PN_R18_HEAD_OPTIONAL, 0); }

static void test_mismatch_one_message(void **s)
{
    (void)s;
    pn_statedict sd;
    pn_error err = {0};
    assert_int_equal(pn_weights_load(path_of("r18_1000.pth"), &sd, &err), PN_OK);
    /* 1000-class head where 2 are required */
    assert_int_equal(pn_resnet18_check(&sd, 2, 0, NULL, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "fc.weight [1000, 512] (want [2, 512])"));
    assert_non_null(strstr(err.msg, "fc.bias [1000] (want [2])"));
    /* missing + unexpected + mis-shaped, all in one message */
    pn_statedict_remove(&sd, "layer2.0.downsample.0.weight");
    pn_statedict_remove(&sd, "bn1.num_batches_tracked"); /* optional: not reported */
    int64_t shp[1] = {3};
    assert_int_equal(pn_statedict_add(&sd, "extra.thing", PN_F32, 1, shp, NULL, NULL, &err), PN_OK);
    pn_tensor *t = pn_statedict_find(&sd, "layer3.1.bn1.bias");
    t->shape[0] = 255;
    assert_int_equal(pn_resnet18_check(&sd, 1000, 0, NULL, &err), PN_E_FORMAT);
    const char *want[] = {"1 missing: layer2.0.downsample.0.weight", "1 unexpected: extra.thing",
                          "1 mis-shaped: layer3.1.bn1.bias [255] (want [256])"};
    for (int i = 0; i < 3; i++)
        if (!strstr(err.msg, want[i])) fail_msg("\"%s\" lacks \"%s\"", err.msg, want[i]);
    assert_null(strstr(err.msg, "num_batches_tracked"));
    /* pn_modelfile_load never runs with mismatched weights */
    pn_statedict_free(&sd);
    pn_model_meta meta;
    assert_int_equal(pn_modelfile_load(path_of("r18_1000.pth"), &sd, &meta, &err), PN_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "r18_1000.pth"));
    assert_int_equal(sd.n, 0);
}

static void run_export_check(const char *ref, const char *model)
{
    char cmd[2000];
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "%s %s/tests/pytorch/weights_torch.py check-export %s %s %s", py,
             tu_root(), path_of(ref), path_of("out.pth"), path_of(model));
    if (system(cmd) != 0) fail_msg("PyTorch rejected pneumo's files: %s", cmd);
}

static void test_export_loads_in_torch(void **s)
{
    (void)s;
    pn_statedict sd;
    pn_model_meta meta;
    pn_error err = {0};
    if (pn_modelfile_load(path_of("r18_2.pth"), &sd, &meta, &err)) fail_msg("%s", err.msg);
    assert_int_equal(meta.num_classes, 2);
    assert_string_equal(meta.class_names[1], "PNEUMONIA");
    assert_true(meta.threshold == 0.5);
    assert_int_equal(pn_pth_save(path_of("out.pth"), &sd, &err), PN_OK);
    snprintf(meta.training_json, sizeof meta.training_json, "{\"epochs\":5,\"lr\":0.001}");
    snprintf(meta.base_sha256, sizeof meta.base_sha256, "%064d", 7);
    meta.threshold = 0.375;
    assert_int_equal(pn_modelfile_save(path_of("model.safetensors"), &sd, &meta, &err), PN_OK);
    pn_statedict_free(&sd);
    run_export_check("r18_2.pth", "model.safetensors");
    /* the model file comes back with its metadata */
    pn_model_meta m2;
    if (pn_modelfile_load(path_of("model.safetensors"), &sd, &m2, &err)) fail_msg("%s", err.msg);
    check_sums_x(&sd, "r18_2.sums", 1);
    assert_true(m2.threshold == 0.375);
    assert_string_equal(m2.training_json, "{\"epochs\":5,\"lr\":0.001}");
    assert_string_equal(m2.base_sha256, meta.base_sha256);
    for (int c = 0; c < 3; c++) assert_true(m2.mean[c] == meta.mean[c] && m2.std[c] == meta.std[c]);
    assert_int_equal(m2.input_size, 224);
    pn_statedict_free(&sd);
}

static void test_export_cli_seed_head(void **s)
{
    (void)s;
    /* the seed's Sequential head and DataParallel names come out as torchvision's */
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "%s export --model %s -o %s >/dev/null", getenv("PNEUMO_BIN"),
             path_of("r18_dp.pth"), path_of("out.pth"));
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s export --model %s -o %s >/dev/null", getenv("PNEUMO_BIN"),
             path_of("r18_dp.pth"), path_of("dp.safetensors"));
    assert_int_equal(system(cmd), 0);
    run_export_check("r18_2.pth", "dp.safetensors");
    snprintf(cmd, sizeof cmd, "%s export --model %s -o %s >/dev/null", getenv("PNEUMO_BIN"),
             path_of("r18_seed.pth"), path_of("seed_out.pth"));
    assert_int_equal(system(cmd), 0);
    pn_statedict a, b;
    pn_error err = {0};
    assert_int_equal(pn_weights_load(path_of("seed_out.pth"), &a, &err), PN_OK);
    assert_int_equal(pn_weights_load(path_of("r18_seed.pth"), &b, &err), PN_OK);
    const pn_tensor *fa = pn_statedict_findc(&a, "fc.weight"), *fb = pn_statedict_findc(&b, "fc.0.weight");
    assert_non_null(fa);
    assert_non_null(fb);
    assert_memory_equal(fa->data, fb->data, 2 * 512 * 4);
    pn_statedict_free(&a);
    pn_statedict_free(&b);
    /* a bad model gives exit 1 and a named error, and no output file */
    snprintf(cmd, sizeof cmd, "%s export --model %s/tests/fixtures/weights_small_zip.pth -o %s 2>/dev/null",
             getenv("PNEUMO_BIN"), tu_root(), path_of("never.pth"));
    assert_int_not_equal(system(cmd), 0);
    assert_false(pn_path_exists(path_of("never.pth")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1000),          cmocka_unit_test(test_2),
        cmocka_unit_test(test_f16),           cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_legacy),        cmocka_unit_test(test_seed_head),
        cmocka_unit_test(test_dataparallel),  cmocka_unit_test(test_head_replaced),
        cmocka_unit_test(test_mismatch_one_message),
        cmocka_unit_test(test_export_loads_in_torch),
        cmocka_unit_test(test_export_cli_seed_head),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
