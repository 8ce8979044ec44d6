/* CSV-labelled datasets (pn_dataset_open_csv): the RSNA, NIH and CheXpert
 * fixtures of tests/fixtures/csv (tests/pytorch/make_csv_fixtures.py, over
 * the shared images) give the counts pandas gives (expected.tsv), items
 * carry the CSV's patient, and bad CSVs (a missing column, a missing image,
 * a duplicate row, a label outside the policy) name the CSV and line, or
 * are listed with skip_bad. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

static pn_csv_preset preset_of(const char *s)
{
    return !strcmp(s, "rsna") ? PN_CSV_RSNA : !strcmp(s, "nih") ? PN_CSV_NIH : PN_CSV_CHEXPERT;
}

/* The image folder of each fixture. */
static void images_of(const char *preset, char *out, size_t size)
{
    const char *sub = !strcmp(preset, "rsna")  ? "chest_xray_dicom"
                      : !strcmp(preset, "nih") ? "chest_xray_dicom/expected"
                                               : "chest_xray";
    snprintf(out, size, "%s/%s", tu_data_dir(), sub);
}

static void test_pandas_counts(void **state)
{
    (void)state;
    FILE *f = fopen(tu_fixture("csv/expected.tsv"), "r");
    assert_non_null(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char preset[32], csvrel[128], pol[16], split[16], images[1024], csvp[1024];
        size_t want_n, want_p, want_drop;
        assert_int_equal(sscanf(line, "%31s %127s %15s %15s %zu %zu %zu", preset, csvrel, pol,
                                split, &want_n, &want_p, &want_drop),
                         7);
        images_of(preset, images, sizeof images);
        char fx[160];
        snprintf(fx, sizeof fx, "csv/%s", csvrel);
        snprintf(csvp, sizeof csvp, "%s", tu_fixture(fx));
        pn_csv_opts o = {.preset = preset_of(preset)};
        pn_split sp;
        assert_int_equal(pn_split_parse(split, &sp, NULL), PN_OK);
        if (o.preset == PN_CSV_CHEXPERT) {
            o.split = sp;
            o.uncertain = !strcmp(pol, "ones") ? PN_U_ONES : !strcmp(pol, "zeros") ? PN_U_ZEROS
                                                                                   : PN_U_IGNORE;
        }
        pn_dataset *ds = NULL;
        pn_error err = {0};
        if (pn_dataset_open_csv(images, csvp, &o, &ds, &err)) fail_msg("%s: %s", csvrel, err.msg);
        assert_int_equal(pn_dataset_num_classes(ds), 2);
        assert_string_equal(pn_dataset_class_name(ds, 1), "PNEUMONIA");
        if (pn_dataset_count_class(ds, sp, 0) != want_n ||
            pn_dataset_count_class(ds, sp, 1) != want_p || pn_dataset_csv_dropped(ds) != want_drop)
            fail_msg("%s %s %s: NORMAL %zu PNEUMONIA %zu dropped %zu, pandas says %zu %zu %zu",
                     csvrel, pol, split, pn_dataset_count_class(ds, sp, 0),
                     pn_dataset_count_class(ds, sp, 1), pn_dataset_csv_dropped(ds), want_n,
                     want_p, want_drop);
        assert_int_equal(pn_dataset_csv_skipped(ds), 0);
        /* every item decodes (the check), and has the CSV's label from its folder */
        for (size_t i = 0; i < pn_dataset_count(ds, sp); i++) {
            const pn_item *it = pn_dataset_item(ds, sp, i);
            const char *cls = pn_dataset_class_name(ds, it->label);
            /* the shared images sit in their class folder (U-Zeros turns the
             * uncertain PNEUMONIA rows NORMAL) */
            if (strcmp(pol, "zeros") && !strstr(it->name, cls))
                fail_msg("%s: %s labelled %s", csvrel, it->name, cls);
            if (o.preset != PN_CSV_CHEXPERT) assert_non_null(it->patient_id);
            if (o.preset == PN_CSV_RSNA) assert_non_null(it->sop_uid); /* from the DICOM */
        }
        pn_bad_list bad = {0};
        pn_decode_opts dopt = {.fast_decode = 1};
        assert_int_equal(pn_dataset_check(ds, sp, &dopt, 2, &bad, &err), PN_OK);
        if (bad.n) fail_msg("%s: %s", csvrel, bad.v[0].reason);
        pn_bad_list_free(&bad);
        pn_dataset_free(ds);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 9);
}

static void test_patients(void **state)
{
    (void)state;
    char images[1024], pat[64];
    images_of("nih", images, sizeof images);
    pn_csv_opts o = {.preset = PN_CSV_NIH};
    pn_dataset *ds = NULL;
    pn_error err = {0};
    assert_int_equal(
        pn_dataset_open_csv(images, tu_fixture("csv/nih/Data_Entry_2017.csv"), &o, &ds, &err),
        PN_OK);
    int found = 0;
    for (size_t i = 0; i < pn_dataset_count(ds, PN_SPLIT_ALL); i++) {
        const pn_item *it = pn_dataset_item(ds, PN_SPLIT_ALL, i);
        if (!strstr(it->name, "person67_bacteria_333")) continue;
        assert_string_equal(it->patient_id, "person67");
        assert_int_equal(pn_item_patient(it, pat, sizeof pat), 1);
        assert_string_equal(pat, "person67");
        found = 1;
    }
    assert_true(found);
    pn_dataset_free(ds);
}

static const char *write_csv(const char *dir, const char *name, const char *text)
{
    static char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_bad_csv(void **state)
{
    (void)state;
    char dir[1024], images[1024];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    images_of("chexpert", images, sizeof images);
    pn_error err = {0};
    pn_dataset *ds = NULL;
    pn_csv_opts o = {.preset = PN_CSV_CHEXPERT};
    const char *good = "CheXpert-v1.0-small/val/NORMAL/IM-0199-0001.jpeg";
    char text[2048];
    /* a missing column: named, with the header */
    const char *p = write_csv(dir, "a.csv", "Path,Sex\nx.jpeg,Male\n");
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "a.csv: no column 'Pneumonia' (the header has: Path, Sex)"));
    /* a label outside the policy: CSV and line */
    snprintf(text, sizeof text, "Path,Pneumonia\n%s,0.0\n%s,2.0\n", good, good);
    p = write_csv(dir, "b.csv", text);
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "b.csv:3: Pneumonia '2.0' is not a label"));
    /* a duplicate row */
    snprintf(text, sizeof text, "Path,Pneumonia\n%s,0.0\n\"%s\",1.0\n", good, good);
    p = write_csv(dir, "c.csv", text);
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "c.csv:3: duplicate row for"));
    assert_non_null(strstr(err.msg, "(first at line 2)"));
    /* an image that is not there; with skip_bad, left out and listed */
    snprintf(text, sizeof text, "Path,Pneumonia\r\n%s,0.0\r\nCheXpert-v1.0-small/nope.jpg,1.0\r\n",
             good);
    p = write_csv(dir, "d.csv", text);
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "d.csv:3: image 'CheXpert-v1.0-small/nope.jpg' not found"));
    o.skip_bad = 1;
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_ALL), 1);
    assert_int_equal(pn_dataset_csv_skipped(ds), 1);
    assert_non_null(strstr(pn_dataset_csv_skipped_reason(ds, 0), "d.csv:3: image"));
    pn_dataset_free(ds);
    /* a generic CSV by column names, quoted fields, a label value */
    o = (pn_csv_opts){.image_col = "file", .label_col = "dx", .positive = "pneumonia"};
    p = write_csv(dir, "e.csv",
                  "\xEF\xBB\xBF\"file\",dx\n\"IM-0199-0001.jpeg\",normal\n"
                  "person1492_bacteria_3894.jpeg,\"pneumonia\"\nIM-0453-0001.jpeg,other\n");
    o.negative = "normal";
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TRAIN, 0), 1);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TRAIN, 1), 1);
    assert_int_equal(pn_dataset_csv_dropped(ds), 1);
    pn_dataset_free(ds);
    /* no preset and no columns */
    o = (pn_csv_opts){0};
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_ARG);
    tu_rmtree(dir);
}

/* Splits from the file (a split column), flat or not, the option parsers,
 * and --skip-bad going on past every kind of bad row, each listed. */
static void test_split_column(void **state)
{
    (void)state;
    char dir[1024], images[1024];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    images_of("chexpert", images, sizeof images);
    pn_error err = {0};
    pn_dataset *ds = NULL;
    const char *p = write_csv(dir, "s.csv",
                              "file,dx,fold\n"
                              "IM-0199-0001.jpeg,0,train\n"
                              "person1492_bacteria_3894.jpeg,1,Train\n"
                              "IM-0453-0001.jpeg,0,valid\n"
                              "person30_bacteria_148.jpeg,1,validation\n"
                              "IM-0027-0001.jpeg,0,test\n");
    pn_csv_opts o = {.image_col = "file", .label_col = "dx", .split_col = "fold"};
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 2);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_VAL), 2);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TEST), 1);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_VAL, 1), 1);
    assert_non_null(strstr(pn_dataset_item(ds, PN_SPLIT_TEST, 0)->name, "IM-0027-0001.jpeg"));
    assert_false(pn_dataset_is_flat(ds));
    pn_dataset_free(ds);
    /* no split column: one split, flat unless a split was chosen */
    o.split_col = NULL;
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 5);
    assert_true(pn_dataset_is_flat(ds));
    pn_dataset_free(ds);
    o.split = PN_SPLIT_TEST;
    o.split_given = 1;
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TEST), 5);
    assert_false(pn_dataset_is_flat(ds));
    pn_dataset_free(ds);
    /* the split column missing: named with the header */
    o.split_col = "split";
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "s.csv: no column 'split' (the header has: file, dx, fold)"));
    /* a value that is no split; then all kinds of bad rows with skip_bad */
    p = write_csv(dir, "t.csv",
                  "file,dx,fold\n"
                  "IM-0199-0001.jpeg,0,train\n"
                  "person1492_bacteria_3894.jpeg,1,holdout\n"
                  "IM-0453-0001.jpeg,0\n"
                  "IM-0199-0001.jpeg,0,train\n"
                  "missing_file.jpeg,1,test\n"
                  "person30_bacteria_148.jpeg,1,test\n");
    o = (pn_csv_opts){.image_col = "file", .label_col = "dx", .split_col = "fold"};
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "t.csv:3: fold 'holdout' is not a split (train, val or test)"));
    o.skip_bad = 1;
    assert_int_equal(pn_dataset_open_csv(images, p, &o, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 1);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TEST), 1);
    assert_int_equal(pn_dataset_csv_skipped(ds), 4);
    const char *want[4] = {"t.csv:3: fold 'holdout' is not a split", "t.csv:4: the row has 2 fields",
                           "t.csv:5: duplicate row for 'IM-0199-0001.jpeg' (first at line 2)",
                           "t.csv:6: image 'missing_file.jpeg' not found"};
    for (int k = 0; k < 4; k++) {
        int seen = 0;
        for (size_t i = 0; i < pn_dataset_csv_skipped(ds); i++)
            seen |= strstr(pn_dataset_csv_skipped_reason(ds, i), want[k]) != NULL;
        if (!seen) fail_msg("not listed: %s", want[k]);
    }
    pn_dataset_free(ds);
    /* a test split carved by patient: whole patients, the same whatever the row order */
    char fwd[4096] = "file,dx,who\n", rev[4096] = "file,dx,who\n";
    static const char *imgs[6] = {"IM-0199-0001.jpeg", "person1492_bacteria_3894.jpeg",
                                  "IM-0453-0001.jpeg", "person30_bacteria_148.jpeg",
                                  "IM-0027-0001.jpeg", "IM-0061-0001.jpeg"};
    char line[128];
    for (int i = 0; i < 6; i++) {
        snprintf(line, sizeof line, "%s,%d,P%d\n", imgs[i], i % 2, i / 2);
        strcat(fwd, line);
        snprintf(line, sizeof line, "%s,%d,P%d\n", imgs[5 - i], (5 - i) % 2, (5 - i) / 2);
        strcat(rev, line);
    }
    pn_dataset *d2 = NULL;
    size_t ntest_seen = 0;
    for (int f = 1; f <= 9; f++) {
        o = (pn_csv_opts){.image_col = "file", .label_col = "dx", .patient_col = "who",
                          .test_fraction = f / 10.0};
        assert_int_equal(pn_dataset_open_csv(images, write_csv(dir, "f.csv", fwd), &o, &ds, &err), PN_OK);
        assert_int_equal(pn_dataset_open_csv(images, write_csv(dir, "r.csv", rev), &o, &d2, &err), PN_OK);
        assert_false(pn_dataset_is_flat(ds));
        assert_int_equal(pn_dataset_count(ds, PN_SPLIT_ALL), 6);
        size_t nt = pn_dataset_count(ds, PN_SPLIT_TEST);
        assert_int_equal(nt % 2, 0); /* patients of 2 images */
        assert_int_equal(pn_dataset_count(d2, PN_SPLIT_TEST), nt);
        for (size_t i = 0; i < nt; i++)
            assert_string_equal(pn_dataset_item(ds, PN_SPLIT_TEST, i)->name,
                                pn_dataset_item(d2, PN_SPLIT_TEST, i)->name);
        for (size_t i = 0; i < pn_dataset_count(ds, PN_SPLIT_TRAIN); i++)
            for (size_t j = 0; j < nt; j++)
                assert_string_not_equal(pn_dataset_item(ds, PN_SPLIT_TRAIN, i)->patient_id,
                                        pn_dataset_item(ds, PN_SPLIT_TEST, j)->patient_id);
        assert_true(nt >= ntest_seen); /* a larger fraction never takes patients back */
        ntest_seen = nt;
        pn_dataset_free(ds);
        pn_dataset_free(d2);
    }
    assert_true(ntest_seen > 0 && ntest_seen < 6);
    /* the option parsers */
    pn_csv_preset pr;
    pn_csv_uncertain u;
    assert_int_equal(pn_csv_preset_parse("nih", &pr, &err), PN_OK);
    assert_int_equal(pr, PN_CSV_NIH);
    assert_int_equal(pn_csv_preset_parse("mimic", &pr, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "rsna, nih or chexpert, not 'mimic'"));
    assert_int_equal(pn_csv_uncertain_parse("ones", &u, &err), PN_OK);
    assert_int_equal(u, PN_U_ONES);
    assert_int_equal(pn_csv_uncertain_parse("half", &u, &err), PN_E_ARG);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pandas_counts),
        cmocka_unit_test(test_patients),
        cmocka_unit_test(test_bad_csv),
        cmocka_unit_test(test_split_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
