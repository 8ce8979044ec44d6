/* pneumo: image datasets, the image-file walker and a parallel batch loader.
 *
 * A dataset is opened from
 *   - a folder with torchvision ImageFolder semantics: classes are the
 *     sorted subfolder names (NORMAL = 0, PNEUMONIA = 1), files sorted by
 *     name (byte order, as Python's sorted()), the files that
 *     pn_image_file_classify takes: .jpg .jpeg .png .dcm .dicom in any
 *     case, DICOM files without an extension (by content), and the image
 *     formats pneumo does not read (.tif .bmp .webp ...), which then fail
 *     to decode with their format named instead of vanishing; hidden
 *     entries (".*", so .DS_Store and ._x) are ignored.
 *     When the folder holds train/ val/ test/ subfolders, those are the
 *     splits and classes come from their subfolders (union, sorted);
 *     otherwise the folder itself is one split, PN_SPLIT_TRAIN.
 *     A path ending in .../train, .../val or .../test is NOT special.
 *   - a .zip holding that layout anywhere inside it (the Kaggle download
 *     nests chest_xray/, some versions also chest_xray/chest_xray/ and
 *     __MACOSX/): the root is the shallowest folder that has a train/,
 *     val/ or test/ subfolder holding class folders with images; __MACOSX
 *     and hidden entries are skipped; among equally shallow candidates the
 *     first in byte order wins. Files are read without unpacking.
 *   - a MedMNIST .npz (pneumoniamnist.npz): {train,val,test}_{images,labels}
 *     .npy arrays (uint8, C order, images (N,28,28), labels (N,1) or (N,));
 *     classes "0" and "1" are named NORMAL and PNEUMONIA. Items have no
 *     files: their names are "npz:train/000123" and their "bytes" are the
 *     raw 28x28 pixels.
 *
 * All read functions are thread-safe on one open dataset.
 */
#ifndef PNEUMO_DATASET_H
#define PNEUMO_DATASET_H
#include <stddef.h>
#include <stdint.h>

#include "pneumo/image.h"
#include "pneumo/status.h"
#include "pneumo/tensor.h" /* PN_MAX_CLASSES */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_split {
    PN_SPLIT_TRAIN = 0,
    PN_SPLIT_VAL = 1,
    PN_SPLIT_TEST = 2,
    PN_SPLIT_ALL = 3 /* every item, train then val then test */
} pn_split;
#define PN_NUM_SPLITS 3

/* "train", "val", "test", "all". */
const char *pn_split_name(pn_split s);
/* Parses "train"/"val"/"test"/"all"; PN_E_ARG otherwise. */
pn_status pn_split_parse(const char *s, pn_split *out, pn_error *err);

typedef struct pn_item {
    /* Display name: for folders the full path ("<root>/train/NORMAL/x.jpeg"),
     * for zips "<zip>:<member path>", for npz "npz:<split>/<index>".
     * Stable across runs; used in messages and predictions.csv. */
    const char *name;
    pn_split split;
    int label; /* class index */
    size_t index; /* position in its split (0-based) */
    uint64_t size; /* file size in bytes (npz: 784) */
    /* DICOM items of folder datasets: PatientID (0010,0020) and
     * SOPInstanceUID (0008,0018) from the file's header, read when the
     * dataset is opened. NULL for other images, for DICOM members of a
     * zip, and when the element is absent or empty. */
    const char *patient_id;
    const char *sop_uid;
} pn_item;

typedef struct pn_dataset pn_dataset;

/* Open a folder, .zip or .npz (by extension; a folder is a directory).
 * Errors: PN_E_NOTFOUND (missing), PN_E_IO (unreadable folder, named),
 * PN_E_FORMAT (no class folders / bad npz / bad zip). */
pn_status pn_dataset_open(const char *path, pn_dataset **ds, pn_error *err);
void pn_dataset_free(pn_dataset *ds);

const char *pn_dataset_path(const pn_dataset *ds);
/* "folder", "zip", "npz", "csv" (pn_dataset_open_csv) or "files"
 * (pn_dataset_open_files). */
const char *pn_dataset_kind(const pn_dataset *ds);
int pn_dataset_num_classes(const pn_dataset *ds);
const char *pn_dataset_class_name(const pn_dataset *ds, int c);
/* Items in split s (PN_SPLIT_ALL: all of them). */
size_t pn_dataset_count(const pn_dataset *ds, pn_split s);
size_t pn_dataset_count_class(const pn_dataset *ds, pn_split s, int c);
/* The i-th item of split s (NULL when out of range). Pointers stay valid
 * until pn_dataset_free. */
const pn_item *pn_dataset_item(const pn_dataset *ds, pn_split s, size_t i);

/* 1 when the data has no split folders (a plain folder of class folders,
 * or a zip of them) or is a CSV whose rows were given no split (no split
 * column, no official lists, no csv split): every item is in PN_SPLIT_TRAIN. */
int pn_dataset_is_flat(const pn_dataset *ds);

/* The item's raw content: the file's bytes (npz: the 784 pixel bytes),
 * malloc'ed into *bytes (free()). Thread-safe. */
pn_status pn_dataset_read(const pn_dataset *ds, const pn_item *it, uint8_t **bytes, size_t *n,
                          pn_error *err);
/* Read and decode an item (img's buffer is reused); errors name the item. */
pn_status pn_dataset_load_image(const pn_dataset *ds, const pn_item *it, const pn_decode_opts *o,
                                pn_image *img, pn_error *err);

/* Loose image files (dataset_files.c): n paths, kept in the given order as
 * the items of PN_SPLIT_TEST, with no classes (labels -1); what
 * pn_dataset_path returns is "files". A missing file is kept in its place
 * (reading it fails with the reason). DICOM files get their ids as in a
 * folder dataset. For a batched pn_loader over pneumo predict's arguments. */
pn_status pn_dataset_open_files(const char *const *paths, size_t n, pn_dataset **ds,
                                pn_error *err);

/* ---- CSV-labelled datasets (dataset_csv.c) -------------------------------- */
/* An image folder plus a CSV of labels; classes NORMAL = 0, PNEUMONIA = 1.
 * Presets for the public layouts (docs/data.md has the details):
 *   PN_CSV_RSNA      stage_2_train_labels.csv: patientId, Target; one row
 *                    per box, a patient with any Target 1 is PNEUMONIA;
 *                    images <patientId>.dcm
 *   PN_CSV_NIH       Data_Entry_2017.csv: Image Index, Finding Labels
 *                    ('|'-joined: Pneumonia -> PNEUMONIA, "No Finding" ->
 *                    NORMAL, the rest dropped), Patient ID; with
 *                    train_val_list.txt / test_list.txt beside the CSV, the
 *                    official split (rows in neither list are dropped)
 *   PN_CSV_CHEXPERT  train.csv / valid.csv: Path, Pneumonia: 1 PNEUMONIA,
 *                    0 or blank NORMAL, -1 by `uncertain` (Irvin et al. 2019:
 *                    U-Ignore drops, U-Zeros NORMAL, U-Ones PNEUMONIA); the
 *                    patient is the path's patientNNNNN part
 *   PN_CSV_GENERIC   image_col and label_col (positive/negative values,
 *                    default "1"/"0", also PNEUMONIA/NORMAL; others dropped)
 * Images named without a '/' are found by file name anywhere under the
 * folder (a name held by two files is an error); with a '/', as a path
 * under the folder (or under it without its leading part(s), so the
 * CheXpert "CheXpert-v1.0-small/train/..." paths work from either folder).
 * Items: patient_id from the CSV's patient column (else the DICOM header),
 * sop_uid from the DICOM header. Bad rows (too few fields, a label outside
 * the policy, a duplicate row, an image not found) are errors naming the
 * CSV and line, or with skip_bad left out and listed. A missing column is
 * an error listing the header. */
typedef enum pn_csv_preset {
    PN_CSV_GENERIC = 0,
    PN_CSV_RSNA,
    PN_CSV_NIH,
    PN_CSV_CHEXPERT
} pn_csv_preset;
typedef enum pn_csv_uncertain { PN_U_IGNORE = 0, PN_U_ZEROS, PN_U_ONES } pn_csv_uncertain;
typedef struct pn_csv_opts {
    pn_csv_preset preset;
    const char *image_col, *label_col, *patient_col; /* override the preset's */
    const char *positive, *negative;                 /* generic label values */
    const char *image_ext;    /* appended to the image column (RSNA: ".dcm") */
    pn_split split;           /* where the rows go (train; NIH lists override) */
    int split_given;          /* split was chosen (not the default): not flat */
    /* a column holding each row's split: train, val (valid, validation),
     * test; overrides split and the NIH lists; another value is a bad row */
    const char *split_col;
    /* > 0: a test split carved by patient from the train rows: a patient
     * (pn_item_patient) goes to test when the SHA-256 of its id (first 8
     * bytes, big-endian, top 53 bits / 2^53) is below test_fraction, so train and eval with the
     * same options see the same split, whatever the order of the rows */
    double test_fraction;
    pn_csv_uncertain uncertain; /* CheXpert -1 */
    int skip_bad;
} pn_csv_opts;
pn_status pn_dataset_open_csv(const char *images, const char *csv, const pn_csv_opts *o,
                              pn_dataset **ds, pn_error *err);
/* "rsna", "nih", "chexpert" (PN_E_ARG otherwise); "ignore", "zeros", "ones". */
pn_status pn_csv_preset_parse(const char *s, pn_csv_preset *out, pn_error *err);
pn_status pn_csv_uncertain_parse(const char *s, pn_csv_uncertain *out, pn_error *err);
/* Rows the label policy dropped; rows left out by skip_bad and why. */
size_t pn_dataset_csv_dropped(const pn_dataset *ds);
size_t pn_dataset_csv_skipped(const pn_dataset *ds);
const char *pn_dataset_csv_skipped_reason(const pn_dataset *ds, size_t i);

/* ---- checking ------------------------------------------------------------ */
typedef struct pn_bad_item {
    const pn_item *item;
    pn_status code;
    char *reason; /* full message, names the item (owned) */
} pn_bad_item;
typedef struct pn_bad_list {
    pn_bad_item *v;
    size_t n, cap;
} pn_bad_list;
void pn_bad_list_free(pn_bad_list *l);

/* Decode every item of split s with `threads` threads (0 = 1), appending
 * each unreadable one to bad (in item order). Returns PN_OK when the check
 * ran (bad->n may be > 0); an error only when the check itself failed. */
pn_status pn_dataset_check(const pn_dataset *ds, pn_split s, const pn_decode_opts *o,
                           int threads, pn_bad_list *bad, pn_error *err);
/* What the check saw besides the bad items. */
typedef struct pn_check_info {
    size_t png16;         /* 16-bit grayscale PNGs (decoded by o->png16) */
    size_t png16_clipped; /* of those, with PN_PNG16_CLIP: values over 255 met */
} pn_check_info;
/* pn_dataset_check that also fills *info (may be NULL). */
pn_status pn_dataset_check_info(const pn_dataset *ds, pn_split s, const pn_decode_opts *o,
                                int threads, pn_bad_list *bad, pn_check_info *info,
                                pn_error *err);

/* ---- image files ----------------------------------------------------------- */
/* 1 when the last part of path names an image file by its name alone: what
 * pn_image_file_classify (image.h) takes without reading (.jpg .jpeg .png
 * .dcm .dicom, and the formats pneumo reports as unsupported), not hidden.
 * Folder walks (pn_list_images, folder datasets) also take files that are
 * DICOM by content. */
int pn_is_image_name(const char *path);

/* A list of malloc'ed paths. */
typedef struct pn_path_list {
    char **v;
    size_t n, cap;
} pn_path_list;
/* Appends "dir/name" (name NULL: dir itself). */
pn_status pn_path_list_add(pn_path_list *l, const char *dir, const char *name, pn_error *err);
void pn_path_list_free(pn_path_list *l);

/* Appends the image files under folder dir to out, walked recursively as
 * "dir/sub/x.jpeg": hidden entries skipped, the entries of each folder in
 * byte order (chest_xray/test gives NORMAL/... then PNEUMONIA/...), links
 * followed but a folder already on the way down (a link loop) never entered
 * again, at most 32 levels deep. A folder that cannot be read adds 1 to
 * *unreadable (if not NULL) and, when bad is not NULL, an entry with
 * item = NULL and the reason ("DIR: cannot open folder: ..."). Only out of
 * memory is an error. */
pn_status pn_list_images(const char *dir, pn_path_list *out, pn_bad_list *bad,
                         size_t *unreadable, pn_error *err);

/* ---- patient ids --------------------------------------------------------- */
/* Patient id from a Kermany file name (any folder part is ignored):
 *   "person1234_bacteria_5678.jpeg" -> "person1234"
 *   "IM-0117-0001.jpeg"             -> "IM-0117"
 *   "NORMAL2-IM-0246-0001-0002.jpeg"-> "NORMAL2-IM-0246"
 * Returns 1 and writes the id when the name matches one of these forms;
 * otherwise returns 0 and writes the file name without extension (each such
 * image is its own group). out is always NUL-terminated. */
int pn_patient_id(const char *name, char *out, size_t outsize);
/* The patient of an item, for patient-grouped splits: its DICOM PatientID
 * when it has one (returns 1), else pn_patient_id of its name. */
int pn_item_patient(const pn_item *it, char *out, size_t outsize);

/* ---- class names (classes.c) -------------------------------------------- */
/* Which model class each data class is, by name, never by position:
 * map[d] (d < nd) = the index in model of data class d. Names match
 * case-insensitively; spec (--classes, may be NULL) pairs names that differ,
 * "MODEL=DATA[,MODEL=DATA...]" (DATA=MODEL is accepted too), e.g.
 * "NORMAL=normal,PNEUMONIA=abnormal". A data class that is no model class,
 * two data classes on one model class, or a spec naming an unknown class is
 * PN_E_ARG with both class lists in the message. The data may have fewer
 * classes than the model. */
pn_status pn_class_map(const char *const *data, int nd, const char *const *model, int nm,
                       const char *spec, int *map, pn_error *err);
/* pn_class_map of the dataset's classes; the error also names the data. */
pn_status pn_class_map_dataset(const pn_dataset *ds, const char *const *model, int nm,
                               const char *spec, int *map, pn_error *err);
/* The index in names of the positive class (the one sensitivity and the
 * threshold refer to): `positive` (case-insensitive; NULL: PNEUMONIA). When
 * positive is NULL and no class is PNEUMONIA, fallback (>= 0) is used, or
 * (< 0) PN_E_ARG asks for --positive, listing the classes. */
pn_status pn_class_positive(const char *const *names, int n, const char *positive, int fallback,
                            int *idx, pn_error *err);
/* Two classes, the other one positive: swaps the columns of probs (n,2)
 * and the labels 0 <-> 1 (either may be NULL). */
void pn_class_swap2(float *probs, int *labels, size_t n);

/* ---- shuffling ----------------------------------------------------------- */
/* order[i] = a permutation of 0..n-1, deterministic for a given seed
 * (Fisher-Yates driven by splitmix64; identical on every platform). */

/* ---- parallel loader ----------------------------------------------------- */
/* Worker threads read, decode and preprocess items into a bounded ring of
 * batches (queue depth `threads + 1` batches) while the caller computes.
 * Batches come out in order: batch k holds items order[k*batch ..
 * k*batch+batch-1] (order = NULL: 0..count-1), whatever the thread timing.
 * Bad items: skip_bad = 0 -> pn_loader_next returns the item's error (after
 * any earlier good batches); skip_bad = 1 -> the item is left out of its
 * batch (so *n may be < batch) and counted in pn_loader_skipped.
 * count = 0 means every item of split s. */
typedef struct pn_loader pn_loader;
pn_status pn_loader_create(pn_loader **l, const pn_dataset *ds, pn_split s, const size_t *order,
                           size_t count, int batch, int threads, const pn_decode_opts *o,
                           int skip_bad, pn_error *err);
/* Next batch:
 *   x      (batch, 3, 224, 224) NCHW float32, first *n rows filled
 *   labels (batch)              class of each row (may be NULL)
 *   idx    (batch)              item index in split s of each row (may be NULL)
 * *n = 0 at the end. */
pn_status pn_loader_next(pn_loader *l, float *x, int *labels, size_t *idx, int *n, pn_error *err);
/* Items skipped so far (skip_bad = 1), and the list of them with reasons. */
size_t pn_loader_skipped(const pn_loader *l);
const pn_bad_list *pn_loader_bad(const pn_loader *l);
/* Stops the workers and frees everything (also mid-epoch). */
void pn_loader_free(pn_loader *l);

/* ---- statistics ---------------------------------------------------------- */
typedef struct pn_dataset_stats {
    int num_classes;
    const char *class_name[PN_MAX_CLASSES];
    size_t count[PN_NUM_SPLITS][PN_MAX_CLASSES]; /* [split][class] */
    size_t total[PN_NUM_SPLITS];
    double imbalance[PN_NUM_SPLITS]; /* largest / smallest class; 0 when a class is empty */
} pn_dataset_stats;
/* Counts per split and class (no decoding). PN_E_UNSUPPORTED over PN_MAX_CLASSES classes. */
pn_status pn_dataset_stats_get(const pn_dataset *ds, pn_dataset_stats *st, pn_error *err);
/* The bar chart of these counts is pn_dataset_stats_chart (pneumo/report.h). */

#ifdef __cplusplus
}
#endif
#endif
