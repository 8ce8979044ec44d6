/* The one drawing helper of every chart pneumo writes (src/report/ only):
 * a cairo image surface streamed into an atomic file, text, nice axes with
 * ticks and labels, series, and legends that sit outside the plot area.
 *
 * Sizes are pixels of the PNG, which report.html shows 1:1, so the font
 * sizes below are the sizes a reader sees.
 */
#ifndef PN_REPORT_PLOT_H
#define PN_REPORT_PLOT_H

#include <cairo.h>

#include "pneumo/status.h"

#define PN__FONT_TITLE 17.0
#define PN__FONT_LABEL 14.0
#define PN__FONT_TICK 13.0
#define PN__PLOT_MAX_SIDE 8192 /* largest width or height accepted */

typedef struct pn__rgb {
    double r, g, b;
} pn__rgb;

extern const pn__rgb pn__ink;        /* text, frame, ticks */
extern const pn__rgb pn__ink_soft;   /* secondary text */
extern const pn__rgb pn__series[8];  /* series and class colours, in order */

/* A w x h drawing; cr is cairo's context on the image surface. */
typedef struct pn__plot {
    cairo_t *cr;
    int w, h;
} pn__plot;

/* Draws one chart on a white page. An error it returns aborts the file. */
typedef pn_status (*pn__plot_draw_fn)(pn__plot *p, void *ctx, pn_error *err);

/* path <- a w x h RGB PNG drawn by draw(p, ctx). The atomic file is opened
 * first (an unwritable target fails before anything is drawn), cairo's
 * status is checked after drawing, the PNG is streamed into the temporary
 * with every write checked, and only a complete file is renamed into place.
 * Errors name path (PN_E_ARG bad size or no draw, PN_E_IO unwritable or
 * write failed, e.g. a full disk, PN_E_BACKEND cairo failed). */
pn_status pn__plot_png(const char *path, int w, int h, pn__plot_draw_fn draw, void *ctx,
                       pn_error *err);

/* ---- text --------------------------------------------------------------- */
/* s at (x, y) in size px, anchored by (ax, ay) in its box (0 = left/top,
 * 0.5 = centre, 1 = right/bottom); vertical = rotated to read bottom-up.
 * Returns the advance width. */
double pn__text(pn__plot *p, double x, double y, double size, int bold, double ax, double ay,
                int vertical, pn__rgb c, const char *s);
double pn__text_width(pn__plot *p, double size, int bold, const char *s);

/* ---- axes ---------------------------------------------------------------- */
typedef struct pn__axis {
    double lo, hi;     /* the range shown */
    double step;       /* tick spacing; ticks at the multiples within [lo, hi] */
    const char *label; /* axis title (may be NULL) */
    int percent;       /* tick labels as 100*v with "%" */
} pn__axis;

/* Range and ticks for data in [lo, hi] (non-finite ends are ignored; an
 * empty or narrow range is widened): about nticks nice steps (1, 2, 2.5, 5
 * times a power of ten; whole numbers when integer), a margin so that no
 * point sits on the frame, a span of at least a tenth of the values' size,
 * and never outside [floor, ceil]. */
void pn__axis_fit(pn__axis *a, double lo, double hi, int nticks, int integer, double floor,
                  double ceil);

typedef struct pn__frame {
    double x0, y0, x1, y1; /* the plot area in pixels (y0 on top) */
    pn__axis x, y;
} pn__frame;

double pn__fx(const pn__frame *f, double v); /* data -> pixel */
double pn__fy(const pn__frame *f, double v);

/* Light grid at the ticks, the frame, ticks and their labels, and the axis
 * titles, all outside the plot area. xticks = 0 leaves the x ticks out (for
 * category axes drawn by the chart). */
void pn__axes(pn__plot *p, const pn__frame *f, int xticks);

/* Clip to the plot area and a 3 px rim (pn__unclip ends it). */
void pn__clip(pn__plot *p, const pn__frame *f);
void pn__unclip(pn__plot *p);

/* Line through (x[i], y[i]), broken at non-finite points, width px, dashed
 * or solid, with dots of radius dot at the points (0: none). */
void pn__series_line(pn__plot *p, const pn__frame *f, const double *x, const double *y, int n,
                     pn__rgb c, double width, int dashed, double dot);

/* ---- legend and title ------------------------------------------------------- */
typedef enum pn__key {
    PN__KEY_LINE, /* a solid line */
    PN__KEY_DOTS, /* a solid line with a dot, for pn__series_line with dots */
    PN__KEY_DASH, /* a dashed line */
    PN__KEY_BOX   /* a filled square, for bars */
} pn__key;
typedef struct pn__legend_item {
    const char *text;
    pn__rgb c;
    pn__key key;
} pn__legend_item;

/* One row of entries, right-aligned at x_right, centred on y: meant for a
 * title row above the plot area, so it never covers data. Returns its width. */
double pn__legend(pn__plot *p, double x_right, double y, const pn__legend_item *it, int n);

/* A bold title (left-aligned at x, centred on y) and, when sub is not NULL,
 * a smaller grey line under it. */
void pn__title(pn__plot *p, double x, double y, const char *title, const char *sub);

/* a + t*(b-a) per channel */
pn__rgb pn__mix(pn__rgb a, pn__rgb b, double t);

#endif
