/* DICOM inside src/data: the GDCM bridge (dicom_gdcm.cc, C++) hands the
 * header values and the decoded stored values of frame 1 to the rendering
 * rule (dicom.c, C). Private to src/data. */
#ifndef PNEUMO_DICOM_INTERNAL_H
#define PNEUMO_DICOM_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "pneumo/image.h"
#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A LUT of a Modality LUT or VOI LUT Sequence item (first item only). */
typedef struct pn__dcm_lut {
    int present;      /* the item has LUTDescriptor and LUTData */
    long entries;     /* LUTDescriptor[0], 0 read as 65536 */
    long first;       /* LUTDescriptor[1] (first mapped value, US or SS) */
    int bits;         /* LUTDescriptor[2] */
    uint16_t *data;   /* `entries` values (malloc'ed) */
} pn__dcm_lut;

#define PN__DCM_STR 72

/* Header values (strings trimmed of DICOM padding) and, after
 * pn__dcm_decode, the stored values of frame 1. */
typedef struct pn__dcm {
    long rows, cols, frames, samples;
    int bits_alloc, bits_stored, pixel_rep;
    char photometric[PN__DCM_STR];
    char ts_uid[PN__DCM_STR];
    char patient_id[PN__DCM_STR];
    char sop_uid[PN__DCM_STR];
    int has_rescale; /* both RescaleSlope and RescaleIntercept, non-empty */
    char slope[PN__DCM_STR], intercept[PN__DCM_STR];
    int has_window;  /* both WindowCenter and WindowWidth, non-empty */
    char center[PN__DCM_STR], width[PN__DCM_STR]; /* first value only */
    char voi_func[PN__DCM_STR];                   /* VOILUTFunction, "" = LINEAR */
    pn__dcm_lut mlut, voi;
    int encapsulated;
    /* where the Pixel Data value starts in the file and its length field
     * (0xFFFFFFFF: encapsulated); px_at = 0 when not located (no pixel
     * data before the end, or a Deflated file) */
    size_t px_at;
    uint32_t px_vl;
    /* decoded frame 1: rows*cols values of px_bytes (1 or 2) each */
    void *px;
    int px_bytes;
    int px_signed; /* the decoder's signedness (may differ from pixel_rep) */
} pn__dcm;

/* 1 when buf looks like DICOM: "DICM" at offset 128, or a data set without
 * preamble starting with a plausible group 0002/0008 element. */
int pn__dicom_sniff(const uint8_t *buf, size_t n);

/* Every element length up to the Pixel Data (fragments included) lies
 * inside the file: checked before GDCM, whose asserts abort on some
 * truncated files (dicom_walk.c). */
pn_status pn__dicom_walk(const uint8_t *buf, size_t n, const char *name, pn_error *err);
/* The same on the first n bytes of a longer file when prefix is 1: *more
 * is set (and the status may be an error) when those bytes do not hold the
 * whole header up to the Pixel Data; then walk the whole file instead. */
pn_status pn__dicom_walk_prefix(const uint8_t *buf, size_t n, int prefix, int *more,
                                const char *name, pn_error *err);

/* GDCM bridge. pn__dcm_header parses everything before the pixel data and
 * fills d (no pixel buffer); pn__dcm_decode then reads the whole file,
 * checks the pixel data against the header and decodes frame 1 into d->px.
 * Errors name `name` and the reason. pn__dcm_free releases d's buffers. */
pn_status pn__dcm_header(const uint8_t *buf, size_t n, const char *name, pn__dcm *d,
                         pn_error *err);
pn_status pn__dcm_decode(const uint8_t *buf, size_t n, const char *name, pn__dcm *d,
                         pn_error *err);
void pn__dcm_free(pn__dcm *d);

/* (rows, cols) from the first fragment of an encapsulated frame: a JPEG or
 * JPEG-LS SOF, or a JPEG 2000 SIZ marker segment. 0 when not found. */
int pn__codestream_dims(const uint8_t *b, size_t n, long *rows, long *cols);

/* The DICOM decode entry of pn_image_decode: header checks, limits, GDCM
 * decode, then the display rule into an 8-bit grayscale image. */
pn_status pn__dicom_decode(const uint8_t *buf, size_t n, const char *name,
                           const pn_decode_opts *o, pn_image *img, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
