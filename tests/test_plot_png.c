/* pn_plot_png, the one PLplot -> PNG path used by the training plots and the
 * dataset chart: the size asked for, the palette, atomic write (no
 * temporary left), an unwritable target, bad arguments. */
#include "testutil.h"

#include <dirent.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/dataset.h"
#include "pneumo/plot_png.h"
#include "pneumo/report.h"
#include "pneumo/util.h"

/* width and height from the PNG's IHDR chunk */
static void png_size(const char *path, unsigned *w, unsigned *h)
{
    uint8_t *buf;
    size_t n;
    pn_error err = {0};
    assert_int_equal(pn_read_file(path, 1 << 24, &buf, &n, &err), PN_OK);
    assert_true(n > 24);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(buf + 12, "IHDR", 4);
    *w = (unsigned)buf[16] << 24 | (unsigned)buf[17] << 16 | (unsigned)buf[18] << 8 | buf[19];
    *h = (unsigned)buf[20] << 24 | (unsigned)buf[21] << 16 | (unsigned)buf[22] << 8 | buf[23];
    free(buf);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') k++;
    closedir(d);
    return k;
}

typedef struct draw_rec {
    int calls;
    PLINT r, g, b; /* colour 2 as seen while drawing */
} draw_rec;

static void draw_line(void *vctx)
{
    draw_rec *d = vctx;
    d->calls++;
    plgcol0(2, &d->r, &d->g, &d->b);
    plcol0(1);
    plenv(0, 1, 0, 1, 0, 0);
    PLFLT x[2] = {0, 1}, y[2] = {0, 1};
    plcol0(2);
    plline(2, x, y);
}

static void test_plot_png(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char p[1024];
    pn_error err = {0};
    static const unsigned char pal[2][3] = {{0, 0, 0}, {10, 200, 30}};
    draw_rec d = {0};
    snprintf(p, sizeof p, "%s/line.png", dir);
    assert_int_equal(pn_plot_png(p, 300, 200, pal, 2, draw_line, &d, &err), PN_OK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.r, 10);
    assert_int_equal(d.g, 200);
    assert_int_equal(d.b, 30);
    unsigned w, h;
    png_size(p, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    assert_int_equal(entries(dir), 1); /* no temporary left */

    /* both users get the sizes they ask for */
    pn_epoch_stats hist[2] = {{1, 0.7, 0.6, 0.8, 0.5, 1}, {2, 0.5, 0.7, 0.6, 0.6, 1}};
    snprintf(p, sizeof p, "%s/curves.png", dir);
    assert_int_equal(pn_plot_curves(p, hist, 2, &err), PN_OK);
    png_size(p, &w, &h);
    assert_int_equal(w, 1100);
    assert_int_equal(h, 450);
    pn_dataset_stats st = {2, {"NORMAL", "PNEUMONIA"}, {{200, 600}, {8, 8}, {4, 7}}, {800, 16, 11}, {3, 1, 1.75}};
    snprintf(p, sizeof p, "%s/chart.png", dir);
    assert_int_equal(pn_dataset_stats_chart(&st, "t", p, &err), PN_OK);
    png_size(p, &w, &h);
    assert_int_equal(w, 1000);
    assert_int_equal(h, 640);
    assert_int_equal(entries(dir), 3);

    /* an unwritable target: an error naming it and the reason, nothing drawn or left */
    d.calls = 0;
    snprintf(p, sizeof p, "%s/missing/line.png", dir);
    assert_int_equal(pn_plot_png(p, 300, 200, pal, 2, draw_line, &d, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "missing/line.png"));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(d.calls, 0);
    assert_int_equal(entries(dir), 3);
    /* bad arguments */
    snprintf(p, sizeof p, "%s/x.png", dir);
    assert_int_equal(pn_plot_png(p, 0, 200, pal, 2, draw_line, &d, &err), PN_E_ARG);
    assert_int_equal(pn_plot_png(p, 300, 200, pal, 2, NULL, &d, &err), PN_E_ARG);
    assert_int_equal(pn_plot_png(p, 300, 200, pal, 16, draw_line, &d, &err), PN_E_ARG);
    assert_int_equal(d.calls, 0);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_plot_png)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
