/* The ResNet-18 inference engine: creation (checks, BN folding, the base
 * plan), the run (plan per batch size, output reorders, the fc head through
 * the ops' linear layer) and the accessors. The oneDNN plans are built in
 * plan.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

pn_infer_config pn_infer_config_default(void)
{
    return (pn_infer_config){.max_batch = 32, .height = 224, .width = 224, .threads = 0,
                             .bf16 = 0, .stop = PN_STAGE_LOGITS, .want_layer4 = 0,
                             .int8 = 0, .winograd = 0};
}

void pn_infer_config_set_mode(pn_infer_config *cfg, int mode)
{
    cfg->bf16 = (mode & PN_INFER_BF16) != 0;
    cfg->int8 = (mode & PN_INFER_INT8) != 0;
    cfg->winograd = (mode & PN_INFER_WINOGRAD) != 0;
}

static void add_notice(pn_infer *e, const char *fmt, unsigned isa)
{
    size_t k = strlen(e->notice);
    if (k) snprintf(e->notice + k, sizeof e->notice - k, "; ");
    k = strlen(e->notice);
    snprintf(e->notice + k, sizeof e->notice - k, fmt, isa);
}

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
    if ((int)cfg.stop < PN_STAGE_STEM || cfg.stop >= PN_STAGE_COUNT)
        return pn_error_set(err, PN_E_ARG, "inference: unknown stop stage %d", (int)cfg.stop);
    if (cfg.want_layer4 && cfg.stop < PN_STAGE_LAYER4)
        return pn_error_set(err, PN_E_ARG,
                            "inference: want_layer4 needs stop >= layer4 (stop is %s)",
                            pn_stage_name(cfg.stop));
    if (cfg.int8 && (cfg.bf16 || cfg.winograd))
        return pn_error_set(err, PN_E_ARG, "inference: int8 cannot be combined with %s",
                            cfg.bf16 ? "bf16" : "winograd");
    if (cfg.bf16 && cfg.winograd)
        return pn_error_set(err, PN_E_ARG, "inference: winograd is fp32 only, not with bf16");
    pn_infer *e = calloc(1, sizeof *e);
    if (!e) return pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    e->cfg = cfg;
    e->threads = cfg.threads ? cfg.threads : pn__dnn_cores();
    e->bf16 = cfg.bf16 != 0;
    e->int8 = cfg.int8 != 0;
    e->winograd = cfg.winograd != 0;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (e->bf16 && (isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
        e->bf16 = 0;
        add_notice(e, "notice: this CPU has no avx512_core_bf16 (oneDNN ISA 0x%x); "
                      "running inference in fp32", (unsigned)isa);
    }
    if (e->winograd && (isa & dnnl_cpu_isa_avx512_core) != dnnl_cpu_isa_avx512_core) {
        e->winograd = 0; /* oneDNN 2.6: jit:avx512_core winograd only */
        add_notice(e, "notice: oneDNN has no Winograd convolution for this CPU (ISA 0x%x, "
                      "it needs avx512_core); running fp32 direct", (unsigned)isa);
    }
    if (e->int8 && pn__dnn_cpu_block() < 8) {
        e->int8 = 0; /* below AVX2 oneDNN's int8 convs are its reference code */
        add_notice(e, "notice: oneDNN has no fast int8 convolution for this CPU (ISA 0x%x, "
                      "it needs avx2 or later); running inference in fp32", (unsigned)isa);
    }
    // per-image shapes (C, H, W) of each stage (LOGITS once the classes are known)
    for (int s = PN_STAGE_STEM; s <= PN_STAGE_POOL; s++) {
        int c, h, w;
        pn__arch_stage_shape((pn_stage)s, cfg.height, cfg.width, 0, &c, &h, &w);
        e->shp[s][0] = c, e->shp[s][1] = h, e->shp[s][2] = w;
    }

    pn_status st = pn__inet_gather(&e->net, sd, cfg.stop, err);
    if (st != PN_OK) {
        free(e);
        return st;
    }
    st = pn__int8_digest(sd, e->digest, err);
    if (st == PN_OK && e->int8) st = pn__int8_prepare(e, sd, err);
    if (st != PN_OK) {
        pn__inet_free(&e->net);
        free(e);
        return st;
    }
    e->shp[PN_STAGE_LOGITS][0] = e->net.ncls;
    e->shp[PN_STAGE_LOGITS][1] = e->shp[PN_STAGE_LOGITS][2] = 1;
    pn__set_threads(e->threads);
    st = pn__dnn_create(&e->dnn, err);
    if (st == PN_OK) st = pn__ctx_init(e, &e->main, cfg.max_batch, 0, err);
    if (st == PN_OK) st = pn__sched_init(e, err);
    if (st == PN_OK && !e->winograd) /* the weights live in oneDNN's layout now: drop the
                                        float copies (winograd: see weights_for in plan.c) */
        for (int i = 0; i < PN__ARCH_NCONV; i++) free(e->net.conv[i].w), e->net.conv[i].w = NULL;
    if (st != PN_OK) {
        pn_infer_free(e);
        return st;
    }
    if (e->notice[0] && err) pn_error_set(err, PN_OK, "%s", e->notice);
    *out = e;
    return PN_OK;
}

pn_status pn__ctx_init(pn_infer *e, pn__ctx *c, int max_batch, int own_stream, pn_error *err)
{
    c->max_batch = max_batch;
    c->plans = calloc((size_t)max_batch + 1, sizeof *c->plans);
    c->pool_f32 = malloc(sizeof(float) * 512 * (size_t)max_batch);
    if (!c->plans || !c->pool_f32) return pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    if (own_stream)
        PN__DNN(dnnl_stream_create(&c->stream, e->dnn->eng, dnnl_stream_default_flags), "stream");
    return pn__plan_build(e, c, max_batch, &c->plans[max_batch], err);
}

void pn__ctx_free(pn__ctx *c)
{
    if (c->plans)
        for (int i = 0; i <= c->max_batch; i++) pn__plan_free(c->plans[i]);
    free(c->plans);
    for (int i = 0; i < PN_INFER_NBUF; i++) free(c->buf[i]);
    free(c->pool_f32);
    if (c->stream) dnnl_stream_destroy(c->stream);
    memset(c, 0, sizeof *c);
}

pn_status pn__ctx_run(pn_infer *e, pn__ctx *c, const float *x, int n, float *out, float *layer4,
                      pn_error *err)
{
    if (!c->plans[n]) PN_TRY(pn__plan_build(e, c, n, &c->plans[n], err));
    pn__plan *p = c->plans[n];
    dnnl_stream_t sm = c->stream ? c->stream : e->dnn->stream;
    int logits = e->cfg.stop == PN_STAGE_LOGITS;
    PN__DNN(dnnl_memory_set_data_handle(p->in_user, (void *)x), "input");
    PN__DNN(dnnl_memory_set_data_handle(p->out_user, logits ? (void *)c->pool_f32 : (void *)out),
            "output");
    if (layer4) PN__DNN(dnnl_memory_set_data_handle(p->l4_user, layer4), "layer4 output");
    for (int i = 0; i < p->nst; i++)
        PN__DNN(dnnl_primitive_execute(p->st[i].p, sm, p->st[i].nargs, p->st[i].a), "forward");
    if (layer4)
        PN__DNN(dnnl_primitive_execute(p->l4_reorder.p, sm, 2, p->l4_reorder.a), "layer4 output");
    PN__DNN(dnnl_primitive_execute(p->out_reorder.p, sm, 2, p->out_reorder.a), "output");
    PN__DNN(dnnl_stream_wait(sm), "forward");
    if (logits) // fc: out (n, K) = pool (n, 512) . fcw (K, 512)^T + fcb, accumulated in double
        pn__linear_forward(n, PN__ARCH_FEAT, e->net.ncls, c->pool_f32, e->net.fcw, e->net.fcb, out);
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
    if (pn__sched_applies(e, n)) return pn__sched_run(e, x, n, out, layer4, err);
    pn__set_threads(e->threads);
    return pn__ctx_run(e, &e->main, x, n, out, layer4, err);
}

static void lm_free(pn__layer_mem *m)
{
    if (m->w) dnnl_memory_destroy(m->w);
    if (m->b) dnnl_memory_destroy(m->b);
    m->w = m->b = NULL;
}

void pn_infer_free(pn_infer *e)
{
    if (!e) return;
    for (int i = 0; i < e->nwork && e->work; i++) pn__ctx_free(&e->work[i]);
    free(e->work);
    pn__ctx_free(&e->main);
    for (int i = 0; i < PN__ARCH_NCONV; i++) lm_free(&e->lm[i]);
    pn__inet_free(&e->net);
    pn__dnn_free(e->dnn);
    free(e);
}

size_t pn_infer_stage_shape(const pn_infer *e, pn_stage s, int64_t chw[3])
{
    if (!e || (int)s < PN_STAGE_STEM || s >= PN_STAGE_COUNT || s > e->cfg.stop) {
        if (chw) chw[0] = chw[1] = chw[2] = 0;
        return 0;
    }
    if (chw) memcpy(chw, e->shp[s], sizeof e->shp[s]);
    return (size_t)(e->shp[s][0] * e->shp[s][1] * e->shp[s][2]);
}

int pn_infer_is_bf16(const pn_infer *e) { return e ? e->bf16 : 0; }
int pn_infer_is_int8(const pn_infer *e) { return e ? e->int8 : 0; }
int pn_infer_is_winograd(const pn_infer *e) { return e ? e->winograd : 0; }
int pn_infer_threads(const pn_infer *e) { return e ? e->threads : 0; }
int pn_infer_num_classes(const pn_infer *e) { return e ? e->net.ncls : 0; }
const char *pn_infer_notice(const pn_infer *e) { return e ? e->notice : ""; }
