/* CSV-labelled datasets: an image folder plus a CSV of labels, with the
 * layouts of the public chest X-ray sets as presets:
 *   RSNA      stage_2_train_labels.csv: patientId, Target (one row per box;
 *             a patient with any Target 1 is PNEUMONIA); <patientId>.dcm
 *   NIH       Data_Entry_2017.csv: Image Index, Finding Labels ('|'-joined;
 *             Pneumonia -> PNEUMONIA, "No Finding" -> NORMAL, the rest
 *             dropped), Patient ID; train_val_list.txt / test_list.txt beside
 *             the CSV give the official split
 *   CheXpert  train.csv / valid.csv: Path, Pneumonia (1, 0, -1, blank; -1
 *             by the U-Ignore / U-Zeros / U-Ones policy of Irvin et al.
 *             2019; blank = not mentioned = 0); the patient from the path
 * or any CSV by column names. Images are found by file name anywhere under
 * the image folder (NIH spreads them over images_001/images/ ...), or by
 * the relative path of the CSV (CheXpert). */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dataset_internal.h"
#include "pneumo/util.h"

#include "csv_internal.h"

/* ---- labels ---------------------------------------------------------------------- */

enum { LBL_NORMAL = 0, LBL_PNEUMONIA = 1, LBL_DROP = -1, LBL_BAD = -2 };

static int nih_label(const char *v)
{
    if (!strcmp(v, "No Finding")) return LBL_NORMAL;
    for (const char *p = v; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == 9 && !strncmp(p, "Pneumonia", 9)) return LBL_PNEUMONIA;
        p += n + (bar != NULL);
    }
    return LBL_DROP;
}

static int chexpert_label(const char *v, pn_csv_uncertain u)
{
    char *end;
    if (!*v) return LBL_NORMAL; /* blank: not mentioned */
    double x = strtod(v, &end);
    if (*end) return LBL_BAD;
    if (x == 1) return LBL_PNEUMONIA;
    if (x == 0) return LBL_NORMAL;
    if (x == -1) return u == PN_U_ONES ? LBL_PNEUMONIA : u == PN_U_ZEROS ? LBL_NORMAL : LBL_DROP;
    return LBL_BAD;
}

/* "patient12345" component of a CheXpert path, into out ("" if none). */
static void chexpert_patient(const char *path, char *out, size_t size)
{
    out[0] = 0;
    for (const char *p = path; (p = strstr(p, "patient")); p++) {
        size_t d = 0;
        while (p[7 + d] >= '0' && p[7 + d] <= '9') d++;
        if (d && (p == path || p[-1] == '/') && (p[7 + d] == '/' || !p[7 + d])) {
            snprintf(out, size, "%.*s", (int)(7 + d), p);
            return;
        }
    }
}


/* ---- the dataset ---------------------------------------------------------------- */

typedef struct row {
    char *key;     /* image name or path as in the CSV */
    char *patient; /* or NULL */
    int label;
    int split;
    size_t line;
} row;

static int cmp_row(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

static pn_status note(pn_dataset *ds, pn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static pn_status note(pn_dataset *ds, pn_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **nv = realloc(ds->csv_notes, (ds->csv_nnotes + 1) * sizeof *nv);
    if (!nv || !(nv[ds->csv_nnotes] = strdup(msg))) {
        if (nv) ds->csv_notes = nv;
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
    }
    ds->csv_notes = nv;
    ds->csv_nnotes++;
    return PN_OK;
}

/* A bad row: an error naming it, or (skip_bad) a note. */
#define BAD_ROW(...)                                                                      \
    do {                                                                                  \
        if (!o->skip_bad) {                                                               \
            st = pn_error_set(err, PN_E_FORMAT, __VA_ARGS__);                             \
            goto done;                                                                    \
        }                                                                                 \
        if ((st = note(ds, err, __VA_ARGS__))) goto done;                                 \
    } while (0)

static const char *const no_col = NULL;

/* Moves the train items of the patients whose id hashes below fraction to test:
 * SHA-256 of the id, its first 8 bytes big-endian, the top 53 bits / 2^53. */
static pn_status carve_test(pn_dataset *ds, double fraction, pn_error *err)
{
    item_vec *tr = &ds->split[PN_SPLIT_TRAIN], *te = &ds->split[PN_SPLIT_TEST];
    size_t k = 0;
    for (size_t i = 0; i < tr->n; i++) {
        char pid[256];
        pn_item_patient(&tr->v[i].it, pid, sizeof pid);
        uint8_t d[32]; /* the first 53 bits of SHA-256(id), as a fraction of 2^53 */
        pn_sha256_buf(pid, strlen(pid), d);
        uint64_t h = 0;
        for (int b = 0; b < 8; b++) h = h << 8 | d[b];
        if ((double)(h >> 11) / 9007199254740992.0 >= fraction) {
            tr->v[k++] = tr->v[i];
            continue;
        }
        if (te->n == te->cap) {
            size_t nc = te->cap ? te->cap * 2 : 256;
            item_rec *nv = realloc(te->v, nc * sizeof *nv);
            if (!nv) {
                /* every item stays owned by ds (freed with it) */
                memmove(&tr->v[k], &tr->v[i], (tr->n - i) * sizeof *tr->v);
                tr->n = k + (tr->n - i);
                return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
            }
            te->v = nv;
            te->cap = nc;
        }
        te->v[te->n] = tr->v[i];
        te->v[te->n++].it.split = PN_SPLIT_TEST;
    }
    tr->n = k;
    return PN_OK;
}

/* a split column's value: train, val / valid / validation, test (any case) */
static int split_value(const char *v)
{
    if (!strcasecmp(v, "train")) return PN_SPLIT_TRAIN;
    if (!strcasecmp(v, "val") || !strcasecmp(v, "valid") || !strcasecmp(v, "validation"))
        return PN_SPLIT_VAL;
    if (!strcasecmp(v, "test")) return PN_SPLIT_TEST;
    return -1;
}

pn_status pn_csv_preset_parse(const char *s, pn_csv_preset *out, pn_error *err)
{
    if (s && !strcmp(s, "rsna")) *out = PN_CSV_RSNA;
    else if (s && !strcmp(s, "nih")) *out = PN_CSV_NIH;
    else if (s && !strcmp(s, "chexpert")) *out = PN_CSV_CHEXPERT;
    else return pn_error_set(err, PN_E_ARG, "--preset wants rsna, nih or chexpert, not '%s'", s ? s : "");
    return PN_OK;
}

pn_status pn_csv_uncertain_parse(const char *s, pn_csv_uncertain *out, pn_error *err)
{
    if (s && !strcmp(s, "ignore")) *out = PN_U_IGNORE;
    else if (s && !strcmp(s, "zeros")) *out = PN_U_ZEROS;
    else if (s && !strcmp(s, "ones")) *out = PN_U_ONES;
    else
        return pn_error_set(err, PN_E_ARG, "--uncertain wants ignore, zeros or ones, not '%s'",
                            s ? s : "");
    return PN_OK;
}

pn_status pn_dataset_open_csv(const char *images, const char *csv_path, const pn_csv_opts *opt,
                              pn_dataset **out, pn_error *err)
{
    static const pn_csv_opts dflt = {0};
    const pn_csv_opts *o = opt ? opt : &dflt;
    if (!out || !images || !csv_path)
        return pn_error_set(err, PN_E_ARG, "CSV dataset: no image folder or CSV");
    *out = NULL;
    struct stat sb;
    if (stat(images, &sb) || !S_ISDIR(sb.st_mode))
        return pn_error_set(err, PN_E_NOTFOUND, "%s: not a folder (the images of %s)", images,
                            csv_path);
    pn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    pthread_mutex_init(&ds->mu, NULL);
    ds->kind = DS_FOLDER; /* items are files */
    ds->csv = 1;
    ds->path = strdup(images);
    uint8_t *text = NULL;
    size_t ntext = 0;
    pn__csv c = {0}, hdr = {0};
    pn__file_index ix = {0};
    pn__name_set trainval = {0}, test = {0};
    row *rows = NULL;
    size_t nrows = 0, rcap = 0;
    pn_status st = ds->path ? PN_OK : pn_error_set(err, PN_E_NOMEM, "out of memory");
    if (!st) st = pn__ds_class_add(ds, "NORMAL", err);
    if (!st) st = pn__ds_class_add(ds, "PNEUMONIA", err);
    if (!st) st = pn_read_file(csv_path, PN_MAX_FILE_BYTES, &text, &ntext, err);
    if (st) goto done;

    /* the columns of the preset, or the ones given */
    const char *icol = o->image_col, *lcol = o->label_col, *pcol = o->patient_col;
    const char *ext = o->image_ext ? o->image_ext : "";
    switch (o->preset) {
    case PN_CSV_RSNA:
        icol = icol ? icol : "patientId", lcol = lcol ? lcol : "Target";
        pcol = pcol ? pcol : "patientId", ext = o->image_ext ? ext : ".dcm";
        break;
    case PN_CSV_NIH:
        icol = icol ? icol : "Image Index", lcol = lcol ? lcol : "Finding Labels";
        pcol = pcol ? pcol : "Patient ID";
        break;
    case PN_CSV_CHEXPERT:
        icol = icol ? icol : "Path", lcol = lcol ? lcol : "Pneumonia";
        break;
    default:
        if (!icol || !lcol) {
            st = pn_error_set(err, PN_E_ARG,
                              "%s: a CSV without a preset needs the image and label columns",
                              csv_path);
            goto done;
        }
    }
    c.p = (const char *)text;
    c.end = c.p + ntext;
    c.next_line = 1;
    if (ntext >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) c.p += 3; /* UTF-8 BOM */
    int r = pn__csv_row(&c);
    if (r <= 0) {
        st = r < 0 ? pn_error_set(err, PN_E_NOMEM, "out of memory")
                   : pn_error_set(err, PN_E_FORMAT, "%s: empty CSV (no header row)", csv_path);
        goto done;
    }
    /* keep the header: copy its fields */
    hdr.nf = c.nf;
    hdr.f = calloc(c.nf, sizeof *hdr.f);
    for (size_t i = 0; hdr.f && i < c.nf; i++) hdr.f[i] = strdup(c.f[i]);
    int ci = pn__csv_col(&hdr, icol), cl = pn__csv_col(&hdr, lcol);
    int cp = pcol ? pn__csv_col(&hdr, pcol) : -1, cs = o->split_col ? pn__csv_col(&hdr, o->split_col) : -1;
    const char *missing = ci < 0                    ? icol
                          : cl < 0                  ? lcol
                          : (pcol && cp < 0)        ? pcol
                          : (o->split_col && cs < 0) ? o->split_col
                                                    : no_col;
    if (missing) {
        char cols[512] = "";
        for (size_t i = 0; i < hdr.nf; i++)
            snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", i ? ", " : "",
                     hdr.f[i]);
        st = pn_error_set(err, PN_E_FORMAT, "%s: no column '%s' (the header has: %s)", csv_path,
                          missing, cols);
        goto done;
    }
    if (o->preset == PN_CSV_NIH) {
        if ((st = pn__read_list(csv_path, "train_val_list.txt", &trainval, err))) goto done;
        if ((st = pn__read_list(csv_path, "test_list.txt", &test, err))) goto done;
    }
    const char *pos = o->positive ? o->positive : "1", *neg = o->negative ? o->negative : "0";
    while ((r = pn__csv_row(&c)) > 0) {
        if (c.nf == 1 && !c.f[0][0]) continue; /* blank line */
        size_t need = (size_t)(ci > cl ? ci : cl) + 1;
        if (cp + 1 > (int)need) need = (size_t)cp + 1;
        if (cs + 1 > (int)need) need = (size_t)cs + 1;
        if (c.nf < need) {
            BAD_ROW("%s:%zu: the row has %zu fields, the header %zu", csv_path, c.line, c.nf,
                    hdr.nf);
            continue;
        }
        const char *lv = c.f[cl];
        int label;
        switch (o->preset) {
        case PN_CSV_RSNA:
            label = !strcmp(lv, "1") ? LBL_PNEUMONIA : !strcmp(lv, "0") ? LBL_NORMAL : LBL_BAD;
            break;
        case PN_CSV_NIH: label = nih_label(lv); break;
        case PN_CSV_CHEXPERT: label = chexpert_label(lv, o->uncertain); break;
        default:
            label = !strcasecmp(lv, pos) || !strcasecmp(lv, "PNEUMONIA") ? LBL_PNEUMONIA
                    : !strcasecmp(lv, neg) || !strcasecmp(lv, "NORMAL") ? LBL_NORMAL
                                                                        : LBL_DROP;
        }
        if (label == LBL_BAD) {
            BAD_ROW("%s:%zu: %s '%s' is not a label of the %s layout", csv_path, c.line, lcol,
                    lv, o->preset == PN_CSV_RSNA ? "RSNA (0 or 1)" : "CheXpert (1, 0, -1, blank)");
            continue;
        }
        int split = o->split == PN_SPLIT_VAL || o->split == PN_SPLIT_TEST ? (int)o->split : 0;
        if (o->preset == PN_CSV_NIH && (trainval.n || test.n)) {
            split = pn__set_has(&test, c.f[ci]) ? PN_SPLIT_TEST
                    : pn__set_has(&trainval, c.f[ci]) ? PN_SPLIT_TRAIN
                                                  : -1;
            if (split < 0) label = LBL_DROP; /* in neither official list */
        }
        if (cs >= 0) { /* the row's own split */
            split = split_value(c.f[cs]);
            if (split < 0) {
                BAD_ROW("%s:%zu: %s '%s' is not a split (train, val or test)", csv_path, c.line,
                        o->split_col, c.f[cs]);
                continue;
            }
        }
        if (label == LBL_DROP) {
            ds->csv_dropped++;
            continue;
        }
        if (nrows == rcap) {
            rcap = rcap ? rcap * 2 : 1024;
            row *nv = realloc(rows, rcap * sizeof *nv);
            if (!nv) {
                st = pn_error_set(err, PN_E_NOMEM, "out of memory");
                goto done;
            }
            rows = nv;
        }
        char pat[256] = "";
        if (cp >= 0) snprintf(pat, sizeof pat, "%s", c.f[cp]);
        else if (o->preset == PN_CSV_CHEXPERT) chexpert_patient(c.f[ci], pat, sizeof pat);
        rows[nrows] = (row){strdup(c.f[ci]), pat[0] ? strdup(pat) : NULL, label, split, c.line};
        if (!rows[nrows].key) {
            st = pn_error_set(err, PN_E_NOMEM, "out of memory");
            goto done;
        }
        nrows++;
    }
    if (r < 0) {
        st = pn_error_set(err, PN_E_NOMEM, "out of memory");
        goto done;
    }
    if (nrows > 1) qsort(rows, nrows, sizeof *rows, cmp_row);
    if ((st = pn__index_dir(&ix, images, 0, err))) goto done;
    if (ix.n > 1) qsort(ix.v, ix.n, sizeof *ix.v, pn__cmp_ent);
    for (size_t i = 0; i < nrows; i++) {
        row *rw = &rows[i];
        size_t j = i;
        if (o->preset == PN_CSV_RSNA) { /* one row per box: the patient is PNEUMONIA if any is */
            while (j + 1 < nrows && !strcmp(rows[j + 1].key, rw->key)) {
                j++;
                if (rows[j].label > rw->label) rw->label = rows[j].label;
            }
        } else {
            while (j + 1 < nrows && !strcmp(rows[j + 1].key, rw->key)) {
                j++;
                BAD_ROW("%s:%zu: duplicate row for '%s' (first at line %zu)", csv_path,
                        rows[j].line, rw->key, rw->line);
            }
        }
        char want[4096], found[8200];
        snprintf(want, sizeof want, "%s%s", rw->key, ext);
        const char *path = NULL;
        int dup = 0;
        if (strchr(want, '/')) { /* a relative path: under images, or under its parent part */
            const char *rel = want;
            for (int k = 0; k < 3 && rel && !path; k++) {
                snprintf(found, sizeof found, "%s/%s", images, rel);
                if (!stat(found, &sb) && S_ISREG(sb.st_mode)) path = found;
                rel = strchr(rel, '/');
                if (rel) rel++;
            }
        } else {
            path = pn__index_find(&ix, want, &dup);
        }
        if (dup) {
            st = pn_error_set(err, PN_E_FORMAT, "%s:%zu: more than one file named '%s' under %s",
                              csv_path, rw->line, want, images);
            goto done;
        }
        if (!path) {
            BAD_ROW("%s:%zu: image '%s' not found under %s", csv_path, rw->line, want, images);
            i = j;
            continue;
        }
        uint64_t size = !stat(path, &sb) ? (uint64_t)sb.st_size : 0;
        if ((st = pn__ds_add(ds, (pn_split)rw->split, rw->label, path, path, -1, size, err)))
            goto done;
        item_rec *ir = &ds->split[rw->split].v[ds->split[rw->split].n - 1];
        ir->csv_patient = rw->patient;
        rw->patient = NULL;
        i = j;
    }
    /* the DICOM header ids, then the CSV's patient where it names one */
    if ((st = pn__ds_dicom_ids(ds, err))) goto done;
    for (int s = 0; s < PN_NUM_SPLITS; s++)
        for (size_t i = 0; i < ds->split[s].n; i++) {
            item_rec *ir = &ds->split[s].v[i];
            if (!ir->csv_patient) continue;
            free((char *)ir->it.patient_id);
            ir->it.patient_id = ir->csv_patient;
            ir->csv_patient = NULL;
        }
    if (o->test_fraction > 0 && (st = carve_test(ds, o->test_fraction, err))) goto done;
    ds->flat = cs < 0 && !o->split_given && !(o->preset == PN_CSV_NIH && (trainval.n || test.n)) &&
               !(o->test_fraction > 0);
    pn__ds_finish(ds);
done:
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].key);
        free(rows[i].patient);
    }
    free(rows);
    for (size_t i = 0; hdr.f && i < hdr.nf; i++) free(hdr.f[i]);
    free(hdr.f);
    free(c.buf);
    free(c.f);
    free(text);
    pn__index_free(&ix);
    pn__set_free(&trainval);
    pn__set_free(&test);
    if (st) {
        pn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return PN_OK;
}

size_t pn_dataset_csv_dropped(const pn_dataset *ds) { return ds ? ds->csv_dropped : 0; }
size_t pn_dataset_csv_skipped(const pn_dataset *ds) { return ds ? ds->csv_nnotes : 0; }
const char *pn_dataset_csv_skipped_reason(const pn_dataset *ds, size_t i)
{
    return ds && i < ds->csv_nnotes ? ds->csv_notes[i] : NULL;
}
