/* Training augmentation as torchvision 0.14 does it on PIL images (Pillow
 * 9.4): parameter sampling from PyTorch's generator and the pixel
 * operations (pneumo/augment.h). Compiled without fast-math: every float
 * and double operation is in Pillow's / Python's order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/augment.h"

/* ---- options ------------------------------------------------------------- */

static const pn_augment defaults = {1, {0.7, 1.0}, {0.75, 4.0 / 3.0}, 10, {0.05, 0.05},
                                    0.2, 0.2, 0};

static int parse_range(const char *s, double *lo, double *hi, const char **end)
{
    char *e;
    *lo = strtod(s, &e);
    if (e == s || *e != '-') return -1;
    const char *q = e + 1;
    *hi = strtod(q, &e);
    if (e == q || !(*lo > 0) || !(*hi >= *lo)) return -1;
    *end = e;
    return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out, const char **end)
{
    char *e;
    *out = strtod(s, &e);
    if (e == s || !(*out >= lo && *out <= hi)) return -1;
    *end = e;
    return 0;
}

pn_status pn_augment_parse(const char *spec, pn_augment *a, pn_error *err)
{
    memset(a, 0, sizeof *a);
    if (!spec || !strcmp(spec, "none")) return PN_OK;
    if (!strcmp(spec, "default")) {
        *a = defaults;
        return PN_OK;
    }
    const char *p = spec;
    while (*p) {
        const char *e = p;
        int bad = 0;
        if (!strncmp(p, "crop", 4) && (p[4] == 0 || p[4] == ',' || p[4] == ':')) {
            a->crop = 1;
            a->scale[0] = 0.08, a->scale[1] = 1.0, a->ratio[0] = 0.75, a->ratio[1] = 4.0 / 3.0;
            e = p + 4;
            if (*e == ':') bad = parse_range(e + 1, &a->scale[0], &a->scale[1], &e) || a->scale[1] > 1;
            if (!bad && *e == ':') bad = parse_range(e + 1, &a->ratio[0], &a->ratio[1], &e);
        } else if (!strncmp(p, "rotate:", 7)) {
            bad = parse_num(p + 7, 0, 180, &a->rotate, &e);
        } else if (!strncmp(p, "translate:", 10)) {
            bad = parse_num(p + 10, 0, 1, &a->translate[0], &e);
            a->translate[1] = a->translate[0];
            if (!bad && *e == ':') bad = parse_num(e + 1, 0, 1, &a->translate[1], &e);
        } else if (!strncmp(p, "brightness:", 11)) {
            bad = parse_num(p + 11, 0, 10, &a->brightness, &e);
        } else if (!strncmp(p, "contrast:", 9)) {
            bad = parse_num(p + 9, 0, 10, &a->contrast, &e);
        } else if (!strncmp(p, "hflip", 5) && (p[5] == 0 || p[5] == ',' || p[5] == ':')) {
            a->hflip = 0.5;
            e = p + 5;
            if (*e == ':') bad = parse_num(e + 1, 0, 1, &a->hflip, &e);
        } else {
            bad = 1;
        }
        if (bad || (*e && *e != ',') || (*e == ',' && !e[1]))
            return pn_error_set(err, PN_E_ARG,
                                "--augment %s: at '%.40s' (want a comma-separated list of "
                                "crop[:SMIN-SMAX[:RMIN-RMAX]], rotate:DEG, translate:FX[:FY], "
                                "brightness:B, contrast:C, hflip[:P]; or default, none)",
                                spec, p);
        p = *e ? e + 1 : e;
    }
    return PN_OK;
}

int pn_augment_active(const pn_augment *a)
{
    return a->crop || a->rotate > 0 || a->translate[0] > 0 || a->translate[1] > 0 ||
           a->brightness > 0 || a->contrast > 0 || a->hflip > 0;
}

void pn_augment_describe(const pn_augment *a, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        int w_ = snprintf(buf + k, k < n ? n - k : 0, "%s", k ? "," : "");        \
        if (w_ > 0) k += (size_t)w_;                                               \
        w_ = snprintf(buf + (k < n ? k : n - 1), k < n ? n - k : 1, __VA_ARGS__); \
        if (w_ > 0) k += (size_t)w_;                                               \
    } while (0)
    if (a->crop) ADD("crop:%g-%g:%g-%g", a->scale[0], a->scale[1], a->ratio[0], a->ratio[1]);
    if (a->rotate > 0) ADD("rotate:%g", a->rotate);
    if (a->translate[0] > 0 || a->translate[1] > 0)
        ADD("translate:%g:%g", a->translate[0], a->translate[1]);
    if (a->brightness > 0) ADD("brightness:%g", a->brightness);
    if (a->contrast > 0) ADD("contrast:%g", a->contrast);
    if (a->hflip > 0) ADD("hflip:%g", a->hflip);
#undef ADD
    if (!k) snprintf(buf, n, "none");
}

/* ---- parameters: torchvision's get_params on torch's generator ------------ */

static double uniform1(pn_rng *g, double from, double to) /* torch.empty(1).uniform_(f, t).item() */
{
    float v;
    pn_rng_uniform(g, &v, 1, from, to);
    return (double)v;
}

static long randint(pn_rng *g, long n) { return (long)(pn_rng_u32(g) % (uint32_t)n); }

static long pyround(double x) { return (long)nearbyint(x); } /* round half to even */

void pn_augment_sample(const pn_augment *a, pn_rng *g, int w, int h, pn_augment_params *p)
{
    memset(p, 0, sizeof *p);
    p->crop_h = h, p->crop_w = w;
    p->brightness = p->contrast = 1;
    for (int k = 0; k < 4; k++) p->order[k] = k;
    if (a->crop) { /* RandomResizedCrop.get_params */
        const double area = (double)h * w;
        const float lr0 = logf((float)a->ratio[0]), lr1 = logf((float)a->ratio[1]);
        int done = 0;
        for (int t = 0; t < 10 && !done; t++) {
            double target = area * uniform1(g, a->scale[0], a->scale[1]);
            double aspect = (double)expf((float)uniform1(g, lr0, lr1));
            long cw = pyround(sqrt(target * aspect)), ch = pyround(sqrt(target / aspect));
            if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
                p->crop_i = (int)randint(g, h - ch + 1);
                p->crop_j = (int)randint(g, w - cw + 1);
                p->crop_h = (int)ch, p->crop_w = (int)cw;
                done = 1;
            }
        }
        if (!done) { /* central crop */
            double in_ratio = (double)w / (double)h;
            double rmin = a->ratio[0] < a->ratio[1] ? a->ratio[0] : a->ratio[1];
            double rmax = a->ratio[0] < a->ratio[1] ? a->ratio[1] : a->ratio[0];
            long cw = w, ch = h;
            if (in_ratio < rmin) ch = pyround(cw / rmin);
            else if (in_ratio > rmax) cw = pyround(ch * rmax);
            p->crop_h = (int)ch, p->crop_w = (int)cw;
            p->crop_i = (int)((h - ch) / 2), p->crop_j = (int)((w - cw) / 2);
        }
    }
    if (a->rotate > 0) p->angle = uniform1(g, -a->rotate, a->rotate);
    if (a->translate[0] > 0 || a->translate[1] > 0) { /* RandomAffine(0, translate) */
        (void)uniform1(g, 0.0, 0.0);                  /* its angle, from degrees (0, 0) */
        double mx = a->translate[0] * w, my = a->translate[1] * h;
        p->tx = (int)pyround(uniform1(g, -mx, mx));
        p->ty = (int)pyround(uniform1(g, -my, my));
    }
    if (a->brightness > 0 || a->contrast > 0) { /* ColorJitter.get_params */
        int64_t perm[4];
        pn_rng_randperm(g, 4, perm);
        for (int k = 0; k < 4; k++) p->order[k] = (int)perm[k];
        if (a->brightness > 0)
            p->brightness = uniform1(g, a->brightness < 1 ? 1 - a->brightness : 0, 1 + a->brightness);
        if (a->contrast > 0)
            p->contrast = uniform1(g, a->contrast < 1 ? 1 - a->contrast : 0, 1 + a->contrast);
    }
    if (a->hflip > 0) { /* torch.rand(1) < p */
        float u;
        pn_rng_uniform(g, &u, 1, 0.0, 1.0);
        p->flip = u < (float)a->hflip;
    }
}

/* ---- pixel operations ------------------------------------------------------ */

static pn_status reserve(pn_image *im, int w, int h, int c, pn_error *err)
{
    size_t need = (size_t)w * h * c;
    if (im->cap < need) {
        uint8_t *px = realloc(im->px, need ? need : 1);
        if (!px) return pn_error_set(err, PN_E_NOMEM, "augment: out of memory");
        im->px = px;
        im->cap = need;
    }
    im->w = w, im->h = h, im->c = c;
    im->png16 = im->png16_clipped = 0;
    return PN_OK;
}

pn_status pn_aug_resized_crop(const pn_image *in, int i, int j, int h, int w, int size,
                              pn_image *out, pn_image *tmp, pn_error *err)
{
    if (i < 0 || j < 0 || h < 1 || w < 1 || i + h > in->h || j + w > in->w)
        return pn_error_set(err, PN_E_ARG, "augment: crop box outside the image");
    const int c = in->c;
    PN_TRY(reserve(tmp, w, h, c, err));
    for (int y = 0; y < h; y++)
        memcpy(tmp->px + (size_t)y * w * c, in->px + ((size_t)(i + y) * in->w + j) * c,
               (size_t)w * c);
    return pn_image_resize(tmp, size, size, out, err);
}

#define COORD(v) ((v) < 0.0 ? -1 : ((int)(v)))
#define FLOOR(v) ((v) < 0.0 ? ((int)floor(v)) : ((int)(v)))

/* Python's round(x, 15): the correctly rounded 15-decimal value */
static double round15(double x)
{
    char s[64];
    snprintf(s, sizeof s, "%.15f", x);
    return strtod(s, NULL);
}

/* Pillow's exact fast paths: transpose by 90 (counter-clockwise), 180, 270 */
static void turn(const pn_image *in, int quarter, pn_image *out)
{
    const int W = in->w, H = in->h, c = in->c;
    for (int y = 0; y < out->h; y++)
        for (int x = 0; x < out->w; x++) {
            int sx, sy;
            if (quarter == 2) sx = W - 1 - x, sy = H - 1 - y;
            else if (quarter == 1) sx = W - 1 - y, sy = x;  /* ROTATE_90 */
            else sx = y, sy = H - 1 - x;                    /* ROTATE_270 */
            memcpy(out->px + ((size_t)y * out->w + x) * c, in->px + ((size_t)sy * W + sx) * c,
                   (size_t)c);
        }
}

pn_status pn_aug_rotate(const pn_image *in, double angle, pn_image *out, pn_error *err)
{
    const int W = in->w, H = in->h, c = in->c;
    PN_TRY(reserve(out, W, H, c, err));
    double ang = fmod(angle, 360.0); /* Python's angle % 360.0 */
    if (ang != 0 && ang < 0) ang += 360.0;
    if (ang == 0) {
        memcpy(out->px, in->px, (size_t)W * H * c);
        return PN_OK;
    }
    if (ang == 180 || ((ang == 90 || ang == 270) && W == H)) {
        turn(in, ang == 180 ? 2 : ang == 90 ? 1 : 3, out);
        return PN_OK;
    }
    const double rad = -(ang * (3.141592653589793 / 180.0));
    const double cs = round15(cos(rad)), sn = round15(sin(rad)), msn = round15(-sin(rad));
    const double cx = W / 2.0, cy = H / 2.0;
    double a[6] = {cs, sn, 0.0, msn, cs, 0.0};
    a[2] = a[0] * -cx + a[1] * -cy + 0.0;
    a[5] = a[3] * -cx + a[4] * -cy + 0.0;
    a[2] += cx;
    a[5] += cy;
    memset(out->px, 0, (size_t)W * H * c); /* fillcolor 0 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double xin = x + 0.5, yin = y + 0.5;
            double xx = a[0] * xin + a[1] * yin + a[2];
            double yy = a[3] * xin + a[4] * yin + a[5];
            if (xx < 0.0 || xx >= W || yy < 0.0 || yy >= H) continue;
            xx -= 0.5;
            yy -= 0.5;
            int x0 = FLOOR(xx), y0 = FLOOR(yy);
            double dx = xx - x0, dy = yy - y0;
            int xa = x0 < 0 ? 0 : x0 < W ? x0 : W - 1;
            int xb = x0 + 1 < 0 ? 0 : x0 + 1 < W ? x0 + 1 : W - 1;
            int ya = y0 < 0 ? 0 : y0 < H ? y0 : H - 1;
            int has2 = y0 + 1 >= 0 && y0 + 1 < H;
            const uint8_t *r1 = in->px + (size_t)ya * W * c, *r2 = in->px + (size_t)(y0 + 1) * W * c;
            uint8_t *o = out->px + ((size_t)y * W + x) * c;
            for (int k = 0; k < c; k++) {
                double v1 = r1[xa * c + k] + (r1[xb * c + k] - r1[xa * c + k]) * dx;
                double v2 = has2 ? r2[xa * c + k] + (r2[xb * c + k] - r2[xa * c + k]) * dx : v1;
                v1 = v1 + (v2 - v1) * dy;
                o[k] = (uint8_t)v1;
            }
        }
    return PN_OK;
}

pn_status pn_aug_translate(const pn_image *in, int tx, int ty, pn_image *out, pn_error *err)
{
    /* the inverse matrix is (1, 0, -tx, 0, 1, -ty): Pillow's nearest
     * ImagingScaleAffine samples COORD(x - tx + 0.5) = x - tx */
    const int W = in->w, H = in->h, c = in->c;
    PN_TRY(reserve(out, W, H, c, err));
    memset(out->px, 0, (size_t)W * H * c);
    for (int y = 0; y < H; y++) {
        int sy = y - ty;
        if (sy < 0 || sy >= H) continue;
        for (int x = 0; x < W; x++) {
            int sx = x - tx;
            if (sx >= 0 && sx < W)
                memcpy(out->px + ((size_t)y * W + x) * c, in->px + ((size_t)sy * W + sx) * c,
                       (size_t)c);
        }
    }
    return PN_OK;
}

/* Pillow's ImagingBlend(in1, in2, alpha) with in1 a constant image v1 */
static void blend_const(const pn_image *in, int v1, float alpha, pn_image *out)
{
    const size_t n = (size_t)in->w * in->h * in->c;
    if (alpha == 0.0f) {
        memset(out->px, v1, n);
    } else if (alpha == 1.0f) {
        memcpy(out->px, in->px, n);
    } else if (alpha >= 0 && alpha <= 1.0) {
        for (size_t i = 0; i < n; i++) out->px[i] = (uint8_t)(v1 + alpha * ((int)in->px[i] - v1));
    } else {
        for (size_t i = 0; i < n; i++) {
            float t = (float)(v1 + alpha * ((int)in->px[i] - v1));
            out->px[i] = t <= 0.0 ? 0 : t >= 255.0 ? 255 : (uint8_t)t;
        }
    }
}

pn_status pn_aug_brightness(const pn_image *in, double f, pn_image *out, pn_error *err)
{
    PN_TRY(reserve(out, in->w, in->h, in->c, err));
    blend_const(in, 0, (float)f, out);
    return PN_OK;
}

pn_status pn_aug_contrast(const pn_image *in, double f, pn_image *out, pn_error *err)
{
    /* mean of convert("L") (L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16)
     * from its histogram, as ImageStat; rounded by int(mean + 0.5) */
    const size_t np = (size_t)in->w * in->h;
    double sum = 0;
    for (size_t i = 0; i < np; i++) {
        const uint8_t *q = in->px + i * in->c;
        sum += in->c == 1 ? q[0] : (q[0] * 19595 + q[1] * 38470 + q[2] * 7471 + 0x8000) >> 16;
    }
    int mean = (int)(sum / (double)np + 0.5);
    PN_TRY(reserve(out, in->w, in->h, in->c, err));
    blend_const(in, mean, (float)f, out);
    return PN_OK;
}

pn_status pn_aug_hflip(const pn_image *in, pn_image *out, pn_error *err)
{
    const int W = in->w, c = in->c;
    PN_TRY(reserve(out, W, in->h, c, err));
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < W; x++)
            memcpy(out->px + ((size_t)y * W + x) * c, in->px + ((size_t)y * W + W - 1 - x) * c,
                   (size_t)c);
    return PN_OK;
}

static void swap(pn_image *a, pn_image *b)
{
    pn_image t = *a;
    *a = *b;
    *b = t;
}

pn_status pn_augment_apply(const pn_augment *a, const pn_augment_params *p, const pn_image *in,
                           pn_image *out, pn_image *tmp, pn_error *err)
{
    /* out holds the current image; tmp the next one */
    PN_TRY(reserve(out, in->w, in->h, in->c, err));
    memcpy(out->px, in->px, (size_t)in->w * in->h * in->c);
    if (a->crop) {
        pn_image crop = {0};
        pn_status st = pn_aug_resized_crop(out, p->crop_i, p->crop_j, p->crop_h, p->crop_w, in->w,
                                           tmp, &crop, err);
        pn_image_free(&crop);
        PN_TRY(st);
        swap(out, tmp);
    }
    if (a->rotate > 0) {
        PN_TRY(pn_aug_rotate(out, p->angle, tmp, err));
        swap(out, tmp);
    }
    if (a->translate[0] > 0 || a->translate[1] > 0) {
        PN_TRY(pn_aug_translate(out, p->tx, p->ty, tmp, err));
        swap(out, tmp);
    }
    for (int k = 0; k < 4; k++) {
        if (p->order[k] == 0 && a->brightness > 0) {
            PN_TRY(pn_aug_brightness(out, p->brightness, tmp, err));
            swap(out, tmp);
        } else if (p->order[k] == 1 && a->contrast > 0) {
            PN_TRY(pn_aug_contrast(out, p->contrast, tmp, err));
            swap(out, tmp);
        }
    }
    if (p->flip) {
        PN_TRY(pn_aug_hflip(out, tmp, err));
        swap(out, tmp);
    }
    return PN_OK;
}
