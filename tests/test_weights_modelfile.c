/* pneumo model files and the ResNet-18 key check, on state_dicts built in C
 * from the torchvision layout (hand-checked key list, no Python needed). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

/* A ResNet-18 state_dict with `classes` outputs and position-dependent values. */
static void make_r18(pn_statedict *sd, int classes, const char *prefix)
{
    pn_statedict_init(sd);
    pn_r18_key k[122];
    assert_int_equal(pn_resnet18_keys(classes, k, 122), 122);
    pn_error err = {0};
    for (int i = 0; i < 122; i++) {
        char name[160];
        snprintf(name, sizeof name, "%.40s%.47s", prefix, k[i].name);
        pn_tensor *t;
        assert_int_equal(pn_statedict_add(sd, name, k[i].is_int ? PN_I64 : PN_F32, k[i].ndim,
                                          k[i].shape, NULL, &t, &err), PN_OK);
        if (k[i].is_int) ((int64_t *)t->data)[0] = i;
        else tu_fill_uniform(t->data, t->numel, (uint64_t)i + 1, -1, 1);
    }
}

static void test_key_list(void **s)
{
    (void)s;
    pn_r18_key k[130];
    assert_int_equal(pn_resnet18_keys(2, k, 130), 122);
    /* hand-checked against torchvision's resnet18().state_dict() (REFERENCE.md C3) */
    assert_string_equal(k[0].name, "conv1.weight");
    assert_int_equal(k[0].shape[0], 64);
    assert_int_equal(k[0].shape[3], 7);
    assert_string_equal(k[5].name, "bn1.num_batches_tracked");
    assert_int_equal(k[5].ndim, 0);
    assert_true(k[5].is_int);
    assert_string_equal(k[6].name, "layer1.0.conv1.weight");
    assert_string_equal(k[120].name, "fc.weight");
    assert_int_equal(k[120].shape[0], 2);
    assert_int_equal(k[120].shape[1], 512);
    int ds = 0, params = 0;
    long long n = 0;
    for (int i = 0; i < 122; i++) {
        if (strstr(k[i].name, "layer3.0.downsample.0.weight")) {
            ds = 1;
            assert_int_equal(k[i].shape[0], 256);
            assert_int_equal(k[i].shape[1], 128);
            assert_int_equal(k[i].shape[2], 1);
        }
        if (!k[i].is_int && !strstr(k[i].name, "running_")) {
            params++;
            long long m = 1;
            for (int d = 0; d < k[i].ndim; d++) m *= k[i].shape[d];
            n += m;
        }
    }
    assert_true(ds);
    assert_int_equal(params, 62);
    assert_int_equal(n, 11689512 - 1000 * 512 - 1000 + 2 * 512 + 2); /* torchvision: 11,689,512 with 1000 classes */
}

static void test_normalise(void **s)
{
    (void)s;
    pn_statedict sd;
    pn_error err = {0};
    int classes = -1;
    /* DataParallel names + the seed's Sequential head */
    make_r18(&sd, 2, "module.");
    pn_tensor *w = pn_statedict_find(&sd, "module.fc.weight");
    free(w->name);
    w->name = strdup("module.fc.0.weight");
    pn_tensor *b = pn_statedict_find(&sd, "module.fc.bias");
    free(b->name);
    b->name = strdup("fc.0.bias");
    assert_int_equal(pn_resnet18_check(&sd, 2, 0, &classes, &err), PN_OK);
    assert_int_equal(classes, 2);
    assert_non_null(pn_statedict_find(&sd, "fc.weight"));
    assert_non_null(pn_statedict_find(&sd, "fc.bias"));
    assert_non_null(pn_statedict_find(&sd, "layer4.1.bn2.running_var"));
    assert_null(pn_statedict_find(&sd, "module.conv1.weight"));
    /* a name that exists twice once normalised */
    int64_t shp[2] = {2, 512};
    assert_int_equal(pn_statedict_add(&sd, "module.fc.weight", PN_F32, 2, shp, NULL, NULL, &err), PN_OK);
    assert_int_equal(pn_resnet18_check(&sd, 2, 0, &classes, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "'fc.weight'"));
    pn_statedict_free(&sd);
    /* head optional: absent */
    make_r18(&sd, 2, "");
    pn_statedict_remove(&sd, "fc.weight");
    pn_statedict_remove(&sd, "fc.bias");
    assert_int_equal(pn_resnet18_check(&sd, 2, 0, &classes, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "2 missing: fc.weight, fc.bias"));
    assert_int_equal(pn_resnet18_check(&sd, 2, PN_R18_HEAD_OPTIONAL, &classes, &err), PN_OK);
    assert_int_equal(classes, 0);
    pn_statedict_free(&sd);
    /* int vs float mix-up is a mis-shape */
    make_r18(&sd, 3, "");
    pn_tensor *t = pn_statedict_find(&sd, "bn1.num_batches_tracked");
    t->dtype = PN_F32;
    assert_int_equal(pn_resnet18_check(&sd, 0, 0, &classes, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "bn1.num_batches_tracked [] (want [] int64)"));
    t->dtype = PN_I64;
    assert_int_equal(pn_resnet18_check(&sd, 0, 0, &classes, &err), PN_OK);
    assert_int_equal(classes, 3);
    pn_statedict_free(&sd);
}

static void test_modelfile_roundtrip(void **s)
{
    (void)s;
    const char *d = tu_tmpdir();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a.safetensors", d);
    snprintf(b, sizeof b, "%s/b.safetensors", d);
    pn_statedict sd, back;
    pn_model_meta meta, m2;
    pn_error err = {0};
    make_r18(&sd, 2, "");
    pn_model_meta_default(&meta);
    assert_int_equal(pn_modelfile_save(a, &sd, &meta, &err), PN_OK);
    assert_int_equal(pn_modelfile_save(b, &sd, &meta, &err), PN_OK);
    uint8_t h1[32], h2[32];
    assert_int_equal(pn_sha256_file(a, h1, &err), PN_OK);
    assert_int_equal(pn_sha256_file(b, h2, &err), PN_OK);
    assert_memory_equal(h1, h2, 32); /* byte-stable */
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.mean"), "[0.485,0.456,0.406]");
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.std"), "[0.229,0.224,0.225]");
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.classes"), "[\"NORMAL\",\"PNEUMONIA\"]");
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.threshold"), "0.5");
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.arch"), "resnet18");
    for (size_t i = 0; i < sd.n; i++) {
        const pn_tensor *t = pn_statedict_findc(&back, sd.t[i].name);
        assert_non_null(t);
        assert_memory_equal(t->data, sd.t[i].data, t->numel * pn_dtype_size(t->dtype));
    }
    pn_statedict_free(&back);
    assert_int_equal(pn_modelfile_load(a, &back, &m2, &err), PN_OK);
    assert_int_equal(m2.num_classes, 2);
    assert_string_equal(m2.class_names[0], "NORMAL");
    assert_true(m2.mean[1] == 0.456f && m2.std[2] == 0.225f);
    pn_statedict_free(&back);

    /* a newer format, bad class lists: refused with the file name (the files
     * are edited here, so their recorded SHA-256s are not checked) */
    pn_weights_verify_hashes(0);
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&back, "pneumo.format_version", "2", &err), PN_OK);
    assert_int_equal(pn_safetensors_save(b, &back, &err), PN_OK);
    pn_statedict_free(&back);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "b.safetensors: model file format 2 is newer"));
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&back, "pneumo.classes", "[\"only\"]", &err), PN_OK);
    assert_int_equal(pn_safetensors_save(b, &back, &err), PN_OK);
    pn_statedict_free(&back);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "pneumo.classes"));
    pn_weights_verify_hashes(1);
    /* ... which the check refuses, naming the file and both hashes */
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "b.safetensors: the metadata changed after pneumo wrote the file"));

    /* bad metadata or weights are refused on save, and nothing is written */
    snprintf(b, sizeof b, "%s/never.safetensors", d);
    pn_model_meta bad = meta;
    bad.threshold = 1.5;
    assert_int_equal(pn_modelfile_save(b, &sd, &bad, &err), PN_E_ARG);
    bad = meta;
    snprintf(bad.training_json, sizeof bad.training_json, "[1,2]");
    assert_int_equal(pn_modelfile_save(b, &sd, &bad, &err), PN_E_ARG);
    bad = meta;
    bad.num_classes = 3;
    snprintf(bad.class_names[2], PN_CLASS_NAME_MAX, "COVID");
    assert_int_equal(pn_modelfile_save(b, &sd, &bad, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "fc.weight [2, 512] (want [3, 512])"));
    assert_false(pn_path_exists(b));
    pn_statedict_free(&sd);

    /* a plain safetensors state_dict with 3 outputs: generic class names */
    make_r18(&sd, 3, "");
    assert_int_equal(pn_safetensors_save(b, &sd, &err), PN_OK);
    pn_statedict_free(&sd);
    assert_int_equal(pn_modelfile_load(b, &sd, &m2, &err), PN_OK);
    assert_int_equal(m2.num_classes, 3);
    assert_string_equal(m2.class_names[2], "class2");
    assert_true(m2.threshold == 0.5);
    pn_statedict_free(&sd);
    tu_rmtree(d);
}

/* Single-bit flips anywhere in a model file pneumo wrote (the JSON header
 * and the tensor data) are never used silently: each load fails, and a flip
 * in the data names the file and both SHA-256s (pneumo.tensors_sha256,
 * recorded on save). With the check off (--no-verify) a data flip loads.
 * A NaN or Inf in a tensor is refused on load, naming the tensor. */
static void test_modelfile_integrity(void **s)
{
    (void)s;
    const char *d = tu_tmpdir();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a.safetensors", d);
    snprintf(b, sizeof b, "%s/b.safetensors", d);
    pn_statedict sd, back;
    pn_model_meta meta, m2;
    pn_error err = {0};
    make_r18(&sd, 2, "");
    pn_model_meta_default(&meta);
    assert_int_equal(pn_modelfile_save(a, &sd, &meta, &err), PN_OK);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(a, (size_t)1 << 27, &buf, &n, &err), PN_OK);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | buf[i];
    size_t jend = 8 + (size_t)hl;
    while (jend > 8 && buf[jend - 1] != '}') jend--; /* the JSON, without its padding */
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    const char *rec = pn_statedict_get_meta(&back, "pneumo.tensors_sha256");
    assert_non_null(rec);
    uint8_t h[32];
    char hex[65], want[65];
    snprintf(want, sizeof want, "%s", rec);
    pn_statedict_free(&back);
    assert_int_equal(pn_statedict_sha256(&sd, h, &err), PN_OK);
    pn_hex(h, 32, hex);
    assert_string_equal(hex, want);
    for (int k = 0; k < 16; k++) {
        size_t pos = k < 8 ? 9 + (size_t)k * (jend - 10) / 8 /* header */
                            : jend + (size_t)(k - 8) * (n - jend) / 8 + 7; /* data */
        buf[pos] ^= (uint8_t)(1u << (k % 8));
        assert_int_equal(pn_write_file_atomic(b, buf, n, &err), PN_OK);
        buf[pos] ^= (uint8_t)(1u << (k % 8));
        pn_status st = pn_modelfile_load(b, &back, &m2, &err);
        if (st == PN_OK) fprintf(stderr, "flip %d at byte %zu of %zu was not detected\n", k, pos, n);
        assert_int_not_equal(st, PN_OK);
        if (k >= 8) {
            assert_non_null(strstr(err.msg, "b.safetensors: the tensors changed after pneumo wrote"));
            assert_non_null(strstr(err.msg, want)); /* the recorded hash, and the actual one */
            assert_non_null(strstr(err.msg, "SHA-256 is "));
        }
    }
    /* --no-verify: a data flip loads */
    buf[n - 5] ^= 4;
    assert_int_equal(pn_write_file_atomic(b, buf, n, &err), PN_OK);
    pn_weights_verify_hashes(0);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_OK);
    pn_statedict_free(&back);
    pn_weights_verify_hashes(1);
    free(buf);
    /* NaN / Inf in the head */
    pn_tensor *fw = pn_statedict_find(&sd, "fc.weight");
    ((float *)fw->data)[3] = NAN;
    assert_int_equal(pn_modelfile_save(b, &sd, &meta, &err), PN_OK);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_E_NUMERIC);
    assert_non_null(strstr(err.msg, "b.safetensors: tensor fc.weight holds NaN (element 3)"));
    ((float *)fw->data)[3] = 0;
    ((float *)pn_statedict_find(&sd, "fc.bias")->data)[1] = -INFINITY;
    assert_int_equal(pn_modelfile_save(b, &sd, &meta, &err), PN_OK);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_E_NUMERIC);
    assert_non_null(strstr(err.msg, "tensor fc.bias holds an infinity (element 1)"));
    pn_statedict_free(&sd);
    tu_rmtree(d);
}

/* temperature scaling (train --calibrate): written only when != 1, read back,
 * refused when not positive, and applied by the classifier to every
 * probability: softmax((W f + b) / T) */
static void test_modelfile_temperature(void **s)
{
    (void)s;
    const char *d = tu_tmpdir();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/plain.safetensors", d);
    snprintf(b, sizeof b, "%s/calibrated.safetensors", d);
    pn_statedict sd, back;
    pn_model_meta meta, m2;
    pn_error err = {0};
    make_r18(&sd, 2, "");
    for (size_t i = 0; i < sd.n; i++) /* an engine needs positive BatchNorm variances */
        if (strstr(sd.t[i].name, "running_var"))
            for (size_t q = 0; q < sd.t[i].numel; q++)
                ((float *)sd.t[i].data)[q] = 0.5f + fabsf(((float *)sd.t[i].data)[q]);
    pn_model_meta_default(&meta);
    assert_true(meta.temperature == 1);
    assert_int_equal(pn_modelfile_save(a, &sd, &meta, &err), PN_OK);
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    assert_null(pn_statedict_get_meta(&back, "pneumo.temperature")); /* default files unchanged */
    pn_statedict_free(&back);
    meta.temperature = 1.75;
    assert_int_equal(pn_modelfile_save(b, &sd, &meta, &err), PN_OK);
    assert_int_equal(pn_safetensors_load(b, &back, &err), PN_OK);
    assert_string_equal(pn_statedict_get_meta(&back, "pneumo.temperature"), "1.75");
    pn_statedict_free(&back);
    assert_int_equal(pn_modelfile_load(b, &back, &m2, &err), PN_OK);
    assert_true(m2.temperature == 1.75);
    pn_statedict_free(&back);
    assert_int_equal(pn_modelfile_load(a, &back, &m2, &err), PN_OK);
    assert_true(m2.temperature == 1);
    pn_statedict_free(&back);
    pn_model_meta bad = meta;
    bad.temperature = 0;
    char never[600];
    snprintf(never, sizeof never, "%s/never.safetensors", d);
    assert_int_equal(pn_modelfile_save(never, &sd, &bad, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "temperature"));
    /* the classifier applies it */
    const pn_tensor *fw = pn_statedict_findc(&sd, "fc.weight"), *fb = pn_statedict_findc(&sd, "fc.bias");
    float f[512], pa[2], pb[2];
    tu_fill_uniform(f, 512, 99, 0, 2);
    double z[2];
    for (int k = 0; k < 2; k++) {
        z[k] = ((const float *)fb->data)[k];
        for (int q = 0; q < 512; q++) z[k] += (double)((const float *)fw->data)[k * 512 + q] * f[q];
    }
    pn_classifier c;
    assert_int_equal(pn_classifier_open(&c, a, 1, 1, 0, 0, &err), PN_OK);
    pn_classifier_head(&c, f, 1, pa);
    pn_classifier_free(&c);
    assert_int_equal(pn_classifier_open(&c, b, 1, 1, 0, 0, &err), PN_OK);
    assert_true(c.temperature == 1.75);
    pn_classifier_head(&c, f, 1, pb);
    pn_classifier_free(&c);
    double want_a = 1 / (1 + exp(z[0] - z[1])), want_b = 1 / (1 + exp((z[0] - z[1]) / 1.75));
    assert_true(fabs(pa[1] - want_a) < 1e-5 && fabs(pb[1] - want_b) < 1e-5);
    assert_true(fabs(pb[1] - 0.5) < fabs(pa[1] - 0.5)); /* T > 1 softens */
    pn_statedict_free(&sd);
    tu_rmtree(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_list),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_modelfile_roundtrip),
        cmocka_unit_test(test_modelfile_integrity),
        cmocka_unit_test(test_modelfile_temperature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
