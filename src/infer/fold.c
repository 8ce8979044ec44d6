/* BatchNorm folding (eval mode) and gathering the ResNet-18 weights of the
 * arch table (src/model/arch.c) from a torchvision-named state dict for the
 * inference engine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

pn_status pn__fold_bn(float *w, float *b, int oc, size_t k, const float *gamma,
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

/* The float tensor `name` with exactly `shape`, or NULL (problem recorded). */
static const pn_tensor *want(pn__keylist *p, const pn_statedict *sd, const char *name, int ndim,
                             const int64_t *shape)
{
    char got[96], exp[96];
    const pn_tensor *t = pn_statedict_findc(sd, name);
    if (!t) {
        pn__keylist_add(p, "missing %s", name);
        return NULL;
    }
    pn_shape_str(ndim, shape, exp, sizeof exp);
    if (t->dtype != PN_F32) {
        pn__keylist_add(p, "%s is %s, expected float", name, pn_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        pn_shape_str(t->ndim, t->shape, got, sizeof got);
        pn__keylist_add(p, "%s has shape %s, expected %s", name, got, exp);
        return NULL;
    }
    return t;
}

/* conv u->conv (oc, ic, k, k) + BatchNorm u->bn (oc) -> c (folded). */
static pn_status gather_conv(pn__iconv *c, const pn__arch_unit *u, pn__keylist *p,
                             const pn_statedict *sd, pn_error *err)
{
    char key[96];
    c->u = u;
    int64_t ws[4] = {u->cout, u->cin, u->k, u->k}, vs[1] = {u->cout};
    snprintf(key, sizeof key, "%s.weight", u->conv);
    const pn_tensor *w = want(p, sd, key, 4, ws);
    const pn_tensor *bn[4];
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", u->bn, part[i]);
        bn[i] = want(p, sd, key, 1, vs);
    }
    if (!w || !bn[0] || !bn[1] || !bn[2] || !bn[3]) return PN_OK; /* reported in p */
    size_t kk = (size_t)u->cin * u->k * u->k;
    c->w = malloc(sizeof(float) * kk * u->cout);
    c->b = malloc(sizeof(float) * u->cout);
    if (!c->w || !c->b)
        return pn_error_set(err, PN_E_NOMEM, "folding %s: out of memory", u->conv);
    memcpy(c->w, w->data, sizeof(float) * kk * u->cout);
    return pn__fold_bn(c->w, c->b, u->cout, kk, bn[0]->data, bn[1]->data, bn[2]->data,
                       bn[3]->data, 1e-5, u->bn, err);
}

pn_status pn__inet_gather(pn__inet *net, const pn_statedict *sd, pn_stage stop, pn_error *err)
{
    memset(net, 0, sizeof *net);
    pn__keylist p;
    pn__keylist_init(&p, "; ");
    pn_status st = PN_OK;
    net->nblocks = pn__arch_stage_blocks(stop);
    for (int i = 0; st == PN_OK && i < PN__ARCH_NCONV; i++)
        if (pn__arch[i].block < net->nblocks) /* the stem (-1) always */
            st = gather_conv(&net->conv[i], &pn__arch[i], &p, sd, err);
    if (st == PN_OK && stop == PN_STAGE_LOGITS) {
        const pn_tensor *w = pn_statedict_findc(sd, "fc.weight");
        int64_t ncls = (w && w->ndim == 2 && w->shape[0] >= 1 && w->shape[0] <= (1 << 20))
                           ? w->shape[0] : -1;
        if (w && ncls < 0) {
            char got[96];
            pn_shape_str(w->ndim, w->shape, got, sizeof got);
            pn__keylist_add(&p, "fc.weight has shape %s, expected [num_classes, 512]", got);
        } else {
            int64_t ws[2] = {ncls < 0 ? 2 : ncls, PN__ARCH_FEAT}, bs[1] = {ncls < 0 ? 2 : ncls};
            const pn_tensor *tw = want(&p, sd, "fc.weight", 2, ws);
            const pn_tensor *tb = want(&p, sd, "fc.bias", 1, bs);
            if (tw && tb) {
                net->ncls = (int)ncls;
                net->fcw = malloc(sizeof(float) * PN__ARCH_FEAT * (size_t)ncls);
                net->fcb = malloc(sizeof(float) * (size_t)ncls);
                if (!net->fcw || !net->fcb)
                    st = pn_error_set(err, PN_E_NOMEM, "fc: out of memory");
                else {
                    memcpy(net->fcw, tw->data, sizeof(float) * PN__ARCH_FEAT * (size_t)ncls);
                    memcpy(net->fcb, tb->data, sizeof(float) * (size_t)ncls);
                }
            }
        }
    }
    if (st == PN_OK && p.count)
        st = pn_error_set(err, PN_E_ARG, "ResNet-18 weights: %d problem%s: %s", p.count,
                          p.count > 1 ? "s" : "", pn__keylist_str(&p));
    if (st != PN_OK) pn__inet_free(net);
    return st;
}

void pn__inet_free(pn__inet *net)
{
    for (int i = 0; i < PN__ARCH_NCONV; i++) {
        free(net->conv[i].w), free(net->conv[i].b), free(net->conv[i].os);
        net->conv[i].w = net->conv[i].b = net->conv[i].os = NULL;
    }
    free(net->fcw), free(net->fcb);
    net->fcw = net->fcb = NULL;
}
