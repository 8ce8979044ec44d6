/* The only oneDNN plumbing (src/ops/dnn.c), for the ops (src/ops/) and the
 * inference engine (src/infer/): engine + stream, status mapping,
 * descriptors, primitives, reorders. */
#ifndef PNEUMO_OPS_DNN_H
#define PNEUMO_OPS_DNN_H

#include <oneapi/dnnl/dnnl.h>

#include "ops/ops.h"

struct pn__dnn {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int block; /* channel block of PN__LAYOUT_BLOCKED: 16, 8 or 1 */
};

/* Channel block of this CPU's direct convolutions: 16 (AVX-512), 8 (AVX2)
 * or 1. A block the ISA has no kernel for selects oneDNN's reference
 * convolution, ~1000x slower. */
int pn__dnn_cpu_block(void);
/* Cores OpenMP may use (the default thread count). */
int pn__dnn_cores(void);

/* A oneDNN call failed: PN_E_BACKEND (PN_E_NOMEM when out of memory)
 * naming what and the oneDNN status. */
const char *pn__dnn_status_str(dnnl_status_t s);
pn_status pn__dnn_fail(pn_error *err, dnnl_status_t s, const char *what);
#define PN__DNN(call, what)                                                     \
    do {                                                                       \
        dnnl_status_t pn_s_ = (call);                                          \
        if (pn_s_ != dnnl_success) return pn__dnn_fail(err, pn_s_, (what));     \
    } while (0)

/* 4-D activation descriptor in the given layout. */
dnnl_memory_desc_t pn__dnn_act_md(const pn__dnn *d, pn__layout layout, int n, int c, int h, int w);
/* Plain descriptors: 1-D (count) and OIHW weights. */
dnnl_memory_desc_t pn__dnn_md_1d(size_t count);
dnnl_memory_desc_t pn__dnn_md_oihw(int oc, int ic, int kh, int kw);
/* Any 4-D descriptor by tag. */
dnnl_memory_desc_t pn__dnn_md4(int64_t a, int64_t b, int64_t c, int64_t d, dnnl_data_type_t dt,
                              dnnl_format_tag_t tag);

/* A primitive with its descriptor. */
typedef struct pn__prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
} pn__prim;
pn_status pn__prim_create(pn__prim *pr, const void *op_desc, const_dnnl_primitive_desc_t hint,
                         pn__dnn *d, const char *what, pn_error *err);
void pn__prim_free(pn__prim *pr);
/* Memory object with no buffer for md (bind with pn__mem_bind before use). */
pn_status pn__mem_create(dnnl_memory_t *m, const dnnl_memory_desc_t *md, pn__dnn *d,
                        pn_error *err);
void pn__mem_bind(dnnl_memory_t m, const void *ptr);
/* Memory object on handle (a buffer, DNNL_MEMORY_ALLOCATE or NONE). */
pn_status pn__mem_create_with(dnnl_memory_t *m, const dnnl_memory_desc_t *md, void *handle,
                             pn__dnn *d, pn_error *err);
/* Reorder src_md -> dst_md; *pr zeroed when the two are equal (copy). */
pn_status pn__reorder_create(pn__prim *pr, const dnnl_memory_desc_t *src_md,
                            const dnnl_memory_desc_t *dst_md, pn__dnn *d, pn_error *err);
/* Reorder src (src_md) into dst (dst_md) once, now. */
pn_status pn__reorder_now(pn__dnn *d, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, pn_error *err);
/* Execute with args and wait. */
pn_status pn__prim_exec(const pn__prim *pr, pn__dnn *d, int nargs, const dnnl_exec_arg_t *args,
                       const char *what, pn_error *err);
/* Create / execute on one thread (oneDNN fixes some primitives' thread
 * count at creation, so both are needed): for memory-bound primitives whose multi-threaded
 * oneDNN implementation synchronizes with spinning barriers (batch norm
 * training), which stall for whole scheduler slices when a core is shared. */
pn_status pn__prim_create_serial(pn__prim *pr, const void *op_desc,
                                const_dnnl_primitive_desc_t hint, pn__dnn *d, const char *what,
                                pn_error *err);
pn_status pn__prim_exec_serial(const pn__prim *pr, pn__dnn *d, int nargs,
                              const dnnl_exec_arg_t *args, const char *what, pn_error *err);

/* conv2d with the caller's weight layout w_md (the layout of the buffers
 * given to pn__conv2d_set_weights and received as dw; reorders are added only
 * where the primitives want another one). borrow: set_weights keeps the
 * caller's pointer instead of copying (call it again after changing the
 * weights in place). */
pn_status pn__conv2d_create_md(pn__conv2d **op, pn__dnn *d, const pn__conv2d_dims *dm,
                              pn__layout layout, int backward, const dnnl_memory_desc_t *w_md,
                              int borrow, pn_error *err);
/* The same in bfloat16, as PyTorch's CPU autocast runs a conv: the forward
 * reads bf16 copies of x and w and writes f32 y; the backward converts dy
 * to bf16 and writes f32 dx and dw (oneDNN accumulates in f32). The caller's
 * buffers (x, y, dy, dx, dw, weights in w_md) stay f32: the op converts
 * them (the weights at every set_weights, x at every forward, dy at every
 * backward; the backward's dw reuses the last forward's bf16 x when it is
 * given the same x pointer, so x must not change in between). Where the CPU
 * or oneDNN has no fast bf16 kernel for these dims, the op is created in f32
 * instead (pn__conv2d_is_bf16 tells which). need_dx 0 (with backward): the
 * backward computes dw only (dx must be NULL), e.g. for the stem, whose
 * 3-channel backward data oneDNN 2.6 has only as a reference kernel. */
pn_status pn__conv2d_create_bf16(pn__conv2d **op, pn__dnn *d, const pn__conv2d_dims *dm,
                                pn__layout layout, int backward, int need_dx,
                                const dnnl_memory_desc_t *w_md, int borrow, pn_error *err);
int pn__conv2d_is_bf16(const pn__conv2d *op);
/* The weight layout oneDNN's forward primitive picks for these dims. */
pn_status pn__conv2d_weights_md(pn__dnn *d, const pn__conv2d_dims *dm, pn__layout layout,
                               int backward, dnnl_memory_desc_t *md, pn_error *err);

#endif
