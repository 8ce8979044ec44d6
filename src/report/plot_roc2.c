/* roc.png of eval with two models: both ROC curves on one square plot, each
 * model's operating point as a ring in its colour, the AUCs in the legend
 * and DeLong's paired test under the title. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pneumo/report.h"
#include "report/plot.h"

typedef struct roc2_ctx {
    const double *x[2], *y[2];
    int k[2];
    const pn_metrics *m[2];
    const pn_delong_test *t;
    const char *title;
} roc2_ctx;

static pn_status draw_roc2(pn__plot *p, void *vctx, pn_error *err)
{
    const roc2_ctx *r = vctx;
    char t[256], sub[200], key[2][128];
    snprintf(t, sizeof t, "%s", r->title ? r->title : "ROC of two models on the same images");
    if (r->t && isfinite(r->t->p))
        snprintf(sub, sizeof sub, "DeLong: A \u2212 B = %+.3f (95%% CI %+.3f to %+.3f), p = %.3g",
                 r->t->diff, r->t->diff_ci.lo, r->t->diff_ci.hi, r->t->p);
    else snprintf(sub, sizeof sub, "DeLong's paired test undefined (fewer than two of a class)");
    pn__frame f = {.x0 = 100, .y0 = 80, .x1 = 100 + 354, .y1 = 80 + 354};
    f.x = (pn__axis){0, 1, 0.2, "false positive rate (1 - specificity)", 0};
    f.y = (pn__axis){0, 1, 0.2, "true positive rate (sensitivity)", 0};
    pn__axes(p, &f, 1);
    pn__clip(p, &f);
    const double dx[2] = {0, 1};
    pn__series_line(p, &f, dx, dx, 2, pn__series[7], 1.5, 1, 0);
    for (int i = 0; i < 2; i++)
        if (r->k[i] > 1) pn__series_line(p, &f, r->x[i], r->y[i], r->k[i], pn__series[i], 2.5, 0, 0);
    pn__unclip(p);
    for (int i = 0; i < 2; i++) {
        const pn_metrics *m = r->m[i];
        if (!isfinite(m->sensitivity) || !isfinite(m->specificity)) continue;
        double ox = pn__fx(&f, 1 - m->specificity), oy = pn__fy(&f, m->sensitivity);
        cairo_set_source_rgb(p->cr, 1, 1, 1);
        cairo_arc(p->cr, ox, oy, 7.5, 0, 2 * M_PI);
        cairo_fill(p->cr);
        cairo_set_source_rgb(p->cr, pn__series[i].r, pn__series[i].g, pn__series[i].b);
        cairo_set_line_width(p->cr, 3);
        cairo_arc(p->cr, ox, oy, 6, 0, 2 * M_PI);
        cairo_stroke(p->cr);
    }
    for (int i = 0; i < 2; i++) {
        if (isfinite(r->m[i]->auc))
            snprintf(key[i], sizeof key[i], "%s (AUC %.3f)", i ? "B" : "A", r->m[i]->auc);
        else snprintf(key[i], sizeof key[i], "%s (AUC n/a)", i ? "B" : "A");
    }
    pn__title(p, 22, 20, t, sub);
    pn__legend_item it[3] = {{key[0], pn__series[0], PN__KEY_DOTS},
                             {key[1], pn__series[1], PN__KEY_DOTS},
                             {"chance", pn__series[7], PN__KEY_DASH}};
    pn__legend(p, f.x1, 64, it, 3);
    return PN_OK;
}

pn_status pn_plot_roc_pair(const char *path, const pn_split_result *a, const pn_split_result *b,
                           const pn_delong_test *t, const char *title, pn_error *err)
{
    const pn_split_result *s[2] = {a, b};
    double *buf[2] = {NULL, NULL};
    roc2_ctx r = {.t = t, .title = title};
    pn_status st = PN_OK;
    for (int i = 0; i < 2 && !st; i++) {
        size_t n = s[i]->nroc;
        buf[i] = malloc(2 * (n ? n : 1) * sizeof *buf[i]);
        if (!buf[i]) {
            st = pn_error_set(err, PN_E_NOMEM, "plot %s: out of memory", path);
            break;
        }
        double *x = buf[i], *y = buf[i] + (n ? n : 1);
        int k = 0;
        for (size_t j = 0; j < n; j++)
            if (isfinite(s[i]->roc[j].fpr) && isfinite(s[i]->roc[j].tpr)) {
                x[k] = s[i]->roc[j].fpr;
                y[k++] = s[i]->roc[j].tpr;
            }
        r.x[i] = x;
        r.y[i] = y;
        r.k[i] = k;
        r.m[i] = &s[i]->m;
    }
    if (!st) st = pn__plot_png(path, 520, 500, draw_roc2, &r, err);
    free(buf[0]);
    free(buf[1]);
    return st;
}
