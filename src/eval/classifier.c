/* A trained classifier on the inference engine: probabilities, dataset
 * evaluation and CAM heatmaps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist.h"
#include "eval/eval_internal.h"
#include "pneumo/cam.h"
#include "pneumo/eval.h"
#include "ops/ops.h"
#include "pneumo/report.h"

pn_status pn_classifier_open(pn_classifier *c, const char *model_path, int batch, int threads,
                             int mode, int want_cam, pn_error *err)
{
    memset(c, 0, sizeof *c);
    pn_statedict_init(&c->sd);
    pn_status st = pn_modelfile_load(model_path, &c->sd, &c->meta, err);
    if (st) return st;
    const pn_tensor *fw = pn_statedict_findc(&c->sd, "fc.weight");
    if (!fw || fw->ndim != 2 || fw->shape[1] != 512 || fw->shape[0] < 2) {
        pn_classifier_free(c);
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: no classifier head (fc.weight (C, 512) with C >= 2); train one "
                            "with 'pneumo train'",
                            model_path);
    }
    c->classes = (int)fw->shape[0];
    c->fc_w = fw->data;
    const pn_tensor *fb = pn_statedict_findc(&c->sd, "fc.bias");
    if (!fb || fb->ndim != 1 || fb->shape[0] != fw->shape[0] || fw->dtype != PN_F32 ||
        fb->dtype != PN_F32) {
        pn_classifier_free(c);
        return pn_error_set(err, PN_E_FORMAT, "%s: fc.bias (C) and fc.weight must be float32 (C = %d)",
                            model_path, (int)fw->shape[0]);
    }
    c->fc_b = fb->data;
    c->temperature = c->meta.temperature > 0 ? c->meta.temperature : 1; /* calibrated models */
    c->batch = batch;
    c->want_cam = want_cam;
    pn_infer_config ic = pn_infer_config_default();
    ic.max_batch = batch;
    ic.threads = threads;
    pn_infer_config_set_mode(&ic, mode);
    ic.stop = PN_STAGE_LOGITS;
    ic.want_layer4 = want_cam;
    st = pn_infer_create(&c->engine, &c->sd, &ic, err);
    if (st) {
        pn_error_prefix(err, "%s: ", model_path);
        pn_classifier_free(c);
        return st;
    }
    if (err) err->msg[0] = 0;
    c->size = ic.height;
    int64_t chw[3];
    pn_infer_stage_shape(c->engine, PN_STAGE_LAYER4, chw);
    c->cam_h = (int)chw[1];
    c->cam_w = (int)chw[2];
    c->logits = malloc((size_t)batch * c->classes * sizeof *c->logits);
    if (!c->logits) {
        pn_classifier_free(c);
        return pn_error_set(err, PN_E_NOMEM, "classifier: out of memory");
    }
    return PN_OK;
}

void pn_classifier_free(pn_classifier *c)
{
    if (c->engine) pn_infer_free(c->engine);
    pn_statedict_free(&c->sd);
    free(c->logits);
    memset(c, 0, sizeof *c);
}

/* probs = softmax(c->logits / T) for n rows (T = 1: the logits as they are) */
static void scaled_softmax(pn_classifier *c, int n, float *probs)
{
    if (c->temperature != 1 && c->temperature > 0)
        for (size_t i = 0; i < (size_t)n * c->classes; i++)
            c->logits[i] = (float)(c->logits[i] / c->temperature);
    pn_softmax(c->logits, n, c->classes, probs);
}

pn_status pn_classifier_run(pn_classifier *c, const float *x, int n, float *probs, float *layer4,
                            pn_error *err)
{
    pn_status st = pn_infer_run(c->engine, x, n, c->logits, c->want_cam ? layer4 : NULL, err);
    if (st) return st;
    scaled_softmax(c, n, probs);
    return PN_OK;
}

void pn_classifier_head(pn_classifier *c, const float *feat, int n, float *probs)
{
    pn__linear_forward(n, 512, c->classes, feat, c->fc_w, c->fc_b, c->logits);
    scaled_softmax(c, n, probs);
}

int pn_classifier_decide(const pn_classifier *c, const float *probs, double threshold)
{
    if (c->classes == 2) return (double)probs[1] >= threshold;
    int am = 0;
    for (int k = 1; k < c->classes; k++)
        if (probs[k] > probs[am]) am = k;
    return am;
}

/* dst += src (the loader's list dies with the loader) */
static pn_status copy_bad(pn_bad_list *dst, const pn_bad_list *src, pn_error *err)
{
    if (!src->n) return PN_OK;
    pn_bad_item *v = realloc(dst->v, (dst->n + src->n) * sizeof *v);
    if (!v) return pn_error_set(err, PN_E_NOMEM, "eval: out of memory");
    dst->v = v;
    dst->cap = dst->n + src->n;
    for (size_t i = 0; i < src->n; i++) {
        pn_bad_item b = src->v[i];
        b.reason = strdup(src->v[i].reason ? src->v[i].reason : "unreadable");
        if (!b.reason) return pn_error_set(err, PN_E_NOMEM, "eval: out of memory");
        dst->v[dst->n++] = b;
    }
    return PN_OK;
}

pn_status pn_classifier_eval_split(pn_classifier *c, const pn_dataset *ds, pn_split split,
                                   int threads, const pn_decode_opts *o, int skip_bad,
                                   float **probs, int **labels, const char ***names, size_t *n,
                                   pn_bad_list *bad, pn_error *err)
{
    *probs = NULL;
    *labels = NULL;
    *names = NULL;
    *n = 0;
    size_t total = pn_dataset_count(ds, split);
    if (total == 0)
        return pn_error_set(err, PN_E_ARG, "%s: the %s split is empty", pn_dataset_path(ds),
                            pn_split_name(split));
    const int C = c->classes, B = c->batch;
    float *p = malloc(total * C * sizeof *p), *x = malloc((size_t)B * 3 * c->size * c->size * sizeof *x);
    int *y = malloc(total * sizeof *y), *yb = malloc((size_t)B * sizeof *yb);
    const char **nm = malloc(total * sizeof *nm);
    size_t *idx = malloc((size_t)B * sizeof *idx), *rows = malloc(total * sizeof *rows);
    pn_loader *l = NULL;
    pn_status st = PN_OK;
    if (!p || !x || !y || !yb || !nm || !idx || !rows) {
        st = pn_error_set(err, PN_E_NOMEM, "eval: out of memory");
        goto done;
    }
    if (threads < 1) threads = (int)sysconf(_SC_NPROCESSORS_ONLN); /* 0 = all cores */
    if (threads < 1) threads = 1;
    /* under mpirun: this rank's contiguous share, gathered on rank 0 below */
    size_t lo, hi, k = 0;
    pn__dist_share(total, pn__dist_rank(), pn__dist_size(), &lo, &hi);
    for (size_t i = lo; i < hi && pn__dist_size() > 1; i++) rows[i - lo] = i;
    if (hi > lo)
        st = pn_loader_create(&l, ds, split, pn__dist_size() > 1 ? rows : NULL,
                              pn__dist_size() > 1 ? hi - lo : 0, B, threads, o, skip_bad, err);
    if (st) goto done;
    for (; l;) {
        int nb = 0;
        st = pn_loader_next(l, x, yb, idx, &nb, err);
        if (st || nb == 0) break;
        st = pn_classifier_run(c, x, nb, p + k * C, NULL, err);
        if (st) break;
        for (int i = 0; i < nb; i++) {
            y[k + i] = yb[i];
            rows[k + i] = idx[i];
        }
        k += (size_t)nb;
    }
    pn_bad_list mybad = {0};
    if (!st && l) st = copy_bad(&mybad, pn_loader_bad(l), err);
    if (!st) st = pn__eval_gather(ds, C, p, y, rows, &k, &mybad, err);
    for (size_t i = 0; !st && i < k; i++) nm[i] = pn_dataset_item(ds, split, rows[i])->name;
    if (!st && bad) st = copy_bad(bad, &mybad, err);
    pn_bad_list_free(&mybad);
    if (!st) {
        *probs = p;
        *labels = y;
        *names = nm;
        *n = k;
        p = NULL;
        y = NULL;
        nm = NULL;
    }
done:
    if (l) pn_loader_free(l);
    free(p);
    free(x);
    free(y);
    free(yb);
    free(nm);
    free(idx);
    free(rows);
    return st;
}

pn_status pn_classifier_cam_png(const pn_classifier *c, const float *layer4, int h, int w,
                                int cls, const pn_image *img, const char *png_path,
                                pn_error *err)
{
    if (cls < 0 || cls >= c->classes) return pn_error_set(err, PN_E_ARG, "CAM: class %d", cls);
    float *cam = malloc((size_t)h * w * sizeof *cam);
    uint8_t *rgb = malloc((size_t)img->w * img->h * 3);
    pn_status st;
    if (!cam || !rgb) {
        st = pn_error_set(err, PN_E_NOMEM, "CAM: out of memory for %dx%d", img->w, img->h);
    } else {
        pn_cam_compute(layer4, 512, h, w, c->fc_w + (size_t)cls * 512, cam);
        pn_image_to_rgb(img, rgb);
        /* the caption's probability: layer4 pooled, the head, softmax(z / T) */
        double z[PN_CAL_MAX_CLASSES], mx = -INFINITY, sum = 0;
        int C = c->classes < PN_CAL_MAX_CLASSES ? c->classes : PN_CAL_MAX_CLASSES;
        const size_t hw = (size_t)h * w;
        for (int k = 0; k < C; k++) {
            double acc = c->fc_b[k];
            for (int q = 0; q < 512; q++) {
                double f = 0;
                for (size_t p = 0; p < hw; p++) f += layer4[(size_t)q * hw + p];
                acc += (double)c->fc_w[(size_t)k * 512 + q] * (f / (double)hw);
            }
            z[k] = acc / (c->temperature > 0 ? c->temperature : 1);
            mx = z[k] > mx ? z[k] : mx;
        }
        for (int k = 0; k < C; k++) sum += exp(z[k] - mx);
        char caption[256];
        snprintf(caption, sizeof caption, "CAM of %s   \u00b7   P(%s) = %.3f", c->meta.class_names[cls],
                 c->meta.class_names[cls], cls < C ? exp(z[cls] - mx) / sum : NAN);
        st = pn_plot_cam(png_path, rgb, img->w, img->h, cam, h, w, caption, err);
    }
    free(cam);
    free(rgb);
    return st;
}

pn_status pn_classifier_metrics(const pn_classifier *c, const float *probs, const int *labels,
                                size_t n, double threshold, pn_metrics *m, pn_error *err)
{
    if (c->classes != 2)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%d classes: the metrics are binary",
                            c->classes);
    float *p1 = malloc((n ? n : 1) * sizeof *p1);
    if (!p1) return pn_error_set(err, PN_E_NOMEM, "metrics: out of memory");
    for (size_t i = 0; i < n; i++) p1[i] = probs[2 * i + 1]; /* P(PNEUMONIA) */
    pn_status st = pn_metrics_compute(p1, labels, n, threshold, m, err);
    free(p1);
    return st;
}
