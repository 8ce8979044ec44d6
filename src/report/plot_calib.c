/* calibration.png: the reliability diagram of P(class 1) — per bin the
 * observed share of positives (with its Wilson interval) at the bin's mean
 * predicted probability, dots sized by the bin's count, over the diagonal
 * of perfect calibration; Brier score and ECE under the title. */
#include <math.h>
#include <stdio.h>

#include "pneumo/report.h"
#include "report/plot.h"

enum { CAL_W = 520, CAL_H = 500 };

typedef struct cal_ctx {
    const pn_calibration *c;
    const char *pos, *title;
} cal_ctx;

static pn_status draw_cal(pn__plot *p, void *vctx, pn_error *err)
{
    const cal_ctx *k = vctx;
    const pn_calibration *c = k->c;
    char t[256], sub[160];
    snprintf(t, sizeof t, "%s%sreliability", k->title ? k->title : "", k->title ? ": " : "");
    if (isfinite(c->brier))
        snprintf(sub, sizeof sub, "Brier score %.4f   \u00b7   ECE %.4f (%d bins)", c->brier,
                 c->ece, c->nbins);
    else snprintf(sub, sizeof sub, "no predictions");
    pn__title(p, 22, 20, t, sub);
    pn__frame f = {.x0 = 100, .y0 = 80, .x1 = 100 + 354, .y1 = 80 + 354};
    char xl[96];
    snprintf(xl, sizeof xl, "predicted P(%s)", k->pos ? k->pos : "positive");
    f.x = (pn__axis){0, 1, 0.2, xl, 0};
    f.y = (pn__axis){0, 1, 0.2, "observed share of positives", 0};
    pn__axes(p, &f, 1);
    const double dx[2] = {0, 1};
    pn__clip(p, &f);
    pn__series_line(p, &f, dx, dx, 2, pn__series[7], 1.5, 1, 0);
    size_t nmax = 1;
    for (int b = 0; b < c->nbins; b++) nmax = c->count[b] > nmax ? c->count[b] : nmax;
    const pn__rgb col = pn__series[0];
    double x[PN_CAL_MAX_BINS], y[PN_CAL_MAX_BINS];
    for (int b = 0; b < c->nbins; b++) {
        x[b] = c->count[b] ? c->mean_p[b] : NAN;
        y[b] = c->count[b] ? c->observed[b] : NAN;
    }
    pn__series_line(p, &f, x, y, c->nbins, pn__mix((pn__rgb){1, 1, 1}, col, 0.6), 1.5, 0, 0);
    for (int b = 0; b < c->nbins; b++) {
        if (!c->count[b]) continue;
        double px = pn__fx(&f, x[b]);
        /* the Wilson interval of the observed share */
        cairo_set_source_rgb(p->cr, col.r, col.g, col.b);
        cairo_set_line_width(p->cr, 1.5);
        cairo_move_to(p->cr, px, pn__fy(&f, c->observed_ci[b].lo));
        cairo_line_to(p->cr, px, pn__fy(&f, c->observed_ci[b].hi));
        cairo_stroke(p->cr);
        double r = 3 + 6 * sqrt((double)c->count[b] / (double)nmax);
        cairo_arc(p->cr, px, pn__fy(&f, y[b]), r, 0, 2 * M_PI);
        cairo_fill(p->cr);
    }
    pn__unclip(p);
    pn__legend_item it[2] = {{"bins (dot area ~ images; bar: 95% CI)", col, PN__KEY_DOTS},
                             {"perfect", pn__series[7], PN__KEY_DASH}};
    pn__legend(p, f.x1, 64, it, 2);
    return PN_OK;
}

pn_status pn_plot_calibration(const char *path, const pn_calibration *c, const char *pos_name,
                              const char *title, pn_error *err)
{
    if (!c || c->nbins < 1 || c->nbins > PN_CAL_MAX_BINS)
        return pn_error_set(err, PN_E_ARG, "plot %s: no calibration bins", path);
    cal_ctx k = {c, pos_name, title};
    return pn__plot_png(path, CAL_W, CAL_H, draw_cal, &k, err);
}
