/* Internal to pneumo (src/): checkpoint helpers used by the training
 * application. */
#ifndef PNEUMO_TRAIN_INTERNAL_H
#define PNEUMO_TRAIN_INTERNAL_H

/* 1 when path is a checkpoint of an older pneumo (PNHEADCK / PNDEEPCK). */
int pn__checkpoint_is_old(const char *path);

#endif
