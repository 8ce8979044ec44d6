/* PLplot (pngcairo) -> temporary file -> checked -> atomic write of the
 * target; the one place that drives PLplot's device and error handling. */
#include <errno.h>
#include <plplot.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/plot_png.h"
#include "pneumo/util.h"

static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;
/* under plot_lock: where PLplot's exit handler jumps back to, and its message */
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

pn_status pn_plot_png(const char *path, int w, int h, const unsigned char (*pal)[3], int npal,
                      pn_plot_draw_fn draw, void *ctx, pn_error *err)
{
    if (!path || !draw || w < 1 || h < 1 || npal < 0 || npal > 15)
        return pn_error_set(err, PN_E_ARG, "plot: bad arguments");
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.plot.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
        return pn_error_set(err, PN_E_ARG, "%s: path too long", path);
    FILE *probe = fopen(tmp, "wb");
    if (!probe) return pn_error_set(err, PN_E_IO, "%s: cannot write: %s", path, strerror(errno));
    fclose(probe);

    pthread_mutex_lock(&plot_lock);
    if (!have_device("pngcairo")) {
        pthread_mutex_unlock(&plot_lock);
        unlink(tmp);
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: PLplot has no pngcairo device (install plplot-driver-cairo)",
                            path);
    }
    volatile int begun = 0;
    if (setjmp(plot_jb)) {
        if (begun) plend();
        plsexit(NULL);
        pthread_mutex_unlock(&plot_lock);
        unlink(tmp);
        return pn_error_set(err, PN_E_BACKEND, "%s: PLplot failed: %s", path, plot_msg);
    }
    plsexit(on_plexit);
    plsdev("pngcairo");
    plsfnam(tmp);
    plspage(0, 0, w, h, 0, 0);
    plscolbg(255, 255, 255);
    for (int i = 0; i < npal; i++) plscol0(1 + i, pal[i][0], pal[i][1], pal[i][2]);
    plinit();
    begun = 1;
    draw(ctx);
    plend();
    begun = 0;
    plsexit(NULL);
    pthread_mutex_unlock(&plot_lock);

    uint8_t *png = NULL;
    size_t n = 0;
    pn_status st = pn_read_file(tmp, (size_t)1 << 28, &png, &n, err);
    unlink(tmp);
    if (st) return pn_error_prefix(err, "plot %s: ", path);
    if (n < 8 || memcmp(png, "\x89PNG", 4))
        st = pn_error_set(err, PN_E_BACKEND, "plot %s: PLplot wrote no PNG", path);
    if (!st) st = pn_write_file_atomic(path, png, n, err);
    free(png);
    return st;
}
