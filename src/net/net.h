/* Private helpers shared by src/net (not public API). */
#ifndef PN_NET_NET_H
#define PN_NET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/files.h"
#include "pneumo/fetch.h"
#include "pneumo/status.h"

/* pn_download, also returning the last HTTP status (0 if none). */
pn_status pn__net_download(const pn_fetch_opts *o, const char *url, const char *userpwd,
                           const char *dest_path, long *http_code, pn_error *err);
/* Where fetched things go: o->dest_dir, else <cache>/<sub>. */
pn_status pn__net_dest_dir(const pn_fetch_opts *o, const char *sub, char *out, size_t n,
                           pn_error *err);
/* o->url, else the environment variable env, else def. */
const char *pn__net_url(const pn_fetch_opts *o, const char *env, const char *def);
/* Copy src into dst (size n) or fail with PN_E_ARG naming what. */
pn_status pn__net_copy_path(char *dst, size_t n, const char *src, const char *what,
                            pn_error *err);

/* Report one event to o->progress (nothing when it is NULL). */
void pn__net_report(const pn_fetch_opts *o, pn_fetch_event_kind kind, const char *label,
                    int64_t done, int64_t total, const char *msg);
/* A PN_FETCH_NOTE with a printf message. */
void pn__net_note(const pn_fetch_opts *o, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Basic-auth credentials for Kaggle: KAGGLE_USERNAME + KAGGLE_KEY, else
 * $KAGGLE_CONFIG_DIR/kaggle.json or ~/.kaggle/kaggle.json. PN_E_NOTFOUND when
 * none (anonymous); PN_E_FORMAT for a broken kaggle.json. `source` says where
 * they came from. */
pn_status pn__kaggle_credentials(char *user, size_t user_n, char *key, size_t key_n,
                                 char *source, size_t source_n, pn_error *err);

/* Unpack the data set zip into dest (which must not exist): entries are
 * checked first (no ../, absolute paths or links; total size against free
 * space), __MACOSX/ is skipped, the folder holding train/ val/ test/ (also
 * when nested, e.g. chest_xray/ or chest_xray/chest_xray/) is extracted into a
 * temporary folder beside dest and renamed to dest. */
pn_status pn__unpack_dataset(const char *zip_path, const char *dest, pn_error *err);

/* 1 when dir holds {train,val,test}/{NORMAL,PNEUMONIA}/ folders. */
int pn__fetch_layout_ok(const char *dir);

#endif
