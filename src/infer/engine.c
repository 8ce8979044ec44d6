/* The ResNet-18 inference engine: creation (checks, BN folding, the base
 * plan), the run (plan per batch size, output reorders, the fc head) and the
 * accessors. The oneDNN plans are built in plan.c. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

/* ---- public API ----------------------------------------------------------- */

static const char *const stage_names[PN_INFER_NSTAGES] = {"stem",   "layer1", "layer2", "layer3",
                                                         "layer4", "pool",   "logits"};

const char *pn_infer_stage_name(pn_infer_stage s)
{
    return (s >= 0 && s < PN_INFER_NSTAGES) ? stage_names[s] : "?";
}

int pn_infer_stage_from_name(const char *name)
{
    for (int i = 0; name && i < PN_INFER_NSTAGES; i++)
        if (!strcmp(name, stage_names[i])) return i;
    return -1;
}

pn_infer_config pn_infer_config_default(void)
{
    return (pn_infer_config){.max_batch = 32, .height = 224, .width = 224, .threads = 0,
                             .bf16 = 0, .stop = PN_INFER_LOGITS, .want_layer4 = 0};
}

static int64_t down2(int64_t h, int k, int pad) { return (h + 2 * pad - k) / 2 + 1; }

pn_status pn_infer_create(pn_infer **out, const pn_statedict *sd, const pn_infer_config *cfgp,
                          pn_error *err)
{
    if (!out || !sd) return pn_error_set(err, PN_E_ARG, "pn_infer_create: NULL argument");
    *out = NULL;
    pn_infer_config cfg = cfgp ? *cfgp : pn_infer_config_default();
    if (cfg.max_batch < 1 || cfg.max_batch > 4096)
        return pn_error_set(err, PN_E_ARG, "inference: max_batch %d is not in 1..4096",
                            cfg.max_batch);
    if (cfg.height < 32 || cfg.height > 4096 || cfg.width < 32 || cfg.width > 4096)
        return pn_error_set(err, PN_E_ARG, "inference: input size %dx%d is not in 32..4096",
                            cfg.height, cfg.width);
    if (cfg.threads < 0 || cfg.threads > 1024)
        return pn_error_set(err, PN_E_ARG, "inference: threads %d is not in 0..1024", cfg.threads);
    if ((int)cfg.stop < 0 || cfg.stop >= PN_INFER_NSTAGES)
        return pn_error_set(err, PN_E_ARG, "inference: unknown stop stage %d", (int)cfg.stop);
    if (cfg.want_layer4 && cfg.stop < PN_INFER_LAYER4)
        return pn_error_set(err, PN_E_ARG,
                            "inference: want_layer4 needs stop >= layer4 (stop is %s)",
                            pn_infer_stage_name(cfg.stop));
    pn_infer *e = calloc(1, sizeof *e);
    if (!e) return pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    e->cfg = cfg;
    e->threads = cfg.threads ? cfg.threads : omp_get_num_procs();
    e->bf16 = cfg.bf16 != 0;
    if (e->bf16) {
        dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
            e->bf16 = 0;
            snprintf(e->notice, sizeof e->notice,
                     "notice: this CPU has no avx512_core_bf16 (oneDNN ISA 0x%x); "
                     "running inference in fp32",
                     (unsigned)isa);
        }
    }
    // per-image shapes (C, H, W) of each stage
    int64_t h = down2(down2(cfg.height, 7, 3), 3, 1), w = down2(down2(cfg.width, 7, 3), 3, 1);
    for (int s = PN_INFER_STEM; s <= PN_INFER_LAYER4; s++) {
        if (s >= PN_INFER_LAYER2) h = down2(h, 3, 1), w = down2(w, 3, 1);
        int64_t c = s == PN_INFER_STEM ? 64 : 64 << (s - 1);
        e->shp[s][0] = c, e->shp[s][1] = h, e->shp[s][2] = w;
    }
    e->shp[PN_INFER_POOL][0] = 512, e->shp[PN_INFER_POOL][1] = e->shp[PN_INFER_POOL][2] = 1;

    pn_status st = pn_inet_gather(&e->net, sd, cfg.stop, err);
    if (st != PN_OK) {
        free(e);
        return st;
    }
    e->shp[PN_INFER_LOGITS][0] = e->net.ncls;
    e->shp[PN_INFER_LOGITS][1] = e->shp[PN_INFER_LOGITS][2] = 1;
    omp_set_num_threads(e->threads);
    dnnl_status_t s = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&e->strm, e->eng, dnnl_stream_default_flags);
    if (s != dnnl_success)
        st = pn_error_set(err, PN_E_BACKEND, "oneDNN engine: %s", pn_dnnl_status_str(s));
    e->plans = calloc((size_t)cfg.max_batch + 1, sizeof *e->plans);
    e->pool_f32 = malloc(sizeof(float) * 512 * (size_t)cfg.max_batch);
    if (st == PN_OK && (!e->plans || !e->pool_f32))
        st = pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    if (st == PN_OK) st = pn_plan_build(e, cfg.max_batch, &e->plans[cfg.max_batch], err);
    if (st == PN_OK) {
        /* the weights now live in oneDNN's layout; drop the float copies */
        free(e->net.stem.w), e->net.stem.w = NULL;
        for (int j = 0; j < PN_RN_BLOCKS; j++) {
            free(e->net.c1[j].w), e->net.c1[j].w = NULL;
            free(e->net.c2[j].w), e->net.c2[j].w = NULL;
            free(e->net.ds[j].w), e->net.ds[j].w = NULL;
        }
    }
    if (st != PN_OK) {
        pn_infer_free(e);
        return st;
    }
    if (e->notice[0] && err) pn_error_set(err, PN_OK, "%s", e->notice);
    *out = e;
    return PN_OK;
}

pn_status pn_infer_run(pn_infer *e, const float *x, int n, float *out, float *layer4,
                       pn_error *err)
{
    if (!e || !x || !out)
        return pn_error_set(err, PN_E_ARG, "pn_infer_run: NULL engine, input or output");
    if (n < 1 || n > e->cfg.max_batch)
        return pn_error_set(err, PN_E_ARG, "pn_infer_run: batch of %d images is not in 1..%d "
                            "(the engine's max_batch)", n, e->cfg.max_batch);
    if (layer4 && !e->cfg.want_layer4)
        return pn_error_set(err, PN_E_ARG,
                            "pn_infer_run: layer4 output requested but the engine was created "
                            "without want_layer4");
    omp_set_num_threads(e->threads);
    if (!e->plans[n]) PN_TRY(pn_plan_build(e, n, &e->plans[n], err));
    pn_plan *p = e->plans[n];
    int logits = e->cfg.stop == PN_INFER_LOGITS;
    DN(dnnl_memory_set_data_handle(p->in_user, (void *)x), "input");
    DN(dnnl_memory_set_data_handle(p->out_user, logits ? (void *)e->pool_f32 : (void *)out),
       "output");
    if (layer4) DN(dnnl_memory_set_data_handle(p->l4_user, layer4), "layer4 output");
    for (int i = 0; i < p->nst; i++)
        DN(dnnl_primitive_execute(p->st[i].p, e->strm, p->st[i].nargs, p->st[i].a), "forward");
    if (layer4)
        DN(dnnl_primitive_execute(p->l4_reorder.p, e->strm, 2, p->l4_reorder.a), "layer4 output");
    DN(dnnl_primitive_execute(p->out_reorder.p, e->strm, 2, p->out_reorder.a), "output");
    DN(dnnl_stream_wait(e->strm), "forward");
    if (logits) {
        // fc: out (n, K) = pool (n, 512) . fcw (K, 512)^T + fcb, accumulated in double
        int K = e->net.ncls;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++) {
                const float *f = e->pool_f32 + (size_t)i * 512, *wk = e->net.fcw + (size_t)k * 512;
                double acc = e->net.fcb[k];
                for (int j = 0; j < 512; j++) acc += (double)f[j] * wk[j];
                out[(size_t)i * K + k] = (float)acc;
            }
    }
    return PN_OK;
}

static void lm_free(pn_layer_mem *m)
{
    if (m->w) dnnl_memory_destroy(m->w);
    if (m->b) dnnl_memory_destroy(m->b);
    m->w = m->b = NULL;
}

void pn_infer_free(pn_infer *e)
{
    if (!e) return;
    if (e->plans)
        for (int i = 0; i <= e->cfg.max_batch; i++) pn_plan_free(e->plans[i]);
    free(e->plans);
    lm_free(&e->stem);
    for (int j = 0; j < PN_RN_BLOCKS; j++) lm_free(&e->c1[j]), lm_free(&e->c2[j]), lm_free(&e->ds[j]);
    for (int i = 0; i < PN_INFER_NBUF; i++) free(e->buf[i]);
    free(e->pool_f32);
    pn_inet_free(&e->net);
    if (e->strm) dnnl_stream_destroy(e->strm);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e);
}

size_t pn_infer_stage_shape(const pn_infer *e, pn_infer_stage s, int64_t chw[3])
{
    if (!e || (int)s < 0 || s >= PN_INFER_NSTAGES || s > e->cfg.stop) {
        if (chw) chw[0] = chw[1] = chw[2] = 0;
        return 0;
    }
    if (chw) memcpy(chw, e->shp[s], sizeof e->shp[s]);
    return (size_t)(e->shp[s][0] * e->shp[s][1] * e->shp[s][2]);
}

int pn_infer_is_bf16(const pn_infer *e) { return e ? e->bf16 : 0; }
int pn_infer_threads(const pn_infer *e) { return e ? e->threads : 0; }
int pn_infer_num_classes(const pn_infer *e) { return e ? e->net.ncls : 0; }
const char *pn_infer_notice(const pn_infer *e) { return e ? e->notice : ""; }
