/* Internal helpers shared by src/net (not public API). */
#ifndef PN_NET_NET_H
#define PN_NET_NET_H

#include <stddef.h>

#include "pneumo/fetch.h"
#include "pneumo/status.h"

/* pn_download, also returning the last HTTP status (0 if none). */
pn_status pn_net_download(const pn_fetch_opts *o, const char *url, const char *userpwd,
                          const char *dest_path, long *http_code, pn_error *err);
/* Where fetched things go: o->dest_dir, else <cache>/<sub>. */
pn_status pn_net_dest_dir(const pn_fetch_opts *o, const char *sub, char *out, size_t n,
                          pn_error *err);
/* o->url, else the environment variable env, else def. */
const char *pn_net_url(const pn_fetch_opts *o, const char *env, const char *def);

/* The folder holding path ("dir/x" and "dir/x/" -> "dir", "x" -> ".",
 * "/x" -> "/") into out; -1 when it does not fit in n bytes. */
int pn_net_parent_dir(const char *path, char *out, size_t n);
/* fsync the folder holding path (best effort). */
void pn_net_fsync_parent(const char *path);
/* rm -rf path without following links (best effort; 0 on success). */
int pn_net_rmtree(const char *path);
/* 1 when path is a folder. */
int pn_net_is_dir(const char *path);
/* Copy src into dst (size n) or fail with PN_E_ARG naming what. */
pn_status pn_net_copy_path(char *dst, size_t n, const char *src, const char *what, pn_error *err);

/* Append printf text to err->msg (if err); returns st. */
pn_status pn_net_append(pn_status st, pn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
