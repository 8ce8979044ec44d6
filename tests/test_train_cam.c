/* CAM (hand case), bilinear upsampling (values of torch's
 * F.interpolate(mode='bilinear', align_corners=False)), the overlay, the
 * PNG writer (read back with libpng; a full disk leaves nothing), and the
 * feature cache. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pneumo/cam.h"
#include "app/featcache.h"
#include "pneumo/report.h"
#include "pneumo/util.h"

static void test_cam_hand(void **state)
{
    (void)state;
    /* K=2, 2x2: M = 2*A0 - A1 = [2,-1,0,-2] -> ReLU [2,0,0,0] -> /max [1,0,0,0] */
    float act[8] = {1, 0, 0, 0, 0, 1, 0, 2}, wc[2] = {2, -1}, cam[4];
    pn_cam_compute(act, 2, 2, 2, wc, cam);
    float want[4] = {1, 0, 0, 0};
    assert_memory_equal(cam, want, sizeof want);
    /* all negative: all zero, no division by zero */
    float wn[2] = {-1, -1};
    pn_cam_compute(act, 2, 2, 2, wn, cam);
    for (int i = 0; i < 4; i++) assert_true(cam[i] == 0.0f);
}

static void test_bilinear(void **state)
{
    (void)state;
    /* torch.nn.functional.interpolate(tensor([[[[0,1],[2,3]]]]), size=4, mode='bilinear') */
    float src[4] = {0, 1, 2, 3}, dst[16];
    pn_resize_bilinear(src, 2, 2, dst, 4, 4);
    float want[16] = {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f,
                      1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    tu_assert_close("bilinear 2x2->4x4", dst, want, 16, 1e-6, 1e-6);
    /* constant stays constant for any size */
    float c[49], big[300 * 200];
    for (int i = 0; i < 49; i++) c[i] = 0.3f;
    pn_resize_bilinear(c, 7, 7, big, 200, 300);
    for (int i = 0; i < 300 * 200; i++) assert_true(fabsf(big[i] - 0.3f) < 1e-6f);
}

static void test_overlay_png(void **state)
{
    (void)state;
    uint8_t jet[3];
    pn_jet(0, jet);
    assert_true(jet[0] == 0 && jet[1] == 0 && jet[2] == 128);
    pn_jet(1, jet);
    assert_true(jet[0] == 128 && jet[1] == 0 && jet[2] == 0);
    pn_jet(0.5f, jet);
    assert_true(jet[0] == 128 && jet[1] == 255 && jet[2] == 128);
    enum { W = 40, H = 30 };
    uint8_t gray[W * H], rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) gray[i] = 100;
    float cam[4] = {0, 0, 0, 1};
    pn_error err = {0};
    assert_int_equal(pn_cam_overlay(cam, 2, 2, gray, H, W, 1, 0.5f, rgb, &err), PN_OK);
    /* top-left: map 0 -> the image unchanged; bottom-right: map 1 -> half dark red */
    assert_true(rgb[0] == 100 && rgb[1] == 100 && rgb[2] == 100);
    size_t br = ((size_t)(H - 1) * W + (W - 1)) * 3;
    assert_true(rgb[br] == 114 && rgb[br + 1] == 50 && rgb[br + 2] == 50);
    assert_int_equal(pn_cam_overlay(cam, 2, 2, gray, H, W, 2, 0.5f, rgb, &err), PN_E_ARG);
    const char *dir = tu_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/cam.png", dir);
    assert_int_equal(pn_png_write_rgb(p, rgb, W, H, &err), PN_OK);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, p));
    img.format = PNG_FORMAT_RGB;
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    uint8_t back[W * H * 3];
    assert_true(png_image_finish_read(&img, NULL, back, 0, NULL));
    assert_memory_equal(back, rgb, sizeof back);
    snprintf(p, sizeof p, "%s/no/such/dir/cam.png", dir);
    assert_int_equal(pn_png_write_rgb(p, rgb, W, H, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "cam.png"));
    assert_int_equal(pn_png_write_rgb(p, rgb, 0, H, &err), PN_E_ARG);
    tu_rmtree(dir);
}

/* A full disk, simulated by a 4 KiB file size limit: the PNG writer fails
 * naming its file, and leaves neither a truncated PNG nor a temporary. */
static void test_png_full_disk(void **state)
{
    (void)state;
    enum { S = 200 };
    static uint8_t noise[S * S * 3];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (uint8_t)(x >> 24);
    }
    const char *dir = tu_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/cam.png", dir);
    pn_error err = {0};
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    pn_status st = pn_png_write_rgb(p, noise, S, S, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, PN_E_IO);
    assert_non_null(strstr(err.msg, "cam.png"));
    assert_non_null(strstr(err.msg, "File too large"));
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int k = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') k++;
    closedir(d);
    assert_int_equal(k, 0);
    /* without the limit the same image is written and reads back */
    assert_int_equal(pn_png_write_rgb(p, noise, S, S, &err), PN_OK);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, p));
    img.format = PNG_FORMAT_RGB;
    static uint8_t back[S * S * 3];
    assert_true(png_image_finish_read(&img, NULL, back, 0, NULL));
    assert_memory_equal(back, noise, sizeof back);
    tu_rmtree(dir);
}

static void test_featcache(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char d[1024];
    snprintf(d, sizeof d, "%s/features", dir);
    pn_featcache fc;
    pn_error err = {0};
    assert_int_equal(pn__featcache_open(&fc, d, &err), PN_OK);
    uint8_t wh[32] = {1}, ch[32] = {2}, k1[32], k2[32], k3[32], k4[32];
    pn__featcache_key(wh, "224x224 squash fast-decode=0", "pool", ch, k1);
    pn__featcache_key(wh, "224x224 squash fast-decode=1", "pool", ch, k2);
    pn__featcache_key(wh, "224x224 squash fast-decode=0", "layer4", ch, k3);
    ch[31] = 1;
    pn__featcache_key(wh, "224x224 squash fast-decode=0", "pool", ch, k4);
    assert_true(memcmp(k1, k2, 32) && memcmp(k1, k3, 32) && memcmp(k1, k4, 32));
    float x[512], y[512];
    tu_fill_uniform(x, 512, 3, 0, 4);
    int hit;
    assert_int_equal(pn__featcache_get(&fc, k1, y, 512, &hit, &err), PN_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(pn__featcache_put(&fc, k1, x, 512, &err), PN_OK);
    assert_int_equal(pn__featcache_get(&fc, k1, y, 512, &hit, &err), PN_OK);
    assert_int_equal(hit, 1);
    assert_memory_equal(x, y, sizeof x);
    /* wrong size asked: a miss, not garbage */
    assert_int_equal(pn__featcache_get(&fc, k1, y, 256, &hit, &err), PN_OK);
    assert_int_equal(hit, 0);
    /* a corrupted entry is a miss */
    char hex[65], p[2048];
    pn_hex(k1, 32, hex);
    snprintf(p, sizeof p, "%s/%s.bin", d, hex);
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(p, 1 << 20, &buf, &n, &err), PN_OK);
    buf[100] ^= 0x40;
    assert_int_equal(pn_write_file_atomic(p, buf, n, &err), PN_OK);
    assert_int_equal(pn__featcache_get(&fc, k1, y, 512, &hit, &err), PN_OK);
    assert_int_equal(hit, 0);
    assert_true(fc.bad >= 1);
    /* truncated */
    assert_int_equal(pn_write_file_atomic(p, buf, n - 1, &err), PN_OK);
    assert_int_equal(pn__featcache_get(&fc, k1, y, 512, &hit, &err), PN_OK);
    assert_int_equal(hit, 0);
    free(buf);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cam_hand),
        cmocka_unit_test(test_bilinear),
        cmocka_unit_test(test_overlay_png),
        cmocka_unit_test(test_png_full_disk),
        cmocka_unit_test(test_featcache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
