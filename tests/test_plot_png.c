/* pn__plot_png, the one cairo -> PNG path used by the training plots and the
 * dataset chart: the size asked for (all four charts), a picture that decodes and has the
 * colours drawn, atomic write (no temporary left), an unwritable target, a
 * full disk (a file size limit) leaving no file and naming it, bad
 * arguments. */
#include "testutil.h"

#include <dirent.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pneumo/dataset.h"
#include "pneumo/image.h"
#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/plot.h"
#include "report/png.h"

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

/* Decodes the PNG (libpng) as RGB; *w x *h; caller frees. */
static uint8_t *png_pixels(const char *path, unsigned *w, unsigned *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    *w = img.width;
    *h = img.height;
    return px;
}

/* pixels of exactly (r,g,b) */
static size_t count_rgb(const uint8_t *px, unsigned w, unsigned h, int r, int g, int b)
{
    size_t k = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        k += px[3 * i] == r && px[3 * i + 1] == g && px[3 * i + 2] == b;
    return k;
}

static size_t count_not_white(const uint8_t *px, unsigned w, unsigned h)
{
    return (size_t)w * h - count_rgb(px, w, h, 255, 255, 255);
}

static int c8(double v) { return (int)(v * 255 + 0.5); }

static size_t count_colour(const uint8_t *px, unsigned w, unsigned h, pn__rgb c)
{
    return count_rgb(px, w, h, c8(c.r), c8(c.g), c8(c.b));
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
} draw_rec;

/* a 6 px wide green bar on whole pixels: its colour comes back exactly */
static pn_status draw_line(pn__plot *p, void *vctx, pn_error *err)
{
    draw_rec *d = vctx;
    d->calls++;
    cairo_set_source_rgb(p->cr, 10 / 255.0, 200 / 255.0, 30 / 255.0);
    cairo_rectangle(p->cr, 20, 100, p->w - 40, 6);
    cairo_fill(p->cr);
    pn__text(p, 20, 40, PN__FONT_LABEL, 0, 0, 0.5, 0, pn__ink, "text");
    return PN_OK;
}

static pn_status draw_fail(pn__plot *p, void *vctx, pn_error *err)
{
    return pn_error_set(err, PN_E_BACKEND, "no");
}

static void test_plot_png(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char p[1024];
    pn_error err = {0};
    draw_rec d = {0};
    snprintf(p, sizeof p, "%s/line.png", dir);
    assert_int_equal(pn__plot_png(p, 300, 200, draw_line, &d, &err), PN_OK);
    assert_int_equal(d.calls, 1);
    unsigned w, h;
    png_size(p, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    uint8_t *px = png_pixels(p, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    assert_int_equal(count_rgb(px, w, h, 10, 200, 30), 260 * 6); /* the bar, exactly */
    assert_true(count_not_white(px, w, h) > 260 * 6 + 20);      /* and the text */
    assert_int_equal(px[0], 255);                               /* white page */
    free(px);
    assert_int_equal(entries(dir), 1); /* no temporary left */

    /* both users get the sizes they ask for, with their series colours */
    pn_epoch_stats hist[2] = {{1, 0.7, 0.6, 0.8, 0.5, 1, 1e-3, 0.8}, {2, 0.5, 0.7, 0.6, 0.6, 1, 1e-3, 0.9}};
    snprintf(p, sizeof p, "%s/curves.png", dir);
    assert_int_equal(pn_plot_curves(p, hist, 2, &err), PN_OK);
    png_size(p, &w, &h);
    assert_int_equal(w, 1100);
    assert_int_equal(h, 450);
    px = png_pixels(p, &w, &h);
    assert_true(count_colour(px, w, h, pn__series[0]) > 200); /* train */
    assert_true(count_colour(px, w, h, pn__series[1]) > 200); /* val */
    free(px);
    pn_dataset_stats st = {2, {"NORMAL", "PNEUMONIA"}, {{200, 600}, {8, 8}, {4, 7}}, {800, 16, 11}, {3, 1, 1.75}};
    snprintf(p, sizeof p, "%s/chart.png", dir);
    assert_int_equal(pn_dataset_stats_chart(&st, "t", p, &err), PN_OK);
    png_size(p, &w, &h);
    assert_int_equal(w, 1000);
    assert_int_equal(h, 640);
    px = png_pixels(p, &w, &h);
    assert_true(count_colour(px, w, h, pn__series[0]) > 2000); /* NORMAL bars */
    assert_true(count_colour(px, w, h, pn__series[1]) > 2000); /* PNEUMONIA bars */
    assert_int_equal(count_colour(px, w, h, pn__series[2]), 0); /* no third class */
    free(px);
    /* confusion: the 520x500 page with its cells; ROC: the curve in the series colour */
    pn_metrics m = {.n = 10, .tn = 4, .fp = 1, .fn = 2, .tp = 3, .threshold = 0.5, .accuracy = 0.7,
                    .sensitivity = 0.6, .specificity = 0.8};
    const char *cn[2] = {"NORMAL", "PNEUMONIA"};
    snprintf(p, sizeof p, "%s/confusion.png", dir);
    assert_int_equal(pn_plot_confusion(p, &m, cn, "val", &err), PN_OK);
    px = png_pixels(p, &w, &h);
    assert_int_equal(w, 520);
    assert_int_equal(h, 500);
    assert_true(count_not_white(px, w, h) > 100000); /* four filled cells */
    free(px);
    pn_roc_point roc[3] = {{0, 0, 1}, {0.2, 0.9, 0.5}, {1, 1, 0}};
    snprintf(p, sizeof p, "%s/roc.png", dir);
    assert_int_equal(pn_plot_roc(p, roc, 3, 0.85, "val", &err), PN_OK);
    px = png_pixels(p, &w, &h);
    assert_int_equal(w, 520);
    assert_int_equal(h, 500);
    assert_true(count_colour(px, w, h, pn__series[0]) > 300); /* the curve */
    free(px);
    assert_int_equal(entries(dir), 5);

    /* an unwritable target: an error naming it and the reason, nothing drawn or left */
    d.calls = 0;
    snprintf(p, sizeof p, "%s/missing/line.png", dir);
    assert_int_equal(pn__plot_png(p, 300, 200, draw_line, &d, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "missing/line.png"));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(d.calls, 0);
    assert_int_equal(entries(dir), 5);
    /* a failing drawing: its error, no file */
    snprintf(p, sizeof p, "%s/x.png", dir);
    assert_int_equal(pn__plot_png(p, 300, 200, draw_fail, NULL, &err), PN_E_BACKEND);
    assert_int_equal(entries(dir), 5);
    /* bad arguments */
    assert_int_equal(pn__plot_png(p, 0, 200, draw_line, &d, &err), PN_E_ARG);
    assert_int_equal(pn__plot_png(p, 300, 200, NULL, &d, &err), PN_E_ARG);
    assert_int_equal(pn__plot_png(p, 300, PN__PLOT_MAX_SIDE + 1, draw_line, &d, &err), PN_E_ARG);
    assert_int_equal(d.calls, 0);
    assert_int_equal(entries(dir), 5);
    tu_rmtree(dir);
}

/* A full disk, simulated by a 4 KiB file size limit: every plot fails with
 * an error naming its own file, and no PNG (whole or truncated) and no
 * temporary is left. */
static void test_plot_full_disk(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char p[1024];
    pn_error err = {0};
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    pn_epoch_stats hist[2] = {{1, 0.7, 0.6, 0.8, 0.5, 1, 1e-3, 0.8}, {2, 0.5, 0.7, 0.6, 0.6, 1, 1e-3, 0.9}};
    snprintf(p, sizeof p, "%s/curves.png", dir);
    pn_status s1 = pn_plot_curves(p, hist, 2, &err);
    char msg1[1024];
    snprintf(msg1, sizeof msg1, "%s", err.msg);
    pn_dataset_stats st = {2, {"NORMAL", "PNEUMONIA"}, {{200, 600}, {8, 8}, {4, 7}}, {800, 16, 11}, {3, 1, 1.75}};
    snprintf(p, sizeof p, "%s/chart.png", dir);
    pn_status s2 = pn_dataset_stats_chart(&st, "t", p, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(s1, PN_E_IO);
    assert_non_null(strstr(msg1, "curves.png"));
    assert_non_null(strstr(msg1, "File too large"));
    assert_int_equal(s2, PN_E_IO);
    assert_non_null(strstr(err.msg, "chart.png"));
    assert_int_equal(entries(dir), 0);
    tu_rmtree(dir);
}

/* The CAM figure: the image scaled to 512 px, untouched where the map is
 * below a fifth of its peak, jet red at the peak (opacity 0.65 over grey
 * 128: R = 0.35*128 + 0.65*128 (jet(1) = 128,0,0)), a colour bar, compact. */
static void test_plot_cam(void **state)
{
    (void)state;
    enum { W = 1024, H = 768 };
    uint8_t *rgb = malloc((size_t)W * H * 3);
    assert_non_null(rgb);
    memset(rgb, 128, (size_t)W * H * 3);
    float cam[4] = {0, 0, 0, 1}; /* 2x2: the peak in the bottom right */
    const char *dir = tu_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/x_cam.png", dir);
    pn_error err = {0};
    assert_int_equal(pn_plot_cam(p, rgb, W, H, cam, 2, 2, "CAM of PNEUMONIA", &err), PN_OK);
    unsigned w, h;
    uint8_t *px = png_pixels(p, &w, &h);
    assert_int_equal(w, 12 + 512 + 96 + 12);
    assert_int_equal(h, 12 + 384 + 58);
    /* top-left of the image: map 0 -> the film itself */
    const uint8_t *a = px + ((size_t)(12 + 20) * w + 12 + 20) * 3;
    assert_true(a[0] == 128 && a[1] == 128 && a[2] == 128);
    /* bottom-right corner: the peak, jet(1) = (128, 0, 0) at 0.65 */
    const uint8_t *b = px + ((size_t)(12 + 380) * w + 12 + 508) * 3;
    assert_true(abs((int)b[0] - 128) <= 2 && abs((int)b[1] - 45) <= 2 && abs((int)b[2] - 45) <= 2);
    /* the colour bar's top is the peak colour too */
    const uint8_t *c = px + ((size_t)(12 + 26) * w + 12 + 512 + 22 + 9) * 3;
    assert_true(c[0] > c[1] + 40 && c[0] > c[2] + 40);
    free(px);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(p, 1 << 24, &buf, &n, &err), PN_OK);
    assert_true(n < 200000); /* a 1024x768 film becomes a compact figure */
    free(buf);
    free(rgb);
    tu_rmtree(dir);
}

/* Two models' ROC: both curves in their colours (A blue, B orange) */
static void test_plot_roc_pair(void **state)
{
    (void)state;
    pn_roc_point ra[3] = {{0, 0, 1}, {0.2, 0.9, 0.5}, {1, 1, 0}}, rb[3] = {{0, 0, 1}, {0.6, 0.5, 0.5}, {1, 1, 0}};
    pn_split_result a = {.name = "A", .roc = ra, .nroc = 3}, b = {.name = "B", .roc = rb, .nroc = 3};
    a.m = (pn_metrics){.sensitivity = 0.9, .specificity = 0.8, .auc = 0.85};
    b.m = (pn_metrics){.sensitivity = 0.5, .specificity = 0.4, .auc = 0.45};
    pn_delong_test t = {.diff = 0.4, .p = 0.01, .diff_ci = {0.1, 0.7}};
    const char *dir = tu_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/roc.png", dir);
    pn_error err = {0};
    assert_int_equal(pn_plot_roc_pair(p, &a, &b, &t, NULL, &err), PN_OK);
    unsigned w, h;
    uint8_t *px = png_pixels(p, &w, &h);
    assert_int_equal(w, 520);
    assert_int_equal(h, 500);
    assert_true(count_colour(px, w, h, pn__series[0]) > 300);
    assert_true(count_colour(px, w, h, pn__series[1]) > 300);
    free(px);
    tu_rmtree(dir);
}

/* the in-memory encoder (the server's heatmaps, pn_png_write_rgb): decoded back
 * by pneumo's own PNG reader (libpng), the same pixels */
static void test_png_roundtrip(void **state)
{
    (void)state;
    enum { W = 37, H = 19 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)(i * 7 + i / 5);
    uint8_t *png;
    size_t n;
    pn_error err = {0};
    assert_int_equal(pn__png_encode(px, W, H, 3, &png, &n, &err), PN_OK);
    pn_image img = {0};
    pn_decode_opts o = {.min_side = 1};
    assert_int_equal(pn_image_decode(png, n, "mem", &o, &img, &err), PN_OK);
    assert_int_equal(img.w, W);
    assert_int_equal(img.h, H);
    assert_int_equal(img.c, 3);
    assert_memory_equal(img.px, px, sizeof px);
    pn_image_free(&img);
    free(png);
    uint8_t rgba[4 * 4 * 4] = {0};
    assert_int_equal(pn__png_encode(rgba, 4, 4, 4, &png, &n, &err), PN_OK);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
    assert_int_equal(pn__png_encode(rgba, 0, 4, 4, &png, &n, &err), PN_E_ARG);
    assert_int_equal(pn__png_encode(rgba, 4, 4, 2, &png, &n, &err), PN_E_ARG);
    /* gray: decoded as one channel, the same bytes */
    assert_int_equal(pn__png_encode(px, W, H, 1, &png, &n, &err), PN_OK);
    assert_int_equal(pn_image_decode(png, n, "mem", &o, &img, &err), PN_OK);
    assert_int_equal(img.c, 1);
    assert_memory_equal(img.px, px, (size_t)W * H);
    pn_image_free(&img);
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_plot_png),
                                       cmocka_unit_test(test_plot_full_disk),
                                       cmocka_unit_test(test_plot_cam),
                                       cmocka_unit_test(test_plot_roc_pair),
                                       cmocka_unit_test(test_png_roundtrip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
