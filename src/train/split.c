/* The patient-grouped stratified validation split (patient ids given, as
 * DICOM PatientID or a CSV's patient, else pn_patient_id() of the name). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/dataset.h"
#include "pneumo/train.h"

typedef struct {
    char id[128];
    size_t idx;
} pid_item;

static int cmp_pid(const void *a, const void *b)
{
    const pid_item *x = a, *y = b;
    int r = strcmp(x->id, y->id);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

pn_status pn_val_split(const char *const *names, const int *label, size_t n, int classes,
                       double fraction, uint64_t seed, unsigned char *is_val, pn_error *err)
{
    return pn_val_split_patients(names, NULL, label, n, classes, fraction, seed, is_val, err);
}

pn_status pn_val_split_patients(const char *const *names, const char *const *patients,
                                const int *label, size_t n, int classes, double fraction,
                                uint64_t seed, unsigned char *is_val, pn_error *err)
{
    if (!(fraction > 0 && fraction < 1))
        return pn_error_set(err, PN_E_ARG, "--val-split wants a fraction between 0 and 1, not %g",
                            fraction);
    if (classes < 2 || classes > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "--val-split: %d classes", classes);
    size_t cnt[PN_MAX_CLASSES] = {0}, target[PN_MAX_CLASSES], got[PN_MAX_CLASSES] = {0};
    for (size_t i = 0; i < n; i++) {
        if (label[i] < 0 || label[i] >= classes)
            return pn_error_set(err, PN_E_ARG, "--val-split: label %d out of range", label[i]);
        cnt[label[i]]++;
    }
    for (int c = 0; c < classes; c++) target[c] = (size_t)llround(fraction * (double)cnt[c]);
    pid_item *it = malloc((n ? n : 1) * sizeof *it);
    size_t *gstart = malloc((n + 1) * sizeof *gstart);
    int64_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!it || !gstart || !order) {
        free(it);
        free(gstart);
        free(order);
        return pn_error_set(err, PN_E_NOMEM, "--val-split: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (patients && patients[i] && patients[i][0])
            snprintf(it[i].id, sizeof it[i].id, "%s", patients[i]);
        else
            pn_patient_id(names[i], it[i].id, sizeof it[i].id);
        it[i].idx = i;
    }
    qsort(it, n, sizeof *it, cmp_pid); /* groups sorted by id: order independent of input */
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(it[i].id, it[i - 1].id)) gstart[ng++] = i;
    gstart[ng] = n;
    pn_rng g;
    pn_rng_seed(&g, seed);
    pn_rng_randperm(&g, ng, order);
    memset(is_val, 0, n);
    for (size_t k = 0; k < ng; k++) {
        size_t gi = (size_t)order[k];
        /* the patient's class: its majority label (ids are per class in practice) */
        size_t votes[PN_MAX_CLASSES] = {0};
        for (size_t i = gstart[gi]; i < gstart[gi + 1]; i++) votes[label[it[i].idx]]++;
        int c = 0;
        for (int cc = 1; cc < classes; cc++)
            if (votes[cc] > votes[c]) c = cc;
        if (got[c] >= target[c]) continue;
        for (size_t i = gstart[gi]; i < gstart[gi + 1]; i++) {
            is_val[it[i].idx] = 1;
            got[label[it[i].idx]]++;
        }
    }
    free(it);
    free(gstart);
    free(order);
    for (int c = 0; c < classes; c++)
        if (got[c] == 0 || got[c] == cnt[c])
            return pn_error_set(err, PN_E_ARG,
                                "--val-split %g leaves class %d with %s (it has %zu images): "
                                "use a fraction that fits the data",
                                fraction, c, got[c] ? "no training images" : "no validation images",
                                cnt[c]);
    return PN_OK;
}
