/* Internal to src/infer: the ResNet-18 weights gathered from a state dict,
 * with every BatchNorm folded into its conv. */
#ifndef PNEUMO_INFER_INTERNAL_H
#define PNEUMO_INFER_INTERNAL_H

#include "pneumo/infer.h"

#define PN_RN_BLOCKS 8 /* layer{1..4}.{0,1} */

typedef struct pn_iconv {
    char name[40];        /* "layer2.0.conv1", "conv1", "layer2.0.downsample.0" */
    int ic, oc, k, stride, pad;
    float *w;             /* (oc, ic, k, k) OIHW, BN folded; NULL after upload */
    float *b;             /* (oc) folded BN shift */
} pn_iconv;

typedef struct pn_inet {
    pn_iconv stem;                 /* conv1 + bn1 */
    pn_iconv c1[PN_RN_BLOCKS];     /* layerL.B.conv1 + bn1 */
    pn_iconv c2[PN_RN_BLOCKS];     /* layerL.B.conv2 + bn2 */
    pn_iconv ds[PN_RN_BLOCKS];     /* layerL.0.downsample (oc == 0 when absent) */
    int nblocks;                   /* blocks needed for the stop stage (0..8) */
    int ncls;                      /* fc rows (0 when stop < LOGITS) */
    float *fcw;                    /* (ncls, 512) */
    float *fcb;                    /* (ncls) */
} pn_inet;

/* Blocks needed to compute stage s (STEM 0, LAYERk 2k, POOL/LOGITS 8). */
int pn_inet_blocks_for(pn_stage s);

/* Check and fold the tensors needed for `stop`; one PN_E_ARG listing every
 * missing / mis-shaped / non-float tensor. */
pn_status pn_inet_gather(pn_inet *net, const pn_statedict *sd, pn_stage stop, pn_error *err);
void pn_inet_free(pn_inet *net);

#endif
