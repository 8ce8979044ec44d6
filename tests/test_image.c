/* Image pipeline: decode + resize + ToTensor/Normalize against Pillow 9.4 +
 * torchvision 0.14 (tests/pytorch/make_image_fixtures.py writes the expected
 * SHA-256 of the exact uint8 and float32 outputs), hand-computed resize
 * cases, and bad input. Needs ../shared/data (fails loudly without it). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

#define S PN_IMAGE_SIZE

static void hex_sha(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    pn_sha256_buf(p, n, d);
    pn_hex(d, 32, out);
}

/* Full expected u8 output of an image, if the fixture has one. */
static uint8_t *full_u8(const char *rel)
{
    FILE *f = fopen(tu_fixture("image_full.tsv"), "r");
    char line[1024], name[512], file[256];
    uint8_t *out = NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%511s %255s", name, file) == 2 && !strcmp(name, rel)) {
            uint8_t *b = NULL;
            size_t n = 0;
            pn_error err = {0};
            if (!pn_read_file(tu_fixture(file), 1 << 20, &b, &n, &err) && n == S * S * 3) out = b;
            else free(b);
            break;
        }
    }
    if (f) fclose(f);
    return out;
}

static void test_parity_with_pillow(void **state)
{
    (void)state;
    const char *data = tu_data_dir();
    FILE *f = fopen(tu_fixture("image_expected.tsv"), "r");
    assert_non_null(f);
    char line[2048];
    int n = 0, bad = 0, n_data = 0, n_gray = 0, n_rgb = 0;
    uint8_t *u8 = malloc(S * S * 3);
    float *f32 = malloc(sizeof(float) * 3 * S * S);
    pn_image img = {0};
    pn_prep_scratch scr = {0};
    /* parity with Pillow: 16-bit gray PNGs clipped as Pillow's convert('RGB')
     * (pneumo's default scales them, tests/test_png16.c) */
    pn_decode_opts o = {.min_side = 1, .png16 = PN_PNG16_CLIP};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char src[16], rel[512], mode[16], want_u8[65], want_f32[65], path[1024];
        int w, h;
        if (sscanf(line, "%15s %511s %d %d %15s %64s %64s", src, rel, &w, &h, mode, want_u8,
                   want_f32) != 7)
            fail_msg("bad fixture line: %s", line);
        if (!strcmp(src, "data")) {
            snprintf(path, sizeof path, "%s/%s", data, rel);
            n_data++;
        } else {
            snprintf(path, sizeof path, "%s", tu_fixture(rel));
        }
        pn_error err = {0};
        if (pn_image_load(path, &o, &img, &err)) {
            fprintf(stderr, "FAIL %s: %s\n", rel, err.msg);
            bad++;
            continue;
        }
        n_gray += img.c == 1;
        n_rgb += img.c == 3;
        int jpeg_scaled = 0;
        if (img.w != w || img.h != h) {
            fprintf(stderr, "FAIL %s: decoded %dx%d, Pillow %dx%d\n", rel, img.w, img.h, w, h);
            bad++;
            continue;
        }
        (void)jpeg_scaled;
        assert_int_equal(pn_preprocess(&img, S, f32, u8, &scr, &err), PN_OK);
        char got_u8[65], got_f32[65];
        hex_sha(u8, S * S * 3, got_u8);
        hex_sha(f32, sizeof(float) * 3 * S * S, got_f32);
        if (strcmp(got_u8, want_u8) || strcmp(got_f32, want_f32)) {
            fprintf(stderr, "FAIL %s (%s %dx%d): u8 %s, f32 %s\n", rel, mode, w, h,
                    strcmp(got_u8, want_u8) ? "differs" : "same",
                    strcmp(got_f32, want_f32) ? "differs" : "same");
            uint8_t *want = full_u8(rel);
            if (want) {
                int maxd = 0;
                size_t nd = 0;
                for (size_t i = 0; i < S * S * 3; i++) {
                    int d = abs((int)u8[i] - (int)want[i]);
                    nd += d != 0;
                    if (d > maxd) maxd = d;
                }
                fprintf(stderr, "  %zu bytes differ, max abs diff %d\n", nd, maxd);
                free(want);
            }
            bad++;
        }
        n++;
    }
    fclose(f);
    fprintf(stderr, "%d images compared (%d from the dataset; %d gray, %d RGB), %d failed\n", n,
            n_data, n_gray, n_rgb, bad);
    pn_image_free(&img);
    pn_prep_scratch_free(&scr);
    free(u8);
    free(f32);
    assert_int_equal(bad, 0);
    assert_true(n_data >= 30);
    assert_true(n_gray >= 10 && n_rgb >= 10);
}

/* The full u8 fixtures also compare byte by byte (readable diff). */
static void test_full_u8(void **state)
{
    (void)state;
    const char *rels[] = {"image_synth/exact224.jpg", "image_synth/cmyk.jpg"};
    pn_image img = {0};
    uint8_t *u8 = malloc(S * S * 3);
    for (int i = 0; i < 2; i++) {
        pn_error err = {0};
        uint8_t *want = full_u8(rels[i]);
        assert_non_null(want);
        assert_int_equal(pn_image_load(tu_fixture(rels[i]), NULL, &img, &err), PN_OK);
        assert_int_equal(pn_preprocess(&img, S, NULL, u8, NULL, &err), PN_OK);
        for (size_t k = 0; k < S * S * 3; k++)
            if (u8[k] != want[k])
                fail_msg("%s: byte %zu (y %zu x %zu ch %zu) = %d, Pillow %d", rels[i], k,
                         k / (S * 3), k / 3 % S, k % 3, u8[k], want[k]);
        free(want);
    }
    pn_image_free(&img);
    free(u8);
}

/* Hand-computed Pillow BILINEAR: 2x2 -> 1x1. scale 2, support 2, both taps
 * weigh 0.75 -> normalised 0.5 -> k = 2^21; out = (2^21 + 2^21 (a + b)) >> 22
 * = floor((1 + a + b) / 2) per pass. [[10,13],[20,40]]: rows 12 and 30,
 * then floor(43 / 2) = 21. */
static void test_resize_hand(void **state)
{
    (void)state;
    uint8_t px[4] = {10, 13, 20, 40};
    pn_image in = {.w = 2, .h = 2, .c = 1, .px = px, .cap = 4}, out = {0};
    pn_error err = {0};
    assert_int_equal(pn_image_resize(&in, 1, 1, &out, &err), PN_OK);
    assert_int_equal(out.w, 1);
    assert_int_equal(out.px[0], 21);
    /* 2x2 -> 2x1: only the vertical pass: floor((1 + 10 + 20)/2) = 15, (1+13+40)/2 = 27 */
    assert_int_equal(pn_image_resize(&in, 2, 1, &out, &err), PN_OK);
    assert_int_equal(out.px[0], 15);
    assert_int_equal(out.px[1], 27);
    /* upscale [0, 255] (2x1 -> 3x1): scale 2/3, support 1, centers 1/3, 1, 5/3;
     * taps [(int)(c - 0.5), (int)(c + 1.5)) clipped to [0, 2):
     *   c=1/3: x in [0,1): only pixel 0 -> 0;
     *   c=1:   x in [0,2): weights 0.5, 0.5 -> (2^21 + 255 * 2^21) >> 22 = 128;
     *   c=5/3: x in [1,2): only pixel 1 -> 255 */
    uint8_t px2[2] = {0, 255};
    pn_image in2 = {.w = 2, .h = 1, .c = 1, .px = px2, .cap = 2};
    assert_int_equal(pn_image_resize(&in2, 3, 1, &out, &err), PN_OK);
    assert_int_equal(out.px[0], 0);
    assert_int_equal(out.px[1], 128);
    assert_int_equal(out.px[2], 255);
    /* same size: a copy */
    assert_int_equal(pn_image_resize(&in, 2, 2, &out, &err), PN_OK);
    assert_memory_equal(out.px, px, 4);
    /* bad arguments */
    assert_int_equal(pn_image_resize(&in, 0, 5, &out, &err), PN_E_ARG);
    assert_int_equal(pn_image_resize(&in, 5, 5, &in, &err), PN_E_ARG);
    pn_image_free(&out);
}

/* A naive, direct transcription of Pillow's Resample.c for 8-bit images
 * (one channel at a time, horizontal then vertical, all rows): the
 * reference for the optimised (SSE2) passes on random noise. */
static void naive_coeffs(int in, int out, int **bounds, int32_t **kk, int *ksz)
{
    double scale = (double)in / out, fs = scale < 1 ? 1 : scale, support = fs;
    int ks = (int)ceil(support) * 2 + 1;
    *bounds = malloc(sizeof(int) * 2 * out);
    *kk = malloc(sizeof(int32_t) * out * ks);
    *ksz = ks;
    double *w = malloc(sizeof(double) * ks);
    for (int xx = 0; xx < out; xx++) {
        double c = (xx + 0.5) * scale, sum = 0;
        int lo = (int)(c - support + 0.5), hi = (int)(c + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        for (int x = 0; x < hi - lo; x++) {
            double t = fabs((x + lo - c + 0.5) * (1.0 / fs));
            w[x] = t < 1 ? 1 - t : 0;
            sum += w[x];
        }
        for (int x = 0; x < ks; x++) {
            double v = x < hi - lo && sum != 0 ? w[x] / sum : 0;
            (*kk)[xx * ks + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << 22) : 0.5 + v * (1 << 22));
        }
        (*bounds)[2 * xx] = lo;
        (*bounds)[2 * xx + 1] = hi - lo;
    }
    free(w);
}

static uint8_t naive_clip(int32_t v)
{
    v >>= 22;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

static void naive_resize(const uint8_t *in, int iw, int ih, int c, uint8_t *out, int ow, int oh)
{
    int *bh, *bv, kh, kv;
    int32_t *ch, *cv;
    naive_coeffs(iw, ow, &bh, &ch, &kh);
    naive_coeffs(ih, oh, &bv, &cv, &kv);
    uint8_t *tmp = malloc((size_t)ow * ih * c);
    for (int y = 0; y < ih; y++)
        for (int xx = 0; xx < ow; xx++)
            for (int k = 0; k < c; k++) {
                int32_t ss = 1 << 21;
                for (int x = 0; x < bh[2 * xx + 1]; x++)
                    ss += in[((size_t)y * iw + bh[2 * xx] + x) * c + k] * ch[xx * kh + x];
                tmp[((size_t)y * ow + xx) * c + k] = ow == iw ? in[((size_t)y * iw + xx) * c + k]
                                                              : naive_clip(ss);
            }
    for (int yy = 0; yy < oh; yy++)
        for (int xx = 0; xx < ow; xx++)
            for (int k = 0; k < c; k++) {
                int32_t ss = 1 << 21;
                for (int y = 0; y < bv[2 * yy + 1]; y++)
                    ss += tmp[((size_t)(bv[2 * yy] + y) * ow + xx) * c + k] * cv[yy * kv + y];
                out[((size_t)yy * ow + xx) * c + k] =
                    oh == ih ? tmp[((size_t)yy * ow + xx) * c + k] : naive_clip(ss);
            }
    free(tmp);
    free(bh), free(bv), free(ch), free(cv);
}

static void test_resize_vs_naive(void **state)
{
    (void)state;
    uint64_t s = 12345;
    pn_image in = {0}, out = {0};
    pn_error err = {0};
    for (int iter = 0; iter < 60; iter++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int iw = 1 + (int)((s >> 33) % 900), ih = 1 + (int)((s >> 17) % 700);
        int ow = 1 + (int)((s >> 45) % 300), oh = 1 + (int)((s >> 7) % 300);
        int c = iter % 3 == 2 ? 3 : 1;
        if (iter < 4) ow = oh = S; /* the common case */
        in.w = iw, in.h = ih, in.c = c;
        free(in.px);
        in.px = malloc((size_t)iw * ih * c);
        for (size_t i = 0; i < (size_t)iw * ih * c; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            in.px[i] = (uint8_t)(s >> 56);
        }
        uint8_t *want = malloc((size_t)ow * oh * c);
        naive_resize(in.px, iw, ih, c, want, ow, oh);
        assert_int_equal(pn_image_resize(&in, ow, oh, &out, &err), PN_OK);
        for (size_t i = 0; i < (size_t)ow * oh * c; i++)
            if (out.px[i] != want[i])
                fail_msg("%dx%dx%d -> %dx%d: byte %zu = %d, naive Pillow %d", iw, ih, c, ow, oh, i,
                         out.px[i], want[i]);
        free(want);
    }
    free(in.px);
    pn_image_free(&out);
}

/* ToTensor + Normalize on known values (torch: (tensor([0,255,128])/255 - m)/s). */
static void test_normalize_values(void **state)
{
    (void)state;
    uint8_t px[3] = {0, 255, 128};
    pn_image img = {.w = 3, .h = 1, .c = 1, .px = px, .cap = 3};
    float t[9];
    pn_image_to_tensor(&img, t);
    /* printed by torch 1.13: ((torch.tensor([0.,255,128])/255)-0.485)/0.229 */
    assert_true(t[0] == -2.1179039478302001953125f);
    assert_true(t[1] == 2.2489082813262939453125f);
    assert_true(t[2] == 0.07406462728977203369140625f);
    assert_true(t[3] == -2.0357141494750976562500f); /* channel 1 of value 0 */
    assert_true(t[8] == 0.42649257183074951171875f); /* channel 2 of 128 */
}

static void expect_fail(const uint8_t *buf, size_t n, const char *name, const pn_decode_opts *o,
                        pn_status code, const char *needle)
{
    pn_image img = {0};
    pn_error err = {0};
    pn_status st = pn_image_decode(buf, n, name, o, &img, &err);
    if (st != code || !strstr(err.msg, name) || (needle && !strstr(err.msg, needle)))
        fail_msg("%s: got status %d '%s', want %d with '%s'", name, st, err.msg, code,
                 needle ? needle : "");
    assert_int_equal(img.w, 0);
    pn_image_free(&img);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    uint8_t *b = NULL;
    pn_error err = {0};
    if (pn_read_file(path, 1 << 28, &b, n, &err)) fail_msg("%s", err.msg);
    return b;
}

static void test_bad_input(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/chest_xray/train/NORMAL/IM-0117-0001.jpeg", tu_data_dir());
    size_t n;
    uint8_t *jpg = read_all(path, &n);
    /* zero bytes, not an image, truncated, corrupt */
    expect_fail(jpg, 0, "empty.jpeg", NULL, PN_E_FORMAT, "empty");
    const char *txt = "this is not an image\n";
    expect_fail((const uint8_t *)txt, strlen(txt), "notes.jpeg", NULL, PN_E_FORMAT,
                "not a JPEG or PNG");
    expect_fail(jpg, n / 2, "half.jpeg", NULL, PN_E_FORMAT, "truncated");
    expect_fail(jpg, 400, "head.jpeg", NULL, PN_E_FORMAT, NULL);
    uint8_t *c = malloc(n);
    memcpy(c, jpg, n);
    /* break the SOF marker segment: find FFC0 and zero its precision byte */
    for (size_t i = 2; i + 4 < n; i++)
        if (c[i] == 0xFF && c[i + 1] == 0xC0) {
            c[i + 4] = 3; /* 3-bit precision: libjpeg rejects */
            break;
        }
    expect_fail(c, n, "corrupt.jpeg", NULL, PN_E_FORMAT, "corrupt JPEG");
    /* huge dimensions rejected from the header, before allocation */
    memcpy(c, jpg, n);
    for (size_t i = 2; i + 9 < n; i++)
        if (c[i] == 0xFF && c[i + 1] == 0xC0) {
            c[i + 5] = 30000 >> 8, c[i + 6] = 30000 & 255; /* height */
            c[i + 7] = 30000 >> 8, c[i + 8] = 30000 & 255; /* width */
            break;
        }
    expect_fail(c, n, "bomb.jpeg", NULL, PN_E_NOMEM, "over the limit of 178956970");
    pn_decode_opts big = {.max_pixels = 1000};
    expect_fail(jpg, n, "limit.jpeg", &big, PN_E_NOMEM, "over the limit of 1000");
    free(c);
    free(jpg);

    /* 1x1: rejected by default (min side 16), decoded with min_side = 1 */
    uint8_t *one = read_all(tu_fixture("image_synth/one_by_one.png"), &n);
    expect_fail(one, n, "one.png", NULL, PN_E_FORMAT, "below the minimum side");
    pn_image img = {0};
    pn_error err = {0};
    pn_decode_opts any = {.min_side = -1};
    assert_int_equal(pn_image_decode(one, n, "one.png", &any, &img, &err), PN_OK);
    assert_int_equal(img.w * img.h * img.c, 1);
    assert_int_equal(img.px[0], 137);
    pn_image_free(&img);
    free(one);

    /* PNG: truncated, bad CRC, huge IHDR */
    uint8_t *png = read_all(tu_fixture("image_synth/mode_RGB.png"), &n);
    expect_fail(png, n - 100, "cut.png", NULL, PN_E_FORMAT, "truncated PNG");
    png[40] ^= 0x55; /* inside IDAT: zlib or CRC error */
    expect_fail(png, n, "crc.png", NULL, PN_E_FORMAT, "corrupt PNG");
    png[40] ^= 0x55;
    /* IHDR width/height at bytes 16..23 (CRC then wrong: libpng checks CRC of
     * critical chunks, so also recompute nothing: expect the size or CRC error) */
    uint8_t hdr[64];
    memcpy(hdr, png, 33);
    hdr[16] = 0, hdr[17] = 0, hdr[18] = 0x75, hdr[19] = 0x30; /* 30000 */
    hdr[20] = 0, hdr[21] = 0, hdr[22] = 0x75, hdr[23] = 0x30;
    /* fix the IHDR CRC (CRC-32 over "IHDR" + 13 data bytes) */
    uint32_t crc = 0xFFFFFFFFu;
    for (int i = 12; i < 29; i++) {
        crc ^= hdr[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    crc ^= 0xFFFFFFFFu;
    hdr[29] = crc >> 24, hdr[30] = crc >> 16, hdr[31] = crc >> 8, hdr[32] = crc;
    memcpy(hdr + 33, "\0\0\0\0IDAT\0\0\0\0", 12); /* an empty IDAT follows */
    expect_fail(hdr, 45, "bomb.png", NULL, PN_E_NOMEM, "30000x30000");
    free(png);

    /* a missing file names the path */
    err = (pn_error){0};
    assert_int_not_equal(pn_image_load("/nonexistent/x.jpeg", NULL, &img, &err), PN_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/x.jpeg"));
    pn_image_free(&img);
}

/* Fast decode: DCT-scaled, not exact, but close; smaller decoded image. */
static void test_fast_decode(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/chest_xray/train/NORMAL/IM-0117-0001.jpeg", tu_data_dir());
    pn_image a = {0}, b = {0};
    pn_error err = {0};
    pn_decode_opts fast = {.fast_decode = 1};
    assert_int_equal(pn_image_load(path, NULL, &a, &err), PN_OK);
    assert_int_equal(pn_image_load(path, &fast, &b, &err), PN_OK);
    assert_true(b.w < a.w && b.h < a.h);
    assert_true(b.w >= 2 * S || b.h >= 2 * S);
    assert_true(b.w >= 2 * S && b.h >= 2 * S);
    float *x = malloc(sizeof(float) * 3 * S * S), *y = malloc(sizeof(float) * 3 * S * S);
    assert_int_equal(pn_preprocess(&a, S, x, NULL, NULL, &err), PN_OK);
    assert_int_equal(pn_preprocess(&b, S, y, NULL, NULL, &err), PN_OK);
    double maxd = 0, sum = 0;
    for (size_t i = 0; i < 3 * S * S; i++) {
        double d = fabsf(x[i] - y[i]);
        sum += d;
        if (d > maxd) maxd = d;
    }
    fprintf(stderr, "fast decode %dx%d -> %dx%d: max |diff| %.4f, mean %.5f\n", a.w, a.h, b.w,
            b.h, maxd, sum / (3 * S * S));
    assert_true(maxd > 0);    /* it is a different computation */
    assert_true(maxd < 0.5);  /* about 25 grey levels at most after normalisation */
    pn_image_free(&a);
    pn_image_free(&b);
    free(x);
    free(y);
}

/* Mutated files (byte flips, truncations) never crash the decoder: each
 * call either decodes or returns an error naming the file. Run it under
 * make asan to catch memory errors. */
static void test_mutations(void **state)
{
    (void)state;
    const char *files[] = {"image_synth/rgb_420.jpg", "image_synth/progressive.jpg",
                           "image_synth/cmyk.jpg",    "image_synth/mode_P_trns.png",
                           "image_synth/mode_I16.png", "image_synth/mode_L_interlaced.png"};
    uint64_t s = 99;
    pn_image img = {0};
    int ok = 0, bad = 0;
    for (int f = 0; f < 6; f++) {
        size_t n;
        uint8_t *orig = read_all(tu_fixture(files[f]), &n);
        uint8_t *m = malloc(n);
        for (int iter = 0; iter < 60; iter++) {
            memcpy(m, orig, n);
            size_t len = n;
            int flips = 1 + iter % 8;
            for (int k = 0; k < flips; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                m[(s >> 20) % n] ^= (uint8_t)(1u << ((s >> 8) % 8));
            }
            if (iter % 5 == 4) len = (size_t)((s >> 30) % n);
            pn_error err = {0};
            pn_decode_opts o = {.min_side = 1, .fast_decode = iter % 2};
            if (pn_image_decode(m, len, "mutant", &o, &img, &err) == PN_OK) {
                ok++;
                assert_true(img.w > 0 && img.h > 0);
            } else {
                bad++;
                assert_non_null(strstr(err.msg, "mutant"));
            }
        }
        free(m);
        free(orig);
    }
    fprintf(stderr, "mutations: %d decoded, %d rejected\n", ok, bad);
    assert_true(bad > 0);
    pn_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_with_pillow), cmocka_unit_test(test_full_u8),
        cmocka_unit_test(test_resize_hand),        cmocka_unit_test(test_resize_vs_naive),
        cmocka_unit_test(test_normalize_values),
        cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_fast_decode),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
