/* PNG plots with PLplot (pngcairo): training curves, confusion matrix, ROC.
 * PLplot writes to a temporary file next to the target; the bytes are then
 * written atomically to the target and the temporary removed. PLplot keeps
 * global state, so plots are serialised with a mutex. */
#include <math.h>
#include <plplot.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/report.h"
#include "pneumo/util.h"

static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct plot_ctx {
    char tmp[4096];
    const char *path;
} plot_ctx;

static pn_status plot_begin(plot_ctx *pc, const char *path, int w, int h, pn_error *err)
{
    pc->path = path;
    if (snprintf(pc->tmp, sizeof pc->tmp, "%s.plot.%ld.tmp", path, (long)getpid()) >=
        (int)sizeof pc->tmp)
        return pn_error_set(err, PN_E_ARG, "%s: path too long", path);
    FILE *probe = fopen(pc->tmp, "wb");
    if (!probe) return pn_error_set(err, PN_E_IO, "%s: cannot write: %m", path);
    fclose(probe);
    pthread_mutex_lock(&plot_lock);
    char geo[64];
    snprintf(geo, sizeof geo, "%dx%d", w, h);
    plsetopt("geometry", geo);
    plsdev("pngcairo");
    plsfnam(pc->tmp);
    plscol0(0, 255, 255, 255); /* background */
    plscol0(1, 0, 0, 0);       /* axes, text */
    plscol0(2, 31, 119, 180);  /* blue */
    plscol0(3, 255, 127, 14);  /* orange */
    plscol0(4, 150, 150, 150); /* grey */
    plscol0(5, 44, 160, 44);   /* green */
    plinit();
    return PN_OK;
}

static pn_status plot_end(plot_ctx *pc, pn_error *err)
{
    plend();
    pthread_mutex_unlock(&plot_lock);
    uint8_t *buf;
    size_t n;
    pn_status st = pn_read_file(pc->tmp, (size_t)1 << 28, &buf, &n, err);
    remove(pc->tmp);
    if (st) return pn_error_prefix(err, "plot %s: ", pc->path);
    if (n < 8 || memcmp(buf, "\x89PNG", 4)) {
        free(buf);
        return pn_error_set(err, PN_E_IO, "plot %s: PLplot wrote no PNG (is plplot-driver-cairo "
                                          "installed?)", pc->path);
    }
    st = pn_write_file_atomic(pc->path, buf, n, err);
    free(buf);
    return st;
}

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
    plot_ctx pc;
    pn_status st = plot_begin(&pc, path, 1100, 450, err);
    if (st) {
        free(ep);
        return st;
    }
    plssub(2, 1);
    double lo = INFINITY, hi = -INFINITY;
    minmax(tl, n, &lo, &hi);
    minmax(vl, n, &lo, &hi);
    if (lo > 0) lo = 0;
    /* plenv advances to the next subpage itself */
    panel(ep, tl, vl, n, "loss", "Loss per epoch", lo, hi);
    panel(ep, ta, vacc, n, "accuracy", "Accuracy per epoch", 0, 1);
    free(ep);
    return plot_end(&pc, err);
}

pn_status pn_plot_confusion(const char *path, const pn_metrics *m, const char *const *class_names,
                            const char *title, pn_error *err)
{
    plot_ctx pc;
    pn_status st = plot_begin(&pc, path, 520, 500, err);
    if (st) return st;
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
    return plot_end(&pc, err);
}

pn_status pn_plot_roc(const char *path, const pn_roc_point *pts, size_t n, double auc,
                      const char *title, pn_error *err)
{
    plot_ctx pc;
    pn_status st = plot_begin(&pc, path, 520, 500, err);
    if (st) return st;
    plcol0(1);
    plenv(0, 1, 0, 1, 1, 0);
    char t[256];
    if (isfinite(auc)) snprintf(t, sizeof t, "%s: AUC %.4f", title ? title : "ROC", auc);
    else snprintf(t, sizeof t, "%s: AUC undefined (one class)", title ? title : "ROC");
    pllab("false positive rate (1 - specificity)", "true positive rate (sensitivity)", t);
    PLFLT dx[2] = {0, 1}, dy[2] = {0, 1};
    plcol0(4);
    pllsty(2);
    plline(2, dx, dy);
    pllsty(1);
    PLFLT *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    int k = 0;
    if (x && y)
        for (size_t i = 0; i < n; i++)
            if (isfinite(pts[i].fpr) && isfinite(pts[i].tpr)) {
                x[k] = pts[i].fpr;
                y[k++] = pts[i].tpr;
            }
    plcol0(2);
    plwidth(2.5);
    if (k > 1) plline(k, x, y);
    plwidth(1.0);
    free(x);
    free(y);
    return plot_end(&pc, err);
}

/* Under LeakSanitizer (make asan): PLplot's cairo driver leaves fontconfig
 * and libltdl caches allocated at exit by design; they are not pneumo's.
 * The sanitizer runtime calls this hook; elsewhere it is an unused function. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libltdl.so\nleak:libcairo.so\nleak:libpango\n";
}
