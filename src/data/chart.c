/* Grouped bar chart of a dataset's class counts per split, drawn with
 * PLplot's pngcairo device through pn_plot_png (src/core/plot_png.c: the
 * temporary file, PLplot's errors and the atomic write), so a failure leaves
 * no half file. */
#include <stdio.h>

#include <plplot.h>

#include "internal.h"
#include "pneumo/plot_png.h"

/* colour map 0 from 1: axes/text, then one colour per class */
static const unsigned char palette[9][3] = {{0, 0, 0},     {70, 130, 180}, {220, 90, 60},
                                            {90, 170, 90}, {150, 100, 180}, {200, 170, 60},
                                            {120, 120, 120}, {60, 190, 190}, {190, 60, 140}};

static const int split_order[3] = {PN_SPLIT_TRAIN, PN_SPLIT_VAL, PN_SPLIT_TEST};

typedef struct chart_ctx {
    const pn_dataset_stats *st;
    const char *title;
} chart_ctx;

static void draw_chart(void *vctx)
{
    const pn_dataset_stats *st = ((const chart_ctx *)vctx)->st;
    const char *title = ((const chart_ctx *)vctx)->title;
    int nc = st->num_classes > 0 ? st->num_classes : 1;
    size_t ymax = 1;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < nc; c++)
            if (st->count[s][c] > ymax) ymax = st->count[s][c];
    PLFLT top = (PLFLT)ymax * 1.18;
    pladv(0);
    plvpor(0.12, 0.96, 0.12, 0.86);
    plwind(-0.5, 2.5, 0.0, top);
    plcol0(1);
    plschr(0, 1.1);
    plbox("bc", 0, 0, "bcnstv", 0, 0);
    pllab("", "images", title && *title ? title : "images per split and class");
    PLFLT gw = 0.8, bw = gw / nc;
    for (int k = 0; k < 3; k++) {
        int s = split_order[k];
        char lab[96];
        snprintf(lab, sizeof lab, "%s (%zu, ratio %.2f)", pn_split_name((pn_split)s),
                 st->total[s], st->imbalance[s]);
        plcol0(1);
        plmtex("b", 1.6, (k + 0.5) / 3.0, 0.5, lab);
        for (int c = 0; c < nc; c++) {
            PLFLT x0 = k - gw / 2 + c * bw, x1 = x0 + bw * 0.92;
            PLFLT xs[4] = {x0, x0, x1, x1}, ys[4] = {0, (PLFLT)st->count[s][c],
                                                     (PLFLT)st->count[s][c], 0};
            plcol0(2 + c % 8);
            if (st->count[s][c] > 0) plfill(4, xs, ys);
            plcol0(1);
            plline(4, xs, ys);
            char num[32];
            snprintf(num, sizeof num, "%zu", st->count[s][c]);
            plptex((x0 + x1) / 2, (PLFLT)st->count[s][c] + top * 0.03, 1, 0, 0.5, num);
        }
    }
    /* legend: one coloured box per class */
    PLINT opt[PN_MAX_CLASSES], tcol[PN_MAX_CLASSES], bcol[PN_MAX_CLASSES], bpat[PN_MAX_CLASSES],
        bsty[PN_MAX_CLASSES];
    PLFLT bscale[PN_MAX_CLASSES], bwidth[PN_MAX_CLASSES];
    const char *text[PN_MAX_CLASSES];
    for (int c = 0; c < nc && c < PN_MAX_CLASSES; c++) {
        opt[c] = PL_LEGEND_COLOR_BOX;
        tcol[c] = 1;
        bcol[c] = 2 + c % 8;
        bpat[c] = 0;
        bsty[c] = 1;
        bscale[c] = 0.8;
        bwidth[c] = 1;
        text[c] = st->class_name[c] ? st->class_name[c] : "?";
    }
    PLFLT lw, lh;
    (void)bsty;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 1, 1,
             nc, 1, nc, opt, 1.0, 1.0, 2.0, 0.0, tcol, text, bcol, bpat, bscale, bwidth, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL);
}

pn_status pn_dataset_stats_chart(const pn_dataset_stats *st, const char *title, const char *path,
                                 pn_error *err)
{
    if (!st || !path) return pn_error_set(err, PN_E_ARG, "chart: no stats or path");
    chart_ctx k = {st, title};
    return pn_plot_png(path, 1000, 640, palette, 9, draw_chart, &k, err);
}
