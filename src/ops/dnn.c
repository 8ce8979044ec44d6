/* The only oneDNN plumbing: the engine and stream, the OpenMP thread count,
 * the dnnl_status -> pn_error mapping, memory descriptors, primitive
 * creation and execution, and reorders (NCHW <-> blocked included). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dnn.h"

const char *pn__dnn_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    }
    return "unknown error";
}

pn_status pn__dnn_fail(pn_error *err, dnnl_status_t s, const char *what)
{
    return pn_error_set(err, s == dnnl_out_of_memory ? PN_E_NOMEM : PN_E_BACKEND,
                        "oneDNN %s failed: %s (status %d)", what, pn__dnn_status_str(s), (int)s);
}

pn_status pn__dnn_create(pn__dnn **out, pn_error *err)
{
    *out = NULL;
    pn__dnn *d = calloc(1, sizeof *d);
    if (!d) return pn_error_set(err, PN_E_NOMEM, "oneDNN context: out of memory");
    dnnl_status_t s = dnnl_engine_create(&d->eng, dnnl_cpu, 0);
    if (s != dnnl_success) {
        free(d);
        return pn__dnn_fail(err, s, "engine creation");
    }
    s = dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(d->eng);
        free(d);
        return pn__dnn_fail(err, s, "stream creation");
    }
    d->block = pn__dnn_cpu_block();
    *out = d;
    return PN_OK;
}

void pn__dnn_free(pn__dnn *d)
{
    if (!d) return;
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->eng);
    free(d);
}

int pn__dnn_block(const pn__dnn *d) { return d->block; }

int pn__dnn_cpu_block(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the ISA enum values nest: every AVX-512 flavour contains avx512_core */
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return 16;
    if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) return 8;
    return 1;
}

/* oneDNN here runs on GNU OpenMP (linked with -lgomp). */
void pn__set_threads(int threads)
{
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

int pn__get_threads(void) { return omp_get_max_threads(); }

int pn__dnn_cores(void) { return omp_get_num_procs(); }

dnnl_memory_desc_t pn__dnn_act_md(const pn__dnn *d, pn__layout layout, int n, int c, int h, int w)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_format_tag_t tag = dnnl_nchw;
    if (layout == PN__LAYOUT_BLOCKED && d->block > 1 && c % d->block == 0)
        tag = d->block == 16 ? dnnl_nChw16c : dnnl_nChw8c;
    dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag);
    return md;
}

dnnl_memory_desc_t pn__dnn_md_1d(size_t count)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)count};
    dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    return md;
}

dnnl_memory_desc_t pn__dnn_md_oihw(int oc, int ic, int kh, int kw)
{
    return pn__dnn_md4(oc, ic, kh, kw, dnnl_f32, dnnl_oihw);
}

dnnl_memory_desc_t pn__dnn_md4(int64_t a, int64_t b, int64_t c, int64_t d, dnnl_data_type_t dt,
                              dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {a, b, c, d};
    dnnl_memory_desc_init_by_tag(&md, 4, dims, dt, tag);
    return md;
}

pn_status pn__prim_create(pn__prim *pr, const void *op_desc, const_dnnl_primitive_desc_t hint,
                         pn__dnn *d, const char *what, pn_error *err)
{
    memset(pr, 0, sizeof *pr);
    PN__DNN(dnnl_primitive_desc_create(&pr->pd, op_desc, NULL, d->eng, hint), what);
    dnnl_status_t s = dnnl_primitive_create(&pr->p, pr->pd);
    if (s != dnnl_success) {
        dnnl_primitive_desc_destroy(pr->pd);
        pr->pd = NULL;
        return pn__dnn_fail(err, s, what);
    }
    return PN_OK;
}

void pn__prim_free(pn__prim *pr)
{
    if (pr->p) dnnl_primitive_destroy(pr->p);
    if (pr->pd) dnnl_primitive_desc_destroy(pr->pd);
    pr->p = NULL;
    pr->pd = NULL;
}

pn_status pn__mem_create(dnnl_memory_t *m, const dnnl_memory_desc_t *md, pn__dnn *d,
                        pn_error *err)
{
    PN__DNN(dnnl_memory_create(m, md, d->eng, DNNL_MEMORY_NONE), "memory object creation");
    return PN_OK;
}

pn_status pn__mem_create_with(dnnl_memory_t *m, const dnnl_memory_desc_t *md, void *handle,
                             pn__dnn *d, pn_error *err)
{
    PN__DNN(dnnl_memory_create(m, md, d->eng, handle), "memory object creation");
    return PN_OK;
}

void pn__mem_bind(dnnl_memory_t m, const void *ptr)
{
    /* cannot fail for a CPU memory object with a valid handle */
    dnnl_memory_set_data_handle(m, (void *)ptr);
}

pn_status pn__reorder_create(pn__prim *pr, const dnnl_memory_desc_t *src_md,
                            const dnnl_memory_desc_t *dst_md, pn__dnn *d, pn_error *err)
{
    memset(pr, 0, sizeof *pr);
    if (dnnl_memory_desc_equal(src_md, dst_md)) return PN_OK;
    PN__DNN(dnnl_reorder_primitive_desc_create(&pr->pd, src_md, d->eng, dst_md, d->eng, NULL),
           "reorder descriptor");
    dnnl_status_t s = dnnl_primitive_create(&pr->p, pr->pd);
    if (s != dnnl_success) {
        dnnl_primitive_desc_destroy(pr->pd);
        pr->pd = NULL;
        return pn__dnn_fail(err, s, "reorder");
    }
    return PN_OK;
}

pn_status pn__reorder_now(pn__dnn *d, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, pn_error *err)
{
    pn__prim r;
    dnnl_memory_t ms = NULL, md = NULL;
    PN_TRY(pn__reorder_create(&r, src_md, dst_md, d, err));
    if (!r.p) { /* same layout: a copy */
        memcpy(dst, src, dnnl_memory_desc_get_size(dst_md));
        return PN_OK;
    }
    pn_status st = pn__mem_create_with(&ms, src_md, (void *)src, d, err);
    if (st == PN_OK) st = pn__mem_create_with(&md, dst_md, dst, d, err);
    if (st == PN_OK) {
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        st = pn__prim_exec(&r, d, 2, a, "reorder", err);
    }
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    pn__prim_free(&r);
    return st;
}

/* (N,C,HW) NCHW <-> nChw<block>c as oneDNN memory descriptors */
static dnnl_format_tag_t block_tag(int block)
{
    return block == 16 ? dnnl_nChw16c : block == 8 ? dnnl_nChw8c : dnnl_nchw;
}

pn_status pn__dnn_to_blocked(pn__dnn *d, const float *src, float *dst, int n, int c, int hw,
                            int block, pn_error *err)
{
    dnnl_memory_desc_t a = pn__dnn_md4(n, c, hw, 1, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_t b = pn__dnn_md4(n, c, hw, 1, dnnl_f32, block_tag(block));
    return pn__reorder_now(d, &a, src, &b, dst, err);
}

pn_status pn__dnn_to_nchw(pn__dnn *d, const float *src, float *dst, int n, int c, int hw,
                         int block, pn_error *err)
{
    dnnl_memory_desc_t a = pn__dnn_md4(n, c, hw, 1, dnnl_f32, block_tag(block));
    dnnl_memory_desc_t b = pn__dnn_md4(n, c, hw, 1, dnnl_f32, dnnl_nchw);
    return pn__reorder_now(d, &a, src, &b, dst, err);
}

pn_status pn__prim_exec(const pn__prim *pr, pn__dnn *d, int nargs, const dnnl_exec_arg_t *args,
                       const char *what, pn_error *err)
{
    PN__DNN(dnnl_primitive_execute(pr->p, d->stream, nargs, args), what);
    PN__DNN(dnnl_stream_wait(d->stream), what);
    return PN_OK;
}

pn_status pn__prim_create_serial(pn__prim *pr, const void *op_desc,
                                const_dnnl_primitive_desc_t hint, pn__dnn *d, const char *what,
                                pn_error *err)
{
    int saved = omp_get_max_threads();
    if (saved > 1) omp_set_num_threads(1);
    pn_status st = pn__prim_create(pr, op_desc, hint, d, what, err);
    if (saved > 1) omp_set_num_threads(saved);
    return st;
}

pn_status pn__prim_exec_serial(const pn__prim *pr, pn__dnn *d, int nargs,
                              const dnnl_exec_arg_t *args, const char *what, pn_error *err)
{
    int saved = omp_get_max_threads();
    if (saved > 1) omp_set_num_threads(1);
    pn_status st = pn__prim_exec(pr, d, nargs, args, what, err);
    if (saved > 1) omp_set_num_threads(saved);
    return st;
}
