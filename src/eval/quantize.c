/* Post-training int8 quantization of a model file: calibration on training
 * images (an fp32 engine's pn_infer_calibrate), then the accuracy cost
 * measured on the held-out images (val + test) against fp32, stored with
 * the calibration in the quantized model's metadata. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/eval.h"
#include "pneumo/util.h"

void pn_quant_opts_default(pn_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->calib_images = 128;
    o->batch = 16;
    o->threads = 0;
}

/* calib_images training items spread evenly over the split (every class
 * present); refuses too few images or a single class. */
static pn_status pick_calibration(const pn_dataset *ds, int want, size_t **order, size_t *count,
                                  pn_error *err)
{
    size_t total = pn_dataset_count(ds, PN_SPLIT_TRAIN);
    if (total < PN_QUANT_MIN_IMAGES)
        return pn_error_set(err, PN_E_ARG,
                            "%s: the train split has %zu images; int8 calibration needs at "
                            "least %d training images", pn_dataset_path(ds), total,
                            PN_QUANT_MIN_IMAGES);
    size_t k = (size_t)want < total ? (size_t)want : total;
    size_t *o = malloc(k * sizeof *o);
    if (!o) return pn_error_set(err, PN_E_NOMEM, "calibration: out of memory");
    int seen[PN_MAX_CLASSES] = {0}, nseen = 0;
    for (size_t i = 0; i < k; i++) {
        o[i] = (size_t)((double)i * (double)total / (double)k);
        int lab = pn_dataset_item(ds, PN_SPLIT_TRAIN, o[i])->label;
        if (lab >= 0 && lab < PN_MAX_CLASSES && !seen[lab]++) nseen++;
    }
    if (nseen < 2) {
        free(o);
        return pn_error_set(err, PN_E_ARG,
                            "%s: the %zu calibration images are all of one class; int8 "
                            "calibration needs images of every class", pn_dataset_path(ds), k);
    }
    *order = o;
    *count = k;
    return PN_OK;
}

/* Run the images of split s (order/count as pn_loader_create) through
 * engine e (calibrating when calib); probs (count, C) softmax when non-NULL. */
static pn_status run_split(pn_infer *e, int calib, const pn_dataset *ds, pn_split s,
                           const size_t *order, size_t count, const pn_quant_opts *qo,
                           float *probs, int *labels, size_t *done, double *secs, pn_error *err)
{
    int B = qo->batch, C = pn_infer_num_classes(e);
    float *x = malloc((size_t)B * 3 * 224 * 224 * sizeof *x);
    float *lg = malloc((size_t)B * (C ? C : 1) * sizeof *lg);
    int *yb = malloc((size_t)B * sizeof *yb);
    pn_loader *l = NULL;
    pn_decode_opts dopt = {0};
    pn_status st = !x || !lg || !yb ? pn_error_set(err, PN_E_NOMEM, "quantize: out of memory")
                                    : pn_loader_create(&l, ds, s, order, count, B,
                                                       qo->threads ? qo->threads : 2, &dopt, 0, err);
    size_t k = 0;
    double t = 0;
    while (st == PN_OK) {
        int nb = 0;
        st = pn_loader_next(l, x, yb, NULL, &nb, err);
        if (st || nb == 0) break;
        double t0 = pn_now();
        st = calib ? pn_infer_calibrate(e, x, nb, lg, err) : pn_infer_run(e, x, nb, lg, NULL, err);
        t += pn_now() - t0;
        if (st == PN_OK && probs) pn_softmax(lg, nb, C, probs + k * C);
        for (int i = 0; st == PN_OK && labels && i < nb; i++) labels[k + i] = yb[i];
        k += (size_t)nb;
    }
    if (l) pn_loader_free(l);
    free(x), free(lg), free(yb);
    if (done) *done = k;
    if (secs) *secs = t;
    return st;
}

static pn_status engine(pn_infer **e, const pn_statedict *sd, int int8, const pn_quant_opts *qo,
                        pn_error *err)
{
    pn_infer_config ic = pn_infer_config_default();
    ic.max_batch = qo->batch;
    ic.threads = qo->threads;
    ic.int8 = int8;
    pn_status st = pn_infer_create(e, sd, &ic, err);
    if (st == PN_OK && int8 && !pn_infer_is_int8(*e)) { /* a CPU without int8 convs */
        st = pn_error_set(err, PN_E_UNSUPPORTED, "quantize: %s", pn_infer_notice(*e));
        pn_infer_free(*e);
        *e = NULL;
    }
    if (st == PN_OK && err) err->msg[0] = 0;
    return st;
}

/* The accuracy cost on the held-out splits (val, then test). */
static pn_status measure(pn_infer *ef, pn_infer *eq, const pn_dataset *ds, const pn_quant_opts *qo,
                         double threshold, pn_quant_report *r, pn_error *err)
{
    int C = pn_infer_num_classes(ef);
    size_t total = pn_dataset_count(ds, PN_SPLIT_VAL) + pn_dataset_count(ds, PN_SPLIT_TEST);
    if (total == 0)
        return pn_error_set(err, PN_E_ARG, "%s: no val or test images to measure the int8 "
                            "accuracy on", pn_dataset_path(ds));
    float *pf = malloc(total * C * sizeof *pf), *pq = malloc(total * C * sizeof *pq);
    int *y = malloc(total * sizeof *y);
    pn_status st = !pf || !pq || !y ? pn_error_set(err, PN_E_NOMEM, "quantize: out of memory")
                                    : PN_OK;
    size_t k = 0;
    static const pn_split sp[2] = {PN_SPLIT_VAL, PN_SPLIT_TEST};
    for (int s = 0; st == PN_OK && s < 2; s++) {
        size_t nf = 0, nq = 0;
        double tf = 0, tq = 0;
        if (!pn_dataset_count(ds, sp[s])) continue;
        st = run_split(ef, 0, ds, sp[s], NULL, 0, qo, pf + k * C, y + k, &nf, &tf, err);
        if (st == PN_OK) st = run_split(eq, 0, ds, sp[s], NULL, 0, qo, pq + k * C, NULL, &nq, &tq, err);
        k += nf;
        r->seconds_fp32 += tf, r->seconds_int8 += tq;
    }
    if (st == PN_OK) {
        r->images = k;
        double sum = 0;
        for (size_t i = 0; i < k; i++) {
            const float *a = pf + i * C, *b = pq + i * C;
            double d = fabs((double)a[C > 1 ? 1 : 0] - (double)b[C > 1 ? 1 : 0]);
            sum += d;
            if (d > r->max_dp) r->max_dp = d;
            int da, db;
            if (C == 2) {
                da = a[1] >= threshold, db = b[1] >= threshold;
            } else {
                da = db = 0;
                for (int c = 1; c < C; c++) da = a[c] > a[da] ? c : da, db = b[c] > b[db] ? c : db;
            }
            r->flipped += da != db;
        }
        r->mean_dp = k ? sum / (double)k : 0;
        r->auc_fp32 = r->auc_int8 = NAN;
        if (C == 2) {
            for (size_t i = 0; i < k; i++) pf[i] = pf[2 * i + 1], pq[i] = pq[2 * i + 1];
            r->auc_fp32 = pn_roc_auc(pf, y, k);
            r->auc_int8 = pn_roc_auc(pq, y, k);
        }
    }
    free(pf), free(pq), free(y);
    return st;
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddItemToObject(o, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

static pn_status write_meta(pn_statedict *sd, const pn_dataset *ds, const pn_quant_report *r,
                            pn_error *err)
{
    cJSON *c = cJSON_CreateObject(), *a = cJSON_CreateObject();
    char *cs = NULL, *as = NULL;
    if (c && a) {
        cJSON_AddStringToObject(c, "data", pn_dataset_path(ds));
        cJSON_AddStringToObject(c, "split", "train");
        add_num(c, "images", (double)r->calib_images);
        cJSON_AddStringToObject(c, "statistic", "max |x| per tensor");
        cJSON_AddStringToObject(c, "weights", "s8 per output channel, max |w| / 127");
        cJSON_AddStringToObject(c, "activations", "u8 after ReLU, s8 otherwise, per tensor");
        cJSON_AddStringToObject(a, "splits", "val+test");
        add_num(a, "images", (double)r->images);
        add_num(a, "max_abs_dp", r->max_dp);
        add_num(a, "mean_abs_dp", r->mean_dp);
        add_num(a, "flipped", (double)r->flipped);
        add_num(a, "auc_fp32", r->auc_fp32);
        add_num(a, "auc_int8", r->auc_int8);
        add_num(a, "delta_auc", r->auc_int8 - r->auc_fp32);
        cs = cJSON_PrintUnformatted(c);
        as = cJSON_PrintUnformatted(a);
    }
    pn_status st = cs && as ? PN_OK : pn_error_set(err, PN_E_NOMEM, "quantize: out of memory");
    if (!st) st = pn_statedict_set_meta(sd, "pneumo.int8.calibration", cs, err);
    if (!st) st = pn_statedict_set_meta(sd, "pneumo.int8.accuracy", as, err);
    cJSON_free(cs), cJSON_free(as);
    cJSON_Delete(c), cJSON_Delete(a);
    return st;
}

pn_status pn_quantize_model(const char *model_path, const pn_dataset *ds, const pn_quant_opts *qo,
                            const char *out_path, pn_quant_report *r, pn_error *err)
{
    memset(r, 0, sizeof *r);
    if (qo->calib_images < PN_QUANT_MIN_IMAGES || qo->batch < 1 || qo->batch > 4096)
        return pn_error_set(err, PN_E_ARG, "quantize: calibration images %d (at least %d), "
                            "batch %d", qo->calib_images, PN_QUANT_MIN_IMAGES, qo->batch);
    pn_statedict sd;
    pn_model_meta meta;
    pn_status st = pn_modelfile_load(model_path, &sd, &meta, err);
    if (st) {
        pn_statedict_free(&sd);
        return st;
    }
    if (pn_dataset_num_classes(ds) != meta.num_classes)
        st = pn_error_set(err, PN_E_ARG, "%s has %d classes but the model %s has %d",
                          pn_dataset_path(ds), pn_dataset_num_classes(ds), model_path,
                          meta.num_classes);
    size_t *order = NULL, k = 0;
    pn_infer *ef = NULL, *eq = NULL;
    if (!st) st = pick_calibration(ds, qo->calib_images, &order, &k, err);
    if (!st) st = engine(&ef, &sd, 0, qo, err);
    if (!st) st = run_split(ef, 1, ds, PN_SPLIT_TRAIN, order, k, qo, NULL, NULL, NULL, NULL, err);
    if (!st) r->calib_images = pn_infer_calibrated_images(ef);
    if (!st) st = pn_infer_calibration_meta(ef, &sd, err);
    if (!st) st = engine(&eq, &sd, 1, qo, err);
    if (!st) st = measure(ef, eq, ds, qo, meta.threshold, r, err);
    if (!st) st = write_meta(&sd, ds, r, err);
    if (!st && out_path) st = pn_modelfile_save(out_path, &sd, &meta, err);
    pn_infer_free(ef);
    pn_infer_free(eq);
    free(order);
    pn_statedict_free(&sd);
    return st;
}
