/* Internal: the data-parallel training step of the model under MPI
 * (docs/mpi.md), for the model-suffix trainer (src/train/suffix.c). */
#ifndef PNEUMO_MODEL_DP_H
#define PNEUMO_MODEL_DP_H

#include "pneumo/model.h"

/* pn_model_train_step_from on this rank's slice (n images) of a global
 * batch of n_global images split over the ranks: every training-mode
 * BatchNorm uses the job's batch statistics (SyncBatchNorm), the loss
 * gradient is scaled to the job's (weighted) mean, the gradients are summed
 * over the ranks by one MPI_Allreduce (all trainable tensors in one buffer)
 * and every rank applies the same Adam step. *loss: the job's mean loss;
 * logits: this rank's n rows. Every rank calls it in the same order. */
pn_status pn__model_train_step_dist(pn_model *m, pn_stage from, const float *in,
                                    const int *labels, int n, int n_global,
                                    const float *class_weights, double lr, float *loss,
                                    float *logits, pn_error *err);

#endif
