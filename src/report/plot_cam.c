/* A CAM figure (pneumo predict --cam): the X-ray scaled to at most
 * PN_CAM_MAX_SIDE px, the class activation map over it in jet colours with
 * the opacity scaled by the activation (nothing below a fifth of the peak,
 * so the film stays readable where the map says little), a colour bar, and
 * a caption with the class and its probability. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pneumo/cam.h"
#include "pneumo/report.h"
#include "report/plot.h"

#define CAM_FLOOR 0.2f   /* activation (of the peak) below which nothing is drawn */
#define CAM_ALPHA 0.65f  /* opacity at the peak */
enum { BAR_COL = 96, CAPTION_H = 58, MIN_W = 420 };

typedef struct cam_ctx {
    cairo_surface_t *base, *heat; /* scaled X-ray, overlay (ARGB, premultiplied) */
    int iw, ih;                   /* image area */
    const char *caption;
} cam_ctx;

/* opacity of activation v in [0,1] */
static float cam_alpha(float v)
{
    float t = (v - CAM_FLOOR) / (1 - CAM_FLOOR);
    return CAM_ALPHA * (t < 0 ? 0 : t > 1 ? 1 : t);
}

static void put_argb(unsigned char *row, int x, const uint8_t rgb[3], float a)
{
    uint32_t A = (uint32_t)lrintf(255 * a);
    uint32_t px = A << 24 | (uint32_t)lrintf(rgb[0] * a) << 16 | (uint32_t)lrintf(rgb[1] * a) << 8 |
                  (uint32_t)lrintf(rgb[2] * a);
    ((uint32_t *)row)[x] = px;
}

static pn_status draw_cam(pn__plot *p, void *vctx, pn_error *err)
{
    const cam_ctx *k = vctx;
    cairo_t *cr = p->cr;
    double x0 = 12, y0 = 12;
    cairo_set_source_surface(cr, k->base, x0, y0);
    cairo_paint(cr);
    cairo_set_source_surface(cr, k->heat, x0, y0);
    cairo_paint(cr);
    /* colour bar: the jet scale at the opacity the map uses, over a mid grey */
    double bx = x0 + k->iw + 22, bw = 18, by = y0 + 24, bh = k->ih * 0.7 < 120 ? 120 : k->ih * 0.7;
    for (int i = 0; i < (int)bh; i++) {
        float v = 1 - (float)i / (float)(bh - 1);
        uint8_t c[3];
        pn_jet(v, c);
        float a = cam_alpha(v);
        double g = 0.5;
        cairo_set_source_rgb(cr, (1 - a) * g + a * c[0] / 255.0, (1 - a) * g + a * c[1] / 255.0,
                             (1 - a) * g + a * c[2] / 255.0);
        cairo_rectangle(cr, bx, by + i, bw, 1);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, pn__ink.r, pn__ink.g, pn__ink.b);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, bx + 0.5, by + 0.5, bw - 1, bh - 1);
    cairo_stroke(cr);
    pn__text(p, bx + bw / 2, by - 8, PN__FONT_TICK, 0, 0.5, 1, 0, pn__ink, "high");
    pn__text(p, bx + bw / 2, by + bh + 8, PN__FONT_TICK, 0, 0.5, 0, 0, pn__ink, "low");
    pn__text(p, bx + bw + 14, by + bh / 2, PN__FONT_TICK, 0, 0.5, 0.5, 1, pn__ink_soft,
             "class activation");
    /* caption */
    double cy = y0 + k->ih + 20;
    pn__text(p, x0, cy, PN__FONT_LABEL, 1, 0, 0.5, 0, pn__ink, k->caption);
    pn__text(p, x0, cy + 21, PN__FONT_TICK, 0, 0, 0.5, 0, pn__ink_soft,
             "opacity grows with the activation; below 20% of the peak nothing is drawn");
    return PN_OK;
}

pn_status pn_plot_cam(const char *path, const uint8_t *rgb, int W, int H, const float *cam, int h,
                      int w, const char *caption, pn_error *err)
{
    if (W < 1 || H < 1 || h < 1 || w < 1 || !rgb || !cam)
        return pn_error_set(err, PN_E_ARG, "CAM figure %s: bad sizes", path);
    double s = (double)PN_CAM_MAX_SIDE / (W > H ? W : H);
    if (s > 1) s = 1;
    int iw = (int)lround(W * s), ih = (int)lround(H * s);
    if (iw < 1) iw = 1;
    if (ih < 1) ih = 1;
    cairo_surface_t *src = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_surface_t *base = cairo_image_surface_create(CAIRO_FORMAT_RGB24, iw, ih);
    cairo_surface_t *heat = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, iw, ih);
    float *m = malloc((size_t)iw * ih * sizeof *m);
    pn_status st = PN_OK;
    if (!m || cairo_surface_status(src) || cairo_surface_status(base) || cairo_surface_status(heat)) {
        st = pn_error_set(err, PN_E_NOMEM, "CAM figure %s: out of memory for %dx%d", path, W, H);
        goto done;
    }
    /* the X-ray, scaled down with cairo's bilinear-area filter */
    cairo_surface_flush(src);
    unsigned char *d = cairo_image_surface_get_data(src);
    int stride = cairo_image_surface_get_stride(src);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *q = rgb + ((size_t)y * W + x) * 3;
            ((uint32_t *)(d + (size_t)y * stride))[x] = (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
        }
    cairo_surface_mark_dirty(src);
    cairo_t *cr = cairo_create(base);
    cairo_scale(cr, (double)iw / W, (double)ih / H);
    cairo_set_source_surface(cr, src, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_destroy(cr);
    /* the map at the figure's size */
    pn_resize_bilinear(cam, h, w, m, ih, iw);
    cairo_surface_flush(heat);
    d = cairo_image_surface_get_data(heat);
    stride = cairo_image_surface_get_stride(heat);
    for (int y = 0; y < ih; y++)
        for (int x = 0; x < iw; x++) {
            float v = m[(size_t)y * iw + x];
            uint8_t c[3];
            pn_jet(v, c);
            put_argb(d + (size_t)y * stride, x, c, cam_alpha(v));
        }
    cairo_surface_mark_dirty(heat);
    cam_ctx k = {base, heat, iw, ih, caption ? caption : "class activation map"};
    int pw = iw + 12 + BAR_COL + 12, ph = ih + 12 + CAPTION_H;
    if (pw < MIN_W) pw = MIN_W;
    st = pn__plot_png(path, pw, ph, draw_cam, &k, err);
done:
    free(m);
    cairo_surface_destroy(src);
    cairo_surface_destroy(base);
    cairo_surface_destroy(heat);
    return st;
}
