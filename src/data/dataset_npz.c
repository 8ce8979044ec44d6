/* MedMNIST .npz datasets: a zip of {train,val,test}_{images,labels}.npy.
 * images (N, H, W) or (N, H, W, 3) uint8; labels (N, 1) or (N,) uint8/int64.
 * Items are named "npz:<split>/<index, 6 digits>"; a missing split is empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "npy.h"

static pn_status read_member(pn_dataset *ds, const char *member, uint8_t **buf, size_t *n,
                             int *found, pn_error *err)
{
    *found = 0;
    zip_int64_t idx = zip_name_locate(ds->zip, member, 0);
    if (idx < 0) return PN_OK;
    *found = 1;
    size_t cap = 0;
    char what[4200];
    snprintf(what, sizeof what, "%s:%s", ds->path, member);
    *buf = NULL;
    pn_status st = pn__zip_read_entry(ds, idx, what, buf, &cap, n, err);
    if (st) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

pn_status pn__ds_open_npz(pn_dataset *ds, pn_error *err)
{
    pn_status zst = pn__zip_open(ds, "npz (zip)", err);
    if (zst) return zst;
    static const char *sn[PN_NUM_SPLITS] = {"train", "val", "test"};
    int maxlabel = -1, any = 0;
    ds->npz_h = ds->npz_w = ds->npz_c = 0;
    for (int s = 0; s < PN_NUM_SPLITS; s++) {
        char mi[64], ml[64], what[4200];
        snprintf(mi, sizeof mi, "%s_images.npy", sn[s]);
        snprintf(ml, sizeof ml, "%s_labels.npy", sn[s]);
        uint8_t *bi = NULL, *bl = NULL;
        size_t ni = 0, nl = 0;
        int fi, fl;
        pn_status st = read_member(ds, mi, &bi, &ni, &fi, err);
        if (!st) st = read_member(ds, ml, &bl, &nl, &fl, err);
        if (!st && fi != fl)
            st = pn_error_set(err, PN_E_FORMAT, "%s: has %s but not %s", ds->path,
                              fi ? mi : ml, fi ? ml : mi);
        if (st || !fi) {
            free(bi);
            free(bl);
            if (st) return st;
            continue;
        }
        pn_npy im, lb;
        snprintf(what, sizeof what, "%s:%s", ds->path, mi);
        st = pn__npy_parse(bi, ni, what, &im, err);
        if (!st && (im.elem != 1 || (im.ndim != 3 && !(im.ndim == 4 && im.shape[3] == 3)) ||
                    im.shape[1] < 1 || im.shape[2] < 1 || im.shape[1] > 4096 ||
                    im.shape[2] > 4096))
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: want uint8 images of shape (N, H, W) or (N, H, W, 3)", what);
        int h = st ? 0 : (int)im.shape[1], w = st ? 0 : (int)im.shape[2];
        int c = st ? 0 : (im.ndim == 4 ? 3 : 1);
        if (!st && any && (h != ds->npz_h || w != ds->npz_w || c != ds->npz_c))
            st = pn_error_set(err, PN_E_FORMAT, "%s: image size %dx%dx%d differs from %dx%dx%d",
                              what, h, w, c, ds->npz_h, ds->npz_w, ds->npz_c);
        if (!st) {
            snprintf(what, sizeof what, "%s:%s", ds->path, ml);
            st = pn__npy_parse(bl, nl, what, &lb, err);
        }
        if (!st && !((lb.ndim == 1) || (lb.ndim == 2 && lb.shape[1] == 1)))
            st = pn_error_set(err, PN_E_FORMAT, "%s: want labels of shape (N, 1) or (N,)", what);
        if (!st && lb.shape[0] != im.shape[0])
            st = pn_error_set(err, PN_E_FORMAT, "%s: %zu labels for %zu images", what,
                              lb.shape[0], im.shape[0]);
        size_t N = st ? 0 : im.shape[0];
        for (size_t i = 0; !st && i < N; i++) {
            int64_t v;
            if (lb.elem == 1) v = lb.data[i];
            else memcpy(&v, lb.data + 8 * i, 8);
            if (v < 0 || v > 7)
                st = pn_error_set(err, PN_E_FORMAT, "%s: label %lld at %zu is out of range 0..7",
                                  what, (long long)v, i);
            else if (v > maxlabel) maxlabel = (int)v;
        }
        size_t isz = (size_t)h * w * c;
        if (!st) {
            ds->npz_px[s] = malloc(N * isz + 1);
            if (!ds->npz_px[s]) st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", what);
            else memcpy(ds->npz_px[s], im.data, N * isz);
        }
        for (size_t i = 0; !st && i < N; i++) {
            int64_t v;
            if (lb.elem == 1) v = lb.data[i];
            else memcpy(&v, lb.data + 8 * i, 8);
            char name[64];
            snprintf(name, sizeof name, "npz:%s/%06zu", sn[s], i);
            st = pn__ds_add(ds, (pn_split)s, (int)v, name, NULL, (int64_t)i, isz, err);
        }
        free(bi);
        free(bl);
        if (st) return st;
        ds->npz_h = h, ds->npz_w = w, ds->npz_c = c;
        any = 1;
    }
    if (!any)
        return pn_error_set(err, PN_E_FORMAT, "%s: no {train,val,test}_images.npy in the npz",
                            ds->path);
    int ncls = maxlabel < 1 ? 2 : maxlabel + 1;
    for (int c = 0; c < ncls; c++) {
        char nm[16];
        if (ncls == 2) snprintf(nm, sizeof nm, "%s", c ? "PNEUMONIA" : "NORMAL");
        else snprintf(nm, sizeof nm, "%d", c);
        pn_status st = pn__ds_class_add(ds, nm, err);
        if (st) return st;
    }
    return PN_OK;
}
