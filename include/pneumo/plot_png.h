/* pneumo: PNG plots with PLplot's pngcairo device, written atomically.
 *
 * PLplot draws into a temporary file next to the target (created first:
 * PLplot itself cannot report an unwritable file); its bytes are checked to
 * be a PNG and written to the target with pn_write_file_atomic, and the
 * temporary is removed, so a failure leaves no half file. PLplot keeps
 * global state: plots are serialised with a mutex. A PLplot fatal error
 * (which would exit()) comes back as PN_E_BACKEND. Used by the training
 * plots (src/train/plot.c) and the dataset chart (src/data/chart.c).
 */
#ifndef PNEUMO_PLOT_PNG_H
#define PNEUMO_PLOT_PNG_H

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Draws with PLplot calls between plinit() and plend(). */
typedef void (*pn_plot_draw_fn)(void *ctx);

/* A w x h pixel PNG at path: white background (colour 0), colours 1..npal
 * of colour map 0 from pal (RGB), plinit(), draw(ctx), plend(). Errors name
 * path: unwritable, no pngcairo device, PLplot failure, no PNG written. */
pn_status pn_plot_png(const char *path, int w, int h, const unsigned char (*pal)[3], int npal,
                      pn_plot_draw_fn draw, void *ctx, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
