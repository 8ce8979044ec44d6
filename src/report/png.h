/* The PNG encoder (src/report/png.c), private to pneumo: the server's
 * heatmaps and previews and pn_png_write_rgb share it. */
#ifndef PN_REPORT_PNG_H
#define PN_REPORT_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

/* An 8-bit image of channels 1 (gray), 3 (RGB) or 4 (RGBA), rows packed,
 * into a malloc'ed buffer *out of *out_n bytes (free it). */
pn_status pn__png_encode(const uint8_t *px, int w, int h, int channels, uint8_t **out,
                         size_t *out_n, pn_error *err);

#endif
