/* Internal (src/model/arch.c): the one ResNet-18 description used by the
 * trainable model (src/model/), the inference engine (src/infer/) and the
 * weight files (src/io/): the 20 conv+BN units, the stage boundaries, the
 * 122 state_dict keys, and one "list every bad key" message helper. */
#ifndef PNEUMO_MODEL_ARCH_H
#define PNEUMO_MODEL_ARCH_H

#include <stddef.h>

#include "pneumo/model.h"
#include "pneumo/weights.h"

#define PN__ARCH_NCONV 20  /* conv+BN units */
#define PN__ARCH_NBLOCKS 8 /* BasicBlocks layer{1..4}.{0,1} */
#define PN__ARCH_FEAT 512  /* pooled feature, fc input */
#define PN__ARCH_NKEYS 122 /* state_dict entries */

/* What a conv+BN unit is in its BasicBlock. */
enum { PN__ROLE_STEM, PN__ROLE_CONV1, PN__ROLE_CONV2, PN__ROLE_DOWNSAMPLE };

/* A conv (no bias, square kernel k, stride, pad) and the BN after it:
 * "<conv>.weight" (cout, cin, k, k), "<bn>.{weight,bias,running_mean,
 * running_var,num_batches_tracked}". relu: a ReLU follows the BN (stem,
 * conv1); conv2's ReLU comes after the residual add. block: the BasicBlock
 * (layerL.B is block 2(L-1)+B), -1 for the stem. After the stem comes the
 * 3x3/2 pad-1 max pool; after block 8 the global average pool and fc. */
typedef struct pn__arch_unit {
    const char *conv, *bn;
    int cin, cout, k, stride, pad, relu, role, block;
} pn__arch_unit;

/* The 20 units in state_dict order: conv1; per block conv1, conv2 and
 * (layer{2,3,4}.0) downsample. */
extern const pn__arch_unit pn__arch[PN__ARCH_NCONV];

/* Spatial size after a k/stride/pad window (conv or pool arithmetic). */
static inline int pn__arch_out(int h, int k, int stride, int pad)
{
    return (h + 2 * pad - k) / stride + 1;
}

/* BasicBlocks done at stage s: 0 for INPUT and STEM, 2k at LAYERk, 8 after. */
int pn__arch_stage_blocks(pn_stage s);
/* Per-image (C,H,W) of stage s for an hxw input and K classes (H=W=1 at
 * POOL and LOGITS); returns C*H*W (0 for an unknown stage). */
size_t pn__arch_stage_shape(pn_stage s, int h, int w, int K, int *c, int *oh, int *ow);

/* The state_dict keys for num_classes (what pn_resnet18_keys returns). */
int pn__arch_keys(int num_classes, pn_r18_key *keys, int cap);

/* A bounded list of problems for one error message: items joined by sep,
 * ", ... N more" once full. */
typedef struct pn__keylist {
    char buf[400];
    size_t len;
    int count, dropped;
    const char *sep;
} pn__keylist;
void pn__keylist_init(pn__keylist *l, const char *sep);
void pn__keylist_add(pn__keylist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The list as text (buf, with the "... N more" tail appended). */
const char *pn__keylist_str(pn__keylist *l);

#endif
