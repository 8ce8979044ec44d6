/* The training charts: curves.png (loss and accuracy per epoch, train vs
 * val), confusion.png (counts and row percentages) and roc.png (with the
 * AUC). Layout only: axes, text, legends and the atomic PNG are plot.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/report.h"
#include "report/plot.h"

#define TRAIN_RGB pn__series[0]
#define VAL_RGB pn__series[1]

/* ---- curves.png ---------------------------------------------------------- */

enum { CURVES_W = 1100, CURVES_H = 450, MAX_EPOCHS = 100000 };

typedef struct curves_ctx {
    const double *ep, *tl, *vl, *ta, *va; /* (n) each */
    int n, has_val;
} curves_ctx;

static void minmax2(const double *a, const double *b, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            double v = k ? b[i] : a[i];
            if (isfinite(v)) {
                if (v < *lo) *lo = v;
                if (v > *hi) *hi = v;
            }
        }
}

/* one panel in [px, px+pw): train and val over epochs, title and legend above */
static void curve_panel(pn__plot *p, const curves_ctx *k, double px, double pw, const char *title,
                        const char *ylab, const double *tr, const double *va, int acc)
{
    pn__frame f = {.x0 = px + 84, .y0 = 62, .x1 = px + pw - 26, .y1 = CURVES_H - 62};
    f.x.lo = 0.5;
    f.x.hi = k->n + 0.5;
    f.x.step = k->n <= 12 ? 1 : ceil(k->n / 10.0);
    if (f.x.step > 1) { /* 2, 5, 10, 20, 25, 50, ... */
        double e = pow(10, floor(log10(f.x.step))), m = f.x.step / e;
        f.x.step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 && e >= 10 ? 2.5 : m <= 5 ? 5 : 10) * e;
    }
    f.x.label = "epoch";
    double lo, hi;
    minmax2(tr, va, k->n, &lo, &hi);
    if (acc) pn__axis_fit(&f.y, lo, hi, 5, 0, 0, 1);
    else pn__axis_fit(&f.y, lo, hi, 5, 0, 0, INFINITY);
    f.y.percent = acc;
    f.y.label = ylab;
    pn__axes(p, &f, 1);
    double dot = k->n <= 40 ? 4 : 0;
    pn__clip(p, &f);
    pn__series_line(p, &f, k->ep, tr, k->n, TRAIN_RGB, 2.5, 0, dot);
    if (k->has_val) pn__series_line(p, &f, k->ep, va, k->n, VAL_RGB, 2.5, 0, dot);
    pn__unclip(p);
    pn__title(p, f.x0, 30, title, NULL);
    pn__legend_item it[2] = {{"train", TRAIN_RGB, PN__KEY_DOTS}, {"val", VAL_RGB, PN__KEY_DOTS}};
    pn__legend(p, f.x1, 30, it, k->has_val ? 2 : 1);
}

static pn_status draw_curves(pn__plot *p, void *vctx, pn_error *err)
{
    const curves_ctx *k = vctx;
    curve_panel(p, k, 0, CURVES_W / 2.0, "Loss per epoch", "cross-entropy loss", k->tl, k->vl, 0);
    curve_panel(p, k, CURVES_W / 2.0, CURVES_W / 2.0, "Accuracy per epoch", "accuracy", k->ta,
                k->va, 1);
    return PN_OK;
}

pn_status pn_plot_curves(const char *path, const pn_epoch_stats *hist, int n, pn_error *err)
{
    if (!hist || n < 1 || n > MAX_EPOCHS)
        return pn_error_set(err, PN_E_ARG, "plot %s: %d epochs", path, n);
    double *ep = malloc(5 * (size_t)n * sizeof *ep);
    if (!ep) return pn_error_set(err, PN_E_NOMEM, "plot %s: out of memory", path);
    curves_ctx k = {ep, ep + n, ep + 2 * n, ep + 3 * n, ep + 4 * n, n, 0};
    for (int i = 0; i < n; i++) {
        ep[i] = hist[i].epoch;
        ep[n + i] = hist[i].train_loss;
        ep[2 * n + i] = hist[i].val_loss;
        ep[3 * n + i] = hist[i].train_acc;
        ep[4 * n + i] = hist[i].val_acc;
        k.has_val |= isfinite(hist[i].val_loss) || isfinite(hist[i].val_acc);
    }
    pn_status st = pn__plot_png(path, CURVES_W, CURVES_H, draw_curves, &k, err);
    free(ep);
    return st;
}

/* ---- confusion.png ------------------------------------------------------- */

enum { SQUARE_W = 520, SQUARE_H = 500 };

typedef struct confusion_ctx {
    const pn_metrics *m;
    const char *const *class_names;
    const char *title;
} confusion_ctx;

static void pct_text(char *buf, size_t n, const char *name, double v)
{
    if (isfinite(v)) snprintf(buf, n, "%s %.1f%%", name, 100 * v);
    else snprintf(buf, n, "%s n/a", name);
}

static pn_status draw_confusion(pn__plot *p, void *vctx, pn_error *err)
{
    const confusion_ctx *k = vctx;
    const pn_metrics *m = k->m;
    const char *neg = k->class_names && k->class_names[0] ? k->class_names[0] : "negative";
    const char *pos = k->class_names && k->class_names[1] ? k->class_names[1] : "positive";
    const char *names[2] = {neg, pos};
    char t[256], sub[256];
    if (k->title) snprintf(t, sizeof t, "Confusion matrix: %s", k->title);
    else snprintf(t, sizeof t, "Confusion matrix");
    snprintf(sub, sizeof sub, "threshold %.3f on P(%s); %% of the true class's row", m->threshold,
             pos);
    pn__title(p, 22, 26, t, sub);

    /* rows: true label (negative on top); columns: predicted */
    size_t cell[2][2] = {{m->tn, m->fp}, {m->fn, m->tp}};
    double x0 = 150, x1 = SQUARE_W - 24, y0 = 112, y1 = SQUARE_H - 62;
    double cw = (x1 - x0) / 2, ch = (y1 - y0) / 2;
    const pn__rgb light = {0.937, 0.953, 0.984}, dark = {0.078, 0.306, 0.600};
    for (int r = 0; r < 2; r++) {
        size_t row = cell[r][0] + cell[r][1];
        for (int c = 0; c < 2; c++) {
            double frac = row ? (double)cell[r][c] / (double)row : 0;
            pn__rgb fill = pn__mix(light, dark, frac);
            double cx = x0 + c * cw, cy = y0 + r * ch;
            cairo_set_source_rgb(p->cr, fill.r, fill.g, fill.b);
            cairo_rectangle(p->cr, cx, cy, cw, ch);
            cairo_fill(p->cr);
            pn__rgb ink = frac > 0.55 ? (pn__rgb){1, 1, 1} : pn__ink;
            char num[64], pct[64];
            snprintf(num, sizeof num, "%zu", cell[r][c]);
            if (row) snprintf(pct, sizeof pct, "%.1f%%", 100 * frac);
            else snprintf(pct, sizeof pct, "n/a");
            pn__text(p, cx + cw / 2, cy + ch / 2 - 12, 30, 1, 0.5, 0.5, 0, ink, num);
            pn__text(p, cx + cw / 2, cy + ch / 2 + 24, 15, 0, 0.5, 0.5, 0, ink, pct);
        }
    }
    /* cell borders */
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_set_line_width(p->cr, 2);
    cairo_move_to(p->cr, x0 + cw, y0);
    cairo_line_to(p->cr, x0 + cw, y1);
    cairo_move_to(p->cr, x0, y0 + ch);
    cairo_line_to(p->cr, x1, y0 + ch);
    cairo_stroke(p->cr);
    for (int i = 0; i < 2; i++) {
        pn__text(p, x0 + (i + 0.5) * cw, y0 - 12, PN__FONT_LABEL, 1, 0.5, 1, 0, pn__ink, names[i]);
        pn__text(p, x0 - 10, y0 + (i + 0.5) * ch, PN__FONT_LABEL, 1, 1, 0.5, 0, pn__ink, names[i]);
    }
    pn__text(p, (x0 + x1) / 2, y0 - 34, PN__FONT_LABEL, 0, 0.5, 1, 0, pn__ink_soft, "predicted");
    pn__text(p, 30, (y0 + y1) / 2, PN__FONT_LABEL, 0, 0.5, 0.5, 1, pn__ink_soft, "true label");
    /* the headline rates under the matrix */
    char a[64], s1[64], s2[64], line[256];
    pct_text(a, sizeof a, "accuracy", m->accuracy);
    pct_text(s1, sizeof s1, "sensitivity", m->sensitivity);
    pct_text(s2, sizeof s2, "specificity", m->specificity);
    snprintf(line, sizeof line, "n = %zu   \u00b7   %s", m->n, a);
    pn__text(p, (x0 + x1) / 2, y1 + 22, PN__FONT_LABEL, 0, 0.5, 0.5, 0, pn__ink, line);
    snprintf(line, sizeof line, "%s   \u00b7   %s", s1, s2);
    pn__text(p, (x0 + x1) / 2, y1 + 44, PN__FONT_LABEL, 0, 0.5, 0.5, 0, pn__ink, line);
    return PN_OK;
}

pn_status pn_plot_confusion(const char *path, const pn_metrics *m, const char *const *class_names,
                            const char *title, pn_error *err)
{
    if (!m) return pn_error_set(err, PN_E_ARG, "plot %s: no metrics", path);
    confusion_ctx k = {m, class_names, title};
    return pn__plot_png(path, SQUARE_W, SQUARE_H, draw_confusion, &k, err);
}

/* ---- roc.png -------------------------------------------------------------- */

typedef struct roc_ctx {
    const double *x, *y; /* (k) finite points */
    int k;
    double auc;
    const char *title;
    const pn_metrics *op; /* the operating point, or NULL */
} roc_ctx;

#define OP_RGB pn__series[3]

static pn_status draw_roc(pn__plot *p, void *vctx, pn_error *err)
{
    const roc_ctx *r = vctx;
    char t[256], key[96], sub[160] = "";
    const char *name = r->title ? r->title : "ROC";
    const pn_metrics *op = r->op;
    int has_op = op && isfinite(op->sensitivity) && isfinite(op->specificity);
    if (isfinite(r->auc) && op && isfinite(op->auc_ci.lo)) {
        snprintf(t, sizeof t, "%s: ROC, AUC %.3f (95%% CI %.3f\u2013%.3f)", name, r->auc,
                 op->auc_ci.lo, op->auc_ci.hi);
        snprintf(key, sizeof key, "model (AUC %.3f)", r->auc);
    } else if (isfinite(r->auc)) {
        snprintf(t, sizeof t, "%s: ROC, AUC %.4f", name, r->auc);
        snprintf(key, sizeof key, "model (AUC %.3f)", r->auc);
    } else {
        snprintf(t, sizeof t, "%s: ROC, AUC undefined (one class)", name);
        snprintf(key, sizeof key, "model");
    }
    pn__frame f = {.x0 = 100, .y0 = 64, .x1 = 100 + 370, .y1 = 64 + 370}; /* square */
    if (has_op) { /* room for the operating point's line under the title */
        f.y0 = 80;
        f.x1 = f.x0 + 354;
        f.y1 = f.y0 + 354;
    }
    f.x = (pn__axis){0, 1, 0.2, "false positive rate (1 - specificity)", 0};
    f.y = (pn__axis){0, 1, 0.2, "true positive rate (sensitivity)", 0};
    pn__axes(p, &f, 1);
    pn__clip(p, &f);
    if (r->k > 1) { /* the area under the curve, lightly */
        pn__rgb c = pn__mix((pn__rgb){1, 1, 1}, TRAIN_RGB, 0.13);
        cairo_set_source_rgb(p->cr, c.r, c.g, c.b);
        cairo_move_to(p->cr, pn__fx(&f, r->x[0]), pn__fy(&f, 0));
        for (int i = 0; i < r->k; i++) cairo_line_to(p->cr, pn__fx(&f, r->x[i]), pn__fy(&f, r->y[i]));
        cairo_line_to(p->cr, pn__fx(&f, r->x[r->k - 1]), pn__fy(&f, 0));
        cairo_close_path(p->cr);
        cairo_fill(p->cr);
    }
    const double dx[2] = {0, 1};
    pn__series_line(p, &f, dx, dx, 2, pn__series[7], 1.5, 1, 0);
    if (r->k > 1) pn__series_line(p, &f, r->x, r->y, r->k, TRAIN_RGB, 2.5, 0, 0);
    pn__unclip(p);
    if (has_op) { /* the operating point: a ring the curve shows through (never clipped) */
        double ox = pn__fx(&f, 1 - op->specificity), oy = pn__fy(&f, op->sensitivity);
        cairo_set_source_rgb(p->cr, 1, 1, 1);
        cairo_arc(p->cr, ox, oy, 7.5, 0, 2 * M_PI);
        cairo_fill(p->cr);
        cairo_set_source_rgb(p->cr, OP_RGB.r, OP_RGB.g, OP_RGB.b);
        cairo_set_line_width(p->cr, 3);
        cairo_arc(p->cr, ox, oy, 6, 0, 2 * M_PI);
        cairo_stroke(p->cr);
        snprintf(sub, sizeof sub, "operating point P \u2265 %.3f: sensitivity %.1f%%, "
                 "specificity %.1f%%", op->threshold, 100 * op->sensitivity,
                 100 * op->specificity);
    }
    pn__title(p, 22, 20, t, has_op ? sub : NULL);
    pn__legend_item it[3] = {{key, TRAIN_RGB, PN__KEY_LINE},
                             {"operating point", OP_RGB, PN__KEY_DOTS},
                             {"chance", pn__series[7], PN__KEY_DASH}};
    if (has_op) {
        pn__legend(p, f.x1, 64, it, 3);
    } else {
        it[1] = it[2];
        pn__legend(p, f.x1, 48, it, 2);
    }
    return PN_OK;
}

pn_status pn_plot_roc(const char *path, const pn_roc_point *pts, size_t n, double auc,
                      const char *title, pn_error *err)
{
    return pn_plot_roc_op(path, pts, n, auc, NULL, title, err);
}

pn_status pn_plot_roc_op(const char *path, const pn_roc_point *pts, size_t n, double auc,
                         const pn_metrics *op, const char *title, pn_error *err)
{
    if (n > (size_t)1 << 28) return pn_error_set(err, PN_E_ARG, "plot %s: %zu ROC points", path, n);
    double *x = malloc(2 * (n ? n : 1) * sizeof *x);
    if (!x) return pn_error_set(err, PN_E_NOMEM, "plot %s: out of memory", path);
    double *y = x + (n ? n : 1);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(pts[i].fpr) && isfinite(pts[i].tpr)) {
            x[k] = pts[i].fpr;
            y[k++] = pts[i].tpr;
        }
    roc_ctx r = {x, y, k, auc, title, op};
    pn_status st = pn__plot_png(path, SQUARE_W, SQUARE_H, draw_roc, &r, err);
    free(x);
    return st;
}
