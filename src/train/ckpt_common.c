/* History rows and SHA-256 trailer shared by both checkpoint formats. */
#include "ckpt_common.h"

#include <string.h>

#include "pneumo/util.h"

uint8_t *pn_ckpt_put_history(uint8_t *p, const pn_epoch_stats *hist, int n)
{
    for (int e = 0; e < n; e++) {
        const pn_epoch_stats *s = &hist[e];
        double row[6] = {s->epoch, s->train_loss, s->train_acc, s->val_loss, s->val_acc,
                         s->seconds};
        memcpy(p, row, sizeof row);
        p += sizeof row;
    }
    return p;
}

const uint8_t *pn_ckpt_get_history(const uint8_t *p, pn_epoch_stats *hist, uint32_t n)
{
    for (uint32_t e = 0; e < n; e++) {
        double row[6];
        memcpy(row, p, sizeof row);
        p += sizeof row;
        hist[e] = (pn_epoch_stats){(int)row[0], row[1], row[2], row[3], row[4], row[5]};
    }
    return p;
}

void pn_ckpt_seal(uint8_t *buf, size_t len)
{
    pn_sha256_buf(buf, len, buf + len);
}

int pn_ckpt_sealed(const uint8_t *buf, size_t total)
{
    uint8_t sum[32];
    if (total < 32) return 0;
    pn_sha256_buf(buf, total - 32, sum);
    return memcmp(sum, buf + total - 32, 32) == 0;
}
