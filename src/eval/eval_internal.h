/* Internal to src/eval: the sharded evaluation's gather (src/eval/shard.c). */
#ifndef PNEUMO_EVAL_INTERNAL_H
#define PNEUMO_EVAL_INTERNAL_H

#include <stddef.h>

#include "pneumo/dataset.h"
#include "pneumo/status.h"

/* Under mpirun each rank has evaluated its pn__dist_share of split: *k rows
 * of probs (C each), labels and item indices (in split), and the bad items
 * it met. Afterwards rank 0 holds every rank's rows in rank order (the
 * shares are contiguous, so in item order: what one process computes) in
 * the same arrays (capacity: the split's item count) and every bad item in
 * *bad (items resolved in its own ds); the other ranks end with *k = 0 and
 * an empty *bad. One process: nothing changes. */
pn_status pn__eval_gather(const pn_dataset *ds, int C, float *probs, int *labels, size_t *idx,
                          size_t *k, pn_bad_list *bad, pn_error *err);

#endif
