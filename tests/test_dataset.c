/* Datasets (folder, zip, npz), check, loader, shuffle and patient ids.
 * Needs ../shared/data (fails loudly without it). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include <zip.h>

#include "data/npy.h"
#include "pneumo.h"

#define S PN_IMAGE_SIZE
#define ROW ((size_t)3 * S * S)

static char *path_of(const char *a, const char *b)
{
    static __thread char buf[8][4096];
    static __thread int k;
    char *p = buf[k++ % 8];
    snprintf(p, 4096, "%s/%s", a, b);
    return p;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    uint8_t *b = NULL;
    pn_error err = {0};
    if (pn_read_file(path, 1 << 28, &b, n, &err)) fail_msg("%s", err.msg);
    return b;
}

static void put(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void test_folder_shared(void **state)
{
    (void)state;
    pn_dataset *ds;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(path_of(tu_data_dir(), "chest_xray/"), &ds, &err), PN_OK);
    assert_string_equal(pn_dataset_kind(ds), "folder");
    assert_int_equal(pn_dataset_num_classes(ds), 2);
    assert_string_equal(pn_dataset_class_name(ds, 0), "NORMAL");
    assert_string_equal(pn_dataset_class_name(ds, 1), "PNEUMONIA");
    assert_null(pn_dataset_class_name(ds, 2));
    /* SOURCES.md: train 200 + 600, val 8 + 8, test 8 + 3 */
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 800);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TRAIN, 0), 200);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TRAIN, 1), 600);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_VAL), 16);
    assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TEST, 1), 3);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_ALL), 827);
    /* ImageFolder order: class then sorted file name */
    const pn_item *a = pn_dataset_item(ds, PN_SPLIT_TRAIN, 0);
    assert_non_null(strstr(a->name, "chest_xray/train/NORMAL/IM-0117-0001.jpeg"));
    assert_int_equal(a->label, 0);
    assert_int_equal(a->split, PN_SPLIT_TRAIN);
    for (size_t i = 1; i < 800; i++) {
        const pn_item *p = pn_dataset_item(ds, PN_SPLIT_TRAIN, i - 1),
                      *q = pn_dataset_item(ds, PN_SPLIT_TRAIN, i);
        assert_true(p->label < q->label || (p->label == q->label && strcmp(p->name, q->name) < 0));
        assert_int_equal(q->index, i);
    }
    assert_int_equal(pn_dataset_item(ds, PN_SPLIT_TRAIN, 200)->label, 1);
    assert_ptr_equal(pn_dataset_item(ds, PN_SPLIT_ALL, 800), pn_dataset_item(ds, PN_SPLIT_VAL, 0));
    assert_null(pn_dataset_item(ds, PN_SPLIT_TEST, 11));
    /* bytes are the file's bytes */
    uint8_t *b;
    size_t n, n2;
    assert_int_equal(pn_dataset_read(ds, a, &b, &n, &err), PN_OK);
    uint8_t *f = slurp(a->name, &n2);
    assert_int_equal(n, n2);
    assert_int_equal(a->size, n);
    assert_memory_equal(b, f, n);
    free(b);
    free(f);
    pn_dataset_free(ds);
}

/* A folder with hidden files, odd extensions and bad images. */
static const char *make_bad_folder(void)
{
    const char *t = tu_tmpdir();
    char d[4096];
    snprintf(d, sizeof d, "%s/train", t);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/train/NORMAL", t);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/train/PNEUMONIA", t);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/train/.hidden_class", t);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/test", t);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/test/NORMAL", t);
    mkdir(d, 0755);
    size_t n, njpg, npng;
    uint8_t *jpg = slurp(path_of(tu_data_dir(), "chest_xray/val/NORMAL/IM-0199-0001.jpeg"), &njpg);
    uint8_t *png = slurp(tu_fixture("image_synth/mode_RGB.png"), &npng);
    put(path_of(t, "train/NORMAL/a_good.jpeg"), jpg, njpg);
    put(path_of(t, "train/NORMAL/B_UPPER.JPG"), jpg, njpg);
    put(path_of(t, "train/NORMAL/c_png.PNG"), png, npng);
    put(path_of(t, "train/NORMAL/d_truncated.jpeg"), jpg, njpg / 3);
    put(path_of(t, "train/NORMAL/e_empty.jpeg"), "", 0);
    put(path_of(t, "train/NORMAL/f_text.png"), "hello, not a png\n", 17);
    put(path_of(t, "train/NORMAL/.DS_Store"), "x", 1);
    put(path_of(t, "train/NORMAL/._a_good.jpeg"), "x", 1);
    put(path_of(t, "train/NORMAL/notes.txt"), "x", 1);
    put(path_of(t, "train/PNEUMONIA/person1_virus_2.jpeg"), jpg, njpg);
    put(path_of(t, "train/.hidden_class/x.jpeg"), jpg, njpg);
    free(png);
    uint8_t *one = slurp(tu_fixture("image_synth/one_by_one.png"), &n);
    put(path_of(t, "test/NORMAL/tiny.png"), one, n);
    free(one);
    free(jpg);
    return t;
}

static void test_folder_rules_and_check(void **state)
{
    (void)state;
    const char *t = make_bad_folder();
    pn_dataset *ds;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(t, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_num_classes(ds), 2); /* .hidden_class ignored */
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 7);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_VAL), 0);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TEST), 1);
    /* byte order: upper case before lower case, as Python's sorted() */
    assert_non_null(strstr(pn_dataset_item(ds, PN_SPLIT_TRAIN, 0)->name, "B_UPPER.JPG"));
    assert_non_null(strstr(pn_dataset_item(ds, PN_SPLIT_TRAIN, 1)->name, "a_good.jpeg"));

    pn_bad_list bad = {0};
    assert_int_equal(pn_dataset_check(ds, PN_SPLIT_ALL, NULL, 2, &bad, &err), PN_OK);
    assert_int_equal(bad.n, 4);
    const char *want[4][2] = {{"d_truncated.jpeg", "truncated JPEG"},
                              {"e_empty.jpeg", "empty file"},
                              {"f_text.png", "not a JPEG or PNG"},
                              {"tiny.png", "below the minimum side"}};
    for (int i = 0; i < 4; i++) {
        if (!strstr(bad.v[i].item->name, want[i][0]) || !strstr(bad.v[i].reason, want[i][0]) ||
            !strstr(bad.v[i].reason, want[i][1]))
            fail_msg("bad[%d] = %s: %s; want %s: ...%s", i, bad.v[i].item->name, bad.v[i].reason,
                     want[i][0], want[i][1]);
    }
    pn_bad_list_free(&bad);

    /* loader: stops with the first bad file by default ... */
    pn_loader *l;
    float *x = malloc(sizeof(float) * ROW * 4);
    int lab[4], n;
    size_t idx[4];
    assert_int_equal(pn_loader_create(&l, ds, PN_SPLIT_TRAIN, NULL, 0, 4, 2, NULL, 0, &err), PN_OK);
    assert_int_equal(pn_loader_next(l, x, lab, idx, &n, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "d_truncated.jpeg"));
    pn_loader_free(l);
    /* ... and with skip_bad goes on without them and counts them */
    assert_int_equal(pn_loader_create(&l, ds, PN_SPLIT_TRAIN, NULL, 0, 4, 2, NULL, 1, &err), PN_OK);
    int total = 0;
    size_t got_idx[8];
    int last_label = -1;
    while (pn_loader_next(l, x, lab, idx, &n, &err) == PN_OK && n > 0) {
        for (int i = 0; i < n; i++) got_idx[total + i] = idx[i];
        total += n;
        last_label = lab[n - 1];
    }
    assert_int_equal(total, 4); /* B_UPPER, a_good, c_png, person1 */
    assert_int_equal(got_idx[0], 0);
    assert_int_equal(got_idx[2], 2);
    assert_int_equal(got_idx[3], 6);
    assert_int_equal(last_label, 1);
    assert_int_equal(pn_loader_skipped(l), 3);
    assert_non_null(strstr(pn_loader_bad(l)->v[0].reason, "d_truncated.jpeg"));
    pn_loader_free(l);
    free(x);
    pn_dataset_free(ds);

    /* unreadable, missing and empty folders */
    assert_int_equal(pn_dataset_open("/nonexistent/data", &ds, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/data"));
    char d[4096];
    snprintf(d, sizeof d, "%s/test/NORMAL", t);
    chmod(d, 0);
    if (access(d, R_OK) != 0) { /* root can still read it */
        assert_int_equal(pn_dataset_open(t, &ds, &err), PN_E_IO);
        assert_non_null(strstr(err.msg, "test/NORMAL"));
    }
    chmod(d, 0755);
    snprintf(d, sizeof d, "%s/empty", t);
    mkdir(d, 0755);
    assert_int_equal(pn_dataset_open(d, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "no class folders"));
    tu_rmtree(t);
}

static void zadd(zip_t *z, const char *name, const void *data, size_t n)
{
    zip_source_t *src = zip_source_buffer(z, data, n, 0);
    if (!src || zip_file_add(z, name, src, ZIP_FL_OVERWRITE) < 0) fail_msg("zip add %s", name);
}

static void test_zip(void **state)
{
    (void)state;
    const char *t = tu_tmpdir();
    char zpath[4096];
    snprintf(zpath, sizeof zpath, "%s/chest-xray-pneumonia.zip", t);
    size_t n1, n2;
    uint8_t *a = slurp(path_of(tu_data_dir(), "chest_xray/test/NORMAL/IM-0027-0001.jpeg"), &n1);
    uint8_t *b = slurp(path_of(tu_data_dir(), "chest_xray/test/PNEUMONIA/"
                                              "person38_virus_84.jpeg"), &n2);
    int ze;
    zip_t *z = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    assert_non_null(z);
    /* Kaggle layout: chest_xray/ + a deeper duplicate + __MACOSX */
    zadd(z, "chest_xray/train/NORMAL/IM-0027-0001.jpeg", a, n1);
    zadd(z, "chest_xray/train/PNEUMONIA/person38_virus_84.jpeg", b, n2);
    zadd(z, "chest_xray/train/PNEUMONIA/._person38_virus_84.jpeg", "x", 1);
    zadd(z, "chest_xray/test/NORMAL/IM-0027-0001.jpeg", a, n1);
    zadd(z, "chest_xray/chest_xray/train/NORMAL/IM-0027-0001.jpeg", a, n1);
    zadd(z, "__MACOSX/chest_xray/train/NORMAL/._IM-0027-0001.jpeg", "x", 1);
    zadd(z, "__MACOSX/train/NORMAL/x.jpeg", "x", 1);
    assert_int_equal(zip_close(z), 0);

    pn_dataset *ds;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(zpath, &ds, &err), PN_OK);
    assert_string_equal(pn_dataset_kind(ds), "zip");
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 2);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TEST), 1);
    const pn_item *it = pn_dataset_item(ds, PN_SPLIT_TRAIN, 1);
    assert_int_equal(it->label, 1);
    char want[8192];
    snprintf(want, sizeof want, "%s:chest_xray/train/PNEUMONIA/person38_virus_84.jpeg", zpath);
    assert_string_equal(it->name, want);
    uint8_t *got;
    size_t n;
    assert_int_equal(pn_dataset_read(ds, it, &got, &n, &err), PN_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(got, b, n);
    free(got);
    /* decodes the same as the file on disk */
    pn_image i1 = {0}, i2 = {0};
    assert_int_equal(pn_dataset_load_image(ds, it, NULL, &i1, &err), PN_OK);
    assert_int_equal(pn_image_load(path_of(tu_data_dir(), "chest_xray/test/PNEUMONIA/"
                                                          "person38_virus_84.jpeg"),
                                   NULL, &i2, &err),
                     PN_OK);
    assert_int_equal(i1.w * i1.h * i1.c, i2.w * i2.h * i2.c);
    assert_memory_equal(i1.px, i2.px, (size_t)i1.w * i1.h * i1.c);
    pn_image_free(&i1);
    pn_image_free(&i2);
    pn_dataset_free(ds);

    /* not a zip */
    put(zpath, "not a zip", 9);
    assert_int_equal(pn_dataset_open(zpath, &ds, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, zpath));
    free(a);
    free(b);
    tu_rmtree(t);
}

static void hex_sha(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    pn_sha256_buf(p, n, d);
    pn_hex(d, 32, out);
}

static void test_npz(void **state)
{
    (void)state;
    pn_dataset *ds;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(path_of(tu_data_dir(), "pneumoniamnist.npz"), &ds, &err),
                     PN_OK);
    assert_string_equal(pn_dataset_kind(ds), "npz");
    assert_string_equal(pn_dataset_class_name(ds, 1), "PNEUMONIA");
    FILE *f = fopen(tu_fixture("image_npz.tsv"), "r");
    assert_non_null(f);
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char sp[16], sha[65];
        size_t count, l0, l1, i;
        int label;
        assert_int_equal(sscanf(line, "%15s %zu %zu %zu %zu %64s %d", sp, &count, &l0, &l1, &i,
                                sha, &label),
                         7);
        pn_split s;
        assert_int_equal(pn_split_parse(sp, &s, &err), PN_OK);
        assert_int_equal(pn_dataset_count(ds, s), count);
        assert_int_equal(pn_dataset_count_class(ds, s, 0), l0);
        assert_int_equal(pn_dataset_count_class(ds, s, 1), l1);
        const pn_item *it = pn_dataset_item(ds, s, i);
        assert_int_equal(it->label, label);
        char name[64];
        snprintf(name, sizeof name, "npz:%s/%06zu", sp, i);
        assert_string_equal(it->name, name);
        uint8_t *b;
        size_t n;
        assert_int_equal(pn_dataset_read(ds, it, &b, &n, &err), PN_OK);
        assert_int_equal(n, 28 * 28);
        char got[65];
        hex_sha(b, n, got);
        assert_string_equal(got, sha);
        pn_image img = {0};
        assert_int_equal(pn_dataset_load_image(ds, it, NULL, &img, &err), PN_OK);
        assert_int_equal(img.w, 28);
        assert_int_equal(img.c, 1);
        assert_memory_equal(img.px, b, n);
        pn_image_free(&img);
        free(b);
        checked++;
    }
    fclose(f);
    assert_int_equal(checked, 12);
    pn_dataset_free(ds);
}

/* Malformed npz files: each rejected with the member named. */
static void test_npz_bad(void **state)
{
    (void)state;
    const char *t = tu_tmpdir();
    char zpath[4096];
    snprintf(zpath, sizeof zpath, "%s/bad.npz", t);
    static uint8_t img[10 + 118 + 2 * 4 * 4];
    static uint8_t lab[10 + 118 + 3];
    struct {
        const char *ihdr, *lhdr;
        size_t idata, ldata;
        const char *want;
    } cases[] = {
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 32, 2, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 32, 2, "dtype"},
        {"{'descr': '|u1', 'fortran_order': True, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 32, 2, "Fortran"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 31, 2, "data is 31"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1), }", 32, 3, "3 labels"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, x, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 32, 2, "shape"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4), }",
         "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", 32, 2, "out of range"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* npy 1.0: magic, version, u16 header length, header padded to 128 total */
        size_t off = 10 + 118;
        memset(img, 0, sizeof img);
        memcpy(img, "\x93NUMPY\x01\x00", 8);
        img[8] = 118;
        memset(img + 10, ' ', 118);
        memcpy(img + 10, cases[c].ihdr, strlen(cases[c].ihdr));
        img[off - 1] = '\n';
        memcpy(lab, img, 10);
        memset(lab + 10, ' ', 118);
        memcpy(lab + 10, cases[c].lhdr, strlen(cases[c].lhdr));
        lab[off - 1] = '\n';
        lab[off] = 0;
        lab[off + 2] = 0;
        lab[off + 1] = strstr(cases[c].want ? cases[c].want : "", "range") ? 9 : 1;
        int ze;
        zip_t *z = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &ze);
        zadd(z, "train_images.npy", img, off + cases[c].idata);
        zadd(z, "train_labels.npy", lab, off + cases[c].ldata);
        assert_int_equal(zip_close(z), 0);
        pn_dataset *ds = NULL;
        pn_error err = {0};
        pn_status st = pn_dataset_open(zpath, &ds, &err);
        if (!cases[c].want) {
            if (st) fail_msg("case %zu: %s", c, err.msg);
            assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 2);
            assert_int_equal(pn_dataset_count_class(ds, PN_SPLIT_TRAIN, 1), 1);
            pn_dataset_free(ds);
        } else if (st == PN_OK || !strstr(err.msg, cases[c].want) || !strstr(err.msg, ".npy")) {
            fail_msg("case %zu: status %d '%s', want '%s'", c, st, err.msg, cases[c].want);
        }
    }
    tu_rmtree(t);
}

/* The .npy fuzz corpus (fuzz/corpus/npy, incl. past crashes) parses or fails
 * cleanly; under make asan this catches out-of-bounds reads. */
static void test_npy_corpus(void **state)
{
    (void)state;
    const char *names[] = {"u8_3d.npy", "labels.npy", "i8.npy", "crash-dtype-at-end.npy"};
    for (int i = 0; i < 4; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/fuzz/corpus/npy/%s", tu_root(), names[i]);
        size_t n;
        uint8_t *b = slurp(path, &n);
        pn_npy a;
        pn_error err = {0};
        pn_status st = pn__npy_parse(b, n, names[i], &a, &err);
        if (i < 3) {
            assert_int_equal(st, PN_OK);
            assert_int_equal(a.numel, i == 0 ? 32 : i == 1 ? 2 : 3);
            assert_int_equal(a.elem, i == 2 ? 8 : 1);
        } else {
            assert_int_not_equal(st, PN_OK);
            assert_non_null(strstr(err.msg, names[i]));
        }
        /* every prefix is rejected (or, for the full length, accepted) cleanly */
        for (size_t k = 0; k < n; k++) {
            uint8_t *c = malloc(k ? k : 1);
            memcpy(c, b, k);
            assert_int_not_equal(pn__npy_parse(c, k, names[i], &a, &err), PN_OK);
            free(c);
        }
        free(b);
    }
}

/* Same batches whatever the thread count; rows equal pn_preprocess. */
static void test_loader_deterministic(void **state)
{
    (void)state;
    pn_dataset *ds;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(path_of(tu_data_dir(), "chest_xray"), &ds, &err), PN_OK);
    size_t nval = pn_dataset_count(ds, PN_SPLIT_VAL);
    size_t order[16];
    /* a shuffled order, from the one RNG (PyTorch's randperm) */
    int64_t perm[16];
    pn_rng g;
    pn_rng_seed(&g, 42);
    assert_true(nval <= 16);
    pn_rng_randperm(&g, nval, perm);
    for (size_t i = 0; i < nval; i++) order[i] = (size_t)perm[i];
    char ref[65] = "";
    float *x = malloc(sizeof(float) * ROW * 5);
    for (int threads = 1; threads <= 3; threads++) {
        pn_loader *l;
        assert_int_equal(
            pn_loader_create(&l, ds, PN_SPLIT_VAL, order, 11, 5, threads, NULL, 0, &err), PN_OK);
        pn_sha256 h;
        assert_int_equal(pn_sha256_init(&h, &err), PN_OK);
        int n, lab[5], batches = 0;
        size_t idx[5], seen = 0;
        while (pn_loader_next(l, x, lab, idx, &n, &err) == PN_OK && n > 0) {
            pn_sha256_update(&h, x, sizeof(float) * ROW * (size_t)n);
            pn_sha256_update(&h, lab, sizeof(int) * (size_t)n);
            for (int i = 0; i < n; i++) assert_int_equal(idx[i], order[seen + (size_t)i]);
            if (threads == 1 && batches == 1) { /* row 2 of batch 1 = order[7] */
                pn_image img = {0};
                float *y = malloc(sizeof(float) * ROW);
                const pn_item *it = pn_dataset_item(ds, PN_SPLIT_VAL, order[7]);
                assert_int_equal(lab[2], it->label);
                assert_int_equal(pn_dataset_load_image(ds, it, NULL, &img, &err), PN_OK);
                assert_int_equal(pn_preprocess(&img, S, y, NULL, NULL, &err), PN_OK);
                assert_memory_equal(x + 2 * ROW, y, sizeof(float) * ROW);
                pn_image_free(&img);
                free(y);
            }
            seen += (size_t)n;
            batches++;
        }
        assert_int_equal(seen, 11);
        assert_int_equal(batches, 3); /* 5 + 5 + 1 */
        assert_int_equal(pn_loader_next(l, x, lab, idx, &n, &err), PN_OK);
        assert_int_equal(n, 0);
        uint8_t d[32];
        char hex[65];
        pn_sha256_final(&h, d);
        pn_hex(d, 32, hex);
        if (threads == 1) strcpy(ref, hex);
        else assert_string_equal(hex, ref);
        pn_loader_free(l);
    }
    /* free mid-epoch, bad arguments */
    pn_loader *l;
    assert_int_equal(pn_loader_create(&l, ds, PN_SPLIT_TRAIN, NULL, 0, 4, 2, NULL, 0, &err), PN_OK);
    int n;
    assert_int_equal(pn_loader_next(l, x, NULL, NULL, &n, &err), PN_OK);
    assert_int_equal(n, 4);
    pn_loader_free(l);
    size_t badorder[1] = {99};
    assert_int_equal(pn_loader_create(&l, ds, PN_SPLIT_VAL, badorder, 1, 4, 1, NULL, 0, &err),
                     PN_E_ARG);
    assert_int_equal(pn_loader_create(&l, ds, PN_SPLIT_VAL, NULL, 0, 0, 1, NULL, 0, &err),
                     PN_E_ARG);
    free(x);
    pn_dataset_free(ds);
}

/* pn_list_images: recursive, sorted per folder, hidden entries and
 * non-images skipped, link loops entered once, unreadable folders reported. */
static void test_list_images(void **state)
{
    (void)state;
    char root[] = "/tmp/pneumo-list-XXXXXX", p[512];
    assert_non_null(mkdtemp(root));
    const char *files[] = {"b/2.PNG", "b/1.jpeg", "a/x.jpg", "a/.hidden.jpg", "a/notes.txt",
                           ".dot/y.jpg", "top.jpeg", "a/deep/z.Jpg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        char dir[512];
        snprintf(dir, sizeof dir, "%s", p);
        *strrchr(dir, '/') = '\0';
        assert_int_equal(pn_mkdirs(dir, NULL), PN_OK);
        assert_int_equal(pn_write_file_atomic(p, "x", 1, NULL), PN_OK);
    }
    snprintf(p, sizeof p, "%s/a/deep/loop", root); /* a link back up: a loop */
    assert_int_equal(symlink(root, p), 0);
    snprintf(p, sizeof p, "%s/locked", root);
    assert_int_equal(mkdir(p, 0), 0);
    pn_path_list l = {0};
    pn_bad_list bad = {0};
    size_t unreadable = 0;
    pn_error err = {0};
    assert_int_equal(pn_list_images(root, &l, &bad, &unreadable, &err), PN_OK);
    const char *want[] = {"a/deep/z.Jpg", "a/x.jpg", "b/1.jpeg", "b/2.PNG", "top.jpeg"};
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, want[i]);
        assert_string_equal(l.v[i], p);
    }
    if (geteuid() != 0) { /* root reads a mode-0 folder */
        assert_int_equal(unreadable, 1);
        assert_int_equal(bad.n, 1);
        assert_null(bad.v[0].item);
        assert_non_null(strstr(bad.v[0].reason, "locked: cannot open folder"));
    }
    pn_path_list_free(&l);
    pn_bad_list_free(&bad);
    assert_true(pn_is_image_name("dir/a.JPEG"));
    assert_false(pn_is_image_name("dir/.a.jpg"));
    /* formats pneumo does not read are listed, to be reported by name and format */
    assert_true(pn_is_image_name("a.gif"));
    assert_false(pn_is_image_name("dir/notes.txt"));
    assert_false(pn_is_image_name("jpg"));
    snprintf(p, sizeof p, "%s/locked", root);
    assert_int_equal(chmod(p, 0755), 0);
    snprintf(p, sizeof p, "rm -rf '%s'", root);
    assert_int_equal(system(p), 0);
}

static void test_patient_id(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(pn_patient_id("/d/train/PNEUMONIA/person1234_bacteria_5678.jpeg", id, 64), 1);
    assert_string_equal(id, "person1234");
    assert_int_equal(pn_patient_id("person38_virus_84.jpeg", id, 64), 1);
    assert_string_equal(id, "person38");
    assert_int_equal(pn_patient_id("IM-0117-0001.jpeg", id, 64), 1);
    assert_string_equal(id, "IM-0117");
    assert_int_equal(pn_patient_id("x.zip:chest_xray/test/NORMAL/NORMAL2-IM-0246-0001-0002.jpeg",
                                   id, 64),
                     1);
    assert_string_equal(id, "NORMAL2-IM-0246");
    assert_int_equal(pn_patient_id("personX_virus.jpeg", id, 64), 0);
    assert_string_equal(id, "personX_virus");
    assert_int_equal(pn_patient_id("npz:train/000123", id, 64), 0);
    assert_string_equal(id, "000123");
    assert_int_equal(pn_patient_id("IM-0117-0001.jpeg", id, 4), 1);
    assert_string_equal(id, "IM-");
}

static void test_split_names(void **state)
{
    (void)state;
    pn_split s;
    pn_error err = {0};
    assert_int_equal(pn_split_parse("val", &s, &err), PN_OK);
    assert_int_equal(s, PN_SPLIT_VAL);
    assert_int_equal(pn_split_parse("validation", &s, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "validation"));
    assert_string_equal(pn_split_name(PN_SPLIT_ALL), "all");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_shared),    cmocka_unit_test(test_folder_rules_and_check),
        cmocka_unit_test(test_zip),              cmocka_unit_test(test_npz),
        cmocka_unit_test(test_npz_bad),          cmocka_unit_test(test_npy_corpus),
        cmocka_unit_test(test_loader_deterministic),
        cmocka_unit_test(test_list_images), cmocka_unit_test(test_patient_id),
        cmocka_unit_test(test_split_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
