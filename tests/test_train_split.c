/* Patient ids (pn_patient_id of the images area, as used here) and the patient-grouped stratified --val-split, on the real
 * file names of ../shared/data/chest_xray/train, and with the patients given (DICOM PatientID, a CSV's patient). */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/dataset.h"
#include "pneumo/train.h"

static void test_patient_id(void **state)
{
    (void)state;
    char b[64];
    pn_patient_id("person123_bacteria_45.jpeg", b, sizeof b);
    assert_string_equal(b, "person123");
    pn_patient_id("a/b/person1_virus_6.jpeg", b, sizeof b);
    assert_string_equal(b, "person1");
    pn_patient_id("IM-0115-0001.jpeg", b, sizeof b);
    assert_string_equal(b, "IM-0115");
    pn_patient_id("NORMAL2-IM-0246-0001-0002.jpeg", b, sizeof b);
    assert_string_equal(b, "NORMAL2-IM-0246");
    pn_patient_id("scan7.png", b, sizeof b);
    assert_string_equal(b, "scan7");
    pn_patient_id("personX.jpeg", b, sizeof b);
    assert_string_equal(b, "personX");
    pn_patient_id("person123_bacteria_45.jpeg", b, 4);
    assert_string_equal(b, "per");
}

static size_t list_dir(const char *dir, char **names, int *labels, size_t n, int label)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names[n] = strdup(e->d_name);
        labels[n++] = label;
    }
    closedir(d);
    return n;
}

static void test_split_real_names(void **state)
{
    (void)state;
    char dir[1024];
    static char *names[4000];
    static int labels[4000];
    size_t n = 0;
    snprintf(dir, sizeof dir, "%s/chest_xray/train/NORMAL", tu_data_dir());
    n = list_dir(dir, names, labels, n, 0);
    snprintf(dir, sizeof dir, "%s/chest_xray/train/PNEUMONIA", tu_data_dir());
    n = list_dir(dir, names, labels, n, 1);
    assert_int_equal(n, 800);
    unsigned char *v = malloc(n), *v2 = malloc(n);
    pn_error err = {0};
    double fracs[] = {0.1, 0.2, 0.5};
    for (int fi = 0; fi < 3; fi++)
        for (uint64_t seed = 0; seed < 3; seed++) {
            assert_int_equal(pn_val_split((const char *const *)names, labels, n, 2, fracs[fi],
                                          seed, v, &err),
                             PN_OK);
            /* no patient on both sides */
            size_t nv[2] = {0}, nc[2] = {0};
            for (size_t i = 0; i < n; i++) {
                nc[labels[i]]++;
                nv[labels[i]] += v[i];
                char a[128], b[128];
                pn_patient_id(names[i], a, sizeof a);
                for (size_t j = i + 1; j < n; j++)
                    if (v[i] != v[j] && (pn_patient_id(names[j], b, sizeof b), !strcmp(a, b)))
                        fail_msg("patient %s is in both train (%s) and val (%s)", a,
                                 names[v[i] ? j : i], names[v[i] ? i : j]);
            }
            /* stratified: each class within a few images (patients have several) */
            for (int c = 0; c < 2; c++) {
                double want = fracs[fi] * (double)nc[c];
                if (fabs((double)nv[c] - want) > 0.02 * (double)nc[c] + 3)
                    fail_msg("class %d: %zu val images, want about %.0f", c, nv[c], want);
            }
        }
    /* deterministic for a seed, different for another */
    pn_val_split((const char *const *)names, labels, n, 2, 0.1, 5, v, &err);
    pn_val_split((const char *const *)names, labels, n, 2, 0.1, 5, v2, &err);
    assert_memory_equal(v, v2, n);
    pn_val_split((const char *const *)names, labels, n, 2, 0.1, 6, v2, &err);
    assert_true(memcmp(v, v2, n) != 0);
    /* bad fractions */
    assert_int_equal(pn_val_split((const char *const *)names, labels, n, 2, 1.0, 0, v, &err),
                     PN_E_ARG);
    assert_int_equal(pn_val_split((const char *const *)names, labels, n, 2, 0.0001, 0, v, &err),
                     PN_E_ARG);
    assert_non_null(strstr(err.msg, "no validation images"));
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(v);
    free(v2);
}

/* pn_val_split_patients: the given patients win over the file-name rule
 * (the names are all different, so by name every image is its own group);
 * a NULL patient falls back to the rule; all NULL = pn_val_split. */
static void test_split_given_patients(void **state)
{
    (void)state;
    enum { N = 120 };
    static char nb[N][32], pb[N][16];
    const char *names[N], *pats[N];
    int labels[N];
    for (int i = 0; i < N; i++) {
        snprintf(nb[i], sizeof nb[i], "img%03d.dcm", i);
        snprintf(pb[i], sizeof pb[i], "P%02d", i / 4); /* 4 images per patient */
        names[i] = nb[i];
        pats[i] = pb[i];
        labels[i] = (i / 4) % 3 == 0; /* patients of one class */
    }
    unsigned char v[N], v2[N];
    pn_error err = {0};
    for (uint64_t seed = 0; seed < 4; seed++) {
        assert_int_equal(pn_val_split_patients(names, pats, labels, N, 2, 0.25, seed, v, &err),
                         PN_OK);
        size_t nv = 0;
        for (int i = 0; i < N; i++) {
            nv += v[i];
            if (v[i] != v[i - i % 4]) fail_msg("patient %s split (seed %d)", pats[i], (int)seed);
        }
        assert_true(nv > 0 && nv < N);
        assert_int_equal(nv % 4, 0);
    }
    /* by name (no patients) the groups are single images: some patient gets split */
    int split_somewhere = 0;
    for (uint64_t seed = 0; seed < 4 && !split_somewhere; seed++) {
        assert_int_equal(pn_val_split(names, labels, N, 2, 0.25, seed, v, &err), PN_OK);
        for (int i = 0; i < N; i++) split_somewhere |= v[i] != v[i - i % 4];
    }
    assert_true(split_somewhere);
    /* all NULL: exactly pn_val_split */
    const char *none[N] = {0};
    assert_int_equal(pn_val_split_patients(names, none, labels, N, 2, 0.25, 7, v, &err), PN_OK);
    assert_int_equal(pn_val_split(names, labels, N, 2, 0.25, 7, v2, &err), PN_OK);
    assert_memory_equal(v, v2, N);
    /* NULL entries: the file-name rule, so person7_a / person7_b stay together */
    static char kb[N][40];
    for (int i = 0; i < N; i++) {
        snprintf(kb[i], sizeof kb[i], "person%d_bacteria_%d.jpeg", i / 2, i);
        names[i] = kb[i];
        pats[i] = i < N / 2 ? pb[i] : NULL;
        labels[i] = (i / 4) % 3 == 0;
    }
    assert_int_equal(pn_val_split_patients(names, pats, labels, N, 2, 0.25, 1, v, &err), PN_OK);
    for (int i = N / 2; i < N; i += 2) assert_int_equal(v[i], v[i + 1]);
    for (int i = 0; i < N / 2; i++) assert_int_equal(v[i], v[i - i % 4]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patient_id),
        cmocka_unit_test(test_split_real_names),
        cmocka_unit_test(test_split_given_patients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
