/* safetensors: reader against torch-made fixtures, exact bytes of the writer,
 * byte-stable round trips, and every kind of bad input. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

static void test_dtypes_match_torch(void **state)
{
    (void)state;
    pn_statedict got, want;
    pn_error err = {0};
    assert_int_equal(pn_safetensors_load(tu_fixture("weights_st_dtypes.safetensors"), &got, &err),
                     PN_OK);
    assert_int_equal(
        pn_safetensors_load(tu_fixture("weights_st_dtypes_want.safetensors"), &want, &err), PN_OK);
    assert_int_equal(got.n, 11);
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < got.n; i++) {
        pn_tensor *g = &got.t[i], *w = &want.t[i];
        assert_string_equal(g->name, w->name);
        assert_int_equal(g->dtype, w->dtype);
        assert_int_equal(g->ndim, w->ndim);
        assert_int_equal(g->numel, w->numel);
        for (int k = 0; k < g->ndim; k++) assert_int_equal(g->shape[k], w->shape[k]);
        /* bit-identical to torch's own .float() / .long() */
        if (g->numel && memcmp(g->data, w->data, g->numel * pn_dtype_size(g->dtype)) != 0)
            fail_msg("tensor %s differs from torch's conversion", g->name);
    }
    assert_int_equal(pn_statedict_find(&got, "f16")->file_dtype, PN_F16);
    assert_int_equal(pn_statedict_find(&got, "bf16")->file_dtype, PN_BF16);
    assert_int_equal(pn_statedict_find(&got, "u8")->dtype, PN_I64);
    assert_int_equal(pn_statedict_find(&got, "scalar")->ndim, 0);
    assert_true(((float *)pn_statedict_find(&got, "scalar")->data)[0] == 2.5f);
    assert_int_equal(((int64_t *)pn_statedict_find(&got, "i64")->data)[3], -(INT64_C(1) << 62));
    assert_string_equal(pn_statedict_get_meta(&got, "format"), "pt");
    assert_string_equal(pn_statedict_get_meta(&got, "note"), "quote \" backslash \\ tab \t \xc3\xa9");
    pn_statedict_free(&got);
    pn_statedict_free(&want);
}

/* The reference implementation's own serialization test vector. */
static void test_writer_exact_bytes(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_error err = {0};
    int64_t shape[3] = {1, 2, 3};
    float v[6] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(pn_statedict_add(&sd, "attn.0", PN_F32, 3, shape, v, NULL, &err), PN_OK);
    assert_int_equal(pn_safetensors_save(path, &sd, &err), PN_OK);
    uint8_t *b;
    size_t n;
    assert_int_equal(pn_read_file(path, 1 << 20, &b, &n, &err), PN_OK);
    const char *hdr = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    assert_int_equal(n, 8 + 64 + 24);
    assert_int_equal(b[0], 64);
    for (int i = 1; i < 8; i++) assert_int_equal(b[i], 0);
    assert_memory_equal(b + 8, hdr, strlen(hdr));
    for (size_t i = 8 + strlen(hdr); i < 72; i++) assert_int_equal(b[i], ' ');
    assert_memory_equal(b + 72, v, 24);
    free(b);
    pn_statedict_free(&sd);
    tu_rmtree(dir);
}

static void test_writer_order_and_roundtrip(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    pn_statedict sd, back, back2;
    pn_error err = {0};
    assert_int_equal(
        pn_safetensors_load(tu_fixture("weights_st_dtypes_want.safetensors"), &sd, &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&sd, "zeta", "1", &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&sd, "alpha", "x\ny", &err), PN_OK);
    assert_int_equal(pn_safetensors_save(a, &sd, &err), PN_OK);
    assert_int_equal(pn_safetensors_load(a, &back, &err), PN_OK);
    /* I64 tensors first, each group by name; metadata first, sorted */
    const char *order[] = {"bool", "i32", "i64", "i8", "u8", "bf16", "empty", "f16", "f32", "f64",
                           "scalar"};
    assert_int_equal(back.n, 11);
    for (size_t i = 0; i < back.n; i++) {
        assert_string_equal(back.t[i].name, order[i]);
        pn_tensor *o = pn_statedict_find(&sd, order[i]);
        assert_int_equal(o->numel, back.t[i].numel);
        if (o->numel) assert_memory_equal(o->data, back.t[i].data, o->numel * pn_dtype_size(o->dtype));
    }
    assert_string_equal(pn_statedict_get_meta(&back, "alpha"), "x\ny");
    uint8_t *fa, *fb;
    size_t na, nb;
    assert_int_equal(pn_read_file(a, 1 << 20, &fa, &na, &err), PN_OK);
    assert_non_null(strstr((char *)fa + 8, "{\"__metadata__\":{\"alpha\":\"x\\ny\",\"zeta\":\"1\"},\"bool\":{"));
    /* byte-stable: saving what was loaded gives the same bytes */
    assert_int_equal(pn_safetensors_save(b, &back, &err), PN_OK);
    assert_int_equal(pn_read_file(b, 1 << 20, &fb, &nb, &err), PN_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(fa, fb, na);
    assert_int_equal(pn_safetensors_load(b, &back2, &err), PN_OK);
    assert_int_equal(back2.n, back.n);
    free(fa);
    free(fb);
    pn_statedict_free(&sd);
    pn_statedict_free(&back);
    pn_statedict_free(&back2);
    /* a failed write leaves nothing behind */
    snprintf(a, sizeof a, "%s/no/such/dir/x.safetensors", dir);
    pn_statedict_init(&sd);
    assert_int_not_equal(pn_safetensors_save(a, &sd, &err), PN_OK);
    assert_non_null(strstr(err.msg, "x.safetensors"));
    tu_rmtree(dir);
}

/* Builds "<u64 len><header padded><ndata zero bytes>" and loads it. */
static pn_status load_crafted(const char *hdr, size_t ndata, pn_error *err)
{
    size_t hl = strlen(hdr);
    size_t n = 8 + hl + ndata;
    uint8_t *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    pn_statedict sd;
    pn_status st = pn_safetensors_load_mem(b, n, "bad.safetensors", &sd, err);
    if (st != PN_OK) assert_int_equal(sd.n, 0); /* left empty on failure */
    pn_statedict_free(&sd);
    free(b);
    return st;
}

#define EXPECT_BAD(hdr, ndata, want)                                                   \
    do {                                                                               \
        pn_error e_ = {0};                                                             \
        assert_int_not_equal(load_crafted((hdr), (ndata), &e_), PN_OK);                \
        if (!strstr(e_.msg, "bad.safetensors") || !strstr(e_.msg, (want)))             \
            fail_msg("error for %s is \"%s\", wanted \"%s\"", (hdr), e_.msg, (want)); \
    } while (0)

static void test_bad_input(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_statedict sd;
    /* truncated before the size, 1 GB header, header past the end */
    assert_int_equal(pn_safetensors_load_mem("\x10\0\0", 3, "bad.safetensors", &sd, &err),
                     PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    uint8_t big[16] = {0, 0, 0, 0x40, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(pn_safetensors_load_mem(big, sizeof big, "bad.safetensors", &sd, &err),
                     PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "100000000-byte limit"));
    uint8_t past[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(pn_safetensors_load_mem(past, sizeof past, "bad.safetensors", &sd, &err),
                     PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    const char *t = "\"dtype\":\"F32\",\"shape\":[2]";
    char h[512];
    EXPECT_BAD("[1,2]   ", 0, "does not start with '{'");
    EXPECT_BAD("{\"a\":{]}", 0, "not a valid JSON");
    EXPECT_BAD("{\"a\":3}", 0, "not an object");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\"}}", 0, "needs a string");
    EXPECT_BAD("{\"a\":{\"dtype\":\"Q7\",\"shape\":[],\"data_offsets\":[0,0]}}", 0,
               "unknown dtype");
    EXPECT_BAD("{\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
               "dtype U16");
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,8]}}  x", t);
    EXPECT_BAD(h, 8, "garbage after");
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,8]},\"b\":{%s,\"data_offsets\":[12,20]}}", t, t);
    EXPECT_BAD(h, 20, "not contiguous"); /* gap */
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,8]},\"b\":{%s,\"data_offsets\":[4,12]}}", t, t);
    EXPECT_BAD(h, 12, "not contiguous"); /* overlap */
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,12]}}", t);
    EXPECT_BAD(h, 12, "needs 8 bytes");
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,8]}}", t);
    EXPECT_BAD(h, 4, "runs past the end");
    EXPECT_BAD(h, 9, "trailing bytes");
    snprintf(h, sizeof h, "{\"a\":{%s,\"data_offsets\":[0,8]},\"a\":{%s,\"data_offsets\":[8,16]}}", t, t);
    EXPECT_BAD(h, 16, "names 'a' twice");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
               "\"data_offsets\":[0,0]}}", 0, "shape overflows");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F64\",\"shape\":[1099511627776,1099511627776],"
               "\"data_offsets\":[0,0]}}", 0, "shape overflows");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
               "non-negative");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0,
               "non-negative");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e300,0]}}", 0,
               "data_offsets must be");
    EXPECT_BAD("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string");
    EXPECT_BAD("{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
    /* a file that does not exist */
    assert_int_equal(pn_safetensors_load("/nonexistent/x.safetensors", &sd, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.safetensors"));
}

static void test_good_crafted(void **state)
{
    (void)state;
    /* metadata only, no tensors; whitespace padding; empty tensors at any offset */
    pn_error err = {0};
    assert_int_equal(load_crafted("{\"__metadata__\":{\"a\":\"b\"}}     ", 0, &err), PN_OK);
    assert_int_equal(load_crafted("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                                  "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                                  2, &err),
                     PN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_match_torch),
        cmocka_unit_test(test_writer_exact_bytes),
        cmocka_unit_test(test_writer_order_and_roundtrip),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_good_crafted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
