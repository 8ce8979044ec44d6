/* pneumo serve: an HTTP server for a classifier (libmicrohttpd).
 *
 *   run.c        start/stop: model, batcher, daemon, signals, drain
 *   http.c       the HTTP side: routes, uploads, limits, suspend/resume
 *   batcher.c    the request queue: one worker thread runs the classifier
 *                on batches of queued images (max_batch, max_wait_ms)
 *   respond.c    JSON bodies: prediction, model metadata, errors; the CAM
 *                heatmap as a PNG (src/report/png.c's encoder)
 *   multipart.c  the image part of a multipart/form-data body
 *
 * Internal to pneumo (pn__ prefix); the CLI (src/cli/cmd_serve.c) calls
 * pn__serve_run. docs/serve.md describes the HTTP API.
 */
#ifndef PNEUMO_SERVE_H
#define PNEUMO_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pneumo/eval.h"
#include "pneumo/status.h"

typedef struct pn__serve_opts {
    const char *model;       /* model file */
    const char *bind;        /* address, default "127.0.0.1" */
    int port;                /* 0..65535 (0: any free port, printed) */
    int max_batch;           /* images per classifier run, default 8 */
    int max_wait_ms;         /* how long the first queued image waits for more, default 5 */
    int max_queue;           /* queued images beyond which requests get 503, default 64 */
    size_t max_body;         /* bytes per upload, default 32 MiB (413 above) */
    size_t max_upload_total; /* bytes of all uploads buffered at once, default 8 x max_body (503) */
    int timeout_s;           /* per-request time for the upload, and idle connections, default 30 */
    int http_threads;        /* decode + HTTP threads, default 4 */
    int max_connections;     /* default 1024 (the open-file limit is raised to fit) */
    int threads;             /* classifier threads (0 = all cores) */
    int mode;                /* engine precision, PN_INFER_* flags (0: fp32) */
    int drain_s;             /* SIGTERM: how long in-flight requests may still take, default 30 */
    const char *port_file;   /* if set, the bound port is written there (tests) */
    long max_pixels;         /* decoded image size limit (413 above), default 64 Mi pixels */
} pn__serve_opts;

void pn__serve_opts_default(pn__serve_opts *o);

/* Loads the model, serves until SIGTERM or SIGINT, then stops accepting work
 * (new requests get 503), finishes the requests in flight and returns. */
pn_status pn__serve_run(const pn__serve_opts *o, pn_error *err);

/* ---- batcher ---------------------------------------------------------- */
typedef struct pn__job {
    float *x;                    /* (3,224,224), owned by the submitter */
    int want_cam;
    float probs[16];             /* PN_MAX_CLASSES */
    int label;
    float cam[49];               /* 7x7 map of the predicted class, in [0,1] */
    pn_status st;
    char msg[256];
    int batch_n;                 /* size of the batch it ran in */
    void (*notify)(void *arg);   /* called by the worker when the job is done */
    void *arg;
    struct pn__job *next;
    double t_enq;
} pn__job;

typedef struct pn__batcher {
    pn_classifier *c;
    double threshold;
    int max_batch, max_queue, max_wait_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pn__job *head, *tail;
    int qlen, stop, started;
    pthread_t th;
    float *x, *probs, *l4;
    uint64_t batches, images;
} pn__batcher;

pn_status pn__batcher_start(pn__batcher *b, pn_classifier *c, double threshold, int max_batch,
                            int max_queue, int max_wait_ms, pn_error *err);
/* 0: queued (notify will be called once); -1: the queue is full. */
int pn__batcher_submit(pn__batcher *b, pn__job *j);
/* images queued now; *batches: batches run so far */
int pn__batcher_stats(pn__batcher *b, uint64_t *batches);
/* Runs what is queued, then stops the worker. */
void pn__batcher_stop(pn__batcher *b);

/* ---- multipart -------------------------------------------------------- */
/* The file of a multipart/form-data body: the first part with a filename
 * (else the first part named "file" or "image", else the only part).
 * content_type is the request's header (boundary read from it). On success
 * part and part_n point into body; part_type gets the part's Content-Type
 * ("" if none). Errors (PN_E_FORMAT) say what is wrong. */
pn_status pn__multipart_file(const uint8_t *body, size_t n, const char *content_type,
                             const uint8_t **part, size_t *part_n, char *part_type,
                             size_t part_type_cap, pn_error *err);

/* ---- responses -------------------------------------------------------- */
typedef struct pn__model_info {
    char sha256[65];
    char name[256];     /* file name without folder */
    char date[32];      /* file modification time, UTC ISO 8601 */
    double threshold;
} pn__model_info;

/* JSON bodies, malloc'ed (NULL on OOM). */
char *pn__json_error(int http_status, const char *msg);
char *pn__json_model(const pn_classifier *c, const pn__model_info *mi, const pn__serve_opts *o);
/* The prediction of j; with want_cam the heatmap (RGBA PNG, jet colours,
 * alpha = map value) of img_w x img_h scaled to at most 512 on its long side. */
char *pn__json_predict(const pn_classifier *c, const pn__model_info *mi, const pn__job *j,
                       int img_w, int img_h, const char *image_b64, pn_error *err);
/* The decoded image as an RGB PNG, scaled (Pillow's antialiased resize) so
 * that its longer side is at most max_side, base64 in *b64 (malloc'ed):
 * what a browser shows for a DICOM upload it cannot draw itself. */
pn_status pn__image_png_b64(const pn_image *img, int max_side, char **b64, pn_error *err);

#endif
