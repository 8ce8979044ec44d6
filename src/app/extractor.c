/* pn_loader + pn_infer as a pn_extractor: decoded chunks through the
 * frozen backbone up to a stage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/internal.h"
#include "pneumo/app.h"

/* images decoded before the backbone runs over them (x: 77 MB) */
#define PN_EXTRACT_CHUNK 128

/* Decode a chunk of up to ex.max_batch items with the loader's threads
 * first, then run the backbone over it: decoding and oneDNN never compete
 * for the cores (overlapping them oversubscribed 2-core machines and was
 * ~2x slower). */
static pn_status ix_run(void *c, int split, const size_t *idx, int n, float *out, pn_error *err)
{
    pn_infer_extractor *e = c;
    const size_t img = (size_t)3 * e->size * e->size;
    pn_loader *l;
    pn_status st = pn_loader_create(&l, e->ds, (pn_split)split, idx, (size_t)n, e->batch,
                                    e->threads, &e->decode, e->skip_bad, err);
    if (st) return st;
    const size_t D = (size_t)e->ex.dim;
    for (size_t k = 0; k < (size_t)n * D; k++) out[k] = NAN; /* skipped items stay NaN */
    /* 1. decode: rows of the chunk buffer in order of idx (skipped items missing) */
    size_t got = 0;
    for (;;) {
        int nb = 0;
        st = pn_loader_next(l, e->x + got * img, NULL, e->rows + got, &nb, err);
        if (st || nb == 0) break;
        got += (size_t)nb;
    }
    e->skipped += pn_loader_skipped(l);
    const pn_bad_list *bad = pn_loader_bad(l); /* kept with their reasons */
    for (size_t i = 0; i < bad->n && !st; i++)
        st = pn__bad_list_add(&e->bad, bad->v[i].item, bad->v[i].code, bad->v[i].reason);
    pn_loader_free(l);
    if (st) return st;
    /* 2. the backbone over the chunk, in batches */
    size_t row = 0;
    for (size_t i = 0; i < got && !st; i += (size_t)e->batch) {
        int nb = (int)(got - i < (size_t)e->batch ? got - i : (size_t)e->batch);
        const float *f = e->x + i * img; /* the input itself when no engine */
        if (e->engine) {
            st = pn_infer_run(e->engine, e->x + i * img, nb, e->feat, NULL, err);
            f = e->feat;
        }
        for (int k = 0; k < nb && !st; k++) {
            while (row < (size_t)n && idx[row] != e->rows[i + (size_t)k]) row++;
            if (row == (size_t)n) {
                st = pn_error_set(err, PN_E_BACKEND, "loader returned an unexpected item");
                break;
            }
            memcpy(out + row * D, f + (size_t)k * D, D * sizeof(float));
            row++;
        }
    }
    return st;
}

/* --int8 on weights without a calibration: calibrate now on up to
 * PN_EXTRACT_CALIB training images (evenly spread), into view's metadata
 * (view borrows sd's tensors). */
#define PN_EXTRACT_CALIB 64
static pn_status calibrate_now(pn_infer_extractor *e, const pn_statedict *sd, pn_statedict *view,
                               pn_error *err)
{
    size_t total = pn_dataset_count(e->ds, PN_SPLIT_TRAIN);
    size_t k = total < PN_EXTRACT_CALIB ? total : PN_EXTRACT_CALIB, *idx = malloc((k ? k : 1) * sizeof *idx);
    if (!idx) return pn_error_set(err, PN_E_NOMEM, "int8 calibration: out of memory");
    for (size_t i = 0; i < k; i++) idx[i] = (size_t)((double)i * (double)total / (double)k);
    pn_infer_config ic = pn_infer_config_default();
    ic.max_batch = e->batch, ic.threads = e->threads, ic.stop = PN_STAGE_POOL;
    pn_infer *cal = NULL;
    pn_loader *l = NULL;
    pn_status st = k ? pn_infer_create(&cal, sd, &ic, err)
                     : pn_error_set(err, PN_E_ARG, "int8: no training images to calibrate on");
    if (!st) st = pn_loader_create(&l, e->ds, PN_SPLIT_TRAIN, idx, k, e->batch, e->threads,
                                   &e->decode, e->skip_bad, err);
    while (!st) {
        int nb = 0;
        st = pn_loader_next(l, e->x, NULL, NULL, &nb, err);
        if (st || nb == 0) break;
        st = pn_infer_calibrate(cal, e->x, nb, NULL, err);
    }
    *view = *sd; /* tensors borrowed, metadata of its own */
    view->meta = NULL, view->nmeta = view->capmeta = 0;
    if (!st) st = pn_infer_calibration_meta(cal, view, err);
    if (l) pn_loader_free(l);
    pn_infer_free(cal);
    free(idx);
    return st;
}

pn_status pn_infer_extractor_init(pn_infer_extractor *e, const pn_dataset *ds,
                                  const pn_statedict *sd, const uint8_t weights_hash[32],
                                  pn_stage stage, int batch, int threads, int mode, int fast_decode,
                                  int skip_bad, pn_error *err)
{
    memset(e, 0, sizeof *e);
    e->ds = ds;
    e->batch = batch;
    /* decoding runs alone (before the backbone), so it may use every core */
    e->threads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (e->threads < 1) e->threads = 1;
    e->skip_bad = skip_bad;
    e->decode.fast_decode = fast_decode;
    e->size = PN_IMAGE_SIZE; /* what the loader makes, and the engine's input */
    pn_infer_config ic = pn_infer_config_default();
    ic.height = ic.width = e->size;
    ic.max_batch = batch;
    ic.threads = threads;
    pn_infer_config_set_mode(&ic, mode);
    size_t dim = (size_t)3 * e->size * e->size;
    const char *stage_name = "input";
    /* chunk buffers: x (chunk,3,size,size), rows (chunk); feat (batch,dim) */
    const int chunk = batch > PN_EXTRACT_CHUNK ? batch : PN_EXTRACT_CHUNK;
    e->x = malloc((size_t)chunk * 3 * e->size * e->size * sizeof *e->x);
    if (!e->x) return pn_error_set(err, PN_E_NOMEM, "features: out of memory for batch %d", batch);
    if (stage > PN_STAGE_INPUT) {
        ic.stop = stage;
        pn_statedict view = {0};
        pn_status st = PN_OK;
        int calib = ic.int8 && !pn_statedict_get_meta(sd, "pneumo.int8.format");
        if (calib) st = calibrate_now(e, sd, &view, err);
        if (!st) st = pn_infer_create(&e->engine, calib ? &view : sd, &ic, err);
        if (calib) { /* free view's metadata only: the tensors are sd's */
            view.t = NULL, view.n = 0;
            pn_statedict_free(&view);
        }
        if (st) {
            pn_infer_extractor_free(e);
            return st;
        }
        if (err) err->msg[0] = 0; /* a bf16 notice is not an error */
        int64_t chw[3];
        dim = pn_infer_stage_shape(e->engine, stage, chw);
        stage_name = pn_stage_name(stage);
    }
    e->feat = malloc((size_t)batch * dim * sizeof *e->feat);
    e->rows = malloc((size_t)chunk * sizeof *e->rows);
    if (!e->x || !e->feat || !e->rows) {
        pn_infer_extractor_free(e);
        return pn_error_set(err, PN_E_NOMEM, "features: out of memory for batch %d", batch);
    }
    snprintf(e->settings, sizeof e->settings,
             "resize=%dx%d pillow-bilinear squash; imagenet mean/std; fast_decode=%d; bf16=%d",
             e->size, e->size, fast_decode, e->engine ? pn_infer_is_bf16(e->engine) : 0);
    if (e->engine && pn_infer_is_int8(e->engine)) /* another cache key; fp32's stays as it was */
        snprintf(e->settings + strlen(e->settings), sizeof e->settings - strlen(e->settings),
                 "; int8=%s", pn_statedict_get_meta(sd, "pneumo.int8.format") ? "file" : "calibrated 64 train");
    e->ex = (pn_extractor){e, (int)dim, chunk, stage_name, e->settings, {0}, ix_run};
    memcpy(e->ex.weights_hash, weights_hash, 32);
    return PN_OK;
}

void pn_infer_extractor_set_decode(pn_infer_extractor *e, const pn_decode_opts *o)
{
    if (!o) return;
    e->decode.png16 = o->png16;
    e->decode.min_side = o->min_side;
    e->decode.max_pixels = o->max_pixels;
    /* the default policy keeps the settings text (and so the cache key) as before */
    size_t k = strlen(e->settings);
    if (o->png16 == PN_PNG16_CLIP)
        snprintf(e->settings + k, sizeof e->settings - k, "; png16=clip");
}

void pn_infer_extractor_free(pn_infer_extractor *e)
{
    if (e->engine) pn_infer_free(e->engine);
    free(e->x);
    free(e->feat);
    free(e->rows);
    pn_bad_list_free(&e->bad);
    memset(e, 0, sizeof *e);
}
