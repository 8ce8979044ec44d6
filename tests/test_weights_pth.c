/* .pth reader: files saved by Debian's torch (zip, legacy, fp16/bf16/f64,
 * checkpoint dict, nn.Parameter values, deflated + renamed archive) give
 * the tensors torch holds, bit for bit; bad files give named errors. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

static void expect_same(const pn_statedict *got, const pn_statedict *want, int check_file_dtype,
                        pn_dtype fdt)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        const pn_tensor *g = &got->t[i], *w = &want->t[i];
        assert_string_equal(g->name, w->name); /* state_dict order kept */
        assert_int_equal(g->dtype, w->dtype);
        assert_int_equal(g->ndim, w->ndim);
        for (int k = 0; k < g->ndim; k++) assert_int_equal(g->shape[k], w->shape[k]);
        assert_int_equal(g->numel, w->numel);
        if (memcmp(g->data, w->data, g->numel * pn_dtype_size(g->dtype)))
            fail_msg("tensor %s differs from torch's values", g->name);
        if (check_file_dtype && g->dtype == PN_F32) assert_int_equal(g->file_dtype, fdt);
    }
}

static void check_pth(const char *pth, const char *want_st, pn_dtype fdt)
{
    pn_statedict got, want;
    pn_error err = {0};
    if (pn_pth_load(tu_fixture(pth), &got, &err)) fail_msg("%s", err.msg);
    if (pn_safetensors_load(tu_fixture(want_st), &want, &err)) fail_msg("%s", err.msg);
    expect_same(&got, &want, 1, fdt);
    const pn_tensor *nbt = pn_statedict_findc(&got, "bn1.num_batches_tracked");
    assert_non_null(nbt);
    assert_int_equal(nbt->dtype, PN_I64);
    assert_int_equal(nbt->ndim, 0);
    assert_int_equal(((int64_t *)nbt->data)[0], INT64_C(123456789012));
    pn_statedict_free(&got);
    /* pn_weights_load detects the format by magic */
    if (pn_weights_load(tu_fixture(pth), &got, &err)) fail_msg("%s", err.msg);
    expect_same(&got, &want, 1, fdt);
    pn_statedict_free(&got);
    pn_statedict_free(&want);
}

static void test_zip(void **s) { (void)s; check_pth("weights_small_zip.pth", "weights_small_want.safetensors", PN_F32); }
static void test_legacy(void **s) { (void)s; check_pth("weights_small_legacy.pth", "weights_small_want.safetensors", PN_F32); }
static void test_f16(void **s) { (void)s; check_pth("weights_small_f16.pth", "weights_small_f16_want.safetensors", PN_F16); }
static void test_bf16(void **s) { (void)s; check_pth("weights_small_bf16.pth", "weights_small_bf16_want.safetensors", PN_BF16); }
static void test_f64(void **s) { (void)s; check_pth("weights_small_f64.pth", "weights_small_f64_want.safetensors", PN_F64); }
static void test_ckpt(void **s) { (void)s; check_pth("weights_small_ckpt.pth", "weights_small_want.safetensors", PN_F32); }
static void test_param(void **s) { (void)s; check_pth("weights_small_param.pth", "weights_small_want.safetensors", PN_F32); }
static void test_zip64(void **s) { (void)s; check_pth("weights_small_zip64.pth", "weights_small_want.safetensors", PN_F32); }
static void test_deflate(void **s) { (void)s; check_pth("weights_small_deflate.pth", "weights_small_want.safetensors", PN_F32); }

static void expect_err(const char *fixture, pn_status code, const char *want)
{
    pn_statedict sd;
    pn_error err = {0};
    const char *path = tu_fixture(fixture);
    assert_int_equal(pn_weights_load(path, &sd, &err), code);
    assert_int_equal(sd.n, 0);
    if (!strstr(err.msg, fixture) || !strstr(err.msg, want))
        fail_msg("error for %s is \"%s\", wanted \"%s\"", fixture, err.msg, want);
}

static void test_bad_files(void **s)
{
    (void)s;
    expect_err("weights_bad_global.pth", PN_E_UNSUPPORTED, "forbidden global 'posix.system'");
    expect_err("weights_bad_noncontig.pth", PN_E_UNSUPPORTED, "not contiguous (shape [3, 2], stride [1, 3])");
    expect_err("weights_bad_short.pth", PN_E_FORMAT, "has 428 bytes");
    expect_err("weights_bad_module.pth", PN_E_UNSUPPORTED,
               "forbidden global 'torch.nn.modules.linear.Linear'");
}

static void test_detect_by_magic(void **s)
{
    (void)s;
    const char *d = tu_tmpdir();
    char p[600];
    pn_statedict sd;
    pn_error err = {0};
    snprintf(p, sizeof p, "%s/empty.pth", d);
    assert_int_equal(pn_write_file_atomic(p, "", 0, &err), PN_OK);
    assert_int_equal(pn_weights_load(p, &sd, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "empty.pth: truncated"));
    snprintf(p, sizeof p, "%s/picture.pth", d);
    assert_int_equal(pn_write_file_atomic(p, "GIF89a-not-a-weights-file", 25, &err), PN_OK);
    assert_int_equal(pn_weights_load(p, &sd, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "picture.pth: wrong magic"));
    assert_int_equal(pn_weights_detect("PK\x03\x04", 4), PN_FMT_PTH_ZIP);
    assert_int_equal(pn_weights_detect("\x80\x02\x8a\x0a", 4), PN_FMT_PTH_LEGACY);
    assert_int_equal(pn_weights_detect("\x08\0\0\0\0\0\0\0{}      ", 18), PN_FMT_SAFETENSORS);
    assert_int_equal(pn_weights_detect("\0\0\0\0\0\0\0\x40{", 9), PN_FMT_UNKNOWN); /* 2^62-byte header */
    snprintf(p, sizeof p, "%s/missing.pth", d);
    assert_int_equal(pn_weights_load(p, &sd, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "missing.pth"));
    tu_rmtree(d);
}

/* ---- crafted legacy-format files ---- */

typedef struct bytes {
    uint8_t b[4096];
    size_t n;
} bytes;
static void put(bytes *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void puts_(bytes *o, const char *s) { put(o, s, strlen(s)); }
static void put_ustr(bytes *o, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    put(o, "X", 1);
    put(o, &n, 4);
    put(o, s, n);
}
static void put_long(bytes *o, int64_t v)
{
    put(o, "\x8a\x08", 2);
    put(o, &v, 8);
}

/* A legacy file with one tensor "w" of the given storage type/numel, offset,
 * sizes and strides; `data_bytes` bytes of storage follow (numel as given). */
static void legacy_file(bytes *o, const char *stype, int64_t numel, int64_t off, int nd,
                        const int64_t *size, const int64_t *stride, size_t data_bytes)
{
    o->n = 0;
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                    0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    put(o, magic, sizeof magic);
    put(o, "\x80\x02M\xe9\x03.", 6);
    put(o, "\x80\x02}.", 4);
    puts_(o, "\x80\x02}(");
    put_ustr(o, "w");
    puts_(o, "ctorch._utils\n_rebuild_tensor_v2\n((");
    put_ustr(o, "storage");
    puts_(o, "ctorch\n");
    puts_(o, stype);
    puts_(o, "\n");
    put_ustr(o, "0");
    put_ustr(o, "cpu");
    put_long(o, numel);
    puts_(o, "tQ");
    put_long(o, off);
    puts_(o, "(");
    for (int i = 0; i < nd; i++) put_long(o, size[i]);
    puts_(o, "t(");
    for (int i = 0; i < nd; i++) put_long(o, stride[i]);
    puts_(o, "t\x89}tRu.");
    puts_(o, "\x80\x02](");
    put_ustr(o, "0");
    puts_(o, "e.");
    put(o, &numel, 8);
    static const uint8_t zeros[1024];
    put(o, zeros, data_bytes);
}

static pn_status load_bytes(const bytes *o, pn_error *err)
{
    pn_statedict sd;
    pn_status st = pn_pth_load_mem(o->b, o->n, "crafted.pth", &sd, err);
    if (st) assert_int_equal(sd.n, 0);
    pn_statedict_free(&sd);
    return st;
}

#define EXPECT(st_, want)                                                                \
    do {                                                                                 \
        pn_error e_ = {0};                                                               \
        pn_status got_ = load_bytes(&o, &e_);                                            \
        if (got_ != (st_) || (got_ && (!strstr(e_.msg, "crafted.pth") || !strstr(e_.msg, (want))))) \
            fail_msg("line %d: got %d \"%s\", wanted %d \"%s\"", __LINE__, got_, e_.msg, \
                     (st_), (want));                                                     \
    } while (0)

static void test_crafted(void **s)
{
    (void)s;
    bytes o;
    int64_t sz[3] = {2, 3, 1}, st[3] = {3, 1, 1};
    legacy_file(&o, "FloatStorage", 6, 0, 3, sz, st, 24);
    pn_statedict sd;
    pn_error err = {0};
    assert_int_equal(pn_pth_load_mem(o.b, o.n, "crafted.pth", &sd, &err), PN_OK);
    assert_int_equal(sd.n, 1);
    assert_int_equal(sd.t[0].shape[1], 3);
    pn_statedict_free(&sd);
    /* offset into a bigger storage */
    legacy_file(&o, "FloatStorage", 10, 4, 3, sz, st, 40);
    EXPECT(PN_OK, "");
    /* a storage shorter than the file says: tensor bytes past the end */
    legacy_file(&o, "FloatStorage", 6, 0, 3, sz, st, 20);
    EXPECT(PN_E_FORMAT, "truncated: storage '0' needs 24 bytes");
    /* elements past the storage */
    legacy_file(&o, "FloatStorage", 6, 1, 3, sz, st, 24);
    EXPECT(PN_E_FORMAT, "run past its storage");
    /* shapes that overflow */
    int64_t big[3] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    legacy_file(&o, "FloatStorage", 6, 0, 3, big, st, 24);
    EXPECT(PN_E_FORMAT, "overflows");
    int64_t neg[3] = {2, -3, 1};
    legacy_file(&o, "FloatStorage", 6, 0, 3, neg, st, 24);
    EXPECT(PN_E_FORMAT, "overflows");
    /* storage numel that overflows its byte size */
    legacy_file(&o, "DoubleStorage", INT64_C(1) << 61, 0, 3, sz, st, 0);
    EXPECT(PN_E_UNSUPPORTED, "");
    /* non-contiguous */
    int64_t bad_st[3] = {1, 2, 1};
    legacy_file(&o, "FloatStorage", 6, 0, 3, sz, bad_st, 24);
    EXPECT(PN_E_UNSUPPORTED, "not contiguous");
    /* unsupported and forbidden storage types */
    legacy_file(&o, "ShortStorage", 6, 0, 3, sz, st, 12);
    EXPECT(PN_E_UNSUPPORTED, "torch.ShortStorage");
    legacy_file(&o, "QInt8Storage", 6, 0, 3, sz, st, 6);
    EXPECT(PN_E_UNSUPPORTED, "forbidden global 'torch.QInt8Storage'");
    /* truncated anywhere: always an error, never a crash */
    legacy_file(&o, "FloatStorage", 6, 0, 3, sz, st, 24);
    size_t full = o.n;
    for (size_t cut = 0; cut < full; cut++) {
        o.n = cut;
        pn_error e = {0};
        assert_int_not_equal(load_bytes(&o, &e), PN_OK);
        assert_non_null(strstr(e.msg, "crafted.pth"));
    }
    /* wrong magic */
    o.n = full;
    o.b[5] ^= 1;
    EXPECT(PN_E_FORMAT, "wrong magic number");
    memcpy(o.b, "GIF89a", 6);
    EXPECT(PN_E_FORMAT, "wrong magic");
}

static void test_truncated_zip(void **s)
{
    (void)s;
    uint8_t *b;
    size_t n;
    pn_error err = {0};
    assert_int_equal(pn_read_file(tu_fixture("weights_small_zip.pth"), 1 << 20, &b, &n, &err), PN_OK);
    for (size_t cut = 0; cut < n; cut += (cut < 64 || n - cut < 200) ? 1 : 37) {
        pn_statedict sd;
        pn_error e = {0};
        assert_int_not_equal(pn_pth_load_mem(b, cut, "cut.pth", &sd, &e), PN_OK);
        assert_non_null(strstr(e.msg, "cut.pth"));
    }
    /* flipping a data byte breaks the CRC */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    for (size_t i = 0; i + 4 < n; i++) {
        if (!memcmp(c + i, "data/0", 6)) {
            /* first occurrence is the local header; data follows, 64-aligned */
            size_t d = (i + 6 + 63) / 64 * 64;
            c[d + 8] ^= 0x55;
            break;
        }
    }
    pn_statedict sd;
    pn_error e = {0};
    pn_status st = pn_pth_load_mem(c, n, "crc.pth", &sd, &e);
    if (st == PN_OK) fail_msg("a corrupted storage byte went unnoticed");
    assert_non_null(strstr(e.msg, "crc.pth"));
    free(c);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zip),      cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_f16),      cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f64),      cmocka_unit_test(test_ckpt),
        cmocka_unit_test(test_param),    cmocka_unit_test(test_deflate),
        cmocka_unit_test(test_zip64),    cmocka_unit_test(test_detect_by_magic),
        cmocka_unit_test(test_bad_files), cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_truncated_zip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
