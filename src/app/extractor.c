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

pn_status pn_infer_extractor_init(pn_infer_extractor *e, const pn_dataset *ds,
                                  const pn_statedict *sd, const uint8_t weights_hash[32],
                                  pn_stage stage, int batch, int threads, int bf16, int fast_decode,
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
    ic.bf16 = bf16;
    size_t dim = (size_t)3 * e->size * e->size;
    const char *stage_name = "input";
    if (stage > PN_STAGE_INPUT) {
        ic.stop = stage;
        pn_status st = pn_infer_create(&e->engine, sd, &ic, err);
        if (st) return st;
        if (err) err->msg[0] = 0; /* a bf16 notice is not an error */
        int64_t chw[3];
        dim = pn_infer_stage_shape(e->engine, stage, chw);
        stage_name = pn_stage_name(stage);
    }
    /* chunk buffers: x (chunk,3,size,size), rows (chunk); feat (batch,dim) */
    const int chunk = batch > PN_EXTRACT_CHUNK ? batch : PN_EXTRACT_CHUNK;
    e->x = malloc((size_t)chunk * 3 * e->size * e->size * sizeof *e->x);
    e->feat = malloc((size_t)batch * dim * sizeof *e->feat);
    e->rows = malloc((size_t)chunk * sizeof *e->rows);
    if (!e->x || !e->feat || !e->rows) {
        pn_infer_extractor_free(e);
        return pn_error_set(err, PN_E_NOMEM, "features: out of memory for batch %d", batch);
    }
    snprintf(e->settings, sizeof e->settings,
             "resize=%dx%d pillow-bilinear squash; imagenet mean/std; fast_decode=%d; bf16=%d",
             e->size, e->size, fast_decode, e->engine ? pn_infer_is_bf16(e->engine) : 0);
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
