/* pneumo serve: the JSON bodies (cJSON) — predictions with the optional CAM
 * heatmap, the model's metadata, errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pneumo/cam.h"
#include "pneumo/util.h"
#include "pneumo/version.h"
#include "report/png.h"
#include "serve/serve.h"

char *pn__json_error(int http_status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddNumberToObject(o, "status", http_status);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static cJSON *class_array(const pn_classifier *c)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < c->classes; k++)
        cJSON_AddItemToArray(a, cJSON_CreateString(c->meta.class_names[k]));
    return a;
}

char *pn__json_model(const pn_classifier *c, const pn__model_info *mi, const pn__serve_opts *o)
{
    const pn_model_meta *m = &c->meta;
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "name", mi->name);
    cJSON_AddStringToObject(r, "sha256", mi->sha256);
    cJSON_AddStringToObject(r, "date", mi->date);
    cJSON_AddStringToObject(r, "arch", m->arch);
    cJSON_AddItemToObject(r, "classes", class_array(c));
    cJSON_AddNumberToObject(r, "threshold", mi->threshold);
    cJSON_AddStringToObject(r, "positive_class", c->classes == 2 ? m->class_names[1] : "");
    cJSON_AddStringToObject(r, "decision",
                            c->classes == 2 ? "class 1 when its probability >= threshold, "
                                              "else class 0"
                                            : "argmax");
    cJSON_AddNumberToObject(r, "input_size", m->input_size);
    cJSON *mean = cJSON_CreateArray(), *sd = cJSON_CreateArray();
    for (int k = 0; k < 3; k++) {
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(m->mean[k]));
        cJSON_AddItemToArray(sd, cJSON_CreateNumber(m->std[k]));
    }
    cJSON_AddItemToObject(r, "mean", mean);
    cJSON_AddItemToObject(r, "std", sd);
    cJSON_AddStringToObject(r, "base_sha256", m->base_sha256);
    cJSON *tr = cJSON_Parse(m->training_json);
    cJSON_AddItemToObject(r, "training", tr ? tr : cJSON_CreateObject());
    cJSON_AddStringToObject(r, "pneumo_version", PNEUMO_VERSION);
    cJSON *lim = cJSON_CreateObject();
    cJSON_AddNumberToObject(lim, "max_batch", o->max_batch);
    cJSON_AddNumberToObject(lim, "max_wait_ms", o->max_wait_ms);
    cJSON_AddNumberToObject(lim, "max_queue", o->max_queue);
    cJSON_AddNumberToObject(lim, "max_body_bytes", (double)o->max_body);
    cJSON_AddNumberToObject(lim, "timeout_s", o->timeout_s);
    cJSON_AddItemToObject(r, "limits", lim);
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

/* the heatmap as an RGBA PNG, base64 */
static char *cam_png_b64(const float *cam, int W, int H, pn_error *err)
{
    float *up = malloc((size_t)W * H * sizeof *up);
    uint8_t *px = malloc((size_t)W * H * 4), *png = NULL;
    char *b64 = NULL;
    size_t n = 0;
    if (!up || !px) {
        pn_error_set(err, PN_E_NOMEM, "CAM: out of memory");
        goto out;
    }
    pn_resize_bilinear(cam, 7, 7, up, H, W);
    for (size_t i = 0; i < (size_t)W * H; i++) {
        float v = up[i] < 0 ? 0 : up[i] > 1 ? 1 : up[i];
        pn_jet(v, px + 4 * i);
        px[4 * i + 3] = (uint8_t)lrintf(v * 255.0f);
    }
    if (pn__png_encode(px, W, H, 4, &png, &n, err)) goto out;
    b64 = pn_base64(png, n);
    if (!b64) pn_error_set(err, PN_E_NOMEM, "CAM: out of memory");
out:
    free(up);
    free(px);
    free(png);
    return b64;
}

/* The size of a picture sent back: the image's, scaled down so that the
 * longer side is at most max_side. */
static void preview_size(int w, int h, int max_side, int *W, int *H)
{
    int mx = w > h ? w : h;
    *W = w;
    *H = h;
    if (mx > max_side) {
        *W = (int)lround((double)w * max_side / mx);
        *H = (int)lround((double)h * max_side / mx);
        if (*W < 1) *W = 1;
        if (*H < 1) *H = 1;
    }
}

pn_status pn__image_png_b64(const pn_image *img, int max_side, char **b64, pn_error *err)
{
    *b64 = NULL;
    int W, H;
    preview_size(img->w, img->h, max_side, &W, &H);
    pn_image small = {0};
    const pn_image *src = img;
    uint8_t *png = NULL;
    size_t n = 0;
    pn_status st = PN_OK;
    if (W != img->w || H != img->h) {
        st = pn_image_resize(img, W, H, &small, err);
        src = &small;
    }
    if (!st) st = pn__png_encode(src->px, src->w, src->h, src->c, &png, &n, err);
    if (!st && !(*b64 = pn_base64(png, n)))
        st = pn_error_set(err, PN_E_NOMEM, "image: out of memory");
    free(png);
    pn_image_free(&small);
    return st;
}

char *pn__json_predict(const pn_classifier *c, const pn__model_info *mi, const pn__job *j,
                       int img_w, int img_h, const char *image_b64, pn_error *err)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddItemToObject(r, "classes", class_array(c));
    cJSON *pa = cJSON_CreateArray();
    for (int q = 0; q < c->classes; q++) cJSON_AddItemToArray(pa, cJSON_CreateNumber(j->probs[q]));
    cJSON_AddItemToObject(r, "probabilities", pa);
    cJSON_AddNumberToObject(r, "threshold", mi->threshold);
    cJSON_AddStringToObject(r, "label", c->meta.class_names[j->label]);
    cJSON_AddNumberToObject(r, "label_index", j->label);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", mi->name);
    cJSON_AddStringToObject(m, "sha256", mi->sha256);
    cJSON_AddItemToObject(r, "model", m);
    cJSON_AddNumberToObject(r, "image_width", img_w);
    cJSON_AddNumberToObject(r, "image_height", img_h);
    cJSON_AddNumberToObject(r, "batch_size", j->batch_n);
    if (j->want_cam) {
        int W, H;
        preview_size(img_w, img_h, 512, &W, &H);
        char *b64 = cam_png_b64(j->cam, W, H, err);
        if (!b64) {
            cJSON_Delete(r);
            return NULL;
        }
        cJSON *cam = cJSON_CreateObject();
        cJSON_AddStringToObject(cam, "class", c->meta.class_names[j->label]);
        cJSON_AddNumberToObject(cam, "width", W);
        cJSON_AddNumberToObject(cam, "height", H);
        cJSON_AddStringToObject(cam, "mime", "image/png");
        cJSON_AddItemToObject(cam, "png_base64", cJSON_CreateString(b64));
        free(b64);
        cJSON_AddItemToObject(r, "cam", cam);
    }
    if (image_b64) {
        cJSON *im = cJSON_CreateObject();
        cJSON_AddStringToObject(im, "mime", "image/png");
        cJSON_AddItemToObject(im, "png_base64", cJSON_CreateString(image_b64));
        cJSON_AddItemToObject(r, "image", im);
    }
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    if (!s) pn_error_set(err, PN_E_NOMEM, "out of memory");
    return s;
}
