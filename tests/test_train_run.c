/* pn_train_run end to end on a synthetic source and backbone: outputs,
 * the disk cache (second run skips the backbone, same model), --no-cache
 * equality, --val-split, --threshold auto, and bad input. */
#include "testutil.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/app.h"
#include "pneumo/util.h"

static const char *cls[2] = {"NORMAL", "PNEUMONIA"};

typedef struct fake {
    size_t n[3];
    char names[3][400][64];
    int labels[3][400];
    size_t extracted; /* items run through the "backbone" */
} fake;

static size_t f_count(void *c, int s) { return ((fake *)c)->n[s]; }
static const char *f_name(void *c, int s, size_t i) { return ((fake *)c)->names[s][i]; }
static int f_label(void *c, int s, size_t i) { return ((fake *)c)->labels[s][i]; }
static pn_status f_hash(void *c, int s, size_t i, uint8_t out[32], pn_error *err)
{
    const char *nm = ((fake *)c)->names[s][i];
    pn_sha256_buf(nm, strlen(nm), out);
    return PN_OK;
}
static pn_status f_run(void *c, int s, const size_t *idx, int n, float *out, pn_error *err)
{
    fake *f = c;
    for (int k = 0; k < n; k++) {
        uint8_t h[32];
        const char *nm = f->names[s][idx[k]];
        pn_sha256_buf(nm, strlen(nm), h);
        uint64_t seed;
        memcpy(&seed, h, 8);
        tu_fill_uniform(out + (size_t)k * 64, 64, seed, 0, 1);
        for (int j = 0; j < 8; j++) out[(size_t)k * 64 + j] += 0.8f * (float)f->labels[s][idx[k]];
    }
    f->extracted += (size_t)n;
    return PN_OK;
}

static void fake_init(fake *f, size_t ntr, size_t nva, size_t nte)
{
    memset(f, 0, sizeof *f);
    size_t ns[3] = {ntr, nva, nte};
    for (int s = 0; s < 3; s++) {
        f->n[s] = ns[s];
        for (size_t i = 0; i < ns[s]; i++) {
            int y = (i % 4) != 0; /* 1:3 like the data */
            f->labels[s][i] = y;
            /* two images per patient */
            if (y) snprintf(f->names[s][i], 64, "person%zu_bacteria_%zu.jpeg", 1000 * s + i / 2, i);
            else snprintf(f->names[s][i], 64, "IM-%04zu-%04zu.jpeg", 1000 * s + i / 2, i);
        }
    }
}

static void setup(fake *f, pn_source *src, pn_extractor *ex)
{
    *src = (pn_source){f, 2, cls, f_count, f_name, f_label, f_hash, NULL, NULL};
    *ex = (pn_extractor){f, 64, 16, "pool", "test-settings", {7}, f_run};
}

static int exists(const char *dir, const char *name)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return pn_path_exists(p);
}

static void test_run_and_cache(void **state)
{
    (void)state;
    static fake f;
    fake_init(&f, 240, 40, 60);
    pn_source src;
    pn_extractor ex;
    setup(&f, &src, &ex);
    const char *tmp = tu_tmpdir();
    char out1[1024], out2[1024], out3[1024], cache[1024];
    snprintf(out1, sizeof out1, "%s/run1", tmp);
    snprintf(out2, sizeof out2, "%s/run2", tmp);
    snprintf(out3, sizeof out3, "%s/run3", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    pn_train_config cfg;
    pn_train_config_default(&cfg);
    cfg.out_dir = out1;
    cfg.cache_dir = cache;
    cfg.fit.seed = 9;
    cfg.fit.lr = 1e-2;
    pn_train_summary s1, s2, s3;
    pn_error err = {0};
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s1, &err), PN_OK);
    assert_int_equal(f.extracted, 340);
    assert_int_equal(s1.cache_misses, 340);
    const char *files[] = {"metrics.json", "predictions.csv", "curves.png", "confusion.png",
                           "roc.png", "report.html", "checkpoint.safetensors"};
    for (int i = 0; i < 7; i++)
        if (!exists(out1, files[i])) fail_msg("%s missing", files[i]);
    assert_int_equal(s1.head.epochs_done, 5);
    print_message("test acc %.3f auc %.3f val auc %.3f train acc %.3f -> %.3f\n", s1.test.accuracy, s1.test.auc, s1.val.auc, s1.head.hist[0].train_acc, s1.head.hist[4].train_acc);
    assert_true(s1.test.accuracy > 0.8); /* the signal is easy */
    /* second run: every feature from the cache, the same model */
    f.extracted = 0;
    cfg.out_dir = out2;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s2, &err), PN_OK);
    assert_int_equal(f.extracted, 0);
    assert_int_equal(s2.cache_hits, 340);
    assert_memory_equal(s1.head.w, s2.head.w, 2 * 64 * sizeof(float));
    /* without the cache: the same model again */
    cfg.out_dir = out3;
    cfg.use_cache = 0;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s3, &err), PN_OK);
    assert_int_equal(f.extracted, 340);
    assert_memory_equal(s1.head.w, s3.head.w, 2 * 64 * sizeof(float));
    assert_true(s1.test.auc == s3.test.auc);
    /* the metrics file agrees with the summary */
    char p[2048];
    snprintf(p, sizeof p, "%s/metrics.json", out1);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(p, 1 << 22, &buf, &n, &err), PN_OK);
    cJSON *j = cJSON_Parse((char *)buf);
    cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "final"), "test");
    assert_true(fabs(cJSON_GetObjectItem(t, "accuracy")->valuedouble - s1.test.accuracy) < 1e-12);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "history")), 5);
    cJSON_Delete(j);
    free(buf);
    pn_train_summary_free(&s1);
    pn_train_summary_free(&s2);
    pn_train_summary_free(&s3);
    tu_rmtree(tmp);
}

static void test_val_split_threshold(void **state)
{
    (void)state;
    static fake f;
    fake_init(&f, 300, 0, 40);
    pn_source src;
    pn_extractor ex;
    setup(&f, &src, &ex);
    const char *tmp = tu_tmpdir();
    pn_train_config cfg;
    pn_train_config_default(&cfg);
    cfg.out_dir = tmp;
    cfg.use_cache = 0;
    cfg.threshold_auto = 1;
    pn_train_summary s;
    pn_error err = {0};
    /* no val/ and no --val-split: auto threshold is impossible */
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "--val-split"));
    cfg.val_split = 0.2;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_OK);
    assert_true(s.n_val >= 50 && s.n_val <= 70);
    assert_int_equal(s.n_train + s.n_val, 300);
    assert_true(s.threshold > 0 && s.threshold < 1);
    assert_true(s.val.threshold == s.threshold);
    pn_train_summary_free(&s);
    tu_rmtree(tmp);
}

/* --calibrate and --threshold sens=0.9: a temperature fitted on val and
 * stored, the threshold reaching the sensitivity on val (calibrated
 * probabilities), val marked as having chosen it, the audit trail's class
 * counts and data manifest in metrics.json */
static void test_calibrate_rule_audit(void **state)
{
    (void)state;
    static fake f;
    fake_init(&f, 200, 80, 40);
    pn_source src;
    pn_extractor ex;
    setup(&f, &src, &ex);
    const char *tmp = tu_tmpdir();
    pn_train_config cfg;
    pn_train_config_default(&cfg);
    cfg.out_dir = tmp;
    cfg.use_cache = 0;
    cfg.fit.epochs = 3;
    cfg.calibrate = 1;
    cfg.threshold_auto = 1;
    pn_error err = {0};
    assert_int_equal(pn_op_rule_parse("sens=0.9", &cfg.threshold_rule, &err), PN_OK);
    char *argv[] = {"pneumo train", "--calibrate", "--threshold", "sens=0.9", NULL};
    pn_audit audit;
    pn_audit_init(&audit, 4, argv);
    cfg.audit = &audit;
    pn_train_summary s;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_OK);
    assert_true(s.temperature > 0.05 && s.temperature < 20 && s.temperature != 1);
    assert_true(s.nll_after <= s.nll_before);
    assert_true(s.val.sensitivity >= 0.9);
    char p[2048];
    snprintf(p, sizeof p, "%s/metrics.json", tmp);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(p, 1 << 24, &buf, &n, &err), PN_OK);
    cJSON *j = cJSON_Parse((char *)buf);
    free(buf);
    assert_non_null(j);
    assert_true(cJSON_GetObjectItem(j, "temperature")->valuedouble == s.temperature);
    assert_non_null(strstr(cJSON_GetObjectItem(j, "threshold_source")->valuestring,
                           "sensitivity >= 0.9 on validation"));
    cJSON *fin = cJSON_GetObjectItem(j, "final");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(fin, "val"), "chose_threshold")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(fin, "test"), "chose_threshold")));
    cJSON *a = cJSON_GetObjectItem(j, "audit");
    assert_string_equal(cJSON_GetObjectItem(a, "command_line")->valuestring,
                        "pneumo train --calibrate --threshold sens=0.9");
    cJSON *vc = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "class_counts"), "val");
    assert_int_equal(cJSON_GetObjectItem(vc, "NORMAL")->valueint, 20);
    assert_int_equal(cJSON_GetObjectItem(vc, "PNEUMONIA")->valueint, 60);
    /* the manifest: split TAB name TAB label TAB sha256 LF per item, every split */
    pn_sha256 h;
    assert_int_equal(pn_sha256_init(&h, &err), PN_OK);
    static const char *sn[3] = {"train", "val", "test"};
    for (int sp = 0; sp < 3; sp++)
        for (size_t i = 0; i < f.n[sp]; i++) {
            uint8_t ch[32];
            char hex[65], line[256];
            pn_sha256_buf(f.names[sp][i], strlen(f.names[sp][i]), ch);
            pn_hex(ch, 32, hex);
            int k = snprintf(line, sizeof line, "%s\t%s\t%d\t%s\n", sn[sp], f.names[sp][i],
                             f.labels[sp][i], hex);
            pn_sha256_update(&h, line, (size_t)k);
        }
    uint8_t mh[32];
    char mhex[65];
    pn_sha256_final(&h, mh);
    pn_hex(mh, 32, mhex);
    assert_string_equal(cJSON_GetObjectItem(a, "data_manifest_sha256")->valuestring, mhex);
    cJSON_Delete(j);
    /* and the report beside it */
    snprintf(p, sizeof p, "%s/report.html", tmp);
    assert_true(pn_path_exists(p));
    pn_train_summary_free(&s);
    tu_rmtree(tmp);
}

static void test_bad_input(void **state)
{
    (void)state;
    static fake f;
    pn_source src;
    pn_extractor ex;
    pn_train_config cfg;
    pn_train_summary s;
    pn_error err = {0};
    const char *tmp = tu_tmpdir();
    char out[1024];
    snprintf(out, sizeof out, "%s/out", tmp);
    pn_train_config_default(&cfg);
    cfg.out_dir = out;
    cfg.use_cache = 0;
    /* empty train */
    fake_init(&f, 0, 10, 10);
    setup(&f, &src, &ex);
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "train split is empty"));
    /* a class with no training images */
    fake_init(&f, 40, 10, 10);
    for (int i = 0; i < 40; i++) f.labels[0][i] = 1;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "the train split has no NORMAL images (class 0)"));
    assert_false(pn_path_exists(out)); /* checked before the --out folder is made */
    /* one class in the dataset */
    fake_init(&f, 40, 10, 10);
    src.classes = 1;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "two"));
    src.classes = 2;
    /* --out under a regular file: not writable, nothing written */
    char file[1024], bad[1100];
    snprintf(file, sizeof file, "%s/afile", tmp);
    pn_error e2 = {0};
    assert_int_equal(pn_write_file_atomic(file, "x", 1, &e2), PN_OK);
    snprintf(bad, sizeof bad, "%s/sub", file);
    cfg.out_dir = bad;
    assert_int_not_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_OK);
    assert_non_null(strstr(err.msg, "--out"));
    tu_rmtree(tmp);
}

/* Interrupts say what is true: in the feature pass, cached or not (with the
 * cache off nothing is); in epoch 1, that nothing was kept (and the --out
 * folder the run made is gone); in a later epoch, which checkpoint is kept. */
static volatile int g_cancel;
static int g_cancel_epoch;
static void cancel_in_epoch(int epoch, size_t done, size_t total, void *user)
{
    (void)done, (void)total, (void)user;
    if (epoch == g_cancel_epoch) g_cancel = 1;
}

static void test_interrupt_messages(void **state)
{
    (void)state;
    static fake f;
    fake_init(&f, 120, 20, 20);
    pn_source src;
    pn_extractor ex;
    setup(&f, &src, &ex);
    const char *tmp = tu_tmpdir();
    char out[1024], cache[1024];
    snprintf(out, sizeof out, "%s/run", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    pn_train_config cfg;
    pn_train_config_default(&cfg);
    cfg.out_dir = out;
    cfg.use_cache = 0;
    cfg.fit.cancel = &g_cancel;
    pn_train_summary s;
    pn_error err = {0};
    g_cancel = 1;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_INTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted while computing train features (0 of 120 done; "
                                    "nothing is cached without the disk cache)"));
    cfg.use_cache = 1;
    cfg.cache_dir = cache;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_INTERRUPTED);
    assert_non_null(strstr(err.msg, "(0 of 120 done and cached: a rerun reads them"));
    g_cancel = 0;
    cfg.fit.on_batch = cancel_in_epoch;
    g_cancel_epoch = 1;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_INTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted in epoch 1, before any epoch finished: nothing "
                                    "was kept"));
    assert_false(pn_path_exists(out)); /* the folder it made is removed, and so not claimed */
    g_cancel = 0;
    g_cancel_epoch = 3;
    assert_int_equal(pn_train_run(&cfg, &src, &ex, &s, &err), PN_E_INTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted in epoch 3; the checkpoint of epoch 2 is kept"));
    assert_true(exists(out, "checkpoint.safetensors"));
    tu_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_cache),
        cmocka_unit_test(test_val_split_threshold),
        cmocka_unit_test(test_calibrate_rule_audit),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_interrupt_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
