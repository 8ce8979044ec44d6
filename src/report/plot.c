/* PNG plots with PLplot (pngcairo): training curves, confusion matrix, ROC.
 * Device, temporary file, error handling and the atomic write are
 * pn_plot_png's (src/core/plot_png.c); this file only draws. */
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/plot_png.h"
#include "pneumo/report.h"

/* colour map 0 from 1: axes/text black, blue, orange, grey, green */
static const unsigned char palette[5][3] = {
    {0, 0, 0}, {31, 119, 180}, {255, 127, 14}, {150, 150, 150}, {44, 160, 44}};

static void minmax(const double *v, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
}

/* one panel: train (blue) and val (orange) lines over epochs */
static void panel(const double *ep, const double *tr, const double *va, int n, const char *ylab,
                  const char *title, double lo, double hi)
{
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    double pad = 0.08 * (hi - lo);
    plcol0(1);
    plenv(0.5, n + 0.5, lo - pad, hi + pad, 0, 0);
    pllab("epoch", ylab, title);
    plwidth(2.0);
    plcol0(2);
    if (n > 1) plline(n, ep, tr);
    plpoin(n, ep, tr, 17);
    int nv = 0;
    double ve[1024], vv[1024];
    for (int i = 0; i < n && nv < 1024; i++)
        if (isfinite(va[i])) {
            ve[nv] = ep[i];
            vv[nv++] = va[i];
        }
    plcol0(3);
    if (nv > 1) plline(nv, ve, vv);
    if (nv) plpoin(nv, ve, vv, 17);
    plwidth(1.0);
    /* legend */
    PLINT opt[2] = {PL_LEGEND_LINE | PL_LEGEND_SYMBOL, PL_LEGEND_LINE | PL_LEGEND_SYMBOL};
    PLINT tcol[2] = {1, 1}, lcol[2] = {2, 3}, lsty[2] = {1, 1}, scol[2] = {2, 3}, snum[2] = {1, 1};
    PLFLT lw[2] = {2, 2}, ssc[2] = {1, 1};
    const char *txt[2] = {"train", "val"}, *sym[2] = {"#(728)", "#(728)"};
    PLFLT lwid, lhei;
    pllegend(&lwid, &lhei, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_BOTTOM | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 1, 1,
             0, 0, nv ? 2 : 1, opt, 1.0, 1.0, 2.0, 1.0, tcol, txt, NULL, NULL, NULL, NULL, lcol,
             lsty, lw, scol, ssc, snum, sym);
}

typedef struct curves_ctx {
    const double *ep, *tl, *vl, *ta, *vacc; /* (n) each */
    int n;
    double lo, hi; /* loss axis */
} curves_ctx;

static void draw_curves(void *vctx)
{
    const curves_ctx *k = vctx;
    plssub(2, 1);
    /* plenv advances to the next subpage itself */
    panel(k->ep, k->tl, k->vl, k->n, "loss", "Loss per epoch", k->lo, k->hi);
    panel(k->ep, k->ta, k->vacc, k->n, "accuracy", "Accuracy per epoch", 0, 1);
}

pn_status pn_plot_curves(const char *path, const pn_epoch_stats *hist, int n, pn_error *err)
{
    if (n < 1 || n > 1024) return pn_error_set(err, PN_E_ARG, "plot %s: %d epochs", path, n);
    double *ep = malloc(5 * (size_t)n * sizeof *ep);
    if (!ep) return pn_error_set(err, PN_E_NOMEM, "plot %s: out of memory", path);
    double *tl = ep + n, *vl = tl + n, *ta = vl + n, *vacc = ta + n;
    for (int i = 0; i < n; i++) {
        ep[i] = hist[i].epoch;
        tl[i] = hist[i].train_loss;
        vl[i] = hist[i].val_loss;
        ta[i] = hist[i].train_acc;
        vacc[i] = hist[i].val_acc;
    }
    double lo = INFINITY, hi = -INFINITY;
    minmax(tl, n, &lo, &hi);
    minmax(vl, n, &lo, &hi);
    if (lo > 0) lo = 0;
    curves_ctx k = {ep, tl, vl, ta, vacc, n, lo, hi};
    pn_status st = pn_plot_png(path, 1100, 450, palette, 5, draw_curves, &k, err);
    free(ep);
    return st;
}

typedef struct confusion_ctx {
    const pn_metrics *m;
    const char *const *class_names;
    const char *title;
} confusion_ctx;

static void draw_confusion(void *vctx)
{
    const confusion_ctx *k = vctx;
    const pn_metrics *m = k->m;
    const char *const *class_names = k->class_names;
    const char *title = k->title;
    pladv(0);
    plvpor(0.22, 0.92, 0.16, 0.86);
    plwind(0, 2, 0, 2);
    /* rows: true label (NORMAL top), columns: predicted */
    size_t cell[2][2] = {{m->tn, m->fp}, {m->fn, m->tp}};
    size_t mx = 1;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) mx = cell[r][c] > mx ? cell[r][c] : mx;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) {
            double f = (double)cell[r][c] / (double)mx;
            int shade = 245 - (int)(f * 125); /* light (few) to mid blue (most) */
            plscol0(6, shade, shade + 8, 255);
            plcol0(6);
            double x0 = c, y0 = 1 - r;
            PLFLT xs[4] = {x0, x0 + 1, x0 + 1, x0}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
            plfill(4, xs, ys);
            plcol0(1);
            char num[64];
            snprintf(num, sizeof num, "%zu", cell[r][c]);
            plschr(0, 2.2);
            plptex(x0 + 0.5, y0 + 0.45, 1, 0, 0.5, num);
            plschr(0, 1.0);
        }
    plcol0(1);
    PLFLT gx[2] = {1, 1}, gy[2] = {0, 2};
    plline(2, gx, gy);
    plline(2, gy, gx);
    plbox("bc", 1, 0, "bc", 1, 0);
    plmtex("b", 1.5, 0.25, 0.5, class_names[0]);
    plmtex("b", 1.5, 0.75, 0.5, class_names[1]);
    plmtex("b", 3.2, 0.5, 0.5, "predicted");
    plmtex("l", 1.0, 0.75, 1.0, class_names[0]);
    plmtex("l", 1.0, 0.25, 1.0, class_names[1]);
    plmtex("l", 7.5, 0.5, 0.5, "true label");
    char t[256];
    snprintf(t, sizeof t, "%s (threshold %.3f)", title ? title : "Confusion matrix",
             m->threshold);
    plmtex("t", 1.5, 0.5, 0.5, t);
}

pn_status pn_plot_confusion(const char *path, const pn_metrics *m, const char *const *class_names,
                            const char *title, pn_error *err)
{
    confusion_ctx k = {m, class_names, title};
    return pn_plot_png(path, 520, 500, palette, 5, draw_confusion, &k, err);
}

typedef struct roc_ctx {
    const double *x, *y; /* (k) finite points */
    int k;
    const char *title;
} roc_ctx;

static void draw_roc(void *vctx)
{
    const roc_ctx *r = vctx;
    plcol0(1);
    plenv(0, 1, 0, 1, 1, 0);
    pllab("false positive rate (1 - specificity)", "true positive rate (sensitivity)", r->title);
    PLFLT dx[2] = {0, 1}, dy[2] = {0, 1};
    plcol0(4);
    pllsty(2);
    plline(2, dx, dy);
    pllsty(1);
    plcol0(2);
    plwidth(2.5);
    if (r->k > 1) plline(r->k, r->x, r->y);
    plwidth(1.0);
}

pn_status pn_plot_roc(const char *path, const pn_roc_point *pts, size_t n, double auc,
                      const char *title, pn_error *err)
{
    char t[256];
    if (isfinite(auc)) snprintf(t, sizeof t, "%s: AUC %.4f", title ? title : "ROC", auc);
    else snprintf(t, sizeof t, "%s: AUC undefined (one class)", title ? title : "ROC");
    PLFLT *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return pn_error_set(err, PN_E_NOMEM, "plot %s: out of memory", path);
    }
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(pts[i].fpr) && isfinite(pts[i].tpr)) {
            x[k] = pts[i].fpr;
            y[k++] = pts[i].tpr;
        }
    roc_ctx r = {x, y, k, t};
    pn_status st = pn_plot_png(path, 520, 500, palette, 5, draw_roc, &r, err);
    free(x);
    free(y);
    return st;
}
