/* Internal to src/infer: the ResNet-18 weights gathered from a state dict,
 * with every BatchNorm folded into its conv. */
#ifndef PNEUMO_INFER_INTERNAL_H
#define PNEUMO_INFER_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>

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
int pn_inet_blocks_for(pn_infer_stage s);

/* Check and fold the tensors needed for `stop`; one PN_E_ARG listing every
 * missing / mis-shaped / non-float tensor. */
pn_status pn_inet_gather(pn_inet *net, const pn_statedict *sd, pn_infer_stage stop, pn_error *err);
void pn_inet_free(pn_inet *net);

/* ---- the oneDNN engine (engine.c: public API; plan.c: building plans) --- */

#define PN_INFER_NBUF 4        /* 0..2 activations (ping-pong), 3 pooled features */
#define PN_STEP_MAX_ARGS 6

typedef struct pn_step {
    dnnl_primitive_t p;
    int nargs;
    dnnl_exec_arg_t a[PN_STEP_MAX_ARGS];
} pn_step;

typedef struct pn_memref {
    dnnl_memory_t m;
    int buf; /* index into e->buf, or -1: owns its data / handle set per call */
} pn_memref;

typedef struct pn_plan {
    int n;
    pn_step *st;            /* the forward, in order */
    int nst, capst;
    pn_memref *mem;         /* every memory object of this plan (freed with it) */
    int nmem, capmem;
    dnnl_memory_t in_user;   /* (n,3,H,W) f32 nchw; handle = caller's x */
    dnnl_memory_t out_user;  /* stop stage f32 nchw; handle = caller's out (or pool_f32) */
    dnnl_memory_t l4_user;   /* (n,512,h,w) f32 nchw; handle = caller's layer4 */
    pn_step out_reorder, l4_reorder;
} pn_plan;

typedef struct pn_layer_mem {
    dnnl_memory_t w, b; /* weights in the base plan's preferred layout, bias */
} pn_layer_mem;

struct pn_infer {
    pn_infer_config cfg;
    int bf16, threads;
    char notice[200];
    int64_t shp[PN_INFER_NSTAGES][3];
    pn_inet net;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    pn_layer_mem stem, c1[PN_RN_BLOCKS], c2[PN_RN_BLOCKS], ds[PN_RN_BLOCKS];
    void *buf[PN_INFER_NBUF];
    size_t bufsz[PN_INFER_NBUF];
    float *pool_f32; /* (max_batch, 512) for the fc */
    pn_plan **plans;    /* [max_batch + 1], built on first use */
};

/* A plan: every primitive and memory object for batch size n, on the
 * engine's shared buffers. The first one built (n = max_batch) sizes and
 * allocates those buffers and uploads the weights. */
pn_status pn_plan_build(pn_infer *e, int n, pn_plan **out, pn_error *err);
void pn_plan_free(pn_plan *p);
const char *pn_dnnl_status_str(dnnl_status_t s);

/* Return a oneDNN failure as PN_E_BACKEND (PN_E_NOMEM when out of memory). */
#define DN(call, what)                                                                       \
    do {                                                                                     \
        dnnl_status_t dn_s_ = (call);                                                        \
        if (dn_s_ != dnnl_success)                                                           \
            return pn_error_set(err, dn_s_ == dnnl_out_of_memory ? PN_E_NOMEM : PN_E_BACKEND, \
                                "oneDNN %s: %s failed: %s", (what), #call,                   \
                                pn_dnnl_status_str(dn_s_));                                     \
    } while (0)

#endif
