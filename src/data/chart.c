/* Grouped bar chart of a dataset's class counts per split, drawn with
 * PLplot's pngcairo device. PLplot keeps global state: not thread-safe.
 * PLplot writes to a temporary file, whose bytes are then written to the
 * target atomically (pn_write_file_atomic), so a failure leaves no half
 * file. PLplot's fatal errors (which would exit()) longjmp back here. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plplot.h>

#include "internal.h"
#include "pneumo/util.h"

static jmp_buf plot_jb;
static char plot_msg[512];

static int on_plexit(PLCHAR_VECTOR msg)
{
    snprintf(plot_msg, sizeof plot_msg, "%s", msg ? msg : "PLplot error");
    longjmp(plot_jb, 1);
    return 0;
}

static int have_device(const char *dev)
{
    const char *mbuf[64], *nbuf[64];
    const char **menu = mbuf, **names = nbuf;
    int n = 64;
    plgDevs(&menu, &names, &n);
    for (int i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], dev)) return 1;
    return 0;
}

static const int split_order[3] = {PN_SPLIT_TRAIN, PN_SPLIT_VAL, PN_SPLIT_TEST};

pn_status pn_dataset_stats_chart(const pn_dataset_stats *st, const char *title, const char *path,
                                 pn_error *err)
{
    if (!st || !path) return pn_error_set(err, PN_E_ARG, "chart: no stats or path");
    if (!have_device("pngcairo"))
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: PLplot has no pngcairo device (install plplot-driver-cairo)",
                            path);
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.plot.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
        return pn_error_set(err, PN_E_ARG, "%s: path too long", path);
    /* PLplot cannot report an unwritable file: it prints a line per retry and
     * then reads a new file name from stdin. Create the file ourselves first. */
    FILE *probe = fopen(tmp, "wb");
    if (!probe) return pn_error_set(err, PN_E_IO, "%s: cannot write: %s", path, strerror(errno));
    fclose(probe);
    volatile int begun = 0;
    if (setjmp(plot_jb)) {
        if (begun) plend();
        unlink(tmp);
        return pn_error_set(err, PN_E_BACKEND, "%s: PLplot failed: %s", path, plot_msg);
    }
    plsexit(on_plexit);
    plsdev("pngcairo");
    plsfnam(tmp);
    plspage(0, 0, 1000, 640, 0, 0);
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);        /* axes, text */
    plscol0(2, 70, 130, 180);   /* class 0 */
    plscol0(3, 220, 90, 60);    /* class 1 */
    plscol0(4, 90, 170, 90);    /* more classes */
    plscol0(5, 150, 100, 180);
    plscol0(6, 200, 170, 60);
    plscol0(7, 120, 120, 120);
    plscol0(8, 60, 190, 190);
    plscol0(9, 190, 60, 140);
    plinit();
    begun = 1;
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
    PLINT opt[8], tcol[8], bcol[8], bpat[8], bsty[8];
    PLFLT bscale[8], bwidth[8];
    const char *text[8];
    for (int c = 0; c < nc && c < 8; c++) {
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
    plend();
    begun = 0;
    uint8_t *png = NULL;
    size_t n = 0;
    pn_status rc = pn_read_file(tmp, (size_t)1 << 28, &png, &n, err);
    unlink(tmp);
    if (!rc && n < 8) rc = pn_error_set(err, PN_E_BACKEND, "%s: PLplot wrote no image", path);
    if (!rc) rc = pn_write_file_atomic(path, png, n, err);
    free(png);
    return rc;
}
