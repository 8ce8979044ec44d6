/* A pn_dataset as a pn_source: splits, names, labels, content hashes,
 * patients and SOP UIDs; optionally with its positive class presented as
 * class 1. */
#include <stdlib.h>
#include <string.h>

#include "pneumo/app.h"
#include "pneumo/util.h"

static const pn_item *item(void *c, int s, size_t i)
{
    return pn_dataset_item(((pn_dataset_source *)c)->ds, (pn_split)s, i);
}
static size_t ds_count(void *c, int s)
{
    return pn_dataset_count(((pn_dataset_source *)c)->ds, (pn_split)s);
}
static const char *ds_name(void *c, int s, size_t i) { return item(c, s, i)->name; }
static int ds_label(void *c, int s, size_t i)
{
    int y = item(c, s, i)->label;
    return ((pn_dataset_source *)c)->swap && (y == 0 || y == 1) ? 1 - y : y;
}
static const char *ds_patient(void *c, int s, size_t i) { return item(c, s, i)->patient_id; }
static const char *ds_sop(void *c, int s, size_t i) { return item(c, s, i)->sop_uid; }
static pn_status ds_hash(void *c, int s, size_t i, uint8_t out[32], pn_error *err)
{
    const pn_dataset *ds = ((pn_dataset_source *)c)->ds;
    uint8_t *buf;
    size_t n;
    pn_status st = pn_dataset_read(ds, pn_dataset_item(ds, (pn_split)s, i), &buf, &n, err);
    if (st) return st;
    pn_sha256_buf(buf, n, out);
    free(buf);
    return PN_OK;
}

pn_status pn_dataset_source_init(pn_dataset_source *s, const pn_dataset *ds, pn_error *err)
{
    memset(s, 0, sizeof *s);
    int C = pn_dataset_num_classes(ds);
    if (C > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: %d classes (at most %d)",
                            pn_dataset_path(ds), C, PN_MAX_CLASSES);
    s->ds = ds;
    for (int c = 0; c < C; c++) s->class_names[c] = pn_dataset_class_name(ds, c);
    s->src = (pn_source){s,      C,        s->class_names, ds_count,  ds_name,
                         ds_label, ds_hash, ds_patient,     ds_sop};
    return PN_OK;
}

pn_status pn_dataset_source_init_positive(pn_dataset_source *s, const pn_dataset *ds,
                                          const char *positive, pn_error *err)
{
    PN_TRY(pn_dataset_source_init(s, ds, err));
    if (s->src.classes != 2) return PN_OK; /* the caller refuses other counts */
    int pos;
    PN_TRY(pn_class_positive(s->class_names, 2, positive, -1, &pos, err));
    if (pos == 0) {
        s->swap = 1;
        const char *t = s->class_names[0];
        s->class_names[0] = s->class_names[1];
        s->class_names[1] = t;
    }
    return PN_OK;
}
