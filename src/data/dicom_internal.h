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

/* The longest element value the walk lets GDCM read (GDCM allocates what a
 * length field says); a value must also fit in the bytes left in the file. */
#define PN__DCM_MAX_ELEMENT (1024u * 1024u * 1024u)
/* The most a Deflated data set may inflate to (the walk inflates it). */
#define PN__DCM_MAX_INFLATED ((size_t)256 << 20)

/* Where the walk found the (first) top-level Pixel Data. */
typedef struct pn__dcm_layout {
    int deflated;     /* a Deflated data set (walked inflated): nothing below is set */
    size_t px_at;     /* offset of its value (0: no top-level Pixel Data) */
    uint32_t px_vl;   /* its length field (0xFFFFFFFF: encapsulated) */
    int px_short;     /* native, and px_vl is longer than the px_left bytes left */
    size_t px_left;
    size_t frags_at;  /* encapsulated: the first item header (the Basic Offset Table) */
    size_t frags_end; /* the sequence delimiter */
    int nfrag;        /* items, the offset table included */
    size_t frame_at, frame_len; /* the first fragment after the offset table (nfrag >= 2) */
} pn__dcm_layout;

/* The whole-file walk of pn__dicom_walk that also says where the Pixel Data
 * lies (lay is zeroed first). */
pn_status pn__dicom_walk_layout(const uint8_t *buf, size_t n, const char *name,
                                pn__dcm_layout *lay, pn_error *err);

/* The fragments after the offset table of a walked encapsulated Pixel Data
 * (from the first item when it starts with a JPEG SOI: no offset table),
 * back to back (the codestream of a single frame) into a malloc'ed *out. */
pn_status pn__dicom_frame_bytes(const uint8_t *buf, const pn__dcm_layout *lay, const char *name,
                                uint8_t **out, size_t *out_n, pn_error *err);

/* The marker structure of a JPEG codestream (lossy or lossless, ITU T.81)
 * from SOI up to the first SOS, checked before GDCM's JPEG codec (built with
 * assert() on, it aborts on some headers libjpeg-turbo reads): segment
 * lengths inside the stream, no bytes between segments, DHT tables (class
 * and id, code counts summing to <= 256 and fitting a prefix code, the
 * values inside the segment), DQT, SOF and SOS lengths. 0 when sound,
 * else 1 with the reason in why. */
int pn__jpeg_markers_bad(const uint8_t *b, size_t n, char *why, size_t why_n);

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
