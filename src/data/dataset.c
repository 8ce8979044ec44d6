/* Datasets: the common item store, folder datasets (ImageFolder
 * semantics), reading items and the split helpers. Zip and npz datasets
 * live in dataset_zip.c and dataset_npz.c. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "pneumo/util.h"

static const char *split_names[] = {"train", "val", "test", "all"};

const char *pn_split_name(pn_split s)
{
    return (unsigned)s <= PN_SPLIT_ALL ? split_names[s] : "?";
}

pn_status pn_split_parse(const char *s, pn_split *out, pn_error *err)
{
    for (int i = 0; i <= PN_SPLIT_ALL; i++)
        if (s && !strcmp(s, split_names[i])) {
            *out = (pn_split)i;
            return PN_OK;
        }
    return pn_error_set(err, PN_E_ARG, "unknown split '%s' (want train, val, test or all)",
                        s ? s : "");
}

int pn__split_from_name(const char *name)
{
    for (int i = 0; i < PN_NUM_SPLITS; i++)
        if (!strcmp(name, split_names[i])) return i;
    return -1;
}

pn_status pn__ds_add(pn_dataset *ds, pn_split s, int label, const char *name, const char *path,
                     int64_t ref, uint64_t size, pn_error *err)
{
    item_vec *v = &ds->split[s];
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        item_rec *nv = realloc(v->v, nc * sizeof *nv);
        if (!nv) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
        v->v = nv;
        v->cap = nc;
    }
    item_rec *r = &v->v[v->n];
    memset(r, 0, sizeof *r);
    r->it.name = strdup(name);
    r->path = path ? strdup(path) : NULL;
    if (!r->it.name || (path && !r->path)) {
        free((char *)r->it.name);
        free(r->path);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
    }
    r->it.split = s;
    r->it.label = label;
    r->it.size = size;
    r->ref = ref;
    v->n++;
    return PN_OK;
}

pn_status pn__ds_class_add(pn_dataset *ds, const char *name, pn_error *err)
{
    if (pn__ds_class_find(ds, name) >= 0) return PN_OK;
    char **nc = realloc(ds->cls, sizeof(char *) * (size_t)(ds->ncls + 1));
    if (!nc) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
    ds->cls = nc;
    if (!(ds->cls[ds->ncls] = strdup(name)))
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", ds->path);
    ds->ncls++;
    return PN_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void pn__ds_class_sort(pn_dataset *ds)
{
    if (ds->ncls > 1) qsort(ds->cls, (size_t)ds->ncls, sizeof(char *), cmp_str);
}

int pn__ds_class_find(const pn_dataset *ds, const char *name)
{
    for (int i = 0; i < ds->ncls; i++)
        if (!strcmp(ds->cls[i], name)) return i;
    return -1;
}

static int cmp_item(const void *a, const void *b)
{
    const item_rec *x = a, *y = b;
    if (x->it.label != y->it.label) return x->it.label < y->it.label ? -1 : 1;
    return strcmp(x->path ? x->path : x->it.name, y->path ? y->path : y->it.name);
}

void pn__ds_finish(pn_dataset *ds)
{
    for (int s = 0; s < PN_NUM_SPLITS; s++) {
        item_vec *v = &ds->split[s];
        if (ds->kind != DS_NPZ && v->n > 1) qsort(v->v, v->n, sizeof *v->v, cmp_item);
        for (size_t i = 0; i < v->n; i++) v->v[i].it.index = i;
    }
}

/* ---- folders ------------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Sorted visible entry names of a folder (files or dirs as asked). */
static pn_status list_dir(const char *dir, int want_dirs, char ***names, size_t *n, pn_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return pn_error_set(err, PN_E_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    char path[4096];
    pn_status st = PN_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ., .., .DS_Store, ._x, hidden */
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        int isd = is_dir(path);
        if (isd != want_dirs) continue;
        if (!want_dirs && pn_image_file_classify(path, NULL) == PN_FILE_NOT_IMAGE) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(*names, cap * sizeof(char *));
            if (!nn) {
                st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", dir);
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (!st && *n > 1) qsort(*names, *n, sizeof(char *), cmp_str);
    return st;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Adds the class folders of dir (one split) to the class list. */
static pn_status scan_classes(pn_dataset *ds, const char *dir, pn_error *err)
{
    char **names;
    size_t n;
    pn_status st = list_dir(dir, 1, &names, &n, err);
    for (size_t i = 0; !st && i < n; i++) st = pn__ds_class_add(ds, names[i], err);
    free_names(names, n);
    return st;
}

static pn_status scan_items(pn_dataset *ds, const char *dir, pn_split s, pn_error *err)
{
    char **cls;
    size_t nc;
    pn_status st = list_dir(dir, 1, &cls, &nc, err);
    char cdir[4096], fpath[4096];
    for (size_t c = 0; !st && c < nc; c++) {
        int label = pn__ds_class_find(ds, cls[c]);
        if (snprintf(cdir, sizeof cdir, "%s/%s", dir, cls[c]) >= (int)sizeof cdir) {
            st = pn_error_set(err, PN_E_ARG, "%s/%s: path too long", dir, cls[c]);
            break;
        }
        char **files;
        size_t nf;
        st = list_dir(cdir, 0, &files, &nf, err);
        for (size_t i = 0; !st && i < nf; i++) {
            if (snprintf(fpath, sizeof fpath, "%s/%s", cdir, files[i]) >= (int)sizeof fpath) {
                st = pn_error_set(err, PN_E_ARG, "%s/%s: path too long", cdir, files[i]);
                break;
            }
            struct stat sb;
            uint64_t size = stat(fpath, &sb) == 0 ? (uint64_t)sb.st_size : 0;
            st = pn__ds_add(ds, s, label, fpath, fpath, -1, size, err);
        }
        free_names(files, nf);
    }
    free_names(cls, nc);
    return st;
}

static pn_status open_folder(pn_dataset *ds, pn_error *err)
{
    char sdir[4096];
    int have_split[PN_NUM_SPLITS] = {0}, any = 0;
    for (int s = 0; s < PN_NUM_SPLITS; s++) {
        snprintf(sdir, sizeof sdir, "%s/%s", ds->path, split_names[s]);
        have_split[s] = is_dir(sdir);
        any |= have_split[s];
    }
    pn_status st = PN_OK;
    if (any) {
        for (int s = 0; !st && s < PN_NUM_SPLITS; s++) {
            if (!have_split[s]) continue;
            snprintf(sdir, sizeof sdir, "%s/%s", ds->path, split_names[s]);
            st = scan_classes(ds, sdir, err);
        }
        pn__ds_class_sort(ds);
        for (int s = 0; !st && s < PN_NUM_SPLITS; s++) {
            if (!have_split[s]) continue;
            snprintf(sdir, sizeof sdir, "%s/%s", ds->path, split_names[s]);
            st = scan_items(ds, sdir, (pn_split)s, err);
        }
    } else {
        ds->flat = 1;
        st = scan_classes(ds, ds->path, err);
        pn__ds_class_sort(ds);
        if (!st) st = scan_items(ds, ds->path, PN_SPLIT_TRAIN, err);
    }
    if (st) return st;
    if (ds->ncls == 0)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: no class folders found (want <split>/<class>/*.jpeg or "
                            "<class>/*.jpeg)",
                            ds->path);
    return PN_OK;
}

/* ---- open / free --------------------------------------------------------- */

static int ends_with_ci(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

pn_status pn_dataset_open(const char *path, pn_dataset **out, pn_error *err)
{
    if (!out || !path || !*path) return pn_error_set(err, PN_E_ARG, "dataset: no path");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return pn_error_set(err, errno == ENOENT ? PN_E_NOTFOUND : PN_E_IO, "%s: %s", path,
                            strerror(errno));
    pn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    pthread_mutex_init(&ds->mu, NULL);
    ds->path = strdup(path);
    size_t len = ds->path ? strlen(ds->path) : 0;
    while (len > 1 && ds->path[len - 1] == '/') ds->path[--len] = 0;
    pn_status st;
    if (!ds->path) st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    else if (S_ISDIR(sb.st_mode)) {
        ds->kind = DS_FOLDER;
        st = open_folder(ds, err);
    } else if (ends_with_ci(path, ".npz")) {
        ds->kind = DS_NPZ;
        st = pn__ds_open_npz(ds, err);
    } else if (ends_with_ci(path, ".zip")) {
        ds->kind = DS_ZIP;
        st = pn__ds_open_zip(ds, err);
    } else {
        st = pn_error_set(err, PN_E_FORMAT, "%s: not a folder, .zip or .npz dataset", path);
    }
    if (!st) st = pn__ds_dicom_ids(ds, err);
    if (st) {
        pn_dataset_free(ds);
        return st;
    }
    pn__ds_finish(ds);
    *out = ds;
    return PN_OK;
}

void pn_dataset_free(pn_dataset *ds)
{
    if (!ds) return;
    for (int s = 0; s < PN_NUM_SPLITS; s++) {
        for (size_t i = 0; i < ds->split[s].n; i++) {
            free((char *)ds->split[s].v[i].it.name);
            free((char *)ds->split[s].v[i].it.patient_id);
            free((char *)ds->split[s].v[i].it.sop_uid);
            free(ds->split[s].v[i].csv_patient);
            free(ds->split[s].v[i].path);
        }
        free(ds->split[s].v);
        free(ds->npz_px[s]);
    }
    for (size_t i = 0; i < ds->csv_nnotes; i++) free(ds->csv_notes[i]);
    free(ds->csv_notes);
    for (int c = 0; c < ds->ncls; c++) free(ds->cls[c]);
    free(ds->cls);
    if (ds->zip) zip_discard(ds->zip);
    pthread_mutex_destroy(&ds->mu);
    free(ds->path);
    free(ds);
}

/* ---- accessors ----------------------------------------------------------- */

const char *pn_dataset_path(const pn_dataset *ds) { return ds->path; }

const char *pn_dataset_kind(const pn_dataset *ds)
{
    if (ds->csv) return "csv";
    if (ds->files) return "files";
    return ds->kind == DS_FOLDER ? "folder" : ds->kind == DS_ZIP ? "zip" : "npz";
}

int pn_dataset_num_classes(const pn_dataset *ds) { return ds->ncls; }

const char *pn_dataset_class_name(const pn_dataset *ds, int c)
{
    return c >= 0 && c < ds->ncls ? ds->cls[c] : NULL;
}

size_t pn_dataset_count(const pn_dataset *ds, pn_split s)
{
    if (s == PN_SPLIT_ALL) return ds->split[0].n + ds->split[1].n + ds->split[2].n;
    return (unsigned)s < PN_NUM_SPLITS ? ds->split[s].n : 0;
}

size_t pn_dataset_count_class(const pn_dataset *ds, pn_split s, int c)
{
    size_t k = 0;
    for (int sp = 0; sp < PN_NUM_SPLITS; sp++) {
        if (s != PN_SPLIT_ALL && (int)s != sp) continue;
        for (size_t i = 0; i < ds->split[sp].n; i++) k += ds->split[sp].v[i].it.label == c;
    }
    return k;
}

const pn_item *pn_dataset_item(const pn_dataset *ds, pn_split s, size_t i)
{
    if (s == PN_SPLIT_ALL) {
        for (int sp = 0; sp < PN_NUM_SPLITS; sp++) {
            if (i < ds->split[sp].n) return &ds->split[sp].v[i].it;
            i -= ds->split[sp].n;
        }
        return NULL;
    }
    if ((unsigned)s >= PN_NUM_SPLITS || i >= ds->split[s].n) return NULL;
    return &ds->split[s].v[i].it;
}

/* ---- reading ------------------------------------------------------------- */

static pn_status grow(uint8_t **buf, size_t *cap, size_t need, const char *what, pn_error *err)
{
    if (*cap >= need + 1) return PN_OK;
    free(*buf);
    *buf = malloc(need + 1);
    *cap = *buf ? need + 1 : 0;
    return *buf ? PN_OK : pn_error_set(err, PN_E_NOMEM, "%s: out of memory", what);
}

static pn_status read_path(const char *path, uint8_t **buf, size_t *cap, size_t *n,
                           pn_error *err)
{
    int fd;
    uint64_t fsize;
    pn_status st = pn_open_regular(path, &fd, &fsize, err);
    if (st) return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return pn_error_set(err, PN_E_NOMEM, "%s: cannot read: out of memory", path);
    }
    if (fsize > PN_MAX_FILE_BYTES)
        st = pn_error_set(err, PN_E_NOMEM, "%s: file of %llu bytes is too large", path,
                          (unsigned long long)fsize);
    else if (!(st = grow(buf, cap, (size_t)fsize, path, err))) {
        size_t want = (size_t)fsize;
        *n = fread(*buf, 1, want, f);
        if (*n != want || ferror(f))
            st = pn_error_set(err, PN_E_IO, "%s: read error (%zu of %zu bytes)", path, *n, want);
    }
    fclose(f);
    return st;
}

pn_status pn__dataset_read_into(const pn_dataset *ds, const pn_item *it, uint8_t **buf,
                                size_t *cap, size_t *n, pn_error *err)
{
    const item_rec *r = (const item_rec *)it;
    *n = 0;
    if (!ds || !it) return pn_error_set(err, PN_E_ARG, "dataset read: no item");
    switch (ds->kind) {
    case DS_FOLDER: return read_path(r->path, buf, cap, n, err);
    case DS_ZIP:
        return pn__zip_read_entry((pn_dataset *)ds, r->ref, it->name, buf, cap, n, err);
    default: {
        size_t sz = (size_t)ds->npz_h * ds->npz_w * ds->npz_c;
        pn_status st = grow(buf, cap, sz, it->name, err);
        if (st) return st;
        memcpy(*buf, ds->npz_px[it->split] + (size_t)r->ref * sz, sz);
        *n = sz;
        return PN_OK;
    }
    }
}

pn_status pn_dataset_read(const pn_dataset *ds, const pn_item *it, uint8_t **bytes, size_t *n,
                          pn_error *err)
{
    size_t cap = 0;
    *bytes = NULL;
    pn_status st = pn__dataset_read_into(ds, it, bytes, &cap, n, err);
    if (st) {
        free(*bytes);
        *bytes = NULL;
    }
    return st;
}

pn_status pn__dataset_decode(const pn_dataset *ds, const pn_item *it, const uint8_t *bytes,
                             size_t n, const pn_decode_opts *o, pn_image *img, pn_error *err)
{
    if (ds->kind != DS_NPZ) return pn_image_decode(bytes, n, it->name, o, img, err);
    /* npz pixels: no minimum side (MedMNIST is 28x28) */
    img->png16 = img->png16_clipped = 0;
    img->patient_id[0] = img->sop_uid[0] = 0;
    pn_status st = pn__image_alloc(img, ds->npz_w, ds->npz_h, ds->npz_c, it->name, err);
    if (st) return st;
    memcpy(img->px, bytes, (size_t)ds->npz_w * ds->npz_h * ds->npz_c);
    return PN_OK;
}

pn_status pn_dataset_load_image(const pn_dataset *ds, const pn_item *it, const pn_decode_opts *o,
                                pn_image *img, pn_error *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    pn_status st = pn__dataset_read_into(ds, it, &buf, &cap, &n, err);
    if (!st) st = pn__dataset_decode(ds, it, buf, n, o, img, err);
    free(buf);
    return st;
}
