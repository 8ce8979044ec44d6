/* Pieces shared by the head checkpoint (checkpoint.c) and the deep
 * checkpoint (checkpoint_deep.c): the per-epoch history rows and the
 * SHA-256 trailer. Internal to src/train. */
#ifndef PNEUMO_TRAIN_CKPT_COMMON_H
#define PNEUMO_TRAIN_CKPT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/train.h"

/* Bytes of one history row: f64 epoch, train_loss, train_acc, val_loss, val_acc, seconds. */
#define PN_CKPT_ROW_BYTES (6 * sizeof(double))

/* Write n rows at p; returns the byte after them. */
uint8_t *pn_ckpt_put_history(uint8_t *p, const pn_epoch_stats *hist, int n);
/* Read n rows from p into hist; returns the byte after them. */
const uint8_t *pn_ckpt_get_history(const uint8_t *p, pn_epoch_stats *hist, uint32_t n);
/* Write SHA-256(buf[0..len)) at buf+len. */
void pn_ckpt_seal(uint8_t *buf, size_t len);
/* 1 when the last 32 of the `total` bytes are SHA-256 of the rest. */
int pn_ckpt_sealed(const uint8_t *buf, size_t total);

#endif
