/* oneDNN context, descriptors and small execution helpers for the ops. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/dnn.h"

pn_status pn_dnn_fail(pn_error *err, dnnl_status_t s, const char *what)
{
    static const char *names[] = {"success", "out of memory", "invalid arguments",
                                  "unimplemented", "iterator ends", "runtime error",
                                  "not required"};
    const char *nm = ((unsigned)s < sizeof names / sizeof names[0]) ? names[s] : "unknown error";
    return pn_error_set(err, PN_E_BACKEND, "oneDNN %s failed: %s (status %d)", what, nm, (int)s);
}

pn_status pn_dnn_create(pn_dnn **out, pn_error *err)
{
    *out = NULL;
    pn_dnn *d = calloc(1, sizeof *d);
    if (!d) return pn_error_set(err, PN_E_NOMEM, "oneDNN context: out of memory");
    dnnl_status_t s = dnnl_engine_create(&d->eng, dnnl_cpu, 0);
    if (s != dnnl_success) {
        free(d);
        return pn_dnn_fail(err, s, "engine creation");
    }
    s = dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(d->eng);
        free(d);
        return pn_dnn_fail(err, s, "stream creation");
    }
    d->omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    d->omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the ISA enum values nest: every AVX-512 flavour contains avx512_core */
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) d->block = 16;
    else if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) d->block = 8;
    else d->block = 1;
    *out = d;
    return PN_OK;
}

void pn_dnn_free(pn_dnn *d)
{
    if (!d) return;
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->eng);
    free(d);
}

int pn_dnn_block(const pn_dnn *d) { return d->block; }

/* oneDNN here runs on GNU OpenMP, a dependency of libdnnl; look its entry
 * points up at run time so that pneumo itself needs no -fopenmp. */
static void *omp_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

void pn_set_threads(int threads)
{
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (int)nc : 1;
    }
    void (*set)(int) = (void (*)(int))omp_sym("omp_set_num_threads");
    if (set) set(threads);
}

int pn_get_threads(void)
{
    int (*get)(void) = (int (*)(void))omp_sym("omp_get_max_threads");
    return get ? get() : 1;
}

dnnl_memory_desc_t pn_dnn_act_md(const pn_dnn *d, pn_layout layout, int n, int c, int h, int w)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_format_tag_t tag = dnnl_nchw;
    if (layout == PN_LAYOUT_BLOCKED && d->block > 1 && c % d->block == 0)
        tag = d->block == 16 ? dnnl_nChw16c : dnnl_nChw8c;
    dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag);
    return md;
}

dnnl_memory_desc_t pn_dnn_md_1d(size_t count)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)count};
    dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    return md;
}

dnnl_memory_desc_t pn_dnn_md_oihw(int oc, int ic, int kh, int kw)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {oc, ic, kh, kw};
    dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, dnnl_oihw);
    return md;
}

pn_status pn_prim_create(pn_prim *pr, const void *op_desc, const_dnnl_primitive_desc_t hint,
                         pn_dnn *d, const char *what, pn_error *err)
{
    memset(pr, 0, sizeof *pr);
    PN_DNN(dnnl_primitive_desc_create(&pr->pd, op_desc, NULL, d->eng, hint), what);
    dnnl_status_t s = dnnl_primitive_create(&pr->p, pr->pd);
    if (s != dnnl_success) {
        dnnl_primitive_desc_destroy(pr->pd);
        pr->pd = NULL;
        return pn_dnn_fail(err, s, what);
    }
    return PN_OK;
}

void pn_prim_free(pn_prim *pr)
{
    if (pr->p) dnnl_primitive_destroy(pr->p);
    if (pr->pd) dnnl_primitive_desc_destroy(pr->pd);
    pr->p = NULL;
    pr->pd = NULL;
}

pn_status pn_mem_create(dnnl_memory_t *m, const dnnl_memory_desc_t *md, pn_dnn *d,
                        pn_error *err)
{
    PN_DNN(dnnl_memory_create(m, md, d->eng, DNNL_MEMORY_NONE), "memory object creation");
    return PN_OK;
}

void pn_mem_bind(dnnl_memory_t m, const void *ptr)
{
    /* cannot fail for a CPU memory object with a valid handle */
    dnnl_memory_set_data_handle(m, (void *)ptr);
}

pn_status pn_reorder_create(pn_prim *pr, const dnnl_memory_desc_t *src_md,
                            const dnnl_memory_desc_t *dst_md, pn_dnn *d, pn_error *err)
{
    memset(pr, 0, sizeof *pr);
    if (dnnl_memory_desc_equal(src_md, dst_md)) return PN_OK;
    PN_DNN(dnnl_reorder_primitive_desc_create(&pr->pd, src_md, d->eng, dst_md, d->eng, NULL),
           "reorder descriptor");
    dnnl_status_t s = dnnl_primitive_create(&pr->p, pr->pd);
    if (s != dnnl_success) {
        dnnl_primitive_desc_destroy(pr->pd);
        pr->pd = NULL;
        return pn_dnn_fail(err, s, "reorder");
    }
    return PN_OK;
}

pn_status pn_prim_exec(const pn_prim *pr, pn_dnn *d, int nargs, const dnnl_exec_arg_t *args,
                       const char *what, pn_error *err)
{
    PN_DNN(dnnl_primitive_execute(pr->p, d->stream, nargs, args), what);
    PN_DNN(dnnl_stream_wait(d->stream), what);
    return PN_OK;
}

pn_status pn_prim_create_serial(pn_prim *pr, const void *op_desc,
                                const_dnnl_primitive_desc_t hint, pn_dnn *d, const char *what,
                                pn_error *err)
{
    if (!d->omp_set || !d->omp_get) return pn_prim_create(pr, op_desc, hint, d, what, err);
    int saved = d->omp_get();
    if (saved > 1) d->omp_set(1);
    pn_status st = pn_prim_create(pr, op_desc, hint, d, what, err);
    if (saved > 1) d->omp_set(saved);
    return st;
}

pn_status pn_prim_exec_serial(const pn_prim *pr, pn_dnn *d, int nargs,
                              const dnnl_exec_arg_t *args, const char *what, pn_error *err)
{
    if (!d->omp_set || !d->omp_get) return pn_prim_exec(pr, d, nargs, args, what, err);
    int saved = d->omp_get();
    if (saved > 1) d->omp_set(1);
    pn_status st = pn_prim_exec(pr, d, nargs, args, what, err);
    if (saved > 1) d->omp_set(saved);
    return st;
}
