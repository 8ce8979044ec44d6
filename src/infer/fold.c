/* BatchNorm folding (eval mode) and gathering ResNet-18 weights from a
 * torchvision-named state dict for the inference engine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

pn_status pn_fold_bn(float *w, float *b, int oc, size_t k, const float *gamma,
                     const float *beta, const float *mean, const float *var, double eps,
                     const char *what, pn_error *err)
{
    // w (oc, k) in place; b (oc)
    for (int o = 0; o < oc; o++) {
        double d = (double)var[o] + eps;
        if (!(d > 0.0))
            return pn_error_set(err, PN_E_NUMERIC, "%s: running_var[%d] = %g gives var+eps <= 0",
                                what, o, (double)var[o]);
        double s = (double)gamma[o] / sqrt(d);
        double bo = (double)beta[o] - (double)mean[o] * s;
        b[o] = (float)bo;
        if (!isfinite(b[o]))
            return pn_error_set(err, PN_E_NUMERIC, "%s: folded bias[%d] is not finite", what, o);
        float *wo = w + (size_t)o * k;
        for (size_t i = 0; i < k; i++) {
            wo[i] = (float)((double)wo[i] * s);
            if (!isfinite(wo[i]))
                return pn_error_set(err, PN_E_NUMERIC, "%s: folded weight [%d, %zu] is not finite",
                                    what, o, i);
        }
    }
    return PN_OK;
}

int pn_inet_blocks_for(pn_infer_stage s)
{
    if (s <= PN_INFER_STEM) return 0;
    if (s <= PN_INFER_LAYER4) return 2 * (int)s;
    return PN_RN_BLOCKS;
}

/* Collects problems ("missing x; y has shape [..], expected [..]") in one message. */
typedef struct problems {
    char msg[900];
    size_t len;
    int n;
} problems;

static void problem(problems *p, const char *fmt, const char *a, const char *b, const char *c)
{
    p->n++;
    if (p->len + 4 >= sizeof p->msg) return;
    char one[200];
    snprintf(one, sizeof one, fmt, a, b, c);
    int w = snprintf(p->msg + p->len, sizeof p->msg - p->len, "%s%s", p->n > 1 ? "; " : "", one);
    if (w < 0 || p->len + (size_t)w >= sizeof p->msg) {
        p->len = sizeof p->msg - 5;
        strcpy(p->msg + p->len, " ...");
        p->len = sizeof p->msg; /* full: stop appending */
    } else {
        p->len += (size_t)w;
    }
}

/* The float tensor `name` with exactly `shape`, or NULL (problem recorded). */
static const pn_tensor *want(problems *p, const pn_statedict *sd, const char *name, int ndim,
                             const int64_t *shape)
{
    char got[96], exp[96];
    const pn_tensor *t = pn_statedict_findc(sd, name);
    if (!t) {
        problem(p, "missing %s", name, "", "");
        return NULL;
    }
    pn_shape_str(ndim, shape, exp, sizeof exp);
    if (t->dtype != PN_F32) {
        problem(p, "%s is %s, expected float", name, pn_dtype_name(t->dtype), "");
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        pn_shape_str(t->ndim, t->shape, got, sizeof got);
        problem(p, "%s has shape %s, expected %s", name, got, exp);
        return NULL;
    }
    return t;
}

/* conv `cname` (oc, ic, k, k) + BatchNorm `bname` (oc) -> c (folded). */
static pn_status gather_conv(pn_iconv *c, problems *p, const pn_statedict *sd, const char *cname,
                             const char *bname, int ic, int oc, int k, int stride, int pad,
                             pn_error *err)
{
    char key[96];
    snprintf(c->name, sizeof c->name, "%s", cname);
    c->ic = ic, c->oc = oc, c->k = k, c->stride = stride, c->pad = pad;
    int64_t ws[4] = {oc, ic, k, k}, vs[1] = {oc};
    snprintf(key, sizeof key, "%s.weight", cname);
    const pn_tensor *w = want(p, sd, key, 4, ws);
    const pn_tensor *bn[4];
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", bname, part[i]);
        bn[i] = want(p, sd, key, 1, vs);
    }
    if (!w || !bn[0] || !bn[1] || !bn[2] || !bn[3]) return PN_OK; /* reported in p */
    size_t kk = (size_t)ic * k * k;
    c->w = malloc(sizeof(float) * kk * oc);
    c->b = malloc(sizeof(float) * oc);
    if (!c->w || !c->b)
        return pn_error_set(err, PN_E_NOMEM, "folding %s: out of memory", cname);
    memcpy(c->w, w->data, sizeof(float) * kk * oc);
    return pn_fold_bn(c->w, c->b, oc, kk, bn[0]->data, bn[1]->data, bn[2]->data, bn[3]->data,
                      1e-5, bname, err);
}

pn_status pn_inet_gather(pn_inet *net, const pn_statedict *sd, pn_infer_stage stop, pn_error *err)
{
    memset(net, 0, sizeof *net);
    problems p = {.len = 0, .n = 0};
    pn_status st = gather_conv(&net->stem, &p, sd, "conv1", "bn1", 3, 64, 7, 2, 3, err);
    net->nblocks = pn_inet_blocks_for(stop);
    int cin = 64;
    for (int j = 0; st == PN_OK && j < net->nblocks; j++) {
        int L = j / 2 + 1, B = j % 2, C = 64 << (L - 1);
        int s = (L > 1 && B == 0) ? 2 : 1;
        char cn[40], bn[40];
        snprintf(cn, sizeof cn, "layer%d.%d.conv1", L, B);
        snprintf(bn, sizeof bn, "layer%d.%d.bn1", L, B);
        st = gather_conv(&net->c1[j], &p, sd, cn, bn, cin, C, 3, s, 1, err);
        snprintf(cn, sizeof cn, "layer%d.%d.conv2", L, B);
        snprintf(bn, sizeof bn, "layer%d.%d.bn2", L, B);
        if (st == PN_OK) st = gather_conv(&net->c2[j], &p, sd, cn, bn, C, C, 3, 1, 1, err);
        if (st == PN_OK && L > 1 && B == 0) {
            snprintf(cn, sizeof cn, "layer%d.0.downsample.0", L);
            snprintf(bn, sizeof bn, "layer%d.0.downsample.1", L);
            st = gather_conv(&net->ds[j], &p, sd, cn, bn, cin, C, 1, 2, 0, err);
        }
        cin = C;
    }
    if (st == PN_OK && stop == PN_INFER_LOGITS) {
        const pn_tensor *w = pn_statedict_findc(sd, "fc.weight");
        int64_t ncls = (w && w->ndim == 2 && w->shape[0] >= 1 && w->shape[0] <= (1 << 20))
                           ? w->shape[0] : -1;
        if (w && ncls < 0) {
            char got[96];
            pn_shape_str(w->ndim, w->shape, got, sizeof got);
            problem(&p, "fc.weight has shape %s, expected [num_classes, 512]", got, "", "");
        } else {
            int64_t ws[2] = {ncls < 0 ? 2 : ncls, 512}, bs[1] = {ncls < 0 ? 2 : ncls};
            const pn_tensor *tw = want(&p, sd, "fc.weight", 2, ws);
            const pn_tensor *tb = want(&p, sd, "fc.bias", 1, bs);
            if (tw && tb) {
                net->ncls = (int)ncls;
                net->fcw = malloc(sizeof(float) * 512 * (size_t)ncls);
                net->fcb = malloc(sizeof(float) * (size_t)ncls);
                if (!net->fcw || !net->fcb)
                    st = pn_error_set(err, PN_E_NOMEM, "fc: out of memory");
                else {
                    memcpy(net->fcw, tw->data, sizeof(float) * 512 * (size_t)ncls);
                    memcpy(net->fcb, tb->data, sizeof(float) * (size_t)ncls);
                }
            }
        }
    }
    if (st == PN_OK && p.n)
        st = pn_error_set(err, PN_E_ARG, "ResNet-18 weights: %d problem%s: %s", p.n,
                          p.n > 1 ? "s" : "", p.msg);
    if (st != PN_OK) pn_inet_free(net);
    return st;
}

static void conv_free(pn_iconv *c)
{
    free(c->w), free(c->b);
    c->w = c->b = NULL;
}

void pn_inet_free(pn_inet *net)
{
    conv_free(&net->stem);
    for (int j = 0; j < PN_RN_BLOCKS; j++) conv_free(&net->c1[j]), conv_free(&net->c2[j]), conv_free(&net->ds[j]);
    free(net->fcw), free(net->fcb);
    net->fcw = net->fcb = NULL;
}
