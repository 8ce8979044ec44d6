/* A structural check of a DICOM file before GDCM sees it. Debian's GDCM is
 * built with assert() enabled and aborts the process on some truncated
 * files (e.g. a file meta group cut short) and allocates what a length
 * field says, so every element length of the file meta group and of the
 * whole data set (sequences and items recursively, the Pixel Data
 * fragments one by one, what follows the Pixel Data) is checked to lie
 * inside the file first, with known VRs, and undefined lengths only where
 * GDCM takes them. Only the structure is checked: content is GDCM's job.
 * Deflated data sets are inflated here (zlib) and walked the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dicom_internal.h"

typedef struct walk {
    const uint8_t *b;
    size_t n;
    int explicit_vr;
    const char *name;
    pn_error *err;
    int stop;   /* an unexpected structure (an error, or `more` for a prefix) */
    int prefix; /* b is only the start of the file: running out is not an error */
    int more;   /* prefix: the header goes on past the end of b */
    int at_pixels; /* the top-level Pixel Data header was reached */
    size_t stop_at;
    pn__dcm_layout *lay; /* where the top-level Pixel Data lies */
    size_t file_n;       /* n of the whole buffer (n is an item's end inside one) */
    int inflated;        /* b is an inflated Deflated data set */
} walk;

static unsigned u16(const uint8_t *p) { return p[0] | (unsigned)p[1] << 8; }
static uint32_t u32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define UNDEF 0xFFFFFFFFu

/* A VR of PS3.5 6.2 (GDCM asserts on any other in Explicit VR). */
static int valid_vr(const uint8_t *vr)
{
    static const char all[] = "AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOWPNSHSL"
                              "SQSSSTSVTMUCUIULUNURUSUTUV";
    for (size_t i = 0; i + 1 < sizeof all; i += 2)
        if (vr[0] == all[i] && vr[1] == all[i + 1]) return 1;
    return 0;
}

/* VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
static int long_vr(const uint8_t *vr)
{
    static const char *l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV",
                              "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof *l; i++)
        if (vr[0] == l[i][0] && vr[1] == l[i][1]) return 1;
    return 0;
}

static pn_status truncated(walk *w, unsigned g, unsigned e, const char *what, size_t at)
{
    if (w->prefix) {
        w->more = 1;
        return pn_error_set(w->err, PN_E_FORMAT, "%s: DICOM header longer than the bytes read",
                            w->name);
    }
    return pn_error_set(w->err, PN_E_FORMAT,
                        "%s: DICOM %s is truncated: %s (%04X,%04X) at byte %zu runs past the "
                        "end of the %s (%zu bytes)",
                        w->name, w->inflated ? "Deflated data set" : "file", what, g, e, at,
                        w->inflated ? "inflated data set" : "file", w->n);
}

/* A value length that does not fit in the `left` bytes after its header
 * (or over the limit for one element) before GDCM, which would allocate
 * what the length says. */
static pn_status too_long(walk *w, unsigned g, unsigned e, const char *what, size_t at,
                          uint32_t len, size_t left)
{
    if (w->prefix && len <= PN__DCM_MAX_ELEMENT) return truncated(w, g, e, what, at);
    if (len > PN__DCM_MAX_ELEMENT && len <= left)
        return pn_error_set(w->err, PN_E_FORMAT,
                            "%s: DICOM data set is corrupt: %s (%04X,%04X) at byte %zu has "
                            "length %lu, over the limit of %lu bytes for one element",
                            w->name, what, g, e, at, (unsigned long)len,
                            (unsigned long)PN__DCM_MAX_ELEMENT);
    return pn_error_set(w->err, PN_E_FORMAT,
                        "%s: DICOM %s is truncated: %s (%04X,%04X) at byte %zu: length %lu "
                        "exceeds the %zu bytes left %s (%zu bytes)",
                        w->name, w->inflated ? "Deflated data set" : "file", what, g, e, at,
                        (unsigned long)len, left,
                        w->n < w->file_n ? "in its sequence item"
                        : w->inflated    ? "in the inflated data set"
                                         : "in the file",
                        w->n);
}

/* One element header at *pos: tag, header size and value length. */
static pn_status header(walk *w, size_t pos, int explicit_vr, unsigned *g, unsigned *e,
                        size_t *hdr, uint32_t *len)
{
    if (w->n - pos < 8) return truncated(w, 0, 0, "an element header", pos);
    const uint8_t *p = w->b + pos;
    *g = u16(p);
    *e = u16(p + 2);
    if (*g == 0xFFFE || !explicit_vr) { /* items and delimiters are always implicit */
        *hdr = 8;
        *len = u32(p + 4);
        return PN_OK;
    }
    if (long_vr(p + 4)) {
        if (w->n - pos < 12) return truncated(w, *g, *e, "the element header", pos);
        *hdr = 12;
        *len = u32(p + 8);
    } else {
        *hdr = 8;
        *len = u16(p + 6);
    }
    return PN_OK;
}

static pn_status elements(walk *w, size_t *pos, int depth, int in_item);
static pn_status walk_all(walk *w);

/* Bytes per value of a fixed-size binary VR (0: any other VR). */
static unsigned bin_vr_size(const uint8_t *vr)
{
    static const struct {
        char vr[3];
        unsigned sz;
    } t[] = {{"US", 2}, {"SS", 2}, {"UL", 4}, {"SL", 4}, {"FL", 4}, {"AT", 4}, {"FD", 8}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (vr[0] == (uint8_t)t[i].vr[0] && vr[1] == (uint8_t)t[i].vr[1]) return t[i].sz;
    return 0;
}

/* Elements GDCM's image reader reads through gdcm::Attribute, which
 * asserts that an explicit VR is compatible with the dictionary's (UN
 * passes) and, for the US ones, reads one 2-byte value. */
static const struct {
    uint16_t g, e;
    const char *vrs; /* allowed VRs, 2 characters each */
    uint8_t us1;     /* US, VM 1: length 0 or 2 */
} attr_vr[] = {
    {0x0028, 0x0002, "US", 1}, {0x0028, 0x0006, "US", 1},   {0x0028, 0x0010, "US", 1},
    {0x0028, 0x0011, "US", 1}, {0x0028, 0x0100, "US", 1},   {0x0028, 0x0101, "US", 1},
    {0x0028, 0x0102, "US", 1}, {0x0028, 0x0103, "US", 1},   {0x0028, 0x0004, "CS", 0},
    {0x0028, 0x0008, "IS", 0}, {0x0028, 0x0030, "DS", 0},   {0x0028, 0x0034, "IS", 0},
    {0x0028, 0x1050, "DS", 0}, {0x0028, 0x1051, "DS", 0},   {0x0028, 0x1052, "DS", 0},
    {0x0028, 0x1053, "DS", 0}, {0x0028, 0x1054, "LO", 0},   {0x0028, 0x0009, "AT", 0},
    {0x0028, 0x1101, "USSS", 0}, {0x0028, 0x1102, "USSS", 0}, {0x0028, 0x1103, "USSS", 0},
    {0x0028, 0x3002, "USSS", 0}, {0x0018, 0x0050, "DS", 0}, {0x0018, 0x0088, "DS", 0},
    {0x0018, 0x1164, "DS", 0}, {0x0020, 0x0032, "DS", 0},   {0x0020, 0x0037, "DS", 0},
    {0x0008, 0x0016, "UI", 0}, {0x0008, 0x0060, "CS", 0},
};

static pn_status check_attr(walk *w, unsigned g, unsigned e, size_t at, uint32_t len)
{
    for (size_t i = 0; i < sizeof attr_vr / sizeof *attr_vr; i++) {
        if (attr_vr[i].g != g || attr_vr[i].e != e) continue;
        const uint8_t *vr = w->b + at + 4;
        if (w->explicit_vr && !(vr[0] == 'U' && vr[1] == 'N')) {
            int ok = 0;
            for (const char *v = attr_vr[i].vrs; *v; v += 2)
                if (vr[0] == v[0] && vr[1] == v[1]) ok = 1;
            if (!ok)
                return pn_error_set(w->err, PN_E_FORMAT,
                                    "%s: DICOM data set is corrupt: element (%04X,%04X) at byte "
                                    "%zu has VR %c%c (want %.2s)",
                                    w->name, g, e, at, vr[0], vr[1], attr_vr[i].vrs);
        }
        if (attr_vr[i].us1 && len != 0 && len != 2)
            return pn_error_set(w->err, PN_E_FORMAT,
                                "%s: DICOM data set is corrupt: element (%04X,%04X) at byte %zu "
                                "has length %lu (one US value is 2 bytes)",
                                w->name, g, e, at, (unsigned long)len);
        return PN_OK;
    }
    return PN_OK;
}

/* A delimiter (FFFE,E00D / E0DD) has length 0 (GDCM asserts it). */
static pn_status bad_delimiter(walk *w, unsigned e, size_t at, uint32_t len)
{
    return pn_error_set(w->err, PN_E_FORMAT,
                        "%s: DICOM data set is corrupt: %s delimiter (FFFE,%04X) at byte %zu has "
                        "length %lu (want 0)",
                        w->name, e == 0xE0DD ? "sequence" : "item", e, at, (unsigned long)len);
}
static pn_status walk_deflated(walk *w, size_t pos);

/* The items of a sequence at *pos (after its header), to its end. */
static pn_status items(walk *w, size_t *pos, uint32_t len, int depth)
{
    size_t end = len == UNDEF ? w->n : *pos + len;
    while (*pos < end) {
        unsigned g = 0, e = 0;
        size_t hdr = 0;
        uint32_t il = 0;
        PN_TRY(header(w, *pos, 0, &g, &e, &hdr, &il));
        *pos += hdr;
        if (g == 0xFFFE && e == 0xE0DD) { /* sequence delimiter */
            if (il) return bad_delimiter(w, e, *pos - hdr, il);
            return PN_OK;
        }
        if (g != 0xFFFE || e != 0xE000) { /* not an item */
            w->stop = 1;
            w->stop_at = *pos - hdr;
            return PN_OK;
        }
        if (il == UNDEF) {
            PN_TRY(elements(w, pos, depth + 1, 1));
            if (w->stop) return PN_OK;
        } else {
            if (il > w->n - *pos || il > PN__DCM_MAX_ELEMENT)
                return too_long(w, g, e, "a sequence item", *pos - hdr, il, w->n - *pos);
            /* the item's elements, within the item (GDCM reads them all) */
            size_t file_n = w->n, item_end = *pos + il;
            w->n = item_end;
            pn_status st = elements(w, pos, depth + 1, 0);
            w->n = file_n;
            if (st) return st;
            if (w->stop) return PN_OK;
            *pos = item_end;
        }
    }
    if (len == UNDEF) return truncated(w, 0xFFFE, 0xE0DD, "a sequence without its delimiter", *pos);
    return PN_OK;
}

/* The fragments of encapsulated Pixel Data, up to the sequence delimiter
 * (*at: the first byte after it). */
static pn_status fragments(walk *w, size_t pos, size_t *at, pn__dcm_layout *lay)
{
    while (pos < w->n) {
        unsigned g = 0, e = 0;
        size_t hdr = 0;
        uint32_t fl = 0;
        PN_TRY(header(w, pos, 0, &g, &e, &hdr, &fl));
        if (g == 0xFFFE && e == 0xE0DD) {
            if (fl) return bad_delimiter(w, e, pos, fl);
            *at = pos + hdr;
            if (lay) lay->frags_end = pos;
            return PN_OK;
        }
        if (g != 0xFFFE || e != 0xE000 || fl == UNDEF)
            return pn_error_set(w->err, PN_E_FORMAT,
                                "%s: DICOM encapsulated Pixel Data is corrupt: (%04X,%04X) at "
                                "byte %zu where a fragment item should be",
                                w->name, g, e, pos);
        if (fl > w->n - pos - hdr)
            return pn_error_set(w->err, PN_E_FORMAT,
                                "%s: DICOM file is truncated: a Pixel Data fragment of %lu bytes "
                                "at byte %zu exceeds the %zu bytes left in the file (%zu bytes)",
                                w->name, (unsigned long)fl, pos, w->n - pos - hdr, w->n);
        if (lay) {
            if (lay->nfrag == 1) { /* the first fragment after the offset table */
                lay->frame_at = pos + hdr;
                lay->frame_len = fl;
            }
            lay->nfrag++;
        }
        pos += hdr + fl;
    }
    return pn_error_set(w->err, PN_E_FORMAT,
                        "%s: DICOM file is truncated inside the encapsulated Pixel Data (no "
                        "sequence delimiter after the last fragment)",
                        w->name);
}

/* Elements from *pos to the end (or the item delimiter when in_item);
 * a prefix walk stops at the top-level Pixel Data. */
static pn_status elements(walk *w, size_t *pos, int depth, int in_item)
{
    if (depth > 32)
        return pn_error_set(w->err, PN_E_FORMAT, "%s: DICOM sequences nested over 32 deep",
                            w->name);
    while (*pos < w->n && !w->stop) {
        unsigned g = 0, e = 0;
        size_t hdr = 0;
        uint32_t len = 0;
        size_t at = *pos;
        PN_TRY(header(w, at, w->explicit_vr, &g, &e, &hdr, &len));
        if (w->explicit_vr && g != 0xFFFE) {
            const uint8_t *vr = w->b + at + 4;
            if (!valid_vr(vr)) {
                w->stop = 1;
                w->stop_at = at;
                return PN_OK;
            }
        }
        /* an undefined length is for SQ, UN and (encapsulated) Pixel Data
         * only: GDCM asserts on any other */
        if (w->explicit_vr && g != 0xFFFE && len == UNDEF && !(g == 0x7FE0 && e == 0x0010)) {
            const uint8_t *vr = w->b + at + 4;
            if (!(vr[0] == 'S' && vr[1] == 'Q') && !(vr[0] == 'U' && vr[1] == 'N'))
                return pn_error_set(w->err, PN_E_FORMAT,
                                    "%s: DICOM data set is corrupt: element (%04X,%04X) of VR "
                                    "%c%c at byte %zu has an undefined length",
                                    w->name, g, e, vr[0], vr[1], at);
        }
        /* a binary VR of fixed size (US SS 2, UL SL FL AT 4, FD 8) holds whole
         * values: GDCM reads a UL of length 6 as 4 bytes and, out of step,
         * takes later value bytes for a length (1.3 GB allocated for a
         * 1216-byte file the image campaign found) */
        if (w->explicit_vr && g != 0xFFFE && len != UNDEF) {
            const uint8_t *vr = w->b + at + 4;
            unsigned sz = bin_vr_size(vr);
            if (sz && len % sz)
                return pn_error_set(w->err, PN_E_FORMAT,
                                    "%s: DICOM data set is corrupt: element (%04X,%04X) of VR "
                                    "%c%c at byte %zu has length %lu, not a multiple of %u",
                                    w->name, g, e, vr[0], vr[1], at, (unsigned long)len, sz);
        }
        *pos = at + hdr;
        if (g == 0xFFFE && e == 0xE00D) {
            if (len) return bad_delimiter(w, e, at, len);
            if (in_item) return PN_OK;
            continue;
        }
        /* an item or sequence delimiter where a data element should be:
         * GDCM reads on in a VR-guessing mode and trusts what follows */
        if (g == 0xFFFE)
            return pn_error_set(w->err, PN_E_FORMAT,
                                "%s: DICOM data set is corrupt: item tag (FFFE,%04X) at byte %zu "
                                "outside a sequence",
                                w->name, e, at);
        if (depth == 0 && (g == 0x0028 || g == 0x0018 || g == 0x0020 || g == 0x0008))
            PN_TRY(check_attr(w, g, e, at, len));
        /* the retired Recognition Code: GDCM asserts that a non-empty one
         * starts with ACR-NEMA, ACRNEMA or MIPS 2.0 */
        if (g == 0x0008 && e == 0x0010 && depth == 0 && len && len != UNDEF &&
            len <= w->n - *pos) {
            const char *v = (const char *)w->b + *pos;
            static const char *ok[] = {"ACR-NEMA", "ACRNEMA", "MIPS 2.0"};
            int good = 0;
            for (int k = 0; k < 3; k++)
                if (len >= strlen(ok[k]) && !memcmp(v, ok[k], strlen(ok[k]))) good = 1;
            if (!good || (w->explicit_vr && w->b[at + 4] == 'S' && w->b[at + 5] == 'Q'))
                return pn_error_set(w->err, PN_E_FORMAT,
                                    "%s: DICOM data set is corrupt: Recognition Code (0008,0010) "
                                    "at byte %zu holds '%.*s', not ACR-NEMA",
                                    w->name, at, (int)(len < 16 ? len : 16), v);
        }
        if (g == 0x7FE0 && e == 0x0010 && depth == 0) {
            const uint8_t *pv = w->b + at + 4;
            /* GDCM asserts that Pixel Data is OB, OW or UN */
            if (w->explicit_vr && !(pv[0] == 'O' && (pv[1] == 'B' || pv[1] == 'W')) &&
                !(pv[0] == 'U' && pv[1] == 'N'))
                return pn_error_set(w->err, PN_E_FORMAT,
                                    "%s: DICOM data set is corrupt: Pixel Data (7FE0,0010) at "
                                    "byte %zu has VR %c%c (want OB or OW)",
                                    w->name, at, pv[0], pv[1]);
            int first = !w->at_pixels;
            w->at_pixels = 1;
            if (w->prefix) return PN_OK;
            if (first && w->lay) {
                w->lay->px_at = *pos;
                w->lay->px_vl = len;
                w->lay->frags_at = len == UNDEF ? *pos : 0;
            }
            if (len == UNDEF) {
                PN_TRY(fragments(w, *pos, pos, first ? w->lay : NULL));
                continue; /* GDCM reads what follows (padding) too */
            }
            /* native data cut short: reported after the pixel limit check
             * (pn__dicom_decode, from lay->px_short), which a huge header
             * must meet first; nothing after it can be walked */
            if (len > w->n - *pos) {
                /* a second Pixel Data element: no pixel limit to meet first */
                if (!first) return too_long(w, g, e, "element", at, len, w->n - *pos);
                if (w->lay) {
                    w->lay->px_short = 1;
                    w->lay->px_left = w->n - *pos;
                }
                return PN_OK;
            }
            if (len > PN__DCM_MAX_ELEMENT) return too_long(w, g, e, "element", at, len, w->n - *pos);
            *pos += len;
            continue;
        }
        if (len == UNDEF) {
            PN_TRY(items(w, pos, len, depth));
            if (w->stop) return PN_OK;
            continue;
        }
        if (len > w->n - *pos || len > PN__DCM_MAX_ELEMENT)
            return too_long(w, g, e, "element", at, len, w->n - *pos);
        if (w->explicit_vr && w->b[at + 4] == 'S' && w->b[at + 5] == 'Q') {
            PN_TRY(items(w, pos, len, depth));
            *pos = at + hdr + len;
            continue;
        }
        *pos += len;
    }
    if (in_item && !w->stop)
        return truncated(w, 0xFFFE, 0xE00D, "an item without its delimiter", *pos);
    return PN_OK;
}

pn_status pn__dicom_walk(const uint8_t *b, size_t n, const char *name, pn_error *err)
{
    return pn__dicom_walk_prefix(b, n, 0, NULL, name, err);
}

pn_status pn__dicom_walk_layout(const uint8_t *b, size_t n, const char *name,
                                pn__dcm_layout *lay, pn_error *err)
{
    memset(lay, 0, sizeof *lay);
    walk w = {.b = b, .n = n, .file_n = n, .explicit_vr = 1, .name = name, .err = err,
              .lay = lay};
    pn_status st = walk_all(&w);
    if (!st && w.stop)
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: DICOM data set is corrupt (an element at byte %zu has no valid "
                          "VR or item tag)",
                          name, w.stop_at);
    return st;
}

pn_status pn__dicom_walk_prefix(const uint8_t *b, size_t n, int prefix, int *more,
                                const char *name, pn_error *err)
{
    walk w = {.b = b, .n = n, .file_n = n, .explicit_vr = 1, .name = name, .err = err,
              .prefix = prefix};
    pn_status st = walk_all(&w);
    /* a structure the walk does not follow is refused: GDCM would be left
     * to trust its lengths (and allocate what they say) */
    if (!st && w.stop && !prefix)
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: DICOM data set is corrupt (an element at byte %zu has no valid "
                          "VR or item tag)",
                          name, w.stop_at);
    /* a prefix that does not reach the Pixel Data, or that holds a structure
     * the walk does not follow, is not enough for GDCM */
    if (prefix && !st && (w.stop || !w.at_pixels)) w.more = 1;
    if (more) *more = w.more;
    return st;
}

/* A Deflated data set (from `pos` to the end: raw deflate, PS3.5 A.5):
 * inflated here as GDCM will inflate it, up to PN__DCM_MAX_INFLATED
 * bytes, and walked as Explicit VR Little Endian with the same checks
 * (Pixel Data longer than the data set refused at once). */
static pn_status walk_deflated(walk *w, size_t pos)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return pn_error_set(w->err, PN_E_NOMEM, "%s: out of memory (zlib)", w->name);
    size_t cap = 1 << 16, got = 0;
    uint8_t *o = malloc(cap);
    pn_status st = PN_OK;
    int zr = Z_OK;
    z.next_in = (Bytef *)(w->b + pos);
    size_t in_left = w->n - pos;
    while (o && zr != Z_STREAM_END) {
        if (got == cap) {
            if (cap >= PN__DCM_MAX_INFLATED) {
                st = pn_error_set(w->err, PN_E_FORMAT,
                                  "%s: DICOM Deflated data set inflates to more than %lu bytes "
                                  "(the limit)",
                                  w->name, (unsigned long)PN__DCM_MAX_INFLATED);
                break;
            }
            size_t nc = cap * 2 > PN__DCM_MAX_INFLATED ? PN__DCM_MAX_INFLATED : cap * 2;
            uint8_t *t = realloc(o, nc);
            if (!t) break;
            o = t;
            cap = nc;
        }
        uInt take = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        z.avail_in = take;
        z.next_out = o + got;
        z.avail_out = (uInt)(cap - got);
        zr = inflate(&z, Z_NO_FLUSH);
        in_left -= take - z.avail_in;
        got = cap - z.avail_out;
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && got == cap)) {
            st = pn_error_set(w->err, PN_E_FORMAT,
                              "%s: DICOM Deflated data set is corrupt or truncated (zlib: %s, "
                              "after %zu bytes inflated)",
                              w->name, z.msg ? z.msg : zr == Z_BUF_ERROR ? "unexpected end" : "error",
                              got);
            break;
        }
    }
    inflateEnd(&z);
    if (!o || (!st && zr != Z_STREAM_END)) {
        free(o);
        return st ? st : pn_error_set(w->err, PN_E_NOMEM, "%s: out of memory inflating", w->name);
    }
    if (st) {
        free(o);
        return st;
    }
    pn__dcm_layout sub;
    memset(&sub, 0, sizeof sub);
    walk d = {.b = o, .n = got, .file_n = got, .explicit_vr = 1, .name = w->name,
              .err = w->err, .lay = &sub, .inflated = 1};
    size_t p = 0;
    st = elements(&d, &p, 0, 0);
    if (!st && d.stop)
        st = pn_error_set(w->err, PN_E_FORMAT,
                          "%s: DICOM Deflated data set is corrupt (an element at byte %zu of the "
                          "inflated data has no valid VR or item tag)",
                          w->name, d.stop_at);
    if (!st && sub.px_short)
        st = pn_error_set(w->err, PN_E_FORMAT,
                          "%s: DICOM Deflated data set is truncated: element (7FE0,0010) length "
                          "%lu exceeds the %zu bytes left",
                          w->name, (unsigned long)sub.px_vl, sub.px_left);
    free(o);
    return st;
}

static pn_status walk_all(walk *w)
{
    const uint8_t *b = w->b;
    size_t n = w->n;
    const char *name = w->name;
    pn_error *err = w->err;
    size_t pos = 0;
    char ts[72] = "";
    int dicm = n >= 132 && !memcmp(b + 128, "DICM", 4);
    /* a file meta group: after DICM, or (no preamble) at byte 0, where
     * GDCM reads one too and takes its TransferSyntaxUID */
    int meta0 = !dicm && n >= 8 && u16(b) == 0x0002 && valid_vr(b + 4);
    /* a group 0002 at byte 0 that is not Explicit VR: GDCM asserts (ReadCompat) */
    if (!dicm && n >= 8 && u16(b) == 0x0002 && !meta0)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: DICOM file meta information is corrupt: element (0002,%04X) at "
                            "byte 0 has no valid VR (the file meta group is Explicit VR)",
                            name, u16(b + 2));
    if (dicm || meta0) {
        pos = dicm ? 132 : 0;
        int have_ts = 0;
        while (pos < n && n - pos >= 2 && u16(b + pos) == 0x0002) {
            unsigned g = 0, e = 0;
            size_t hdr = 0;
            uint32_t len = 0;
            PN_TRY(header(w, pos, 1, &g, &e, &hdr, &len));
            const uint8_t *vr = b + pos + 4; /* header() saw 8 bytes */
            if (!valid_vr(vr))
                return pn_error_set(err, PN_E_FORMAT,
                                    "%s: DICOM file meta information is corrupt: element "
                                    "(%04X,%04X) at byte %zu has no valid VR (the file meta "
                                    "group is Explicit VR)",
                                    name, g, e, pos);
            /* no file meta element is a sequence; GDCM's FileMetaInformation::Read
             * asserts on one (fuzz finding of 2026-12-02) */
            if (vr[0] == 'S' && vr[1] == 'Q')
                return pn_error_set(err, PN_E_FORMAT,
                                    "%s: DICOM file meta information is corrupt: element "
                                    "(%04X,%04X) at byte %zu has VR SQ (the file meta group "
                                    "holds no sequences)",
                                    name, g, e, pos);
            if (len == UNDEF)
                return truncated(w, g, e, "the file meta element", pos);
            if (len > n - pos - hdr || len > PN__DCM_MAX_ELEMENT)
                return too_long(w, g, e, "the file meta element", pos, len, n - pos - hdr);
            if (e == 0x0010 && !have_ts) { /* the first one, as GDCM keeps it */
                have_ts = 1;
                size_t k = len < sizeof ts - 1 ? len : sizeof ts - 1;
                memcpy(ts, b + pos + hdr, k);
                ts[k] = 0;
                while (k && (ts[k - 1] == ' ' || ts[k - 1] == 0)) ts[--k] = 0;
            }
            pos += hdr + len;
        }
        if (pos >= n && w->prefix) {
            w->more = 1;
            return PN_OK;
        }
        if (pos >= n)
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM file ends after its file meta information (no data "
                                "set)",
                                name);
        if (!ts[0] && meta0) goto guess;
        if (!ts[0])
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM file meta information has no TransferSyntaxUID "
                                "(0002,0010)",
                                name);
        /* GDCM reads it byte-swapped: the walk (little endian) cannot check it */
        if (!strcmp(ts, "1.2.840.10008.1.2.2"))
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: DICOM transfer syntax Explicit VR Big Endian (retired) is "
                                "not supported",
                                name);
        if (!strcmp(ts, "1.2.840.10008.1.2.1.99")) { /* deflated: GDCM inflates */
            if (w->lay) w->lay->deflated = 1;
            if (w->prefix) {
                w->more = 1;
                return PN_OK;
            }
            return walk_deflated(w, pos);
        }
        w->explicit_vr = strcmp(ts, "1.2.840.10008.1.2") != 0;
    } else {
    guess:
        /* no preamble: implicit unless the first element carries a VR */
        w->explicit_vr = n - pos >= 6 && b[pos + 4] >= 'A' && b[pos + 4] <= 'Z' &&
                         b[pos + 5] >= 'A' && b[pos + 5] <= 'Z';
    }
    return elements(w, &pos, 0, 0);
}

pn_status pn__dicom_frame_bytes(const uint8_t *buf, const pn__dcm_layout *lay, const char *name,
                                uint8_t **out, size_t *out_n, pn_error *err)
{
    *out = NULL;
    *out_n = 0;
    if (!lay->frags_at || lay->frags_end <= lay->frags_at)
        return pn_error_set(err, PN_E_FORMAT, "%s: DICOM Pixel Data is not encapsulated", name);
    /* the walk checked every item header and length up to frags_end */
    /* the first item is the Basic Offset Table, unless it holds the start of
     * a JPEG codestream (a table starts with offset 0) */
    uint32_t l0 = u32(buf + lay->frags_at + 4);
    const uint8_t *v0 = buf + lay->frags_at + 8;
    int from = l0 >= 2 && v0[0] == 0xFF && v0[1] == 0xD8 ? 0 : 1;
    size_t total = 0, pos = lay->frags_at;
    for (int i = 0; pos < lay->frags_end; i++) {
        uint32_t fl = u32(buf + pos + 4);
        if (i >= from) total += fl;
        pos += 8 + (size_t)fl;
    }
    uint8_t *o = malloc(total ? total : 1);
    if (!o) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name);
    size_t k = 0;
    pos = lay->frags_at;
    for (int i = 0; pos < lay->frags_end; i++) {
        uint32_t fl = u32(buf + pos + 4);
        if (i >= from) {
            memcpy(o + k, buf + pos + 8, fl);
            k += fl;
        }
        pos += 8 + (size_t)fl;
    }
    *out = o;
    *out_n = total;
    return PN_OK;
}
