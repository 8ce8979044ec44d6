/* The shared chart helper (see plot.h): page -> PNG in an atomic file, text,
 * axes with nice ticks, series lines, legends and titles. The charts
 * themselves (plot_train.c, chart.c) only lay out and call these. */
#include <cairo-ft.h>
#include <errno.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/util.h"
#include "report/plot.h"

const pn__rgb pn__ink = {0.13, 0.13, 0.13};
const pn__rgb pn__ink_soft = {0.40, 0.40, 0.40};
/* tab10's first eight: blue, orange, green, red, purple, brown, pink, grey */
const pn__rgb pn__series[8] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}};

static const pn__rgb grid_rgb = {0.90, 0.90, 0.90};

pn__rgb pn__mix(pn__rgb a, pn__rgb b, double t)
{
    return (pn__rgb){a.r + t * (b.r - a.r), a.g + t * (b.g - a.g), a.b + t * (b.b - a.b)};
}

static void set_rgb(pn__plot *p, pn__rgb c) { cairo_set_source_rgb(p->cr, c.r, c.g, c.b); }

static int load_faces(void);

/* ---- PNG into an atomic file --------------------------------------------- */

typedef struct png_sink {
    FILE *f;
    int err; /* errno of the first failed write */
} png_sink;

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int n)
{
    png_sink *s = closure;
    errno = 0;
    if (fwrite(data, 1, n, s->f) != n) {
        s->err = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

pn_status pn__plot_png(const char *path, int w, int h, pn__plot_draw_fn draw, void *ctx,
                       pn_error *err)
{
    if (!path || !draw || w < 1 || h < 1 || w > PN__PLOT_MAX_SIDE || h > PN__PLOT_MAX_SIDE)
        return pn_error_set(err, PN_E_ARG, "plot %s: bad arguments (%dx%d)", path ? path : "?",
                            w, h);
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(s); /* an inert error context when s failed */
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = pn_error_set(err, PN_E_BACKEND, "plot %s: cairo: %s", path,
                          cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (load_faces()) {
        st = pn_error_set(err, PN_E_NOMEM, "plot %s: cannot load the DejaVu Sans font files (out "
                                           "of memory?)", path);
        goto out;
    }
    pn__plot p = {cr, w, h};
    st = draw(&p, ctx, err);
    if (st) goto out;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = pn_error_set(err, PN_E_BACKEND, "plot %s: cairo: %s", path,
                          cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    cairo_surface_flush(s);
    png_sink sink = {af.f, 0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(s, sink_write, &sink);
    if (sink.err)
        st = pn_error_set(err, PN_E_IO, "%s: write failed: %s", path, strerror(sink.err));
    else if (cs != CAIRO_STATUS_SUCCESS)
        st = pn_error_set(err, PN_E_BACKEND, "plot %s: cairo PNG: %s", path,
                          cairo_status_to_string(cs));
out:
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (st) {
        pn_afile_abort(&af);
        return st;
    }
    return pn_afile_commit(&af, err);
}

/* ---- text --------------------------------------------------------------- */

/* DejaVu Sans straight from its files through FreeType, not through
 * fontconfig: fontconfig crashes (SIGSEGV) when an allocation fails while it
 * parses its configuration (under ulimit -v, after a run's work is done),
 * and FreeType and cairo report out-of-memory as errors. Without the files,
 * cairo's own font selection (fontconfig) is the fallback. */
#define PN__FONT_DIR "/usr/share/fonts/truetype/dejavu/"
static pthread_mutex_t faces_mu = PTHREAD_MUTEX_INITIALIZER;
static cairo_font_face_t *faces[2]; /* regular, bold; kept for the process */
static atomic_int faces_state;      /* 0: not loaded, 1: loaded, 2: no files (fontconfig) */

/* 0 when the faces are there (or the files are not installed: cairo's own
 * selection then), -1 when loading them failed (out of memory) */
static int load_faces(void)
{
    static FT_Library lib;
    static const char *const files[2] = {PN__FONT_DIR "DejaVuSans.ttf",
                                         PN__FONT_DIR "DejaVuSans-Bold.ttf"};
    pthread_mutex_lock(&faces_mu);
    int rc = 0;
    if (faces_state == 0 && (access(files[0], R_OK) || access(files[1], R_OK))) faces_state = 2;
    if (faces_state == 0 && !lib && FT_Init_FreeType(&lib)) lib = NULL;
    for (int i = 0; faces_state == 0 && lib && i < 2; i++) {
        if (faces[i]) continue;
        FT_Face f;
        if (FT_New_Face(lib, files[i], 0, &f)) continue;
        cairo_font_face_t *cf = cairo_ft_font_face_create_for_ft_face(f, 0);
        if (cairo_font_face_status(cf) != CAIRO_STATUS_SUCCESS) {
            cairo_font_face_destroy(cf);
            FT_Done_Face(f);
            continue;
        }
        faces[i] = cf;
    }
    if (faces_state == 0 && faces[0] && faces[1]) faces_state = 1;
    if (faces_state == 0) rc = -1;
    pthread_mutex_unlock(&faces_mu);
    return rc;
}

static void font(pn__plot *p, double size, int bold)
{
    if (faces_state == 1) {
        cairo_set_font_face(p->cr, faces[bold ? 1 : 0]);
        /* what Debian's fontconfig defaults gave: slight hinting */
        cairo_font_options_t *o = cairo_font_options_create();
        cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_SLIGHT);
        cairo_set_font_options(p->cr, o);
        cairo_font_options_destroy(o);
    } else
        cairo_select_font_face(p->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(p->cr, size);
}

double pn__text_width(pn__plot *p, double size, int bold, const char *s)
{
    cairo_text_extents_t te;
    font(p, size, bold);
    cairo_text_extents(p->cr, s, &te);
    return te.x_advance;
}

double pn__text(pn__plot *p, double x, double y, double size, int bold, double ax, double ay,
                int vertical, pn__rgb c, const char *s)
{
    double wd = pn__text_width(p, size, bold, s);
    double cap = 0.73 * size; /* DejaVu Sans cap height: digits and capitals are centred */
    cairo_save(p->cr);
    cairo_translate(p->cr, x, y);
    if (vertical) cairo_rotate(p->cr, -M_PI / 2);
    cairo_move_to(p->cr, -ax * wd, (1 - ay) * cap);
    set_rgb(p, c);
    cairo_show_text(p->cr, s);
    cairo_restore(p->cr);
    return wd;
}

/* ---- axes ---------------------------------------------------------------- */

static double nice_step(double raw, int integer)
{
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double e = pow(10, floor(log10(raw))), f = raw / e;
    double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    double step = m * e;
    if (integer) step = step < 1 ? 1 : ceil(step - 1e-9);
    return step;
}

void pn__axis_fit(pn__axis *a, double lo, double hi, int nticks, int integer, double floor_v,
                  double ceil_v)
{
    if (!isfinite(lo)) lo = hi;
    if (!isfinite(hi)) hi = lo;
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    /* at least 10% of the values' size, so near-equal values get readable ticks */
    double want = fmax(fabs(lo), fabs(hi)) > 0 ? 0.1 * fmax(fabs(lo), fabs(hi)) : 1;
    if (hi - lo < want) {
        double mid = (lo + hi) / 2;
        lo = mid - want / 2;
        hi = mid + want / 2;
    }
    double pad = 0.05 * (hi - lo);
    lo = fmax(lo - pad, floor_v);
    hi = fmin(hi + pad, ceil_v);
    double step = nice_step((hi - lo) / (nticks > 1 ? nticks : 1), integer);
    a->step = step;
    a->lo = fmax(floor(lo / step + 1e-9) * step, floor_v);
    a->hi = fmin(ceil(hi / step - 1e-9) * step, ceil_v);
    if (!(a->hi > a->lo)) a->hi = a->lo + step;
}

double pn__fx(const pn__frame *f, double v)
{
    return f->x0 + (v - f->x.lo) / (f->x.hi - f->x.lo) * (f->x1 - f->x0);
}

double pn__fy(const pn__frame *f, double v)
{
    return f->y1 - (v - f->y.lo) / (f->y.hi - f->y.lo) * (f->y1 - f->y0);
}

/* smallest number of decimals that writes step exactly */
static int decimals(double step)
{
    for (int d = 0; d < 6; d++) {
        double s = step * pow(10, d);
        if (fabs(s - round(s)) < 1e-6 * (s > 1 ? s : 1)) return d;
    }
    return 6;
}

static int tick_count(const pn__axis *a, double *first)
{
    if (!(a->step > 0)) return 0;
    double k0 = ceil(a->lo / a->step - 1e-9), k1 = floor(a->hi / a->step + 1e-9);
    *first = k0;
    return k1 >= k0 && k1 - k0 < 1000 ? (int)(k1 - k0) + 1 : 0;
}

static void tick_label(const pn__axis *a, double v, char *buf, size_t n)
{
    double s = a->percent ? 100 : 1;
    double x = v * s;
    if (fabs(x) < 1e-9 * a->step * s) x = 0;
    snprintf(buf, n, "%.*f%s", decimals(a->step * s), x, a->percent ? "%" : "");
}

static void crisp_line(pn__plot *p, double x0, double y0, double x1, double y1)
{
    /* 1 px lines on pixel centres */
    if (x0 == x1) x0 = x1 = floor(x0) + 0.5;
    if (y0 == y1) y0 = y1 = floor(y0) + 0.5;
    cairo_move_to(p->cr, x0, y0);
    cairo_line_to(p->cr, x1, y1);
}

void pn__axes(pn__plot *p, const pn__frame *f, int xticks)
{
    cairo_t *cr = p->cr;
    char buf[64];
    double k0;
    int ny = tick_count(&f->y, &k0), nx = 0;
    double kx0 = 0;
    if (xticks) nx = tick_count(&f->x, &kx0);
    /* grid */
    cairo_set_line_width(cr, 1);
    set_rgb(p, grid_rgb);
    for (int i = 0; i < ny; i++) crisp_line(p, f->x0, pn__fy(f, (k0 + i) * f->y.step), f->x1,
                                            pn__fy(f, (k0 + i) * f->y.step));
    for (int i = 0; i < nx; i++) crisp_line(p, pn__fx(f, (kx0 + i) * f->x.step), f->y0,
                                            pn__fx(f, (kx0 + i) * f->x.step), f->y1);
    cairo_stroke(cr);
    /* left and bottom spines, outward ticks */
    set_rgb(p, pn__ink);
    crisp_line(p, f->x0, f->y0, f->x0, f->y1);
    crisp_line(p, f->x0, f->y1, f->x1, f->y1);
    double ywid = 0;
    for (int i = 0; i < ny; i++) {
        double v = (k0 + i) * f->y.step, y = pn__fy(f, v);
        crisp_line(p, f->x0 - 5, y, f->x0, y);
        tick_label(&f->y, v, buf, sizeof buf);
        double wd = pn__text(p, f->x0 - 9, y, PN__FONT_TICK, 0, 1, 0.5, 0, pn__ink, buf);
        if (wd > ywid) ywid = wd;
    }
    for (int i = 0; i < nx; i++) {
        double v = (kx0 + i) * f->x.step, x = pn__fx(f, v);
        crisp_line(p, x, f->y1, x, f->y1 + 5);
        tick_label(&f->x, v, buf, sizeof buf);
        pn__text(p, x, f->y1 + 10, PN__FONT_TICK, 0, 0.5, 0, 0, pn__ink, buf);
    }
    cairo_stroke(cr);
    if (f->y.label)
        pn__text(p, f->x0 - 9 - ywid - 12, (f->y0 + f->y1) / 2, PN__FONT_LABEL, 0, 0.5, 1, 1,
                 pn__ink, f->y.label);
    if (f->x.label)
        pn__text(p, (f->x0 + f->x1) / 2, f->y1 + 10 + PN__FONT_TICK + 12, PN__FONT_LABEL, 0, 0.5,
                 0, 0, pn__ink, f->x.label);
}

void pn__clip(pn__plot *p, const pn__frame *f)
{
    cairo_save(p->cr);
    /* a few pixels beyond the frame, so that a line along an edge (a ROC
     * at sensitivity 1, an accuracy of 100%) shows its whole width */
    cairo_rectangle(p->cr, f->x0 - 3, f->y0 - 3, f->x1 - f->x0 + 6, f->y1 - f->y0 + 6);
    cairo_clip(p->cr);
}

void pn__unclip(pn__plot *p) { cairo_restore(p->cr); }

void pn__series_line(pn__plot *p, const pn__frame *f, const double *x, const double *y, int n,
                     pn__rgb c, double width, int dashed, double dot)
{
    cairo_t *cr = p->cr;
    static const double dash[2] = {7, 5};
    set_rgb(p, c);
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            open = 0;
            continue;
        }
        if (open) cairo_line_to(cr, pn__fx(f, x[i]), pn__fy(f, y[i]));
        else cairo_move_to(cr, pn__fx(f, x[i]), pn__fy(f, y[i]));
        open = 1;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (dot > 0)
        for (int i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i])) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, pn__fx(f, x[i]), pn__fy(f, y[i]), dot, 0, 2 * M_PI);
            }
    cairo_fill(cr);
}

/* ---- legend and title ------------------------------------------------------- */

enum { KEY_W = 26, KEY_GAP = 7, ITEM_GAP = 20 };

double pn__legend(pn__plot *p, double x_right, double y, const pn__legend_item *it, int n)
{
    double total = 0, wd[16];
    if (n > 16) n = 16;
    for (int i = 0; i < n; i++) {
        wd[i] = pn__text_width(p, PN__FONT_LABEL, 0, it[i].text);
        total += KEY_W + KEY_GAP + wd[i] + (i + 1 < n ? ITEM_GAP : 0);
    }
    cairo_t *cr = p->cr;
    double x = x_right - total;
    for (int i = 0; i < n; i++) {
        set_rgb(p, it[i].c);
        if (it[i].key == PN__KEY_BOX) {
            cairo_rectangle(cr, x + KEY_W - 14, y - 7, 14, 14);
            cairo_fill(cr);
        } else {
            static const double dash[2] = {5, 4};
            cairo_set_line_width(cr, 2.5);
            cairo_set_dash(cr, dash, it[i].key == PN__KEY_DASH ? 2 : 0, 0);
            cairo_move_to(cr, x, y);
            cairo_line_to(cr, x + KEY_W, y);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            if (it[i].key == PN__KEY_DOTS) {
                cairo_arc(cr, x + KEY_W / 2.0, y, 3.5, 0, 2 * M_PI);
                cairo_fill(cr);
            }
        }
        pn__text(p, x + KEY_W + KEY_GAP, y, PN__FONT_LABEL, 0, 0, 0.5, 0, pn__ink, it[i].text);
        x += KEY_W + KEY_GAP + wd[i] + ITEM_GAP;
    }
    return total;
}

void pn__title(pn__plot *p, double x, double y, const char *title, const char *sub)
{
    pn__text(p, x, y, PN__FONT_TITLE, 1, 0, 0.5, 0, pn__ink, title);
    if (sub) pn__text(p, x, y + 21, PN__FONT_TICK, 0, 0, 0.5, 0, pn__ink_soft, sub);
}
