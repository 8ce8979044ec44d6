/* Internal to src/model: the trainable ResNet-18's state, shared by
 * resnet18.c (plan from the arch table, ops, forward, backward) and
 * params.c (parameter table, memory carving, layouts, get/set, load/save).
 *
 * Units, in order (u = index):
 *   0      stem: conv1 (3->64, k7 s2 p3) -> bn1 -> relu -> maxpool (k3 s2 p1)
 *   1..8   BasicBlocks layer1.0, layer1.1, layer2.0, ..., layer4.1
 *   9      global average pool -> (N,512)
 *   10     fc (512 -> K)
 * The trainable part is the units u >= m->first_train. Activations between
 * units live in the oneDNN blocked layout (nChw16c on AVX-512, nChw8c on
 * AVX2), except the network input (NCHW, the caller's buffer) and the
 * (N,512)/(N,K) head tensors (identical in every layout).
 *
 * Letters: N batch (n in use, <= max_batch), K classes, H/W the input size,
 * C/Hs/Ws one unit's output channels and spatial size.
 */
#ifndef PNEUMO_MODEL_INTERNAL_H
#define PNEUMO_MODEL_INTERNAL_H

#include <stdint.h>

#include "model/arch.h"
#include "ops/dnn.h"
#include "pneumo/model.h"

#define NBLOCKS PN__ARCH_NBLOCKS
#define NUNITS 11
#define U_POOL 9
#define U_FC 10
#define FEAT PN__ARCH_FEAT
#define MAX_ENTRIES 128

enum { E_PARAM, E_RMEAN, E_RVAR, E_NBT };

struct cbn;

typedef struct entry {
    char name[48];
    int kind, ndim;
    int64_t shape[4];
    size_t numel, off; /* off: floats into params (E_PARAM) or stats (E_RMEAN/E_RVAR); bn index for E_NBT */
    struct cbn *conv;  /* conv weight: its layout conversion */
    int unit;          /* 0 stem, 1..8 blocks, U_FC */
} entry;

/* A conv followed by its batch norm (one pn__arch unit). */
typedef struct cbn {
    int cin, cout, k, stride, pad, hin, win, hout, wout, trainable, bn; /* bn: index 0..19 */
    int relu;         /* ReLU fused into the BN (stem, first conv of a block) */
    size_t w_off, g_off, b_off, rm_off, rv_off; /* into params / stats */
    /* Master layout of the conv weight (and its gradient and Adam state) in
     * m->w / m->gw: the one oneDNN's forward primitive picks (OIhw16i16o on
     * AVX-512), so no per-step reorder for the forward or the weight
     * gradient; OIHW only in the copies of pn_model_get/set. */
    dnnl_memory_desc_t w_md;
    pn__prim to_oihw, to_master; /* p NULL: the layouts agree (plain copy) */
    dnnl_memory_t m_oihw, m_master;
    pn__conv2d *conv;  /* per batch size */
    pn__bn2d *bnop;
    float *y_conv;    // (N,cout,hout,wout) conv output
    float *y_bn;      // (N,cout,hout,wout) bn output (relu(bn) when relu)
    float *d;         // (N,cout,hout,wout) grad w.r.t. conv output (trainable only)
    float *bmean, *bvar; // (cout) batch stats of the last training forward
} cbn;

typedef struct block {
    int trainable, has_ds;
    cbn c1, c2, ds;
    pn__addrelu *addrelu; /* out = relu(bn2 + identity) */
    // r1 = relu(bn1(conv1(x))) is c1.y_bn (BN + ReLU fused)
    float *out;   // (N,C,Hs,Ws) relu(sum)
    float *d_out; // (N,C,Hs,Ws) grad w.r.t. out
    float *d_sum; // (N,C,Hs,Ws) grad w.r.t. sum (= w.r.t. bn2 out and the identity)
    float *d_r1;  // (N,C,Hs,Ws) grad w.r.t. relu(bn1)
} block;

struct pn_model {
    pn_model_config cfg;
    pn__dnn *dnn;
    int first_train; /* first trainable unit */
    int bf16;        /* trainable convs in bf16 (cfg.bf16 on a CPU with avx512_core_bf16) */
    int blk;         /* channel block of the activations */

    entry ent[MAX_ENTRIES];
    int nent;
    size_t nparams, nstats, train_off; /* floats; train_off: first trainable param */
    float *w;        // all parameters, state_dict order, compute layout (conv weights in cbn.w_md)
    float *stats;    // running_mean / running_var of the 20 BNs
    int64_t nbt[PN__ARCH_NCONV]; // num_batches_tracked
    float *gw;       // (nparams - train_off): gradients of the trainable suffix, compute layout
    float *adam_m, *adam_v; // optimiser state (exp_avg/_sq; SGD: momentum in adam_m), as gw
    long adam_step;         // optimiser steps taken
    pn_optim optim;         // pn_model_set_optim (zero: Adam)
    float *acts;     // one allocation: all activations + activation grads + batch stats
    size_t acts_floats;

    cbn stem;
    pn__pool *maxpool, *avgpool;
    int h0, w0, hp, wp; /* stem conv output and maxpool output sizes */
    // relu(bn1(conv1(x))) is stem.y_bn (fused)
    float *p0;    // (N,64,hp,wp) maxpool output
    float *d_r0, *d_p0;
    block b[NBLOCKS];
    float *feat;    // (N,512) pooled feature
    float *d_feat;  // (N,512)
    float *logits;  // (N,K)
    float *dlogits; // (N,K)
    float *scratch; // max input activation: second input-gradient path of a block
    size_t fc_w_off, fc_b_off;

    int ops_n;          /* batch size the oneDNN ops are built for (0 = none) */
    int weights_dirty;  /* conv weights changed since the ops copied them */
    int dist_n;         /* data-parallel step in progress: the job's batch (0 = none; src/model/dp.h) */
};

/* unit index at which each stage's activation enters (pn_stage order) */
extern const int pn__stage_unit[PN_STAGE_COUNT];

/* params.c */
void pn__model_plan_entries(pn_model *m);       /* the table of tensors, from pn__arch */
const entry *pn__model_find(const pn_model *m, const char *name);
void pn__model_carve(pn_model *m, float *base, size_t *floats); /* base NULL: count */
pn_status pn__model_alloc(pn_model *m, pn_error *err); /* params, stats, grads, Adam, acts */
pn_status pn__model_plan_layouts(pn_model *m, pn_error *err);
void pn__model_free_layouts(pn_model *m);

#endif
