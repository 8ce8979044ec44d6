/* DICOM images: recognition by content, the header checks, and the display
 * rule of ../shared/data/chest_xray_dicom/README.md (pydicom's pipeline):
 *
 *   stored value (low BitsStored bits, sign-extended when PixelRepresentation
 *   is 1, unless the decoder returned the other signedness)
 *   -> modality LUT (Modality LUT Sequence, else RescaleSlope/Intercept)
 *   -> VOI: first VOI LUT Sequence item, else first window (LINEAR,
 *      LINEAR_EXACT, SIGMOID), else min-max over the image
 *   -> t in [0, 1]; MONOCHROME1: t = 1 - t -> out = floor(255 t)
 *
 * Everything is a function of the stored value, so the rule is evaluated
 * once per possible stored value (256 or 65536) into a byte table. The
 * rule is computed exactly: DS strings are exact decimals and floor(255 t)
 * is an integer division of 128-bit integers, so ties (255 t an integer)
 * give that integer as the exact rule does. Only SIGMOID, and DS values
 * too long for 128 bits, use double precision. Decoding itself is GDCM's
 * (dicom_gdcm.cc). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom_internal.h"
#include "internal.h"

typedef __int128 i128;

int pn__dicom_sniff(const uint8_t *buf, size_t n)
{
    if (n >= 132 && !memcmp(buf + 128, "DICM", 4)) return 1;
    if (n < 12) return 0;
    /* no preamble: the data set (or a file meta group) starts right away,
     * with an element of group 0002 or 0008 in either VR encoding */
    unsigned group = buf[0] | (unsigned)buf[1] << 8, elem = buf[2] | (unsigned)buf[3] << 8;
    if ((group != 0x0002 && group != 0x0008) || elem > 0x1000) return 0;
    int explicit_vr = buf[4] >= 'A' && buf[4] <= 'Z' && buf[5] >= 'A' && buf[5] <= 'Z';
    if (explicit_vr) return 1;
    uint32_t len = buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 24;
    return len == 0xFFFFFFFFu || len <= n - 8;
}

int pn__codestream_dims(const uint8_t *b, size_t n, long *rows, long *cols)
{
    if (n >= 24 && b[0] == 0xFF && b[1] == 0x4F && b[2] == 0xFF && b[3] == 0x51) {
        /* J2K: SOC, SIZ (Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz) */
        uint32_t v[4];
        for (int i = 0; i < 4; i++) {
            const uint8_t *p = b + 8 + 4 * i;
            v[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        }
        *cols = (long)v[0] - (long)v[2];
        *rows = (long)v[1] - (long)v[3];
        return 1;
    }
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 0;
    size_t i = 2;
    while (i + 9 < n) {
        if (b[i] != 0xFF) {
            i++;
            continue;
        }
        unsigned mk = b[i + 1];
        if (mk == 0xFF) {
            i++;
            continue;
        }
        if (mk == 0x01 || (mk >= 0xD0 && mk <= 0xD8)) {
            i += 2;
            continue;
        }
        if ((mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) || mk == 0xF7) {
            *rows = b[i + 5] << 8 | b[i + 6];
            *cols = b[i + 7] << 8 | b[i + 8];
            return 1;
        }
        if (mk == 0xDA) return 0;
        i += 2 + (size_t)(b[i + 2] << 8 | b[i + 3]);
    }
    return 0;
}

/* ---- exact decimals -------------------------------------------------------- */

/* value = n / 10^k, k >= 0 */
typedef struct dec {
    i128 n;
    int k;
} dec;

static int mul_ok(i128 a, i128 b, i128 *r) { return !__builtin_mul_overflow(a, b, r); }
static int add_ok(i128 a, i128 b, i128 *r) { return !__builtin_add_overflow(a, b, r); }

static int pow10_ok(int e, i128 *r)
{
    *r = 1;
    for (int i = 0; i < e; i++)
        if (!mul_ok(*r, 10, r)) return 0;
    return 1;
}

/* A DS string ("-12.5", "1E-3", " 2048 ") as an exact decimal; 0 if malformed. */
static int dec_parse(const char *s, dec *d)
{
    while (*s == ' ') s++;
    int neg = 0, digits = 0, frac = 0, seen_dot = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    i128 n = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (!mul_ok(n, 10, &n) || !add_ok(n, *s - '0', &n)) return 0;
            digits++;
            frac += seen_dot;
        } else if (*s == '.' && !seen_dot) {
            seen_dot = 1;
        } else {
            break;
        }
    }
    if (!digits) return 0;
    long e = 0;
    if (*s == 'e' || *s == 'E') {
        char *end;
        e = strtol(s + 1, &end, 10);
        if (end == s + 1 || e > 40 || e < -40) return 0;
        s = end;
    }
    while (*s == ' ') s++;
    if (*s) return 0;
    long k = frac - e;
    if (k < 0) {
        i128 p;
        if (!pow10_ok((int)-k, &p) || !mul_ok(n, p, &n)) return 0;
        k = 0;
    }
    d->n = neg ? -n : n;
    d->k = (int)k;
    return 1;
}

/* d's numerator over 10^K (K >= d.k). */
static int dec_at(dec d, int K, i128 *r)
{
    i128 p;
    return pow10_ok(K - d.k, &p) && mul_ok(d.n, p, r);
}

static i128 floor_div(i128 a, i128 b) /* b > 0 */
{
    i128 q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* ---- the rule ---------------------------------------------------------------- */

typedef struct rule {
    const pn__dcm *d;
    int mono1;
    int exact;       /* 0: the double path */
    dec slope, icpt; /* rescale (exact path) */
    double slope_f, icpt_f;
    int K;           /* common decimal exponent of m, c, w */
    i128 C, W, Q;    /* c, w over 10^K; Q = 10^K */
    double c_f, w_f;
    int fn;          /* 0 LINEAR, 1 LINEAR_EXACT, 2 SIGMOID */
    int voi;         /* 0 min-max, 1 window, 2 VOI LUT */
    i128 lo, hi;     /* min-max over 10^K */
    double lo_f, hi_f;
} rule;

/* Modality value of stored value v: exact as M / 10^K, and as a double. */
static int modality(const rule *r, long v, i128 *M, double *mf)
{
    const pn__dcm *d = r->d;
    if (d->mlut.present) {
        long i = v < d->mlut.first ? 0 : v - d->mlut.first;
        if (i > d->mlut.entries - 1) i = d->mlut.entries - 1;
        long y = d->mlut.data[i];
        if (d->mlut.bits == 8) y &= 0xFF;
        *mf = (double)y;
        return !r->exact || dec_at((dec){y, 0}, r->K, M);
    }
    if (d->has_rescale) {
        *mf = (double)v * r->slope_f + r->icpt_f;
        if (!r->exact) return 1;
        i128 s, ic;
        return dec_at(r->slope, r->K, &s) && dec_at(r->icpt, r->K, &ic) && mul_ok(s, v, M) &&
               add_ok(*M, ic, M);
    }
    *mf = (double)v;
    return !r->exact || dec_at((dec){v, 0}, r->K, M);
}

static uint8_t clamp255(i128 x) { return x < 0 ? 0 : x > 255 ? 255 : (uint8_t)x; }

/* floor(255 * num / den) for t = num / den in [0, 1], or 255 - ceil(...) when
 * inverted (MONOCHROME1: floor(255 (1 - t))). den > 0. */
static uint8_t out_of(const rule *r, i128 num, i128 den)
{
    i128 x = 255 * num;
    if (!r->mono1) return clamp255(floor_div(x, den));
    return clamp255(255 - (-floor_div(-x, den)));
}

static uint8_t out_of_f(const rule *r, double t)
{
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    if (r->mono1) t = 1 - t;
    double f = floor(255.0 * t);
    return f < 0 ? 0 : f > 255 ? 255 : (uint8_t)f;
}

static uint8_t apply(const rule *r, long v, int *ok)
{
    i128 M = 0;
    double mf;
    if (!modality(r, v, &M, &mf)) {
        *ok = 0;
        return 0;
    }
    const pn__dcm *d = r->d;
    if (r->voi == 2) {
        const pn__dcm_lut *l = &d->voi;
        long i;
        if (r->exact) { /* pydicom: m >= first mapped, then the index truncated */
            i128 F = 0;
            if (!dec_at((dec){l->first, 0}, r->K, &F)) {
                *ok = 0;
                return 0;
            }
            i = M < F ? 0 : (long)((M - F) / r->Q > 70000 ? 70000 : (M - F) / r->Q);
        } else {
            i = mf < (double)l->first ? 0 : (long)fmin(mf - (double)l->first, 70000.0);
        }
        if (i > l->entries - 1) i = l->entries - 1;
        long y = l->data[i];
        if (l->bits == 8) y &= 0xFF;
        i128 top = ((i128)1 << l->bits) - 1;
        if (y > top) y = (long)top;
        return out_of(r, y, top);
    }
    if (r->voi == 1 && r->fn == 2) { /* SIGMOID */
        return out_of_f(r, 1.0 / (1.0 + exp(-4.0 * (mf - r->c_f) / r->w_f)));
    }
    if (r->voi == 1 && !r->exact) {
        double t;
        if (r->fn == 0) {
            if (mf <= r->c_f - 0.5 - (r->w_f - 1) / 2) t = 0;
            else if (mf > r->c_f - 0.5 + (r->w_f - 1) / 2) t = 1;
            else t = r->w_f > 1 ? (mf - (r->c_f - 0.5)) / (r->w_f - 1) + 0.5 : 1;
        } else {
            if (mf <= r->c_f - r->w_f / 2) t = 0;
            else if (mf > r->c_f + r->w_f / 2) t = 1;
            else t = (mf - r->c_f) / r->w_f + 0.5;
        }
        return out_of_f(r, t);
    }
    if (r->voi == 1) {
        i128 M2 = 2 * M, C2 = 2 * r->C, W = r->W, Q = r->Q;
        if (r->fn == 0) { /* LINEAR, PS3.3 C.11.2.1.2.1 */
            if (M2 <= C2 - W) return out_of(r, 0, 1);
            if (M2 > C2 + W - 2 * Q) return out_of(r, 1, 1);
            return out_of(r, M2 - C2 + W, 2 * (W - Q)); /* W > Q here */
        }
        /* LINEAR_EXACT, C.11.2.1.3.2 */
        if (M2 <= C2 - W) return out_of(r, 0, 1);
        if (M2 > C2 + W) return out_of(r, 1, 1);
        return out_of(r, M2 - C2 + W, 2 * W);
    }
    /* min-max */
    if (!r->exact) return out_of_f(r, r->hi_f > r->lo_f ? (mf - r->lo_f) / (r->hi_f - r->lo_f) : 0);
    if (r->hi == r->lo) return out_of(r, 0, 1);
    return out_of(r, M - r->lo, r->hi - r->lo);
}

/* The stored value of raw word w (8 or 16 bits as decoded). */
static long stored_value(const pn__dcm *d, unsigned w)
{
    long v = d->px_signed ? (d->px_bytes == 1 ? (long)(int8_t)w : (long)(int16_t)w) : (long)w;
    int bs = d->bits_stored > 0 ? d->bits_stored : 8 * d->px_bytes;
    if (d->px_signed == (d->pixel_rep == 1) && bs < 8 * d->px_bytes) {
        long u = v & ((1L << bs) - 1);
        if (d->pixel_rep == 1 && u >= (1L << (bs - 1))) u -= 1L << bs;
        v = u;
    }
    return v;
}

static pn_status rule_setup(rule *r, const char *name, pn_error *err)
{
    const pn__dcm *d = r->d;
    r->exact = 1;
    r->K = 0;
    if (d->has_rescale && !d->mlut.present) {
        if (!dec_parse(d->slope, &r->slope) || !dec_parse(d->intercept, &r->icpt))
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM RescaleSlope '%s' / RescaleIntercept '%s' are not "
                                "numbers",
                                name, d->slope, d->intercept);
        r->slope_f = strtod(d->slope, NULL);
        r->icpt_f = strtod(d->intercept, NULL);
        r->K = r->slope.k > r->icpt.k ? r->slope.k : r->icpt.k;
    }
    if (d->voi.present) {
        r->voi = 2;
        if (d->voi.bits != 8 && (d->voi.bits < 10 || d->voi.bits > 16))
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: DICOM VOI LUT of %d bits per entry is not supported (8 or "
                                "10-16)",
                                name, d->voi.bits);
    } else if (d->has_window) {
        r->voi = 1;
        dec c, w;
        if (!dec_parse(d->center, &c) || !dec_parse(d->width, &w))
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM WindowCenter '%s' / WindowWidth '%s' are not numbers",
                                name, d->center, d->width);
        r->c_f = strtod(d->center, NULL);
        r->w_f = strtod(d->width, NULL);
        if (!d->voi_func[0] || !strcmp(d->voi_func, "LINEAR")) r->fn = 0;
        else if (!strcmp(d->voi_func, "LINEAR_EXACT")) r->fn = 1;
        else if (!strcmp(d->voi_func, "SIGMOID")) r->fn = 2;
        else
            return pn_error_set(err, PN_E_UNSUPPORTED, "%s: DICOM VOILUTFunction '%s' is unknown",
                                name, d->voi_func);
        if ((r->fn == 0 && r->w_f < 1) || (r->fn != 0 && r->w_f <= 0))
            return pn_error_set(err, PN_E_FORMAT, "%s: DICOM WindowWidth %s is too small", name,
                                d->width);
        if (c.k > r->K) r->K = c.k;
        if (w.k > r->K) r->K = w.k;
        if (!dec_at(c, r->K, &r->C) || !dec_at(w, r->K, &r->W)) r->exact = 0;
    } else {
        r->voi = 0;
    }
    if (!pow10_ok(r->K, &r->Q)) r->exact = 0;
    return PN_OK;
}

/* Byte table over all raw words, then the image through it. */
static pn_status render(const pn__dcm *d, const char *name, pn_image *img, pn_error *err)
{
    rule r = {.d = d, .mono1 = !strcmp(d->photometric, "MONOCHROME1")};
    pn_status st = rule_setup(&r, name, err);
    if (st) return st;
    size_t np = (size_t)d->rows * (size_t)d->cols;
    size_t nw = d->px_bytes == 1 ? 256 : 65536;
    uint8_t *present = calloc(nw, 1), *lut = malloc(nw);
    if (!present || !lut) {
        free(present);
        free(lut);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name);
    }
    const uint8_t *p8 = d->px;
    const uint16_t *p16 = d->px;
    for (size_t i = 0; i < np; i++) present[d->px_bytes == 1 ? p8[i] : p16[i]] = 1;
    if (r.voi == 0) { /* min-max over the modality values present */
        int first = 1;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t w = 0; w < nw; w++) {
                if (!present[w]) continue;
                i128 M = 0;
                double mf;
                if (!modality(&r, stored_value(d, (unsigned)w), &M, &mf)) {
                    r.exact = 0; /* too long for 128 bits: start again in double */
                    break;
                }
                if (first || mf < r.lo_f) r.lo_f = mf;
                if (first || mf > r.hi_f) r.hi_f = mf;
                if (r.exact && (first || M < r.lo)) r.lo = M;
                if (r.exact && (first || M > r.hi)) r.hi = M;
                first = 0;
            }
            if (r.exact || pass) break;
            first = 1;
        }
    }
    for (size_t w = 0; w < nw; w++) {
        if (!present[w]) continue;
        int ok = 1;
        lut[w] = apply(&r, stored_value(d, (unsigned)w), &ok);
        if (!ok) { /* exact arithmetic overflowed: this file in double */
            r.exact = 0;
            w = (size_t)-1;
        }
    }
    free(present);
    st = pn__image_alloc(img, (int)d->cols, (int)d->rows, 1, name, err);
    if (!st) {
        if (d->px_bytes == 1)
            for (size_t i = 0; i < np; i++) img->px[i] = lut[p8[i]];
        else
            for (size_t i = 0; i < np; i++) img->px[i] = lut[p16[i]];
    }
    free(lut);
    return st;
}

static int all_zero(const pn__dcm *d)
{
    size_t nb = (size_t)d->rows * (size_t)d->cols * (size_t)d->px_bytes;
    const uint8_t *p = d->px;
    for (size_t i = 0; i < nb; i++)
        if (p[i]) return 0;
    return 1;
}

/* Frame 1 of an 8-bit lossy JPEG DICOM into d->px with libjpeg-turbo
 * (pn__jpeg_decode: warnings are errors unless --lenient-jpeg). *not8 is
 * set (and nothing done) for a frame that is not 8-bit Huffman DCT (SOF0,
 * SOF1, SOF2): GDCM's then. */
static pn_status own_jpeg(const uint8_t *f, size_t fn, const char *name, const pn_decode_opts *o,
                          pn__dcm *d, int *not8, pn_error *err)
{
    *not8 = 0;
    long cr = 0, cc = 0;
    if (pn__codestream_dims(f, fn, &cr, &cc) && (cr != d->rows || cc != d->cols))
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: DICOM Rows/Columns say %ldx%ld but the compressed codestream is "
                            "%ldx%ld (rows x columns)",
                            name, d->rows, d->cols, cr, cc);
    /* the SOF's precision (pn__jpeg_markers_bad found the SOF) */
    for (size_t i = 2; i + 4 < fn;) {
        unsigned mk = f[i + 1];
        if (f[i] != 0xFF) break;
        if (mk == 0xFF) {
            i++;
            continue;
        }
        if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) {
            if (f[i + 4] != 8 || mk > 0xC2) { /* 12-bit, lossless, arithmetic, ... */
                *not8 = 1;
                return PN_OK;
            }
            break;
        }
        i += 2 + ((size_t)f[i + 2] << 8 | f[i + 3]);
    }
    pn_decode_opts o2 = o ? *o : (pn_decode_opts){0};
    o2.fast_decode = 0;
    pn_image im = {0};
    pn_status st = pn__jpeg_decode(f, fn, name, &o2, &im, err);
    if (st) {
        pn_image_free(&im); /* an error may leave the buffer allocated */
        /* the reason with where it is */
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        size_t k = strlen(name);
        const char *why = !strncmp(m, name, k) && m[k] == ':' ? m + k + 2 : m;
        return pn_error_set(err, st, "%s: DICOM pixel data: %s", name, why);
    }
    if (im.c != 1 || im.w != d->cols || im.h != d->rows) {
        int c = im.c, w = im.w, h = im.h;
        pn_image_free(&im);
        return pn_error_set(err, c != 1 ? PN_E_UNSUPPORTED : PN_E_FORMAT,
                            "%s: DICOM JPEG frame has %d components (%dx%d), the header says 1 "
                            "(%ldx%ld)",
                            name, c, w, h, d->cols, d->rows);
    }
    d->px = im.px; /* malloc'ed, freed by pn__dcm_free */
    d->px_bytes = 1;
    d->px_signed = d->pixel_rep == 1;
    d->encapsulated = 1;
    return PN_OK;
}

/* The JPEG transfer syntaxes of T.81 (1.2.840.10008.1.2.4.50 to .70:
 * baseline, extended, lossless), which GDCM decodes with its JPEG codecs;
 * not JPEG-LS (.80, .81) or JPEG 2000 (.90 and up). */
static int jpeg_family(const char *ts)
{
    static const char p[] = "1.2.840.10008.1.2.4.";
    if (strncmp(ts, p, sizeof p - 1)) return 0;
    char *end;
    long k = strtol(ts + sizeof p - 1, &end, 10);
    return end != ts + sizeof p - 1 && !*end && k >= 50 && k <= 70;
}

/* JPEG 2000 (.90 to .93) and HTJ2K (.201 to .203): GDCM's OpenJPEG codec. */
static int j2k_family(const char *ts)
{
    static const char p[] = "1.2.840.10008.1.2.4.";
    if (strncmp(ts, p, sizeof p - 1)) return 0;
    char *end;
    long k = strtol(ts + sizeof p - 1, &end, 10);
    return end != ts + sizeof p - 1 && !*end && ((k >= 90 && k <= 93) || (k >= 201 && k <= 203));
}

pn_status pn__dicom_decode(const uint8_t *buf, size_t n, const char *name,
                           const pn_decode_opts *o, pn_image *img, pn_error *err)
{
    pn__dcm d;
    memset(&d, 0, sizeof d);
    pn__dcm_layout lay;
    uint8_t *frame = NULL;
    size_t frame_n = 0;
    pn_status st = pn__dicom_walk_layout(buf, n, name, &lay, err);
    if (!st) st = pn__dcm_header(buf, n, name, &d, err);
    if (st) goto done;
    if (d.samples != 1) {
        st = pn_error_set(err, PN_E_UNSUPPORTED,
                          "%s: DICOM colour image (SamplesPerPixel %ld, PhotometricInterpretation "
                          "%s), not a grayscale radiograph",
                          name, d.samples, d.photometric[0] ? d.photometric : "missing");
        goto done;
    }
    if (strcmp(d.photometric, "MONOCHROME1") && strcmp(d.photometric, "MONOCHROME2")) {
        st = pn_error_set(err, PN_E_UNSUPPORTED,
                          "%s: DICOM PhotometricInterpretation %s is not supported (want "
                          "MONOCHROME1 or MONOCHROME2)",
                          name, d.photometric[0] ? d.photometric : "missing");
        goto done;
    }
    if (d.frames != 1) {
        st = pn_error_set(err, PN_E_UNSUPPORTED,
                          "%s: DICOM multi-frame image (NumberOfFrames %ld) is not supported: "
                          "pneumo reads single radiographs",
                          name, d.frames);
        goto done;
    }
    if (d.rows <= 0 || d.cols <= 0) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: DICOM Rows/Columns missing or zero (%ldx%ld)",
                          name, d.rows, d.cols);
        goto done;
    }
    if (d.bits_alloc != 8 && d.bits_alloc != 16) {
        st = pn_error_set(err, PN_E_UNSUPPORTED,
                          "%s: DICOM BitsAllocated %d is not supported (want 8 or 16)", name,
                          d.bits_alloc);
        goto done;
    }
    /* the pixel limit before any pixel buffer exists */
    st = pn__check_dims(d.cols, d.rows, o, name, "DICOM image", err);
    if (st) goto done;
    /* native Pixel Data longer than the file: refused here, after the
     * pixel limit (which a huge header must meet first), before GDCM reads
     * it (it would allocate what the length says). The walk's position, not
     * GDCM's: GDCM's header read stops early at an out-of-order tag. */
    if (lay.px_short) {
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: DICOM file is truncated: Pixel Data says %lu bytes, the file ends "
                          "%zu bytes into it (element (7FE0,0010) length %lu exceeds the %zu "
                          "bytes left)",
                          name, (unsigned long)lay.px_vl, lay.px_left, (unsigned long)lay.px_vl,
                          lay.px_left);
        goto done;
    }
    if (!lay.deflated && lay.px_vl == 0xFFFFFFFFu && lay.nfrag >= 1 && j2k_family(d.ts_uid)) {
        /* OpenJPEG (through GDCM) leaks on a frame that is not JPEG 2000 */
        st = pn__dicom_frame_bytes(buf, &lay, name, &frame, &frame_n, err);
        if (st) goto done;
        static const uint8_t jp2[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ', 13, 10, 0x87, 10};
        int soc = frame_n >= 4 && frame[0] == 0xFF && frame[1] == 0x4F && frame[2] == 0xFF &&
                  frame[3] == 0x51;
        if (!soc && !(frame_n >= 12 && !memcmp(frame, jp2, 12))) {
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: DICOM pixel data of transfer syntax %s is not a JPEG 2000 "
                              "codestream (no SOC/SIZ marker or JP2 signature at its start)",
                              name, d.ts_uid);
            goto done;
        }
        free(frame);
        frame = NULL;
        frame_n = 0;
    }
    if (!lay.deflated && lay.px_vl == 0xFFFFFFFFu && lay.nfrag >= 1 && jpeg_family(d.ts_uid)) {
        /* GDCM's JPEG codecs (IJG 6b inside, assert() on) abort on some
         * headers: the codestream of the frame (its fragments back to back,
         * as GDCM reads them) is read by libjpeg-turbo first, whose header
         * warnings GDCM would assert on, then checked marker by marker (a
         * DHT that libjpeg-turbo reads without a warning made GDCM abort) */
        size_t fn = 0;
        char why[200];
        st = pn__dicom_frame_bytes(buf, &lay, name, &frame, &fn, err);
        frame_n = fn;
        if (st) goto done;
        if (pn__jpeg_header_warns(frame, fn, why, sizeof why) ||
            pn__jpeg_markers_bad(frame, fn, why, sizeof why)) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: corrupt JPEG in the DICOM pixel data (%s)",
                              name, why);
            goto done;
        }
    }
    if (frame && d.bits_alloc == 8) {
        /* 8-bit lossy JPEG (any of the JPEG syntaxes, by its SOF): decoded
         * here with libjpeg-turbo (ISLOW, the same integer IDCT as GDCM's IJG
         * codec, so the same pixels), whose corrupt-data warnings are errors
         * as for .jpeg files (GDCM's codec decodes through them, and leaks on
         * some); 12-bit and lossless frames go to GDCM */
        int not8 = 0;
        st = own_jpeg(frame, frame_n, name, o, &d, &not8, err);
        if (!st && not8) st = pn__dcm_decode(buf, n, name, &d, err);
    } else {
        st = pn__dcm_decode(buf, n, name, &d, err);
    }
    if (st) goto done;
    if (d.encapsulated && all_zero(&d)) {
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: DICOM compressed pixel data decoded to an all-zero image (failed "
                          "decode: truncated or corrupt codestream)",
                          name);
        goto done;
    }
    st = render(&d, name, img, err);
    if (!st) {
        snprintf(img->patient_id, sizeof img->patient_id, "%s", d.patient_id);
        snprintf(img->sop_uid, sizeof img->sop_uid, "%s", d.sop_uid);
    }
done:
    free(frame);
    pn__dcm_free(&d);
    if (st) img->w = img->h = 0;
    return st;
}
