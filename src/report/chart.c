/* The dataset chart of `pneumo stats --chart`: images per split (train, val,
 * test) and class as grouped bars with their counts, one colour per class.
 * Layout only: axes, text, legend and the atomic PNG are plot.c's. */
#include <stdio.h>

#include "pneumo/report.h"
#include "report/plot.h"

enum { CHART_W = 1000, CHART_H = 640 };

static const int split_order[3] = {PN_SPLIT_TRAIN, PN_SPLIT_VAL, PN_SPLIT_TEST};

typedef struct chart_ctx {
    const pn_dataset_stats *st;
    const char *title;
} chart_ctx;

static pn_status draw_chart(pn__plot *p, void *vctx, pn_error *err)
{
    const chart_ctx *k = vctx;
    const pn_dataset_stats *st = k->st;
    int nc = st->num_classes < 1 ? 1 : st->num_classes > 8 ? 8 : st->num_classes;
    size_t ymax = 1;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < nc; c++)
            if (st->count[split_order[s]][c] > ymax) ymax = st->count[split_order[s]][c];

    pn__frame f = {.x0 = 96, .y0 = 84, .x1 = CHART_W - 30, .y1 = CHART_H - 80};
    f.x = (pn__axis){-0.5, 2.5, 1, NULL, 0};
    /* headroom for the count over the tallest bar */
    pn__axis_fit(&f.y, 0, (double)ymax * 1.06, 6, 1, 0, 1e300);
    f.y.label = "images";
    pn__axes(p, &f, 0);

    int has_title = k->title && *k->title;
    pn__title(p, f.x0 - 70, 28, has_title ? k->title : "Images per split and class",
              has_title ? "images per split and class" : NULL);
    pn__legend_item it[PN_MAX_CLASSES];
    for (int c = 0; c < nc; c++)
        it[c] = (pn__legend_item){st->class_name[c] ? st->class_name[c] : "?", pn__series[c % 8],
                                  PN__KEY_BOX};
    pn__legend(p, f.x1, 62, it, nc);

    double gw = 0.74, bw = gw / nc;
    for (int g = 0; g < 3; g++) {
        int s = split_order[g];
        for (int c = 0; c < nc; c++) {
            double v = (double)st->count[s][c];
            double xa = pn__fx(&f, g - gw / 2 + c * bw), xb = pn__fx(&f, g - gw / 2 + (c + 0.9) * bw);
            double ya = pn__fy(&f, v), yb = pn__fy(&f, 0);
            cairo_set_source_rgb(p->cr, pn__series[c % 8].r, pn__series[c % 8].g, pn__series[c % 8].b);
            cairo_rectangle(p->cr, xa, ya, xb - xa, yb - ya);
            cairo_fill(p->cr);
            char num[32];
            snprintf(num, sizeof num, "%zu", st->count[s][c]);
            pn__text(p, (xa + xb) / 2, ya - 6, PN__FONT_TICK, 0, 0.5, 1, 0, pn__ink, num);
        }
        char lab[96];
        double x = pn__fx(&f, g);
        pn__text(p, x, f.y1 + 20, PN__FONT_LABEL, 1, 0.5, 0.5, 0, pn__ink, pn_split_name((pn_split)s));
        if (st->imbalance[s] > 0)
            snprintf(lab, sizeof lab, "%zu images, ratio %.2f", st->total[s], st->imbalance[s]);
        else snprintf(lab, sizeof lab, "%zu images, ratio n/a", st->total[s]);
        pn__text(p, x, f.y1 + 42, PN__FONT_TICK, 0, 0.5, 0.5, 0, pn__ink_soft, lab);
    }
    return PN_OK;
}

pn_status pn_dataset_stats_chart(const pn_dataset_stats *st, const char *title, const char *path,
                                 pn_error *err)
{
    if (!st || !path) return pn_error_set(err, PN_E_ARG, "chart: no stats or path");
    chart_ctx k = {st, title};
    return pn__plot_png(path, CHART_W, CHART_H, draw_chart, &k, err);
}
