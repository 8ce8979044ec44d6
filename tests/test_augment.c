/* Augmentation against torchvision 0.14 / Pillow 9.4
 * (tests/pytorch/make_augment_fixtures.py): every transform with fixed
 * parameters gives the same bytes; the whole pipeline after the same
 * torch.manual_seed draws the same crops, angles, shifts, factors and flips
 * (same bytes for 8 images in a row); parsing. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/app.h"
#include "pneumo/augment.h"
#include "train_st.h"

static void image_of(const st_file *f, const char *key, pn_image *im)
{
    size_t n;
    const pn_tensor *t = pn_statedict_findc(&f->sd, key);
    if (!t || t->ndim != 3) fail_msg("fixture %s missing", key);
    const int64_t *v = st_i64(f, key, &n);
    memset(im, 0, sizeof *im);
    im->h = (int)t->shape[0], im->w = (int)t->shape[1], im->c = (int)t->shape[2];
    im->px = malloc(n);
    im->cap = n;
    for (size_t i = 0; i < n; i++) im->px[i] = (uint8_t)v[i];
}

static void same(const char *what, const pn_image *got, const pn_image *want)
{
    assert_int_equal(got->w, want->w);
    assert_int_equal(got->h, want->h);
    assert_int_equal(got->c, want->c);
    size_t n = (size_t)got->w * got->h * got->c, bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got->px[i] != want->px[i] && !bad++) first = i;
    if (bad)
        fail_msg("%s: %zu of %zu bytes differ; first at pixel (%zu, %zu): %d, torchvision %d", what,
                 bad, n, first / 3 % (size_t)got->w, first / 3 / (size_t)got->w, got->px[first],
                 want->px[first]);
}

static void test_ops(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("augment.safetensors"));
    pn_image base, want, out = {0}, tmp = {0};
    image_of(&f, "base0", &base);
    pn_error err = {0};
    static const struct {
        const char *name;
        int op; /* 0 rotate 1 translate 2 brightness 3 contrast 4 hflip 5 crop */
        double a, b;
    } ops[] = {{"rot_7.3", 0, 7.3, 0},       {"rot_-12.9", 0, -12.9, 0},    {"rot_33.3", 0, 33.3, 0},
               {"rot_90", 0, 90, 0},         {"rot_180", 0, 180, 0},        {"rot_-90", 0, -90, 0},
               {"tr_5_-3", 1, 5, -3},        {"tr_-7_11", 1, -7, 11},       {"bright_0.7", 2, 0.7, 0},
               {"bright_1.4", 2, 1.4, 0},    {"contrast_0.6", 3, 0.6, 0},   {"contrast_1.5", 3, 1.5, 0},
               {"hflip", 4, 0, 0},           {"crop_5_9_60_71", 5, 0, 0}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        pn_status st = PN_OK;
        switch (ops[k].op) {
        case 0: st = pn_aug_rotate(&base, ops[k].a, &out, &err); break;
        case 1: st = pn_aug_translate(&base, (int)ops[k].a, (int)ops[k].b, &out, &err); break;
        case 2: st = pn_aug_brightness(&base, ops[k].a, &out, &err); break;
        case 3: st = pn_aug_contrast(&base, ops[k].a, &out, &err); break;
        case 4: st = pn_aug_hflip(&base, &out, &err); break;
        case 5: st = pn_aug_resized_crop(&base, 5, 9, 60, 71, 96, &out, &tmp, &err); break;
        }
        if (st) fail_msg("%s: %s", ops[k].name, err.msg);
        image_of(&f, ops[k].name, &want);
        same(ops[k].name, &out, &want);
        pn_image_free(&want);
    }
    pn_image_free(&base);
    pn_image_free(&out);
    pn_image_free(&tmp);
    st_free(&f);
}

static void test_seeded_pipeline(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("augment.safetensors"));
    pn_image base[2], want, out = {0}, tmp = {0};
    image_of(&f, "base0", &base[0]);
    image_of(&f, "base1", &base[1]);
    pn_error err = {0};
    pn_augment a;
    assert_int_equal(pn_augment_parse("crop:0.3-1,rotate:15,translate:0.1,brightness:0.4,"
                                      "contrast:0.4,hflip",
                                      &a, &err),
                     PN_OK);
    pn_rng g;
    pn_rng_seed(&g, 11);
    int flips = 0;
    for (int k = 0; k < 8; k++) {
        pn_augment_params p;
        pn_augment_sample(&a, &g, 96, 96, &p);
        flips += p.flip;
        if (pn_augment_apply(&a, &p, &base[k % 2], &out, &tmp, &err)) fail_msg("%s", err.msg);
        char key[16], what[128];
        snprintf(key, sizeof key, "seq_%d", k);
        snprintf(what, sizeof what, "%s (crop %d,%d %dx%d, angle %.3f, shift %d,%d, b %.3f c %.3f, flip %d)",
                 key, p.crop_i, p.crop_j, p.crop_h, p.crop_w, p.angle, p.tx, p.ty, p.brightness,
                 p.contrast, p.flip);
        image_of(&f, key, &want);
        same(what, &out, &want);
        pn_image_free(&want);
    }
    assert_true(flips > 0 && flips < 8); /* both branches were taken */
    pn_image_free(&base[0]);
    pn_image_free(&base[1]);
    pn_image_free(&out);
    pn_image_free(&tmp);
    st_free(&f);
}

/* the training callback: a normalized tensor goes back to its exact bytes,
 * through the pipeline (here hflip:1, always) and ToTensor + Normalize again */
static void test_items_roundtrip(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("augment.safetensors"));
    pn_image base, want;
    image_of(&f, "base0", &base);
    image_of(&f, "hflip", &want);
    pn_error err = {0};
    pn_augment a;
    assert_int_equal(pn_augment_parse("hflip:1", &a, &err), PN_OK);
    pn_augment_items it;
    pn_augment_items_init(&it, &a, 96);
    float *x = malloc(3 * 96 * 96 * sizeof *x), *w = malloc(3 * 96 * 96 * sizeof *w);
    pn_image_to_tensor(&base, x);
    pn_image_to_tensor(&want, w);
    pn_rng g;
    pn_rng_seed(&g, 1);
    assert_int_equal(pn_augment_items_run(&it, &g, x, &err), PN_OK);
    assert_memory_equal(x, w, 3 * 96 * 96 * sizeof *x);
    assert_string_equal(it.key, "hflip:1");
    pn_augment_items_free(&it);
    free(x);
    free(w);
    pn_image_free(&base);
    pn_image_free(&want);
    st_free(&f);
}

static void test_parse(void **state)
{
    (void)state;
    pn_augment a;
    pn_error err = {0};
    char d[256];
    assert_int_equal(pn_augment_parse("none", &a, &err), PN_OK);
    assert_false(pn_augment_active(&a));
    assert_int_equal(pn_augment_parse("default", &a, &err), PN_OK);
    assert_true(pn_augment_active(&a));
    assert_true(a.hflip == 0); /* the heart is on the left: never flipped by default */
    assert_int_equal(pn_augment_parse("crop,translate:0.1:0.2,hflip:0.25", &a, &err), PN_OK);
    assert_true(a.scale[0] == 0.08 && a.ratio[1] == 4.0 / 3.0);
    assert_true(a.translate[1] == 0.2 && a.hflip == 0.25);
    pn_augment_describe(&a, d, sizeof d);
    assert_string_equal(d, "crop:0.08-1:0.75-1.33333,translate:0.1:0.2,hflip:0.25");
    const char *bad[] = {"rotate", "rotate:-3", "crop:0.5", "crop:0.5-2", "flip", "brightness:x",
                         "rotate:10,", "translate:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pn_augment_parse(bad[i], &a, &err) != PN_E_ARG) fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_seeded_pipeline),
        cmocka_unit_test(test_items_roundtrip),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
