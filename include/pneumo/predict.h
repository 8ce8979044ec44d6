/* pneumo: a trained classifier for eval and predict — a model file (or a
 * plain torchvision state_dict with a 2-output head: classes NORMAL,
 * PNEUMONIA) on the inference engine, softmax probabilities, dataset
 * evaluation, and CAM heatmaps.
 */
#ifndef PNEUMO_PREDICT_H
#define PNEUMO_PREDICT_H

#include <stddef.h>

#include "pneumo/dataset.h"
#include "pneumo/image.h"
#include "pneumo/infer.h"
#include "pneumo/status.h"
#include "pneumo/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_classifier {
    pn_statedict sd;
    pn_model_meta meta;
    pn_infer *engine;
    int batch, classes, want_cam;
    const float *fc_w; /* (C,512) inside sd */
    float *logits;     /* (batch, C) */
} pn_classifier;

/* Load the model and build the engine (LOGITS; layer4 too when want_cam). */
pn_status pn_classifier_open(pn_classifier *c, const char *model_path, int batch, int threads,
                             int bf16, int want_cam, pn_error *err);
void pn_classifier_free(pn_classifier *c);

/* x (n,3,224,224) -> probs (n,C) softmax; layer4 (n,512,7,7) when want_cam
 * (NULL otherwise). n <= batch. */
pn_status pn_classifier_run(pn_classifier *c, const float *x, int n, float *probs, float *layer4,
                            pn_error *err);

/* Predicted class: with 2 classes P(class 1) >= threshold, else argmax. */
int pn_classifier_decide(const pn_classifier *c, const float *probs, double threshold);

/* All items of a split: *probs (n,C) and *labels (n) malloc'ed; names
 * point into the dataset. With skip_bad unreadable items are left out and,
 * when bad is non-NULL, appended to it with their reasons (in item order;
 * free with pn_bad_list_free). */
pn_status pn_classifier_eval_split(pn_classifier *c, const pn_dataset *ds, pn_split split,
                                   int threads, const pn_decode_opts *o, int skip_bad,
                                   float **probs, int **labels, const char ***names, size_t *n,
                                   pn_bad_list *bad, pn_error *err);

/* CAM of class cls for one image: layer4 (512,h,w), img the decoded
 * original image; writes an RGB PNG of the image's size at png_path. */
pn_status pn_classifier_cam_png(const pn_classifier *c, const float *layer4, int h, int w,
                                int cls, const pn_image *img, const char *png_path,
                                pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
