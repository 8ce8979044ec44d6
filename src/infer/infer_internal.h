/* Internal to src/infer: the ResNet-18 weights gathered from a state dict
 * (one entry per unit of the arch table, src/model/arch.h) with every
 * BatchNorm folded into its conv, and the oneDNN plans built on them
 * (plumbing from src/ops/dnn.h). */
#ifndef PNEUMO_INFER_INTERNAL_H
#define PNEUMO_INFER_INTERNAL_H

#include "model/arch.h"
#include "ops/dnn.h"
#include "pneumo/infer.h"

typedef struct pn__iconv {
    const pn__arch_unit *u; /* name, ic/oc, k, stride, pad, role; NULL: not needed */
    float *w;             /* (oc, ic, k, k) OIHW, BN folded; NULL after upload */
    float *b;             /* (oc) folded BN shift */
    float *os;            /* int8: (oc) output scales q_src*q_w[oc]/q_dst; else NULL */
} pn__iconv;

typedef struct pn__inet {
    pn__iconv conv[PN__ARCH_NCONV]; /* pn__arch order; the blocks up to nblocks */
    int nblocks;                   /* blocks needed for the stop stage (0..8) */
    int ncls;                      /* fc rows (0 when stop < LOGITS) */
    float *fcw;                    /* (ncls, 512) */
    float *fcb;                    /* (ncls) */
} pn__inet;

/* Fold one BatchNorm into a conv: w (oc, k) in place, b (oc) written;
 * computed in double, rounded once. Returns PN_E_NUMERIC (naming `what`)
 * when var+eps <= 0 or a result is not finite. */
pn_status pn__fold_bn(float *w, float *b, int oc, size_t k, const float *gamma,
                      const float *beta, const float *mean, const float *var, double eps,
                      const char *what, pn_error *err);

/* Check and fold the tensors needed for `stop`; one PN_E_ARG listing every
 * missing / mis-shaped / non-float tensor. */
pn_status pn__inet_gather(pn__inet *net, const pn_statedict *sd, pn_stage stop, pn_error *err);
void pn__inet_free(pn__inet *net);

/* ---- the oneDNN engine (engine.c: public API; plan.c: building plans) --- */

#define PN_INFER_NBUF 4        /* 0..2 activations (ping-pong), 3 pooled features */
#define PN_STEP_MAX_ARGS 6

typedef struct pn__step {
    dnnl_primitive_t p;
    int unit; /* the conv unit whose output this step writes (args[3]), or -1 */
    int nargs;
    dnnl_exec_arg_t a[PN_STEP_MAX_ARGS];
} pn__step;

typedef struct pn__memref {
    dnnl_memory_t m;
    int buf; /* index into e->buf, or -1: owns its data / handle set per call */
} pn__memref;

typedef struct pn__ctx pn__ctx;

typedef struct pn__plan {
    int n;
    pn__ctx *ctx;            /* the buffers it runs on */
    pn__step *st;            /* the forward, in order */
    int nst, capst;
    pn__memref *mem;         /* every memory object of this plan (freed with it) */
    int nmem, capmem;
    dnnl_memory_t in_user;   /* (n,3,H,W) f32 nchw; handle = caller's x */
    dnnl_memory_t out_user;  /* stop stage f32 nchw; handle = caller's out (or pool_f32) */
    dnnl_memory_t l4_user;   /* (n,512,h,w) f32 nchw; handle = caller's layer4 */
    pn__step out_reorder, l4_reorder;
} pn__plan;

/* Buffers, plans and a stream: the engine's own (main, max_batch images,
 * all its threads) and one per worker of the dynamic schedule (chunk
 * images, one thread each). The weights (lm) are shared. */
struct pn__ctx {
    int max_batch;
    void *buf[PN_INFER_NBUF];
    size_t bufsz[PN_INFER_NBUF];
    float *pool_f32;      /* (max_batch, 512) for the fc */
    pn__plan **plans;     /* [max_batch + 1], built on first use */
    dnnl_stream_t stream; /* NULL: the engine's (main) */
};

typedef struct pn__layer_mem {
    dnnl_memory_t w, b; /* weights in the base plan's preferred layout, bias */
} pn__layer_mem;

/* int8 tensors: the input (0) and the output of conv unit i (1 + i) */
#define PN__INT8_NT (PN__ARCH_NCONV + 1)

struct pn_infer {
    pn_infer_config cfg;
    int bf16, int8, winograd, threads;
    float q[PN__INT8_NT];      /* int8: quantization step of each tensor (real = q * int) */
    double amax[PN__INT8_NT];  /* calibration: largest |value| seen per tensor */
    long ncalib;               /* calibration: images seen */
    char digest[65];           /* hex SHA-256 of the backbone tensors (pn__int8_digest) */
    char notice[200];
    int64_t shp[PN_STAGE_COUNT][3];
    pn__inet net;
    pn__dnn *dnn;                      /* engine + stream */
    pn__layer_mem lm[PN__ARCH_NCONV]; /* pn__arch order */
    pn__ctx main;
    /* dynamic schedule (sched.c): nwork single-threaded workers pull chunks
     * of `chunk` images from a shared counter, so a core slowed by another
     * process does less of the batch instead of holding up the rest */
    int nwork, chunk;
    pn__ctx *work;
};

/* A plan: every primitive and memory object for batch size n, on the
 * engine's shared buffers. The first one built (n = max_batch) sizes and
 * allocates those buffers and uploads the weights. */
pn_status pn__plan_build(pn_infer *e, pn__ctx *c, int n, pn__plan **out, pn_error *err);
/* A context's buffers, pool and plan table for max_batch (its stream too
 * when own_stream), and freeing them. */
pn_status pn__ctx_init(pn_infer *e, pn__ctx *c, int max_batch, int own_stream, pn_error *err);
void pn__ctx_free(pn__ctx *c);
/* Forward n <= c->max_batch images on context c (plan built on first use). */
pn_status pn__ctx_run(pn_infer *e, pn__ctx *c, const float *x, int n, float *out, float *layer4,
                      pn_error *err);

/* ---- the dynamic schedule (sched.c) ----------------------------------------- */
/* Set up e->nwork workers (threads >= 2 and max_batch >= 2 chunks; the
 * PNEUMO_INFER_SCHEDULE=static|dynamic environment variable overrides),
 * or none. */
pn_status pn__sched_init(pn_infer *e, pn_error *err);
/* Run n images over the workers; 0 when the schedule does not apply
 * (no workers, or n below two chunks). */
int pn__sched_applies(const pn_infer *e, int n);
pn_status pn__sched_run(pn_infer *e, const float *x, int n, float *out, float *layer4,
                        pn_error *err);
void pn__plan_free(pn__plan *p);

/* ---- int8 (quant.c) --------------------------------------------------------- */

#define PN__INT8_FORMAT 1 /* "pneumo.int8.format" this build reads and writes */

/* The tensor (0: input, 1 + j: output of unit j) that conv unit i reads. */
int pn__int8_src(int i);
/* Whether tensor t is signed (s8: the input and the downsample outputs) or
 * u8 (after a ReLU). */
int pn__int8_signed(int t);
/* Hex SHA-256 over the conv and BN tensors of the units present in sd
 * (pn__arch order, float data), into hex[65]. */
pn_status pn__int8_digest(const pn_statedict *sd, char hex[65], pn_error *err);
/* int8 engine: read and check sd's calibration, set e->q and turn each
 * gathered conv's folded w, b into the int8 plan's inputs: w / q_w[oc]
 * (rounded to s8 by oneDNN's weight reorder), b / (q_src q_w[oc]) and the
 * output scales os. */
pn_status pn__int8_prepare(pn_infer *e, const pn_statedict *sd, pn_error *err);

#endif
