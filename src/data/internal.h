/* Private helpers shared by the files of src/data (not installed). */
#ifndef PNEUMO_DATA_INTERNAL_H
#define PNEUMO_DATA_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "pneumo/dataset.h"
#include "pneumo/image.h"

/* Effective limits from possibly-NULL options. */
long pn__max_pixels(const pn_decode_opts *o);
int pn__min_side(const pn_decode_opts *o);

/* Make img hold w*h*c bytes (reusing its buffer when big enough). */
pn_status pn__image_alloc(pn_image *img, int w, int h, int c, const char *name, pn_error *err);

/* Checks w, h against the options: too small / over the pixel limit. */
pn_status pn__check_dims(long w, long h, const pn_decode_opts *o, const char *name,
                         const char *fmt, pn_error *err);

/* 1 when libjpeg warns (it recovered from corrupt data) while reading the
 * header of the JPEG at buf (msg: the warning): GDCM's JPEG codec asserts on
 * such a header (gdcmJPEGBITSCodec GetHeaderInfo), so DICOM refuses it first. */
int pn__jpeg_header_warns(const uint8_t *buf, size_t n, char *msg, size_t msg_n);
pn_status pn__jpeg_decode(const uint8_t *buf, size_t n, const char *name, const pn_decode_opts *o,
                          pn_image *img, pn_error *err);
pn_status pn__png_decode(const uint8_t *buf, size_t n, const char *name, const pn_decode_opts *o,
                         pn_image *img, pn_error *err);

/* Resize with a caller-owned intermediate buffer (*tmp, *tmp_cap reused). */
pn_status pn__resize(const pn_image *in, int ow, int oh, pn_image *out, void **tmp,
                     size_t *tmp_cap, pn_error *err);

/* Read an item's bytes into a reusable buffer (*buf, *cap). */
pn_status pn__dataset_read_into(const pn_dataset *ds, const pn_item *it, uint8_t **buf,
                                size_t *cap, size_t *n, pn_error *err);
/* Decode an item from bytes already read (npz items become 28x28 L). */
pn_status pn__dataset_decode(const pn_dataset *ds, const pn_item *it, const uint8_t *bytes,
                             size_t n, const pn_decode_opts *o, pn_image *img, pn_error *err);

/* Append to a bad list (reason copied). */
pn_status pn__bad_list_add(pn_bad_list *l, const pn_item *it, pn_status code, const char *reason);

/* Largest file the loaders read into memory (bytes). */
#define PN_MAX_FILE_BYTES ((size_t)1 << 30)

#endif
