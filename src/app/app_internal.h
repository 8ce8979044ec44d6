/* Internal to src/app: writing the trained model file. */
#ifndef PNEUMO_APP_INTERNAL_H
#define PNEUMO_APP_INTERNAL_H

#include "pneumo/model.h"
#include "pneumo/status.h"
#include "pneumo/tensor.h"

/* model.safetensors: the backbone tensors of sd plus the trained head as
 * fc.weight (C,D) / fc.bias (C), with pneumo metadata (class names,
 * threshold, temperature (1: none), training settings JSON, SHA-256 hex of the source weights). */
pn_status pn__save_head_model(const char *path, const pn_statedict *backbone, const float *w,
                              const float *b, int classes, int dim, double threshold,
                              double temperature, const char *const *class_names, const char *training_json,
                              const char *base_sha256_hex, pn_error *err);
/* The same for a model trained at a deeper freeze level: every tensor of the
 * model (pn_model_save) with the same metadata. */
pn_status pn__save_full_model(const char *path, const pn_model *m, double threshold,
                              double temperature, const char *const *class_names, const char *training_json,
                              const char *base_sha256_hex, pn_error *err);

#endif
