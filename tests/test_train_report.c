/* Run outputs: metrics.json (NaN -> null), predictions.csv quoting, the
 * cairo PNGs, report.html with embedded images, base64 (EVP), and a failed write
 * into a missing folder leaving nothing behind. */
#include "testutil.h"

#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/internal.h"

static const char *classes[2] = {"NORMAL", "PNEUMONIA"};
static const char *settings[] = {"epochs", "3", "seed", "42", NULL};

static void make_report(pn_run_report *rep, pn_split_result *sp, pn_epoch_stats *hist,
                        float *probs_val, float *probs_test)
{
    static const char *fv[] = {"IM-0001-0001.jpeg", "person1_virus_2.jpeg", "we,ird \"name\".jpeg",
                               "person3_bacteria_9.jpeg"};
    static const int lv[] = {0, 1, 0, 1};
    static const char *ft[] = {"person7_bacteria_1.jpeg", "person8_virus_3.jpeg"};
    static const int lt[] = {1, 1}; /* one class only: AUC, specificity undefined */
    float pv[4] = {0.2f, 0.9f, 0.6f, 0.4f}, pt[2] = {0.7f, 0.3f};
    for (int i = 0; i < 4; i++) {
        probs_val[2 * i] = 1 - pv[i];
        probs_val[2 * i + 1] = pv[i];
    }
    for (int i = 0; i < 2; i++) {
        probs_test[2 * i] = 1 - pt[i];
        probs_test[2 * i + 1] = pt[i];
    }
    sp[0] = (pn_split_result){.name = "val", .n = 4, .files = fv, .labels = lv, .probs = probs_val};
    sp[1] = (pn_split_result){.name = "test", .n = 2, .files = ft, .labels = lt, .probs = probs_test};
    for (int e = 0; e < 3; e++)
        hist[e] = (pn_epoch_stats){e + 1, 0.7 - 0.1 * e, 0.6 + 0.1 * e, 0.75 - 0.05 * e,
                                   e == 1 ? NAN : 0.55 + 0.1 * e, 0.5, 1e-3, NAN};
    static const float cw[2] = {2.0f, 0.6667f};
    *rep = (pn_run_report){.classes = 2, .class_names = classes, .settings = settings,
                           .hist = hist, .nhist = 3, .threshold = 0.5,
                           .threshold_source = "default", .class_weights = cw, .splits = sp,
                           .nsplits = 2};
}

static void test_outputs(void **state)
{
    (void)state;
    pn_run_report rep;
    pn_split_result sp[2];
    pn_epoch_stats hist[3];
    float pv[8], pt[4];
    make_report(&rep, sp, hist, pv, pt);
    pn_error err = {0};
    for (int s = 0; s < 2; s++) assert_int_equal(pn_split_result_compute(&sp[s], 2, 0.5, &err), PN_OK);
    assert_int_equal(sp[0].m.tp, 1);
    assert_int_equal(sp[0].m.fp, 1);
    assert_true(fabs(sp[0].m.auc - 0.75) < 1e-12);
    const char *dir = tu_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/metrics.json", dir);
    assert_int_equal(pn_write_metrics_json(p, &rep, &err), PN_OK);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(p, 1 << 20, &buf, &n, &err), PN_OK);
    cJSON *j = cJSON_Parse((char *)buf);
    assert_non_null(j);
    cJSON *test = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "final"), "test");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(test, "roc_auc")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(test, "specificity")));
    assert_true(cJSON_GetObjectItem(test, "sensitivity")->valuedouble == 0.5);
    cJSON *h = cJSON_GetObjectItem(j, "history");
    assert_int_equal(cJSON_GetArraySize(h), 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 1), "val_acc")));
    /* settings as typed JSON (issue #12): the seed is the number 42, not "42" */
    cJSON *seed = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "seed");
    assert_true(cJSON_IsNumber(seed));
    assert_true(seed->valuedouble == 42);
    cJSON_Delete(j);
    free(buf);

    snprintf(p, sizeof p, "%s/predictions.csv", dir);
    assert_int_equal(pn_write_predictions_csv(p, &rep, &err), PN_OK);
    assert_int_equal(pn_read_file(p, 1 << 20, &buf, &n, &err), PN_OK);
    assert_non_null(strstr((char *)buf, "split,file,label,prob_NORMAL,prob_PNEUMONIA,prediction\n"));
    assert_non_null(strstr((char *)buf,
                           "val,\"we,ird \"\"name\"\".jpeg\",NORMAL,0.400000,0.600000,PNEUMONIA\n"));
    assert_non_null(strstr((char *)buf, "test,person8_virus_3.jpeg,PNEUMONIA,0.700000,0.300000,NORMAL\n"));
    free(buf);
    /* DICOM / CSV ids: patient_id,sop_uid columns, empty where a file has none */
    static const char *pat_t[] = {"PAT 7", NULL}, *uid_t[] = {"2.25.17", NULL};
    sp[1].patients = pat_t;
    sp[1].sop_uids = uid_t;
    assert_int_equal(pn_write_predictions_csv(p, &rep, &err), PN_OK);
    assert_int_equal(pn_read_file(p, 1 << 20, &buf, &n, &err), PN_OK);
    assert_non_null(strstr((char *)buf, "split,file,label,prob_NORMAL,prob_PNEUMONIA,prediction,"
                                        "patient_id,sop_uid\n"));
    assert_non_null(strstr((char *)buf, "val,\"we,ird \"\"name\"\".jpeg\",NORMAL,0.400000,0.600000,"
                                        "PNEUMONIA,,\n"));
    assert_non_null(strstr((char *)buf, "test,person7_bacteria_1.jpeg,PNEUMONIA,0.300000,0.700000,"
                                        "PNEUMONIA,PAT 7,2.25.17\n"));
    assert_non_null(strstr((char *)buf, "test,person8_virus_3.jpeg,PNEUMONIA,0.700000,0.300000,"
                                        "NORMAL,,\n"));
    free(buf);
    sp[1].patients = sp[1].sop_uids = NULL;

    const char *pngs[3] = {"curves.png", "confusion.png", "roc.png"};
    snprintf(p, sizeof p, "%s/curves.png", dir);
    assert_int_equal(pn_plot_curves(p, hist, 3, &err), PN_OK);
    snprintf(p, sizeof p, "%s/confusion.png", dir);
    assert_int_equal(pn_plot_confusion(p, &sp[0].m, classes, "val", &err), PN_OK);
    snprintf(p, sizeof p, "%s/roc.png", dir);
    assert_int_equal(pn_plot_roc(p, sp[0].roc, sp[0].nroc, sp[0].m.auc, "val", &err), PN_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, pngs[i]);
        assert_int_equal(pn_read_file(p, 1 << 24, &buf, &n, &err), PN_OK);
        assert_true(n > 1000);
        assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
        free(buf);
    }
    snprintf(p, sizeof p, "%s/report.html", dir);
    assert_int_equal(pn_write_report_html(p, &rep, dir, &err), PN_OK);
    assert_int_equal(pn_read_file(p, 1 << 24, &buf, &n, &err), PN_OK);
    const char *s = (char *)buf;
    int imgs = 0;
    for (const char *q = s; (q = strstr(q, "data:image/png;base64,iVBORw0KGgo")); q++) imgs++;
    assert_int_equal(imgs, 3);
    assert_non_null(strstr(s, "<td class=na>n/a</td>"));
    assert_non_null(strstr(s, "</html>"));
    free(buf);
    /* keep a copy for eyeballing when asked */
    if (getenv("PNEUMO_KEEP_REPORT")) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "cp %s/*.png %s/*.html %s/", dir, dir, getenv("PNEUMO_KEEP_REPORT"));
        if (system(cmd)) print_message("copy failed\n");
    }
    /* a folder that does not exist: an error naming the file, nothing written */
    snprintf(p, sizeof p, "%s/missing/metrics.json", dir);
    assert_int_not_equal(pn_write_metrics_json(p, &rep, &err), PN_OK);
    assert_non_null(strstr(err.msg, "missing/metrics.json"));
    snprintf(p, sizeof p, "%s/missing/roc.png", dir);
    assert_int_not_equal(pn_plot_roc(p, sp[0].roc, sp[0].nroc, 0.5, "x", &err), PN_OK);
    assert_non_null(strstr(err.msg, "missing/roc.png"));
    /* no temporaries left in the output folder */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            assert_null(strstr(e->d_name, "tmp"));
            files++;
        }
    closedir(d);
    assert_int_equal(files, 6);
    for (int i = 0; i < 2; i++) pn_split_result_free(&sp[i]);
    tu_rmtree(dir);
}

static void test_base64_csv(void **state)
{
    (void)state;
    char *b = pn_base64("Man", 3);
    assert_string_equal(b, "TWFu");
    free(b);
    b = pn_base64("Ma", 2);
    assert_string_equal(b, "TWE=");
    free(b);
    b = pn_base64("M", 1);
    assert_string_equal(b, "TQ==");
    free(b);
    b = pn_base64("", 0);
    assert_string_equal(b, "");
    free(b);
    char q[64];
    assert_string_equal(pn__csv_field("plain.jpeg", q, sizeof q), "plain.jpeg");
    assert_string_equal(pn__csv_field("a\"b", q, sizeof q), "\"a\"\"b\"");
    assert_string_equal(pn__csv_field("line\nbreak", q, sizeof q), "\"line\nbreak\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_base64_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
