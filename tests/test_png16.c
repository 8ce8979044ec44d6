/* 16-bit grayscale PNGs: the --png16 policy of pn_decode_opts. scale (the
 * default) maps the sBIT depth (else 16 bits) onto 0..255, clip is Pillow's
 * convert('RGB') (the values tests/pytorch/make_png16_fixtures.py printed
 * from Pillow 9.4), and pn_dataset_check_info counts such files. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pneumo.h"

static void load(const char *fix, pn_png16 p, pn_image *img)
{
    pn_error err = {0};
    pn_decode_opts o = {.min_side = 1, .png16 = p};
    assert_int_equal(pn_image_load(tu_fixture(fix), &o, img, &err), PN_OK);
    assert_int_equal(img->w, 64);
    assert_int_equal(img->h, 32);
    assert_int_equal(img->c, 1);
}

static void test_policies(void **state)
{
    (void)state;
    pn_image img = {0};
    /* 12-bit data, sBIT 12: v = x * 4095 / 63 */
    for (int p = 0; p < 2; p++) { /* default and explicit scale */
        load("image_synth/gray16_sbit12.png", p ? PN_PNG16_SCALE : PN_PNG16_DEFAULT, &img);
        assert_int_equal(img.png16, PN_PNG16_SCALE);
        assert_int_equal(img.png16_clipped, 0);
        for (int x = 0; x < 64; x++) {
            unsigned v = (unsigned)(x * 4095 / 63);
            assert_int_equal(img.px[x], (v * 510 + 4095) / 8190);
            assert_int_equal(img.px[31 * 64 + x], img.px[x]);
        }
    }
    assert_int_equal(img.px[0], 0);
    assert_int_equal(img.px[63], 255);
    assert_int_equal(img.px[32], 130); /* 2080 * 255 / 4095 = 129.5 -> 130 */
    /* clip: Pillow's values */
    load("image_synth/gray16_sbit12.png", PN_PNG16_CLIP, &img);
    static const uint8_t pillow[8] = {0, 65, 130, 195, 255, 255, 255, 255};
    assert_memory_equal(img.px, pillow, 8);
    assert_int_equal(img.png16, PN_PNG16_CLIP);
    assert_int_equal(img.png16_clipped, 1);
    /* no sBIT: 16 bits */
    load("image_synth/gray16_full.png", PN_PNG16_DEFAULT, &img);
    for (int x = 0; x < 64; x++)
        assert_int_equal(img.px[x], ((unsigned)x * 1040 * 510 + 65535) / 131070);
    /* an 8-bit image after a 16-bit one: no flag left over */
    pn_error err = {0};
    assert_int_equal(pn_image_load(tu_fixture("image_synth/mode_P_trns.png"), NULL, &img, &err),
                     PN_OK);
    assert_int_equal(img.png16, 0);
    pn_image_free(&img);
    pn_png16 p;
    assert_int_equal(pn_png16_parse("clip", &p, &err), PN_OK);
    assert_int_equal(p, PN_PNG16_CLIP);
    assert_int_equal(pn_png16_parse("scale", &p, &err), PN_OK);
    assert_int_equal(p, PN_PNG16_SCALE);
    assert_int_equal(pn_png16_parse("high", &p, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "'high'"));
    assert_string_equal(pn_png16_name(PN_PNG16_DEFAULT), "scale");
}

static void copy(const char *src, const char *dst)
{
    uint8_t *b = NULL;
    size_t n = 0;
    pn_error err = {0};
    assert_int_equal(pn_read_file(src, 1 << 24, &b, &n, &err), PN_OK);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

static void test_check_counts(void **state)
{
    (void)state;
    char dir[600], p[800];
    snprintf(dir, sizeof dir, "%.590s", tu_tmpdir());
    snprintf(p, sizeof p, "%s/A", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/A/a.png", dir);
    copy(tu_fixture("image_synth/gray16_sbit12.png"), p);
    snprintf(p, sizeof p, "%s/A/b.png", dir);
    copy(tu_fixture("image_synth/gray16_full.png"), p);
    snprintf(p, sizeof p, "%s/A/c.png", dir);
    copy(tu_fixture("image_synth/mode_P_trns.png"), p);
    pn_dataset *ds = NULL;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    pn_bad_list bad = {0};
    pn_check_info info;
    pn_decode_opts o = {.min_side = 1};
    assert_int_equal(pn_dataset_check_info(ds, PN_SPLIT_ALL, &o, 2, &bad, &info, &err), PN_OK);
    assert_int_equal(bad.n, 0);
    assert_int_equal(info.png16, 2);
    assert_int_equal(info.png16_clipped, 0);
    o.png16 = PN_PNG16_CLIP;
    assert_int_equal(pn_dataset_check_info(ds, PN_SPLIT_ALL, &o, 1, &bad, &info, &err), PN_OK);
    assert_int_equal(info.png16, 2);
    assert_int_equal(info.png16_clipped, 2);
    pn_bad_list_free(&bad);
    pn_dataset_free(ds);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_check_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
