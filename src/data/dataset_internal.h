/* The dataset structure, shared by dataset.c (folders), dataset_zip.c,
 * dataset_npz.c and the readers. Private to src/data. */
#ifndef PNEUMO_DATASET_INTERNAL_H
#define PNEUMO_DATASET_INTERNAL_H
#include <pthread.h>
#include <stdint.h>

#include <zip.h>

#include "internal.h"

enum { DS_FOLDER, DS_ZIP, DS_NPZ };

typedef struct item_rec {
    pn_item it;  /* first member: a pn_item* is an item_rec* */
    char *path;  /* folder: file path; zip: member name */
    int64_t ref; /* zip: entry index; npz: index in its split */
    char *csv_patient; /* CSV datasets, while opening: the CSV's patient */
} item_rec;

typedef struct item_vec {
    item_rec *v;
    size_t n, cap;
} item_vec;

struct pn_dataset {
    char *path;
    int kind;
    int ncls;
    char **cls;
    item_vec split[PN_NUM_SPLITS];
    /* zip and npz */
    zip_t *zip;
    pthread_mutex_t mu; /* libzip is not thread-safe */
    /* npz */
    uint8_t *npz_px[PN_NUM_SPLITS]; /* (n, h, w, c) uint8 */
    int npz_h, npz_w, npz_c;
    /* CSV datasets (dataset_csv.c): rows left out with skip_bad, and rows
     * whose label the policy drops */
    char **csv_notes;
    size_t csv_nnotes, csv_dropped;
    int csv; /* opened by pn_dataset_open_csv: kind "csv" */
    int files; /* opened by pn_dataset_open_files: kind "files" */
    /* no split folders (or, CSV, no split given): every item is in train */
    int flat;
};

/* Append an item (name and path are copied). */
pn_status pn__ds_add(pn_dataset *ds, pn_split s, int label, const char *name, const char *path,
                     int64_t ref, uint64_t size, pn_error *err);
/* Class list helpers: add if absent (keeps unsorted); sort; find. */
pn_status pn__ds_class_add(pn_dataset *ds, const char *name, pn_error *err);
void pn__ds_class_sort(pn_dataset *ds);
int pn__ds_class_find(const pn_dataset *ds, const char *name);
/* Sort each split's items by path (byte order) and number them. */
void pn__ds_finish(pn_dataset *ds);
/* Split folder name -> split, or -1. */
int pn__split_from_name(const char *name);

/* Fills the patient_id / sop_uid of the DICOM items of a folder dataset
 * (dataset_dicom.c); only out of memory is an error. */
pn_status pn__ds_dicom_ids(pn_dataset *ds, pn_error *err);

/* Opens ds->path read-only into ds->zip; the error names the file, `what`
 * ("zip", "npz (zip)") and libzip's reason. */
pn_status pn__zip_open(pn_dataset *ds, const char *what, pn_error *err);
pn_status pn__ds_open_zip(pn_dataset *ds, pn_error *err);
pn_status pn__ds_open_npz(pn_dataset *ds, pn_error *err);
pn_status pn__zip_read_entry(pn_dataset *ds, int64_t index, const char *what, uint8_t **buf,
                             size_t *cap, size_t *n, pn_error *err);

#endif
