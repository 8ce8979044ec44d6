/* Internal to src/eval (and its tests): helpers shared by the metric files,
 * and the sharded evaluation's gather under MPI (shard.c). */
#ifndef PN_EVAL_INTERNAL_H
#define PN_EVAL_INTERNAL_H

#include <stddef.h>

#include "pneumo/dataset.h"
#include "pneumo/status.h"

/* PN_E_ARG for n == 0, NULL arrays or a label not 0/1; PN_E_NUMERIC for a
 * non-finite score. */
pn_status pn__check_scores(const float *score, const int *label, size_t n, pn_error *err);

/* Indices of score sorted ascending (ties by index); malloc'ed, NULL when
 * out of memory. */
size_t *pn__sorted_order(const float *score, size_t n);

/* DeLong's structural components of n scores with labels 0/1 (npos
 * positives, nneg negatives): v10 (npos) for each positive, in item order,
 * the share of negatives it outranks (ties count one half); v01 (nneg) for
 * each negative, the share of positives that outrank it. The AUC is the
 * mean of either. 0, or -1 when out of memory. */
int pn__delong_components(const float *score, const int *label, size_t n, double *v10,
                          double *v01);

/* Under mpirun each rank has evaluated its pn__dist_share of a split: *k rows
 * of probs (C each), labels and item indices (in split), and the bad items
 * it met. Afterwards rank 0 holds every rank's rows in rank order (the
 * shares are contiguous, so in item order: what one process computes) in
 * the same arrays (capacity: the split's item count) and every bad item in
 * *bad (items resolved in its own ds); the other ranks end with *k = 0 and
 * an empty *bad. One process: nothing changes. */
pn_status pn__eval_gather(const pn_dataset *ds, int C, float *probs, int *labels, size_t *idx,
                          size_t *k, pn_bad_list *bad, pn_error *err);
/* The bad items alone: every rank's to rank 0 (in rank order), emptied on the others. */
pn_status pn__bad_gather(const pn_dataset *ds, pn_bad_list *bad, pn_error *err);

#endif
