/* model.safetensors of a training run: the backbone + the trained head
 * (--freeze fc), or every tensor of the trained model (deeper levels), with
 * pneumo's metadata. */
#include <stdio.h>
#include <string.h>

#include "app_internal.h"
#include "pneumo/model.h"
#include "pneumo/weights.h"

/* the pneumo metadata of a trained model file */
static void fill_meta(pn_model_meta *meta, int classes, const char *const *class_names,
                      double threshold, double temperature, const char *training_json,
                      const char *base_sha256_hex)
{
    pn_model_meta_default(meta);
    meta->num_classes = classes;
    for (int c = 0; c < classes && c < PN_MAX_CLASSES; c++)
        snprintf(meta->class_names[c], PN_CLASS_NAME_MAX, "%s", class_names[c]);
    meta->threshold = threshold;
    meta->temperature = temperature > 0 ? temperature : 1;
    if (training_json) snprintf(meta->training_json, PN_TRAINING_JSON_MAX, "%s", training_json);
    if (base_sha256_hex)
        snprintf(meta->base_sha256, sizeof meta->base_sha256, "%s", base_sha256_hex);
}

pn_status pn__save_head_model(const char *path, const pn_statedict *backbone, const float *w,
                              const float *b, int classes, int dim, double threshold,
                              double temperature, const char *const *class_names, const char *training_json,
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
        fill_meta(&meta, classes, class_names, threshold, temperature, training_json,
                  base_sha256_hex);
        st = pn_modelfile_save(path, &sd, &meta, err);
    }
    pn_statedict_free(&sd);
    return st;
}

pn_status pn__save_full_model(const char *path, const pn_model *m, double threshold,
                              double temperature, const char *const *class_names, const char *training_json,
                              const char *base_sha256_hex, pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status st = pn_model_save(m, &sd, err);
    if (!st) {
        pn_model_meta meta;
        fill_meta(&meta, pn_model_get_config(m)->num_classes, class_names, threshold,
                  temperature, training_json, base_sha256_hex);
        st = pn_modelfile_save(path, &sd, &meta, err);
    }
    pn_statedict_free(&sd);
    return st;
}
