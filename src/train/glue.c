/* Glue: pn_dataset -> pn_source, pn_loader + pn_infer -> pn_extractor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/app.h"
#include "pneumo/util.h"

/* images decoded before the backbone runs over them (x: 77 MB) */
#define PN_EXTRACT_CHUNK 128

/* ---- source ---------------------------------------------------------------- */

static size_t ds_count(void *c, int s)
{
    return pn_dataset_count(((pn_dataset_source *)c)->ds, (pn_split)s);
}
static const char *ds_name(void *c, int s, size_t i)
{
    return pn_dataset_item(((pn_dataset_source *)c)->ds, (pn_split)s, i)->name;
}
static int ds_label(void *c, int s, size_t i)
{
    return pn_dataset_item(((pn_dataset_source *)c)->ds, (pn_split)s, i)->label;
}
static pn_status ds_hash(void *c, int s, size_t i, uint8_t out[32], pn_error *err)
{
    const pn_dataset *ds = ((pn_dataset_source *)c)->ds;
    uint8_t *buf;
    size_t n;
    pn_status st = pn_dataset_read(ds, pn_dataset_item(ds, (pn_split)s, i), &buf, &n, err);
    if (st) return st;
    pn_sha256_buf(buf, n, out);
    free(buf);
    return PN_OK;
}

pn_status pn_dataset_source_init(pn_dataset_source *s, const pn_dataset *ds, pn_error *err)
{
    memset(s, 0, sizeof *s);
    int C = pn_dataset_num_classes(ds);
    if (C > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: %d classes (at most %d)",
                            pn_dataset_path(ds), C, PN_MAX_CLASSES);
    s->ds = ds;
    for (int c = 0; c < C; c++) s->class_names[c] = pn_dataset_class_name(ds, c);
    s->src = (pn_source){s, C, s->class_names, ds_count, ds_name, ds_label, ds_hash};
    return PN_OK;
}

/* ---- extractor ---------------------------------------------------------------- */

/* Decode a chunk of up to ex.max_batch items with the loader's threads
 * first, then run the backbone over it: decoding and oneDNN never compete
 * for the cores (overlapping them oversubscribed 2-core machines and was
 * ~2x slower). */
static pn_status ix_run(void *c, int split, const size_t *idx, int n, float *out, pn_error *err)
{
    pn_infer_extractor *e = c;
    const size_t img = (size_t)3 * 224 * 224;
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
                                  int stage, int batch, int threads, int bf16, int fast_decode,
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
    pn_infer_config ic = pn_infer_config_default();
    ic.max_batch = batch;
    ic.threads = threads;
    ic.bf16 = bf16;
    size_t dim = (size_t)3 * 224 * 224;
    const char *stage_name = "input";
    if (stage > PN_STAGE_INPUT) {
        ic.stop = (pn_stage)stage;
        pn_status st = pn_infer_create(&e->engine, sd, &ic, err);
        if (st) return st;
        if (err) err->msg[0] = 0; /* a bf16 notice is not an error */
        int64_t chw[3];
        dim = pn_infer_stage_shape(e->engine, (pn_stage)stage, chw);
        stage_name = pn_stage_name((pn_stage)stage);
    }
    /* chunk buffers: x (chunk,3,224,224), rows (chunk); feat (batch,512) */
    const int chunk = batch > PN_EXTRACT_CHUNK ? batch : PN_EXTRACT_CHUNK;
    e->x = malloc((size_t)chunk * 3 * 224 * 224 * sizeof *e->x);
    e->feat = malloc((size_t)batch * dim * sizeof *e->feat);
    e->rows = malloc((size_t)chunk * sizeof *e->rows);
    if (!e->x || !e->feat || !e->rows) {
        pn_infer_extractor_free(e);
        return pn_error_set(err, PN_E_NOMEM, "features: out of memory for batch %d", batch);
    }
    snprintf(e->settings, sizeof e->settings,
             "resize=224x224 pillow-bilinear squash; imagenet mean/std; fast_decode=%d; bf16=%d",
             fast_decode, e->engine ? pn_infer_is_bf16(e->engine) : 0);
    e->ex = (pn_extractor){e, (int)dim, chunk, stage_name, e->settings, {0}, ix_run};
    memcpy(e->ex.weights_hash, weights_hash, 32);
    return PN_OK;
}

void pn_infer_extractor_free(pn_infer_extractor *e)
{
    if (e->engine) pn_infer_free(e->engine);
    free(e->x);
    free(e->feat);
    free(e->rows);
    memset(e, 0, sizeof *e);
}

/* ---- trained model file ----------------------------------------------------- */

#include "pneumo/weights.h"

/* the pneumo metadata of a trained model file */
static void fill_meta(pn_model_meta *meta, int classes, const char *const *class_names,
                      double threshold, const char *training_json, const char *base_sha256_hex)
{
    pn_model_meta_default(meta);
    meta->num_classes = classes;
    for (int c = 0; c < classes && c < PN_MAX_CLASSES; c++)
        snprintf(meta->class_names[c], PN_CLASS_NAME_MAX, "%s", class_names[c]);
    meta->threshold = threshold;
    if (training_json) snprintf(meta->training_json, PN_TRAINING_JSON_MAX, "%s", training_json);
    if (base_sha256_hex)
        snprintf(meta->base_sha256, sizeof meta->base_sha256, "%s", base_sha256_hex);
}

pn_status pn_save_trained_model(const char *path, const pn_statedict *backbone, const float *w,
                                const float *b, int classes, int dim, double threshold,
                                const char *const *class_names, const char *training_json,
                                const char *base_sha256_hex, pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status st = PN_OK;
    for (size_t i = 0; i < backbone->n && !st; i++) {
        const pn_tensor *t = &backbone->t[i];
        if (!strncmp(t->name, "fc.", 3)) continue; /* replaced by the trained head */
        st = pn_statedict_add(&sd, t->name, t->dtype, t->ndim, t->shape, t->data, NULL, err);
    }
    int64_t ws[2] = {classes, dim}, bs[1] = {classes};
    if (!st) st = pn_statedict_add(&sd, "fc.weight", PN_F32, 2, ws, w, NULL, err);
    if (!st) st = pn_statedict_add(&sd, "fc.bias", PN_F32, 1, bs, b, NULL, err);
    if (!st) {
        pn_model_meta meta;
        fill_meta(&meta, classes, class_names, threshold, training_json, base_sha256_hex);
        st = pn_modelfile_save(path, &sd, &meta, err);
    }
    pn_statedict_free(&sd);
    return st;
}

#include "pneumo/model.h"

pn_status pn_save_engine_model(const char *path, const struct pn_model *m, double threshold,
                               const char *const *class_names, const char *training_json,
                               const char *base_sha256_hex, pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status st = pn_model_save(m, &sd, err);
    if (!st) {
        pn_model_meta meta;
        fill_meta(&meta, pn_model_get_config(m)->num_classes, class_names, threshold,
                  training_json, base_sha256_hex);
        st = pn_modelfile_save(path, &sd, &meta, err);
    }
    pn_statedict_free(&sd);
    return st;
}
