/* int8 post-training quantization for the inference engine: the
 * calibration (largest |value| of the input and of every conv output over
 * fp32 forwards), the metadata it is stored as, and turning the folded fp32
 * weights into the int8 plan's inputs (per-channel weight scales, biases in
 * the accumulator's units, output scales). The int8 plan itself is built by
 * plan.c like the fp32 one. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"
#include "pneumo/util.h"

int pn__int8_src(int i)
{
    if (i <= 0) return 0;
    int r = pn__arch[i].role;
    if (r == PN__ROLE_CONV2) return 1 + (i - 1); /* the block's conv1 */
    int blk = pn__arch[i].block;                 /* conv1 / downsample: the block input */
    if (blk == 0) return 1;                      /* stem conv (max pool keeps the range) */
    for (int j = i - 1; j > 0; j--)
        if (pn__arch[j].block == blk - 1 && pn__arch[j].role == PN__ROLE_CONV2) return 1 + j;
    return 1;
}

int pn__int8_signed(int t)
{
    return t == 0 || pn__arch[t - 1].role == PN__ROLE_DOWNSAMPLE;
}

static const char *tensor_name(int t) { return t == 0 ? "input" : pn__arch[t - 1].conv; }

pn_status pn__int8_digest(const pn_statedict *sd, char hex[65], pn_error *err)
{
    pn_sha256 h;
    PN_TRY(pn_sha256_init(&h, err));
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    char key[96];
    for (int i = 0; i < PN__ARCH_NCONV; i++) {
        snprintf(key, sizeof key, "%s.weight", pn__arch[i].conv);
        const pn_tensor *t = pn_statedict_findc(sd, key);
        if (!t || t->dtype != PN_F32) continue;
        pn_sha256_update(&h, key, strlen(key) + 1);
        pn_sha256_update(&h, t->data, t->numel * sizeof(float));
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "%s.%s", pn__arch[i].bn, part[k]);
            const pn_tensor *b = pn_statedict_findc(sd, key);
            if (b && b->dtype == PN_F32) pn_sha256_update(&h, b->data, b->numel * sizeof(float));
        }
    }
    uint8_t d[32];
    pn_sha256_final(&h, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return PN_OK;
}

/* ---- calibration ------------------------------------------------------------ */

static double absmax(const float *v, size_t n, double m)
{
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)v[i]);
        if (a > m) m = a;
    }
    return m;
}

pn_status pn_infer_calibrate(pn_infer *e, const float *x, int n, float *out, pn_error *err)
{
    if (!e || !x) return pn_error_set(err, PN_E_ARG, "pn_infer_calibrate: NULL engine or input");
    if (e->int8 || e->bf16)
        return pn_error_set(err, PN_E_ARG, "int8 calibration needs an fp32 engine");
    if (e->cfg.stop < PN_STAGE_POOL)
        return pn_error_set(err, PN_E_ARG, "int8 calibration needs every conv (stop >= pool)");
    if (n < 1 || n > e->cfg.max_batch)
        return pn_error_set(err, PN_E_ARG, "pn_infer_calibrate: batch of %d images is not in 1..%d",
                            n, e->cfg.max_batch);
    pn__set_threads(e->threads);
    pn__ctx *c = &e->main;
    if (!c->plans[n]) PN_TRY(pn__plan_build(e, c, n, &c->plans[n], err));
    pn__plan *p = c->plans[n];
    int logits = e->cfg.stop == PN_STAGE_LOGITS;
    PN__DNN(dnnl_memory_set_data_handle(p->in_user, (void *)x), "input");
    PN__DNN(dnnl_memory_set_data_handle(p->out_user, logits || !out ? (void *)c->pool_f32 : (void *)out),
            "output");
    e->amax[0] = absmax(x, (size_t)n * 3 * e->cfg.height * e->cfg.width, e->amax[0]);
    for (int i = 0; i < p->nst; i++) {
        PN__DNN(dnnl_primitive_execute(p->st[i].p, e->dnn->stream, p->st[i].nargs, p->st[i].a),
                "forward");
        if (p->st[i].unit < 0) continue;
        PN__DNN(dnnl_stream_wait(e->dnn->stream), "forward");
        dnnl_memory_t dm = p->st[i].a[3].memory;
        const dnnl_memory_desc_t *md;
        void *h;
        dnnl_memory_get_memory_desc(dm, &md);
        PN__DNN(dnnl_memory_get_data_handle(dm, &h), "calibration");
        int t = 1 + p->st[i].unit;
        e->amax[t] = absmax(h, dnnl_memory_desc_get_size(md) / sizeof(float), e->amax[t]);
    }
    PN__DNN(dnnl_primitive_execute(p->out_reorder.p, e->dnn->stream, 2, p->out_reorder.a), "output");
    PN__DNN(dnnl_stream_wait(e->dnn->stream), "forward");
    if (logits && out)
        pn__linear_forward(n, PN__ARCH_FEAT, e->net.ncls, c->pool_f32, e->net.fcw, e->net.fcb, out);
    e->ncalib += n;
    return PN_OK;
}

long pn_infer_calibrated_images(const pn_infer *e) { return e ? e->ncalib : 0; }

pn_status pn_infer_calibration_meta(const pn_infer *e, pn_statedict *sd, pn_error *err)
{
    if (!e || !sd) return pn_error_set(err, PN_E_ARG, "pn_infer_calibration_meta: NULL argument");
    if (e->ncalib < 1)
        return pn_error_set(err, PN_E_ARG, "int8 calibration: no images were run");
    cJSON *o = cJSON_CreateObject();
    for (int t = 0; o && t < PN__INT8_NT; t++) {
        if (!(e->amax[t] > 0) || !isfinite(e->amax[t])) {
            cJSON_Delete(o);
            return pn_error_set(err, PN_E_NUMERIC,
                                "int8 calibration: %s has range %g over %ld images (all zero "
                                "or not finite); the weights or images are not usable",
                                tensor_name(t), e->amax[t], e->ncalib);
        }
        char v[32];
        snprintf(v, sizeof v, "%.9g", (double)(float)e->amax[t]);
        cJSON_AddItemToObject(o, tensor_name(t), cJSON_CreateRaw(v));
    }
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "int8 calibration: out of memory");
    char fmt[16], cls[16];
    snprintf(fmt, sizeof fmt, "%d", PN__INT8_FORMAT);
    snprintf(cls, sizeof cls, "%d", e->net.ncls);
    pn_status st = pn_statedict_set_meta(sd, "pneumo.int8.format", fmt, err);
    if (!st) st = pn_statedict_set_meta(sd, "pneumo.int8.ranges", s, err);
    if (!st) st = pn_statedict_set_meta(sd, "pneumo.int8.weights_sha256", e->digest, err);
    if (!st && e->net.ncls) st = pn_statedict_set_meta(sd, "pneumo.int8.classes", cls, err);
    cJSON_free(s);
    return st;
}

/* ---- the int8 engine's inputs ------------------------------------------------ */

static pn_status read_ranges(pn_infer *e, const pn_statedict *sd, pn_error *err)
{
    const char *fmt = pn_statedict_get_meta(sd, "pneumo.int8.format");
    const char *rs = pn_statedict_get_meta(sd, "pneumo.int8.ranges");
    if (!fmt && !rs)
        return pn_error_set(err, PN_E_FORMAT,
                            "int8: these weights have no int8 calibration; make a quantized "
                            "model with 'pneumo quantize --model M --data DATA -o "
                            "M.int8.safetensors'");
    char *end = NULL;
    long v = fmt ? strtol(fmt, &end, 10) : 0;
    if (!fmt || !*fmt || *end || v != PN__INT8_FORMAT)
        return pn_error_set(err, PN_E_FORMAT,
                            "int8: calibration format %s is not the one this pneumo reads (%d); "
                            "quantize the fp32 model again with 'pneumo quantize'",
                            fmt ? fmt : "(none: an older pneumo)", PN__INT8_FORMAT);
    const char *dg = pn_statedict_get_meta(sd, "pneumo.int8.weights_sha256");
    if (!dg || strcmp(dg, e->digest))
        return pn_error_set(err, PN_E_FORMAT,
                            "int8: the calibration was measured on other weights (weights "
                            "digest %.12s..., calibration's %.12s...); quantize this model again",
                            e->digest, dg ? dg : "(none)");
    const char *cs = pn_statedict_get_meta(sd, "pneumo.int8.classes");
    if (e->cfg.stop == PN_STAGE_LOGITS && cs && atoi(cs) != e->net.ncls)
        return pn_error_set(err, PN_E_FORMAT,
                            "int8: the model was quantized for %s classes but its head has %d; "
                            "quantize this model again",
                            cs, e->net.ncls);
    cJSON *o = rs ? cJSON_Parse(rs) : NULL;
    pn_status st = PN_OK;
    if (!cJSON_IsObject(o))
        st = pn_error_set(err, PN_E_FORMAT, "int8: pneumo.int8.ranges is not a JSON object");
    for (int t = 0; st == PN_OK && t < PN__INT8_NT; t++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, tensor_name(t));
        double a = cJSON_IsNumber(r) ? r->valuedouble : -1;
        if (!(a > 0) || !isfinite(a) || a > 1e30)
            st = pn_error_set(err, PN_E_FORMAT, "int8: pneumo.int8.ranges has no usable range "
                              "for %s", tensor_name(t));
        else
            e->q[t] = (float)(a / (pn__int8_signed(t) ? 127.0 : 255.0));
    }
    cJSON_Delete(o);
    return st;
}

pn_status pn__int8_prepare(pn_infer *e, const pn_statedict *sd, pn_error *err)
{
    PN_TRY(read_ranges(e, sd, err));
    for (int i = 0; i < PN__ARCH_NCONV; i++) {
        pn__iconv *c = &e->net.conv[i];
        if (!c->u || !c->w) continue;
        int oc = c->u->cout;
        size_t kk = (size_t)c->u->cin * c->u->k * c->u->k;
        double qs = e->q[pn__int8_src(i)], qd = e->q[1 + i];
        c->os = malloc(sizeof(float) * (size_t)oc);
        if (!c->os) return pn_error_set(err, PN_E_NOMEM, "int8 %s: out of memory", c->u->conv);
        for (int o = 0; o < oc; o++) {
            float *w = c->w + (size_t)o * kk;
            double m = 0;
            for (size_t k = 0; k < kk; k++) m = fmax(m, fabs((double)w[k]));
            double qw = m > 0 ? m / 127.0 : 1.0;
            for (size_t k = 0; k < kk; k++) w[k] = (float)((double)w[k] / qw);
            c->b[o] = (float)((double)c->b[o] / (qs * qw));
            c->os[o] = (float)(qs * qw / qd);
        }
    }
    return PN_OK;
}
