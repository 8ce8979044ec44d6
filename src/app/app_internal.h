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

/* The data manifest: one line "split\tname\tlabel\tsha256(bytes)\n" per
 * item of split (in item order) into h. */
struct pn_source;
struct pn_sha256;
pn_status pn__manifest_update(struct pn_sha256 *h, const struct pn_source *src, int split,
                              pn_error *err);

/* cfg->audit of a training run: class counts of the splits as used (labels
 * y[s], n[s] items) and the SHA-256 of the source's data manifest. */
struct pn_audit;
pn_status pn__audit_fill(struct pn_audit *a, const struct pn_source *src, const int *const y[3],
                         const size_t n[3], pn_error *err);

#endif
