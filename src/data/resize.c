/* Pillow 9.4 Image.resize(size, BILINEAR) for 8-bit L and RGB images,
 * bit for bit (src/libImaging/Resample.c: precompute_coeffs,
 * normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc / Vertical_8bpc,
 * ImagingResampleInner), rewritten:
 *   - triangle filter, support 1, scaled by max(scale, 1) (antialias);
 *   - coefficients in double, normalised by their sum, then rounded to
 *     22-bit fixed point (away from zero at .5);
 *   - horizontal pass first into an intermediate uint8 image holding only
 *     the rows the vertical pass reads, then the vertical pass;
 *   - each pass: acc = 1 << 21 + sum(px * k), out = clamp(acc >> 22, 0, 255);
 *   - a pass whose size does not change is skipped.
 * Integer sums are exact, so the loop order may differ from Pillow's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PRECISION_BITS (32 - 8 - 2)

typedef struct coeffs {
    int ksize;
    int *bounds; /* (out, 2): first tap, tap count */
    int32_t *k;  /* (out, ksize) fixed point */
    /* SIMD copy: k = kh * 2048 + kl exactly, both int16, padded with zeros
     * to kpad (a multiple of 8) taps per output; NULL when not built. */
    int kpad;
    int16_t *kh, *kl; /* (out, kpad) */
} coeffs;

static double bilinear_filter(double x)
{
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

/* in0/in1: the box edges (float in Pillow), here 0 and inSize. */
static pn_status precompute(int in_size, float in0, float in1, int out_size, coeffs *cf,
                            pn_error *err)
{
    double scale, filterscale, support, ss;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = malloc(sizeof(double) * (size_t)out_size * (size_t)ksize);
    cf->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    cf->k = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ksize);
    if (!kk || !cf->bounds || !cf->k) {
        free(kk);
        free(cf->bounds);
        free(cf->k);
        cf->bounds = NULL;
        cf->k = NULL;
        return pn_error_set(err, PN_E_NOMEM, "resize: out of memory for coefficients");
    }
    cf->ksize = ksize;
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        cf->bounds[xx * 2 + 0] = xmin;
        cf->bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++) {
        if (kk[i] < 0)
            cf->k[i] = (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS));
        else
            cf->k[i] = (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
    }
    free(kk);
    return PN_OK;
}

static void coeffs_free(coeffs *cf)
{
    free(cf->bounds);
    free(cf->k);
    free(cf->kh);
    free(cf->kl);
}

/* The int16 split of the coefficients used by the SSE2 passes. The sums
 * stay exact: sum(p * k) = 2048 * sum(p * kh) + sum(p * kl), every partial
 * sum fits in int32 (p <= 255, sum |k| ~ 2^22). */
static void split_coeffs(coeffs *cf, int out_size)
{
#ifdef __SSE2__
    int kpad = (cf->ksize + 7) & ~7;
    cf->kh = calloc((size_t)out_size * (size_t)kpad, sizeof(int16_t));
    cf->kl = calloc((size_t)out_size * (size_t)kpad, sizeof(int16_t));
    if (!cf->kh || !cf->kl) {
        free(cf->kh);
        free(cf->kl);
        cf->kh = cf->kl = NULL;
        return;
    }
    cf->kpad = kpad;
    for (int xx = 0; xx < out_size; xx++)
        for (int x = 0; x < cf->bounds[2 * xx + 1]; x++) {
            int32_t k = cf->k[(size_t)xx * cf->ksize + x];
            cf->kh[(size_t)xx * kpad + x] = (int16_t)(k >> 11); /* floor */
            cf->kl[(size_t)xx * kpad + x] = (int16_t)(k & 2047);
        }
#else
    (void)cf;
    (void)out_size;
#endif
}

static inline uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* out (rows, ow, c) <- in rows [row0, row0 + rows) of (h, iw, c) */
static void horizontal(const uint8_t *in, int iw, int c, int row0, int rows, uint8_t *out, int ow,
                       const coeffs *cf)
{
    const int ks = cf->ksize;
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *src = in + (size_t)(yy + row0) * iw * c;
        uint8_t *dst = out + (size_t)yy * ow * c;
        if (c == 1) {
            for (int xx = 0; xx < ow; xx++) {
                const int xmin = cf->bounds[2 * xx], n = cf->bounds[2 * xx + 1];
#ifdef __SSE2__
                if (cf->kh && xmin + cf->kpad <= iw) {
                    /* 8 taps at a time: widen to int16, pmaddwd with kh and kl */
                    const __m128i zero = _mm_setzero_si128();
                    const int16_t *kh = cf->kh + (size_t)xx * cf->kpad;
                    const int16_t *kl = cf->kl + (size_t)xx * cf->kpad;
                    __m128i sh = zero, sl = zero;
                    for (int x = 0; x < cf->kpad; x += 8) {
                        __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)(src + xmin + x));
                        __m128i wh = _mm_loadu_si128((const __m128i *)(const void *)(kh + x));
                        __m128i wl = _mm_loadu_si128((const __m128i *)(const void *)(kl + x));
                        v = _mm_unpacklo_epi8(v, zero);
                        sh = _mm_add_epi32(sh, _mm_madd_epi16(v, wh));
                        sl = _mm_add_epi32(sl, _mm_madd_epi16(v, wl));
                    }
                    __m128i t = _mm_add_epi32(_mm_slli_epi32(sh, 11), sl);
                    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
                    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
                    dst[xx] = clip8((1 << (PRECISION_BITS - 1)) + _mm_cvtsi128_si32(t));
                    continue;
                }
#endif
                const int32_t *k = cf->k + (size_t)xx * ks;
                const uint8_t *p = src + xmin;
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < n; x++) ss += p[x] * k[x];
                dst[xx] = clip8(ss);
            }
        } else {
            for (int xx = 0; xx < ow; xx++) {
                const int xmin = cf->bounds[2 * xx], n = cf->bounds[2 * xx + 1];
                const int32_t *k = cf->k + (size_t)xx * ks;
                const uint8_t *p = src + (size_t)xmin * 3;
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; x++) {
                    s0 += p[3 * x + 0] * k[x];
                    s1 += p[3 * x + 1] * k[x];
                    s2 += p[3 * x + 2] * k[x];
                }
                dst[3 * xx + 0] = clip8(s0);
                dst[3 * xx + 1] = clip8(s1);
                dst[3 * xx + 2] = clip8(s2);
            }
        }
    }
}

/* out (oh, rowlen) <- in (*, rowlen), rows shifted by -row0; acc (rowlen) */
static void vertical(const uint8_t *in, size_t rowlen, int row0, uint8_t *out, int oh,
                     const coeffs *cf, int32_t *acc)
{
    const int ks = cf->ksize;
    for (int yy = 0; yy < oh; yy++) {
        const int ymin = cf->bounds[2 * yy] - row0, n = cf->bounds[2 * yy + 1];
        const int32_t *k = cf->k + (size_t)yy * ks;
        size_t i0 = 0;
#ifdef __SSE2__
        /* 8 pixels at a time, 2 taps per pmaddwd: rows interleaved as int16
         * pairs times (kh_a, kh_b) and (kl_a, kl_b); exact, see split_coeffs */
        const __m128i zero = _mm_setzero_si128();
        uint8_t *dst8 = out + (size_t)yy * rowlen;
        for (; i0 + 8 <= rowlen; i0 += 8) {
            __m128i h0 = zero, h1 = zero, l0 = zero, l1 = zero;
            for (int y = 0; y < n; y += 2) {
                const uint8_t *ra = in + (size_t)(ymin + y) * rowlen + i0;
                int32_t ka = k[y], kb = y + 1 < n ? k[y + 1] : 0;
                const uint8_t *rb = y + 1 < n ? ra + rowlen : ra;
                __m128i a = _mm_loadl_epi64((const __m128i *)(const void *)ra);
                __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)rb);
                __m128i ab = _mm_unpacklo_epi8(a, b);
                __m128i lo = _mm_unpacklo_epi8(ab, zero), hi = _mm_unpackhi_epi8(ab, zero);
                uint32_t kha = (uint16_t)(int16_t)(ka >> 11), khb = (uint16_t)(int16_t)(kb >> 11);
                __m128i kh = _mm_set1_epi32((int32_t)((khb << 16) | kha));
                __m128i kl = _mm_set1_epi32((int32_t)(((uint32_t)(kb & 2047) << 16) |
                                                      (uint32_t)(ka & 2047)));
                h0 = _mm_add_epi32(h0, _mm_madd_epi16(lo, kh));
                h1 = _mm_add_epi32(h1, _mm_madd_epi16(hi, kh));
                l0 = _mm_add_epi32(l0, _mm_madd_epi16(lo, kl));
                l1 = _mm_add_epi32(l1, _mm_madd_epi16(hi, kl));
            }
            const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
            __m128i t0 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h0, 11), l0), half);
            __m128i t1 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h1, 11), l1), half);
            t0 = _mm_srai_epi32(t0, PRECISION_BITS);
            t1 = _mm_srai_epi32(t1, PRECISION_BITS);
            __m128i p16 = _mm_packs_epi32(t0, t1);
            _mm_storel_epi64((__m128i *)(void *)(dst8 + i0), _mm_packus_epi16(p16, p16));
        }
#endif
        for (size_t i = i0; i < rowlen; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) {
            const uint8_t *src = in + (size_t)(ymin + y) * rowlen;
            const int32_t ky = k[y];
            for (size_t i = i0; i < rowlen; i++) acc[i] += src[i] * ky;
        }
        uint8_t *dst = out + (size_t)yy * rowlen;
        for (size_t i = i0; i < rowlen; i++) dst[i] = clip8(acc[i]);
    }
}

static pn_status grow(void **buf, size_t *cap, size_t need)
{
    if (*cap >= need) return PN_OK;
    free(*buf);
    *buf = malloc(need);
    *cap = *buf ? need : 0;
    return *buf ? PN_OK : PN_E_NOMEM;
}

pn_status pn__resize(const pn_image *in, int ow, int oh, pn_image *out, void **tmp,
                     size_t *tmp_cap, pn_error *err)
{
    if (!in || !out || in == out || !in->px || (in->c != 1 && in->c != 3))
        return pn_error_set(err, PN_E_ARG, "resize: bad input image");
    if (ow < 1 || oh < 1 || ow > 65536 || oh > 65536)
        return pn_error_set(err, PN_E_ARG, "resize: bad output size %dx%d", ow, oh);
    const int iw = in->w, ih = in->h, c = in->c;
    pn_status st = pn__image_alloc(out, ow, oh, c, "resize", err);
    if (st) return st;
    int need_h = ow != iw, need_v = oh != ih;
    if (!need_h && !need_v) {
        memcpy(out->px, in->px, (size_t)iw * ih * c);
        return PN_OK;
    }
    coeffs ch = {0}, cv = {0};
    if (need_h && (st = precompute(iw, 0.0f, (float)iw, ow, &ch, err))) return st;
    if (need_h && c == 1) split_coeffs(&ch, ow);
    if (need_v && (st = precompute(ih, 0.0f, (float)ih, oh, &cv, err))) {
        coeffs_free(&ch);
        return st;
    }
    if (need_h && !need_v) {
        horizontal(in->px, iw, c, 0, ih, out->px, ow, &ch);
    } else {
        /* vertical needed: rows [first, last) of the source are read */
        int first = cv.bounds[0];
        int last = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
        const uint8_t *vin = in->px;
        int row0 = 0;
        size_t rowlen = (size_t)ow * c;
        size_t hbytes = need_h ? (size_t)(last - first) * rowlen : 0;
        size_t abytes = sizeof(int32_t) * rowlen;
        size_t aoff = (hbytes + 63) & ~(size_t)63;
        if (grow(tmp, tmp_cap, aoff + abytes)) {
            coeffs_free(&ch);
            coeffs_free(&cv);
            return pn_error_set(err, PN_E_NOMEM, "resize: out of memory");
        }
        uint8_t *t = *tmp;
        if (need_h) {
            horizontal(in->px, iw, c, first, last - first, t, ow, &ch);
            vin = t;
            row0 = first;
        }
        vertical(vin, rowlen, row0, out->px, oh, &cv, (int32_t *)(void *)(t + aoff));
    }
    coeffs_free(&ch);
    coeffs_free(&cv);
    return PN_OK;
}

pn_status pn_image_resize(const pn_image *in, int ow, int oh, pn_image *out, pn_error *err)
{
    void *tmp = NULL;
    size_t cap = 0;
    pn_status st = pn__resize(in, ow, oh, out, &tmp, &cap, err);
    free(tmp);
    return st;
}
