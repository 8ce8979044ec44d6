/* Class names checked, never by position (src/data/classes.c): the data's
 * classes mapped onto a model's by name (any case), --classes, the positive
 * class; and the dataset source of training (src/app/source.c): the
 * positive class presented second, items' patients and SOP UIDs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pneumo.h"

static const char *model[2] = {"NORMAL", "PNEUMONIA"};

static void test_map(void **state)
{
    (void)state;
    pn_error err = {0};
    int map[4];
    /* same names, any case: by name */
    const char *d1[2] = {"normal", "Pneumonia"};
    assert_int_equal(pn_class_map(d1, 2, model, 2, NULL, map, &err), PN_OK);
    assert_int_equal(map[0], 0);
    assert_int_equal(map[1], 1);
    /* sorted folder names abnormal < normal: never by position */
    const char *d2[2] = {"abnormal", "normal"};
    assert_int_equal(pn_class_map(d2, 2, model, 2, NULL, map, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "'abnormal' is not a class of the model"));
    assert_non_null(strstr(err.msg, "(abnormal, normal)"));
    assert_non_null(strstr(err.msg, "(NORMAL, PNEUMONIA)"));
    assert_non_null(strstr(err.msg, "--classes PNEUMONIA=abnormal"));
    /* --classes maps them (MODEL=DATA, or the other way round) */
    assert_int_equal(pn_class_map(d2, 2, model, 2, "NORMAL=normal,PNEUMONIA=abnormal", map, &err),
                     PN_OK);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 0);
    map[0] = map[1] = 7;
    assert_int_equal(pn_class_map(d2, 2, model, 2, "abnormal=pneumonia", map, &err), PN_OK);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 0);
    /* two data classes on one model class */
    assert_int_equal(pn_class_map(d2, 2, model, 2, "NORMAL=abnormal", map, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "'abnormal' and 'normal' are both model class 'NORMAL'"));
    /* names that exist on neither side, bad syntax */
    assert_int_equal(pn_class_map(d2, 2, model, 2, "COVID=abnormal", map, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "--classes COVID=abnormal: no model class of that name"));
    assert_int_equal(pn_class_map(d2, 2, model, 2, "PNEUMONIA=sick", map, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "no data class of that name"));
    assert_int_equal(pn_class_map(d2, 2, model, 2, "PNEUMONIA", map, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "MODEL=DATA pairs"));
    /* fewer data classes than the model's */
    const char *d3[1] = {"PNEUMONIA"};
    assert_int_equal(pn_class_map(d3, 1, model, 2, NULL, map, &err), PN_OK);
    assert_int_equal(map[0], 1);
}

static void test_positive(void **state)
{
    (void)state;
    pn_error err = {0};
    int k = -1;
    assert_int_equal(pn_class_positive(model, 2, NULL, -1, &k, &err), PN_OK);
    assert_int_equal(k, 1);
    assert_int_equal(pn_class_positive(model, 2, "normal", -1, &k, &err), PN_OK);
    assert_int_equal(k, 0);
    const char *ab[2] = {"abnormal", "normal"};
    assert_int_equal(pn_class_positive(ab, 2, NULL, -1, &k, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "no class is named PNEUMONIA (the classes are abnormal, normal)"));
    assert_non_null(strstr(err.msg, "--positive"));
    assert_int_equal(pn_class_positive(ab, 2, NULL, 1, &k, &err), PN_OK); /* the fallback */
    assert_int_equal(k, 1);
    assert_int_equal(pn_class_positive(ab, 2, "covid", 1, &k, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "--positive covid: not one of the classes (abnormal, normal)"));
    float p[4] = {0.25f, 0.75f, 0.9f, 0.1f};
    int y[2] = {1, 0};
    pn_class_swap2(p, y, 2);
    assert_true(p[0] == 0.75f && p[1] == 0.25f && p[2] == 0.1f && p[3] == 0.9f);
    assert_int_equal(y[0], 0);
    assert_int_equal(y[1], 1);
}

static void link_to(const char *src, const char *dst)
{
    char *abs = realpath(src, NULL);
    assert_non_null(abs);
    assert_int_equal(symlink(abs, dst), 0);
    free(abs);
}

/* A class folder abnormal/ normal/ of two DICOMs and one JPEG: train's
 * source presents the positive class second, labels flipped with it; the
 * patients are the DICOM PatientIDs (NULL for the JPEG); the data is flat. */
static void test_source(void **state)
{
    (void)state;
    char dir[600], p[800], s[900];
    snprintf(dir, sizeof dir, "%.590s", tu_tmpdir());
    snprintf(p, sizeof p, "%s/abnormal", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/normal", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(s, sizeof s, "%s/chest_xray_dicom/train/PNEUMONIA/person1497_bacteria_3912.dcm",
             tu_data_dir());
    snprintf(p, sizeof p, "%s/abnormal/x1.dcm", dir); /* the name rule would say "x1" */
    link_to(s, p);
    snprintf(s, sizeof s, "%s/chest_xray_dicom/train/NORMAL/IM-0482-0001.dcm", tu_data_dir());
    snprintf(p, sizeof p, "%s/normal/x2.dcm", dir);
    link_to(s, p);
    snprintf(s, sizeof s, "%s/chest_xray/test/NORMAL/IM-0027-0001.jpeg", tu_data_dir());
    snprintf(p, sizeof p, "%s/normal/x3.jpeg", dir);
    link_to(s, p);
    pn_dataset *ds = NULL;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    assert_true(pn_dataset_is_flat(ds));
    pn_dataset_source src;
    assert_int_equal(pn_dataset_source_init_positive(&src, ds, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "--positive"));
    assert_int_equal(pn_dataset_source_init_positive(&src, ds, "ABNORMAL", &err), PN_OK);
    assert_string_equal(src.src.class_names[0], "normal");
    assert_string_equal(src.src.class_names[1], "abnormal");
    const pn_source *q = &src.src;
    assert_int_equal(q->count(q->ctx, PN_SPLIT_TRAIN), 3);
    assert_non_null(strstr(q->name(q->ctx, 0, 0), "abnormal/x1.dcm"));
    assert_int_equal(q->label(q->ctx, 0, 0), 1); /* abnormal: dataset class 0, presented 1 */
    assert_int_equal(q->label(q->ctx, 0, 1), 0);
    assert_int_equal(q->label(q->ctx, 0, 2), 0);
    assert_string_equal(q->patient(q->ctx, 0, 0), "person1497");
    assert_string_equal(q->patient(q->ctx, 0, 1), "IM-0482");
    assert_null(q->patient(q->ctx, 0, 2));
    assert_memory_equal(q->sop_uid(q->ctx, 0, 0), "2.25.", 5);
    assert_null(q->sop_uid(q->ctx, 0, 2));
    /* the dataset's own order when class 1 is positive */
    assert_int_equal(pn_dataset_source_init_positive(&src, ds, "normal", &err), PN_OK);
    assert_string_equal(src.src.class_names[1], "normal");
    assert_int_equal(q->label(q->ctx, 0, 0), 0);
    pn_dataset_free(ds);
    /* split folders: not flat */
    snprintf(p, sizeof p, "%s/chest_xray_dicom", tu_data_dir());
    assert_int_equal(pn_dataset_open(p, &ds, &err), PN_OK);
    assert_false(pn_dataset_is_flat(ds));
    assert_int_equal(pn_dataset_source_init_positive(&src, ds, NULL, &err), PN_OK);
    assert_string_equal(src.src.class_names[1], "PNEUMONIA");
    pn_dataset_free(ds);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_positive),
        cmocka_unit_test(test_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
