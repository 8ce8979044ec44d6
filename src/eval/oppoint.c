/* Operating points: the threshold a rule chooses on a labelled score set
 * (Youden's J, a sensitivity, specificity or PPV to reach). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/eval.h"

pn_status pn_op_rule_parse(const char *s, pn_op_rule *r, pn_error *err)
{
    static const struct { const char *name; pn_op_kind kind; } k[] = {
        {"sens=", PN_OP_SENS}, {"spec=", PN_OP_SPEC}, {"ppv=", PN_OP_PPV}};
    if (!strcmp(s, "auto") || !strcmp(s, "youden")) {
        *r = (pn_op_rule){PN_OP_YOUDEN, NAN};
        return PN_OK;
    }
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        size_t len = strlen(k[i].name);
        if (strncmp(s, k[i].name, len)) continue;
        char *end;
        errno = 0;
        double v = strtod(s + len, &end);
        if (errno || end == s + len || *end || !(v > 0 && v <= 1))
            return pn_error_set(err, PN_E_ARG, "threshold rule '%s': the target wants a number "
                                "in (0, 1], e.g. %s0.95", s, k[i].name);
        *r = (pn_op_rule){k[i].kind, v};
        return PN_OK;
    }
    return pn_error_set(err, PN_E_ARG,
                        "threshold '%s': want a number in [0, 1], auto (Youden's J), sens=X, "
                        "spec=X or ppv=X", s);
}

const char *pn_op_rule_describe(const pn_op_rule *r, char *buf, size_t n)
{
    switch (r->kind) {
    case PN_OP_SENS: snprintf(buf, n, "sensitivity >= %g", r->target); break;
    case PN_OP_SPEC: snprintf(buf, n, "specificity >= %g", r->target); break;
    case PN_OP_PPV: snprintf(buf, n, "PPV >= %g", r->target); break;
    default: snprintf(buf, n, "Youden's J"); break;
    }
    return buf;
}

pn_status pn_op_threshold(const float *score, const int *label, size_t n, const pn_op_rule *r,
                          double *threshold, double *achieved, pn_error *err)
{
    char what[64];
    pn_op_rule_describe(r, what, sizeof what);
    if (r->kind == PN_OP_YOUDEN) return pn_youden_threshold(score, label, n, threshold, achieved, err);
    pn_roc_point *p;
    size_t np;
    pn_status st = pn_roc_curve(score, label, n, &p, &np, err);
    if (st) return st;
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) npos += label[i] == 1;
    size_t nneg = n - npos;
    if (!npos || !nneg) {
        free(p);
        return pn_error_set(err, PN_E_ARG,
                            "threshold %s: the set that chooses it needs both classes (it has "
                            "%zu positive, %zu negative images)",
                            what, npos, nneg);
    }
    /* points 1.. are the finite thresholds, from the highest score down */
    size_t best = 0;
    double got = NAN, best_other = NAN;
    for (size_t i = 1; i < np; i++) {
        double sens = p[i].tpr, spec = 1 - p[i].fpr;
        double tp = round(sens * (double)npos), fp = round(p[i].fpr * (double)nneg);
        double ppv = tp + fp > 0 ? tp / (tp + fp) : NAN;
        if (r->kind == PN_OP_SENS && sens >= r->target - 1e-12) {
            /* the first (highest threshold) point that reaches it: best specificity */
            best = i;
            got = sens;
            *threshold = p[i].threshold;
            break;
        }
        if (r->kind == PN_OP_SPEC && spec >= r->target - 1e-12) {
            best = i; /* keep walking down: the lowest threshold still reaching it */
            got = spec;
            *threshold = p[i].threshold;
        }
        if (r->kind == PN_OP_PPV && ppv >= r->target - 1e-12) {
            best = i; /* the lowest such threshold: the most sensitive */
            got = ppv;
            *threshold = p[i].threshold;
        }
        double v = r->kind == PN_OP_SPEC ? spec : r->kind == PN_OP_PPV ? ppv : sens;
        if (isfinite(v) && !(best_other >= v)) best_other = v;
    }
    free(p);
    if (best && achieved) *achieved = got;
    if (!best)
        return pn_error_set(err, PN_E_ARG,
                            "threshold %s: no threshold that calls any image positive reaches "
                            "it on these %zu images (the most reachable is %.4f); choose a "
                            "lower target or a fixed --threshold T",
                            what, n, best_other);
    return PN_OK;
}
