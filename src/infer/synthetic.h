/* Internal (src/infer/synthetic.c): synthetic ResNet-18 weights for the
 * tests and the benchmarks (`pneumo bench`, bench/engine_train.c).
 *
 * A full torchvision-named ResNet-18 state dict (num_batches_tracked
 * included) with deterministic pseudo-random weights and BN statistics
 * (kaiming-uniform conv scale, gamma and var in [0.5, 1.5), beta and mean in
 * [-0.2, 0.2)). tests/pytorch/make_infer_fixtures.py makes the same values.
 * pn__synthetic_fill() fills one tensor by name (names starting with "input"
 * give inputs in [-2, 2)). */
#ifndef PNEUMO_INFER_SYNTHETIC_H
#define PNEUMO_INFER_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"
#include "pneumo/tensor.h"

pn_status pn__resnet18_synthetic(pn_statedict *sd, int num_classes, pn_error *err);
void pn__synthetic_fill(const char *name, int ndim, const int64_t *shape, float *v, size_t n);

#endif
