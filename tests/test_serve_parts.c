/* The request parsing and encoding pieces of pneumo serve: the file part of
 * multipart/form-data bodies (boundaries quoted or not, preamble, several
 * parts, the choice of part, truncated and malformed bodies), base64 and the
 * in-memory PNG (decoded back by pneumo's own decoder); the fuzz corpus
 * fuzz/corpus/multipart replayed as fuzz/fuzz_multipart.c does. The server itself is tested by tests/test_serve.sh. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/image.h"
#include "pneumo/util.h"
#include "serve/serve.h"
#include "testutil.h"

static pn_status mp(const char *body, const char *ct, const char **part, size_t *n, char *type)
{
    pn_error err = {0};
    const uint8_t *p = NULL;
    pn_status st = pn__multipart_file((const uint8_t *)body, strlen(body), ct, &p, n, type, 64, &err);
    *part = (const char *)p;
    if (st) print_message("multipart: %s\n", err.msg);
    return st;
}

static void test_multipart(void **state)
{
    (void)state;
    const char *part;
    size_t n;
    char type[64];
    /* a text field, then the file */
    const char *b1 = "--AaB03x\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
                     "--AaB03x\r\nContent-Disposition: form-data; name=\"x\"; filename=\"a.png\"\r\n"
                     "Content-Type: image/png\r\n\r\nPNGDATA\r\n--AaB03x--\r\n";
    assert_int_equal(mp(b1, "multipart/form-data; boundary=AaB03x", &part, &n, type), PN_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(part, "PNGDATA", 7);
    assert_string_equal(type, "image/png");
    /* quoted boundary, a preamble, the part named "image" without filename */
    const char *b2 = "preamble\r\n--b q\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nzz\r\n"
                     "--b q\r\ncontent-disposition: form-data; name=\"image\"\r\n\r\nJ\r\nPG\r\n--b q--";
    assert_int_equal(mp(b2, "multipart/form-data; charset=x; boundary=\"b q\"", &part, &n, type), PN_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(part, "J\r\nPG", 5);
    assert_string_equal(type, "");
    /* a single unnamed part */
    const char *b3 = "--z\r\n\r\nDATA\r\n--z--\r\n";
    assert_int_equal(mp(b3, "multipart/form-data; boundary=z", &part, &n, type), PN_OK);
    assert_int_equal(n, 4);
    /* no headers, data holding a blank line */
    const char *b4 = "--z\r\n\r\nDA\r\n\r\nTA\r\n--z--\r\n";
    assert_int_equal(mp(b4, "multipart/form-data; boundary=z", &part, &n, type), PN_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(part, "DA\r\n\r\nTA", 8);
    /* errors */
    assert_int_equal(mp(b1, "multipart/form-data", &part, &n, type), PN_E_FORMAT);  /* no boundary */
    assert_int_equal(mp(b1, "multipart/form-data; boundary=", &part, &n, type), PN_E_FORMAT);
    assert_int_equal(mp(b1, "multipart/form-data; boundary=other", &part, &n, type), PN_E_FORMAT);
    char trunc[256];
    snprintf(trunc, sizeof trunc, "%.*s", (int)(strlen(b1) - 15), b1); /* closing line cut */
    assert_int_equal(mp(trunc, "multipart/form-data; boundary=AaB03x", &part, &n, type), PN_E_FORMAT);
    snprintf(trunc, sizeof trunc, "%.60s", b1); /* inside the first part's headers */
    assert_int_equal(mp(trunc, "multipart/form-data; boundary=AaB03x", &part, &n, type), PN_E_FORMAT);
    const char *two = "--z\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                      "--z\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n--z--";
    assert_int_equal(mp(two, "multipart/form-data; boundary=z", &part, &n, type), PN_E_FORMAT);
    assert_int_equal(mp("", "multipart/form-data; boundary=z", &part, &n, type), PN_E_FORMAT);
    char longb[120] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 75);
    assert_int_equal(mp(b3, longb, &part, &n, type), PN_E_FORMAT); /* over 70 characters */
}

static void test_base64(void **state)
{
    (void)state;
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int k = 0; k <= 6; k++) {
        char *s = pn_base64((const uint8_t *)"foobar", (size_t)k);
        assert_non_null(s);
        assert_string_equal(s, want[k]);
        free(s);
    }
    uint8_t all[3] = {0xff, 0xfe, 0x00};
    char *s = pn_base64(all, 3);
    assert_string_equal(s, "//4A");
    free(s);
}

/* each corpus file: first line the Content-Type, then the body; parses or
 * fails cleanly, a part found lies inside the body */
static void test_multipart_corpus(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/multipart", tu_root());
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *buf;
        size_t n;
        pn_error err = {0};
        assert_int_equal(pn_read_file(path, 1 << 20, &buf, &n, &err), PN_OK);
        uint8_t *nl = memchr(buf, '\n', n);
        assert_non_null(nl);
        *nl = 0;
        const uint8_t *body = nl + 1, *part;
        size_t bn = n - (size_t)(body - buf), pn;
        char type[64];
        if (pn__multipart_file(body, bn, (const char *)buf, &part, &pn, type, sizeof type, &err) == PN_OK)
            assert_true(part >= body && part + pn <= body + bn);
        free(buf);
        files++;
    }
    closedir(d);
    assert_true(files >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_multipart_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
