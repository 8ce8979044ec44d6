/* Zip datasets (the Kaggle download), read in place with libzip.
 * The root is the shallowest folder P such that the zip holds
 * P<split>/<class>/<image> (split = train|val|test); when there is none,
 * the shallowest P with P<class>/<image> and the items are one train
 * split. Entries under __MACOSX/ or with a hidden path part are skipped.
 * Ties between equally deep roots: the first in byte order (so the Kaggle
 * zip's chest_xray/ wins over chest_xray/chest_xray/, which is deeper). */
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"

#define MAXPARTS 64

/* Splits "a/b/c" into parts (in place in buf). Returns the count or -1. */
static int split_path(char *buf, char **parts)
{
    int n = 0;
    char *p = buf;
    while (*p) {
        if (n == MAXPARTS) return -1;
        parts[n++] = p;
        char *s = strchr(p, '/');
        if (!s) break;
        *s = 0;
        p = s + 1;
    }
    return n;
}

static int skip_entry(char **parts, int n)
{
    for (int i = 0; i < n; i++)
        if (parts[i][0] == '.' || !strcmp(parts[i], "__MACOSX")) return 1;
    return 0;
}

/* Candidate root: prefix length (parts) and text. mode 2 = with splits. */
typedef struct cand {
    int depth;
    char *prefix; /* "a/b/" or "" */
} cand;

static void join_prefix(char **parts, int k, char *out, size_t outsz)
{
    out[0] = 0;
    size_t len = 0;
    for (int i = 0; i < k; i++) {
        int w = snprintf(out + len, outsz - len, "%s/", parts[i]);
        if (w < 0 || (size_t)w >= outsz - len) break;
        len += (size_t)w;
    }
}

static void consider(cand *c, char **parts, int k)
{
    char pre[4096];
    join_prefix(parts, k, pre, sizeof pre);
    if (c->prefix && (k > c->depth || (k == c->depth && strcmp(pre, c->prefix) >= 0))) return;
    free(c->prefix);
    c->prefix = strdup(pre);
    c->depth = k;
}

pn_status pn__zip_open(pn_dataset *ds, const char *what, pn_error *err)
{
    int zerr = 0;
    ds->zip = zip_open(ds->path, ZIP_RDONLY, &zerr);
    if (ds->zip) return PN_OK;
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    pn_status st = pn_error_set(err, PN_E_FORMAT, "%s: cannot open %s: %s", ds->path, what,
                                zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return st;
}

pn_status pn__ds_open_zip(pn_dataset *ds, pn_error *err)
{
    pn_status zst = pn__zip_open(ds, "zip", err);
    if (zst) return zst;
    zip_int64_t ne = zip_get_num_entries(ds->zip, 0);
    cand with_split = {0}, flat = {0};
    pn_status st = PN_OK;
    char buf[4096];
    char *parts[MAXPARTS];
    for (int pass = 0; pass < 2; pass++) {
        for (zip_int64_t i = 0; i < ne; i++) {
            const char *name = zip_get_name(ds->zip, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
            if (!name || strlen(name) >= sizeof buf) continue;
            strcpy(buf, name);
            int n = split_path(buf, parts);
            if (n < 2 || skip_entry(parts, n) || !pn_is_image_name(parts[n - 1])) continue;
            if (pass == 0) {
                if (n >= 3 && pn__split_from_name(parts[n - 3]) >= 0)
                    consider(&with_split, parts, n - 3);
                consider(&flat, parts, n - 2);
                continue;
            }
            /* pass 1: collect classes then items under the chosen root */
            const cand *c = with_split.prefix ? &with_split : &flat;
            int need = c->depth + (with_split.prefix ? 3 : 2);
            if (n != need) continue;
            char pre[4096];
            join_prefix(parts, c->depth, pre, sizeof pre);
            if (strcmp(pre, c->prefix)) continue;
            const char *cls = parts[n - 2];
            st = pn__ds_class_add(ds, cls, err);
            if (st) goto fail;
        }
        if (pass == 0 && !flat.prefix) {
            st = pn_error_set(err, PN_E_FORMAT,
                         "%s: no <split>/<class>/<image> or <class>/<image> layout in the zip",
                         ds->path);
            goto fail;
        }
    }
    pn__ds_class_sort(ds);
    ds->flat = !with_split.prefix;
    const cand *c = with_split.prefix ? &with_split : &flat;
    int need = c->depth + (with_split.prefix ? 3 : 2);
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *name = zip_get_name(ds->zip, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
        if (!name || strlen(name) >= sizeof buf) continue;
        strcpy(buf, name);
        int n = split_path(buf, parts);
        if (n != need || skip_entry(parts, n) || !pn_is_image_name(parts[n - 1])) continue;
        char pre[4096];
        join_prefix(parts, c->depth, pre, sizeof pre);
        if (strcmp(pre, c->prefix)) continue;
        int split = with_split.prefix ? pn__split_from_name(parts[n - 3]) : PN_SPLIT_TRAIN;
        if (split < 0) continue;
        zip_stat_t zs;
        uint64_t size = zip_stat_index(ds->zip, (zip_uint64_t)i, 0, &zs) == 0 &&
                                (zs.valid & ZIP_STAT_SIZE)
                            ? zs.size
                            : 0;
        char disp[8192];
        snprintf(disp, sizeof disp, "%s:%s", ds->path, name);
        st = pn__ds_add(ds, (pn_split)split, pn__ds_class_find(ds, parts[n - 2]), disp,
                                  name, i, size, err);
        if (st) goto fail;
    }
    free(with_split.prefix);
    free(flat.prefix);
    return PN_OK;
fail:
    free(with_split.prefix);
    free(flat.prefix);
    return st;
}

pn_status pn__zip_read_entry(pn_dataset *ds, int64_t index, const char *what, uint8_t **buf,
                             size_t *cap, size_t *n, pn_error *err)
{
    pn_status st = PN_OK;
    *n = 0;
    pthread_mutex_lock(&ds->mu);
    zip_stat_t zs;
    if (zip_stat_index(ds->zip, (zip_uint64_t)index, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE)) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: cannot stat zip entry: %s", what,
                          zip_strerror(ds->zip));
        goto out;
    }
    if (zs.size > PN_MAX_FILE_BYTES) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: entry of %llu bytes is too large", what,
                          (unsigned long long)zs.size);
        goto out;
    }
    if (*cap < zs.size + 1) {
        free(*buf);
        *buf = malloc(zs.size + 1);
        *cap = *buf ? zs.size + 1 : 0;
        if (!*buf) {
            st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", what);
            goto out;
        }
    }
    zip_file_t *zf = zip_fopen_index(ds->zip, (zip_uint64_t)index, 0);
    if (!zf) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: cannot open zip entry: %s", what,
                          zip_strerror(ds->zip));
        goto out;
    }
    zip_int64_t got = zip_fread(zf, *buf, zs.size);
    if (got < 0 || (zip_uint64_t)got != zs.size)
        st = pn_error_set(err, PN_E_FORMAT, "%s: zip entry read failed (%lld of %llu bytes): %s",
                          what, (long long)got, (unsigned long long)zs.size,
                          zip_file_strerror(zf));
    else
        *n = (size_t)got;
    if (zip_fclose(zf) != 0 && !st)
        st = pn_error_set(err, PN_E_FORMAT, "%s: zip entry is corrupt (CRC)", what);
out:
    pthread_mutex_unlock(&ds->mu);
    return st;
}
