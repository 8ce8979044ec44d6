/* pneumo: fetching the data set and the pretrained weights.
 *
 * The Kaggle data set paultimothymooney/chest-xray-pneumonia and
 * torchvision's resnet18-f37072fd.pth are downloaded with libcurl (resume
 * with HTTP Range from a ".part" file, retries with exponential backoff,
 * stall timeout, proxies from the environment as libcurl does), verified
 * (size, SHA-256) and only then renamed into place. The zip is unpacked with
 * libzip into a temporary folder beside the destination and renamed when
 * complete; entries that escape (../, absolute paths, links) are refused.
 * The library prints nothing: progress and notes go to o->progress.
 *
 *     pn_fetch_opts o;
 *     pn_fetch_opts_init(&o);
 *     char path[4096];
 *     if (pn_fetch_find_weights_opts(&o, path, sizeof path, &err) == PN_E_NOTFOUND)
 *         st = pn_fetch_weights(&o, path, sizeof path, &err);
 */
#ifndef PNEUMO_FETCH_H
#define PNEUMO_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PN_KAGGLE_DATASET "paultimothymooney/chest-xray-pneumonia"
#define PN_KAGGLE_URL                                                                     \
    "https://www.kaggle.com/api/v1/datasets/download/paultimothymooney/chest-xray-pneumonia"
#define PN_WEIGHTS_FILE "resnet18-f37072fd.pth"
#define PN_WEIGHTS_URL "https://download.pytorch.org/models/resnet18-f37072fd.pth"
#define PN_WEIGHTS_SHA256_PREFIX "f37072fd"
#define PN_DATASET_DIR "chest-xray-pneumonia"

/* What a download reports through pn_fetch_opts.progress (the library never
 * draws or prints: pneumo's CLI draws these in src/cli/progress.c). */
typedef enum pn_fetch_event_kind {
    PN_FETCH_NOTE = 0, /* msg: one whole line of information ("downloading URL
                        * (...)", "w.pth: the server ignored the Range request; ...") */
    PN_FETCH_START,    /* an attempt begins; done: bytes already in the .part
                        * (> 0 when resuming), total -1 */
    PN_FETCH_BYTES,    /* done: bytes in the file so far; total: expected size or -1 */
    PN_FETCH_END,      /* the attempt is over (done, total); msg: NULL when it
                        * completed, else why it failed and when it is retried */
} pn_fetch_event_kind;

typedef struct pn_fetch_event {
    pn_fetch_event_kind kind;
    const char *label; /* what is downloaded: the destination's file name */
    int64_t done, total;
    const char *msg;
} pn_fetch_event;

/* Called on the downloading thread; ev and its strings are valid during the
 * call only. BYTES comes as often as libcurl reports (many times a second). */
typedef void (*pn_fetch_progress_fn)(const pn_fetch_event *ev, void *user);

typedef struct pn_fetch_opts {
    /* Full URL of the file. NULL: env PNEUMO_KAGGLE_URL / PNEUMO_WEIGHTS_URL,
     * then PN_KAGGLE_URL / PN_WEIGHTS_URL. */
    const char *url;
    /* Destination folder. NULL: <cache>/datasets or <cache>/weights, where
     * <cache> is pn_cache_dir(). The data set goes to <dir>/chest-xray-pneumonia,
     * the weights to <dir>/resnet18-f37072fd.pth. */
    const char *dest_dir;
    /* Data set only: install from this zip instead of downloading. */
    const char *from_zip;
    /* Hex prefix the SHA-256 of the download must start with. NULL: the
     * default (PN_WEIGHTS_SHA256_PREFIX for weights, none for the data set);
     * "" disables the check. */
    const char *expected_sha256_prefix;
    /* Exact size in bytes the download must have; -1: whatever the server
     * announces (Content-Length / Content-Range), which is always checked. */
    int64_t expected_size;
    pn_fetch_progress_fn progress; /* NULL: no reports */
    void *progress_user;           /* passed to progress */
    double connect_timeout_s; /* 0: 30 s */
    double stall_timeout_s;   /* abort when slower than stall_bytes_per_s this long; 0: 60 s */
    long stall_bytes_per_s;   /* 0: 1 byte/s (i.e. nothing arrives) */
    int retries;              /* extra attempts after transient errors; -1: 5 */
    double backoff_s;         /* first wait before a retry, doubled each time (max 60 s); 0: 1 s */
    int no_reuse;             /* don't reuse the kagglehub / torch caches */
    int force;                /* replace what is already installed */
    int keep_archive;         /* data set: keep the downloaded zip after unpacking */
} pn_fetch_opts;

void pn_fetch_opts_init(pn_fetch_opts *o);

/* ---- find what is already there (no network) ---------------------------
 * Data set: <cache>/datasets/chest-xray-pneumonia, then kagglehub's cache
 * ($KAGGLEHUB_CACHE or ~/.cache/kagglehub)/datasets/paultimothymooney/
 * chest-xray-pneumonia/versions/<highest N>/ (the folder inside holding
 * train/ val/ test/ with NORMAL/ PNEUMONIA/). Weights: <cache>/weights/, then
 * $TORCH_HOME/hub/checkpoints/ ($TORCH_HOME defaults to
 * $XDG_CACHE_HOME/torch or ~/.cache/torch), SHA-256 prefix checked.
 * PN_E_NOTFOUND (message names the command/option that supplies it) if none. */
/* o (NULL: defaults): o->dest_dir, o->no_reuse and o->expected_sha256_prefix
 * are honoured. */
pn_status pn_fetch_find_dataset_opts(const pn_fetch_opts *o, char *path, size_t n,
                                     pn_error *err);
pn_status pn_fetch_find_weights_opts(const pn_fetch_opts *o, char *path, size_t n,
                                     pn_error *err);

/* ---- download (or install from a zip) and return the final path --------
 * Reuses what pn_fetch_find_* finds unless o->force (or o->from_zip for the
 * data set). */
pn_status pn_fetch_dataset(const pn_fetch_opts *o, char *path, size_t n, pn_error *err);
pn_status pn_fetch_weights(const pn_fetch_opts *o, char *path, size_t n, pn_error *err);

/* ---- building blocks ----------------------------------------------------- */

/* Download url to dest_path: data goes to "<dest_path>.part" (resumed with
 * Range when it exists), is checked (size, o->expected_sha256_prefix with no
 * default) and renamed to dest_path. userpwd: "user:key" for HTTP basic auth
 * or NULL. On a failure that can be resumed the .part stays; on a bad
 * checksum, a write error or a server error nothing is left. */
pn_status pn_download(const pn_fetch_opts *o, const char *url, const char *userpwd,
                      const char *dest_path, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
