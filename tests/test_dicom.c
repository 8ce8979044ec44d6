/* DICOM: the 67 files of ../shared/data/chest_xray_dicom render to exactly
 * the bytes of their expected/ PNGs (the rule of its README), their
 * 224x224 network input equals that of the expected PNG (the PNG goes
 * through the Pillow-exact pipeline tested in test_image.c), the bad files
 * of chest_xray_dicom_bad give their MANIFEST outcome with the file name in
 * the message, a 30,000 x 30,000 header is refused before allocating,
 * recognition is by content (no .dcm name needed), and the DICOM ids. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "data/dicom_internal.h"
#include "pneumo.h"

#define S PN_IMAGE_SIZE

/* Each row of MANIFEST.tsv: the file (relative). */
static int manifest_files(const char *dir, char files[][160], int max)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (!strncmp(line, "file\t", 5)) continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        snprintf(files[n++], 160, "%.159s", line);
    }
    fclose(f);
    return n;
}

static void test_render_expected(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%.560s/chest_xray_dicom", tu_data_dir());
    static char files[100][160];
    int n = manifest_files(dir, files, 100);
    assert_int_equal(n, 67);
    pn_image got = {0}, want = {0};
    pn_prep_scratch s1 = {0}, s2 = {0};
    float *x1 = malloc(sizeof(float) * 3 * S * S), *x2 = malloc(sizeof(float) * 3 * S * S);
    uint8_t *r1 = malloc(S * S * 3), *r2 = malloc(S * S * 3);
    pn_decode_opts o = {.min_side = 1};
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char dcm[1400], png[1400];
        snprintf(dcm, sizeof dcm, "%s/%.159s", dir, files[i]);
        snprintf(png, sizeof png, "%s/expected/%.159s", dir, files[i]);
        strcpy(png + strlen(png) - 4, ".png");
        pn_error err = {0};
        if (pn_image_load(dcm, &o, &got, &err)) {
            print_error("%s: %s\n", files[i], err.msg);
            bad++;
            continue;
        }
        assert_int_equal(pn_image_load(png, &o, &want, &err), PN_OK);
        assert_int_equal(want.c, 1);
        if (got.c != 1 || got.w != want.w || got.h != want.h) {
            print_error("%s: %dx%dx%d, want %dx%dx1\n", files[i], got.w, got.h, got.c, want.w,
                        want.h);
            bad++;
            continue;
        }
        size_t np = (size_t)got.w * got.h, ndiff = 0;
        int maxd = 0;
        for (size_t k = 0; k < np; k++) {
            int d = abs((int)got.px[k] - (int)want.px[k]);
            ndiff += d != 0;
            if (d > maxd) maxd = d;
        }
        if (ndiff) {
            print_error("%s: %zu of %zu pixels differ (max %d)\n", files[i], ndiff, np, maxd);
            bad++;
            continue;
        }
        /* the network input: the same as the expected PNG's */
        assert_int_equal(pn_preprocess(&got, S, x1, r1, &s1, &err), PN_OK);
        assert_int_equal(pn_preprocess(&want, S, x2, r2, &s2, &err), PN_OK);
        if (memcmp(x1, x2, sizeof(float) * 3 * S * S) || memcmp(r1, r2, S * S * 3)) {
            print_error("%s: 224x224 input differs from the expected PNG's\n", files[i]);
            bad++;
        }
    }
    pn_image_free(&got);
    pn_image_free(&want);
    pn_prep_scratch_free(&s1);
    pn_prep_scratch_free(&s2);
    free(x1);
    free(x2);
    free(r1);
    free(r2);
    assert_int_equal(bad, 0);
}

static void hex_sha(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    pn_sha256_buf(p, n, d);
    pn_hex(d, 32, out);
}

/* tests/fixtures/dicom_expected.tsv (tests/pytorch/make_dicom_fixtures.py:
 * pydicom's rendering, then Pillow + torchvision): the rendering and the
 * u8 / f32 network input of each file, by SHA-256. */
static void test_pydicom_fixture(void **state)
{
    (void)state;
    FILE *f = fopen(tu_fixture("dicom_expected.tsv"), "r");
    assert_non_null(f);
    char line[1024], rel[400], w_r[65], w_u8[65], w_f32[65], got[65], path[1024];
    int w, h, n = 0, bad = 0;
    pn_image img = {0};
    pn_prep_scratch scr = {0};
    uint8_t *u8 = malloc(S * S * 3);
    float *f32 = malloc(sizeof(float) * 3 * S * S);
    pn_decode_opts o = {.min_side = 1};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        assert_int_equal(
            sscanf(line, "%399s %d %d %64s %64s %64s", rel, &w, &h, w_r, w_u8, w_f32), 6);
        snprintf(path, sizeof path, "%s/%s", tu_data_dir(), rel);
        pn_error err = {0};
        n++;
        if (pn_image_load(path, &o, &img, &err)) {
            print_error("%s: %s\n", rel, err.msg);
            bad++;
            continue;
        }
        assert_int_equal(img.w, w);
        assert_int_equal(img.h, h);
        hex_sha(img.px, (size_t)w * h, got);
        if (strcmp(got, w_r)) {
            print_error("%s: rendering differs from pydicom's\n", rel);
            bad++;
        }
        assert_int_equal(pn_preprocess(&img, S, f32, u8, &scr, &err), PN_OK);
        hex_sha(u8, S * S * 3, got);
        if (strcmp(got, w_u8)) {
            print_error("%s: u8 input differs from Pillow's\n", rel);
            bad++;
        }
        hex_sha(f32, sizeof(float) * 3 * S * S, got);
        if (strcmp(got, w_f32)) {
            print_error("%s: f32 input differs from torchvision's\n", rel);
            bad++;
        }
    }
    fclose(f);
    pn_image_free(&img);
    pn_prep_scratch_free(&scr);
    free(u8);
    free(f32);
    assert_int_equal(n, 68);
    assert_int_equal(bad, 0);
}

/* The bad files: each file's MANIFEST outcome. multiframe.dcm is
 * "reject or frame 1": pneumo rejects it. no_preamble.dcm decodes to its
 * expected PNG. */
static void test_bad_files(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%.560s/chest_xray_dicom_bad", tu_data_dir());
    static const struct {
        const char *file;
        const char *want; /* substring of the message; NULL = decodes */
    } cases[] = {
        {"truncated_pixeldata.dcm", "truncated"},
        {"missing_pixeldata.dcm", "no Pixel Data"},
        {"rows_columns_mismatch.dcm", "Rows/Columns wrong"},
        {"rows_columns_mismatch_jpegls.dcm", "codestream is 196x464"},
        {"truncated_jpegls.dcm", "DICOM"},
        {"multiframe.dcm", "multi-frame"},
        {"rgb_ultrasound.dcm", "not a grayscale radiograph"},
        {"not_dicom.dcm", "not a DICOM file"}, /* a JPEG named .dcm */
        {"empty.dcm", "empty file"},
        {"truncated_header.dcm", "DICOM file is truncated"},
        {"no_preamble.dcm", NULL},
    };
    static char files[20][160];
    assert_int_equal(manifest_files(dir, files, 20), 11);
    pn_image img = {0}, want = {0};
    pn_decode_opts o = {.min_side = 1};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, cases[i].file);
        pn_error err = {0};
        pn_status st = pn_image_load(p, &o, &img, &err);
        if (!cases[i].want) {
            if (st) fail_msg("%s: %s", cases[i].file, err.msg);
            continue;
        }
        if (st == PN_OK) fail_msg("%s: decoded, want an error", cases[i].file);
        if (!strstr(err.msg, cases[i].file) || !strstr(err.msg, cases[i].want))
            fail_msg("%s: message '%s' lacks the file name or '%s'", cases[i].file, err.msg,
                     cases[i].want);
        assert_int_equal(img.w, 0);
        print_message("  %s -> %s\n", cases[i].file, err.msg);
    }
    /* no_preamble renders to its expected PNG */
    pn_error err = {0};
    char p[1400], q[1400];
    snprintf(p, sizeof p, "%s/no_preamble.dcm", dir);
    snprintf(q, sizeof q, "%s/expected/no_preamble.png", dir);
    assert_int_equal(pn_image_load(p, &o, &img, &err), PN_OK);
    assert_int_equal(pn_image_load(q, &o, &want, &err), PN_OK);
    assert_int_equal(img.w, want.w);
    assert_int_equal(img.h, want.h);
    assert_memory_equal(img.px, want.px, (size_t)img.w * img.h);
    /* the JPEG of not_dicom.dcm decodes under another name (by content) */
    uint8_t *b = NULL;
    size_t nb = 0;
    snprintf(p, sizeof p, "%s/not_dicom.dcm", dir);
    assert_int_equal(pn_read_file(p, 1 << 24, &b, &nb, &err), PN_OK);
    assert_int_equal(pn_image_decode(b, nb, "renamed.jpeg", &o, &img, &err), PN_OK);
    assert_int_equal(img.c, 1);
    free(b);
    pn_image_free(&img);
    pn_image_free(&want);
}

/* Little-endian Explicit VR writer for made-up headers. */
typedef struct wbuf {
    uint8_t b[16384];
    size_t n;
} wbuf;
static void put(wbuf *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void el16(wbuf *w, uint16_t g, uint16_t e, const char *vr, const void *val, uint16_t len)
{
    uint8_t h[8] = {g & 0xFF, g >> 8, e & 0xFF, e >> 8, (uint8_t)vr[0], (uint8_t)vr[1],
                    len & 0xFF, len >> 8};
    put(w, h, 8);
    put(w, val, len);
}
static void el_us(wbuf *w, uint16_t e, uint16_t v)
{
    uint8_t b[2] = {v & 0xFF, v >> 8};
    el16(w, 0x0028, e, "US", b, 2);
}
static void el_str(wbuf *w, uint16_t g, uint16_t e, const char *vr, const char *s)
{
    char b[80];
    size_t n = strlen(s);
    memcpy(b, s, n);
    if (n & 1) b[n++] = ' ';
    el16(w, g, e, vr, b, (uint16_t)n);
}

/* A made-up native 16-bit MONOCHROME2 file (Explicit VR LE, preamble +
 * DICM), rows x cols, with `px_bytes` bytes of pixel data announced. */
static size_t make_dicom(wbuf *w, uint16_t rows, uint16_t cols, uint32_t px_bytes,
                         const uint16_t *px, size_t npx)
{
    memset(w, 0, sizeof *w);
    w->n = 128;
    put(w, "DICM", 4);
    const char *ts = "1.2.840.10008.1.2.1";
    el_str(w, 0x0002, 0x0010, "UI", ts);
    el_str(w, 0x0008, 0x0018, "UI", "2.25.1234");
    el_str(w, 0x0010, 0x0020, "LO", "PAT-7");
    el_us(w, 0x0002, 1);
    el_str(w, 0x0028, 0x0004, "CS", "MONOCHROME2");
    el_us(w, 0x0010, rows);
    el_us(w, 0x0011, cols);
    el_us(w, 0x0100, 16);
    el_us(w, 0x0101, 12);
    el_us(w, 0x0102, 11);
    el_us(w, 0x0103, 0);
    uint8_t h[12] = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0, px_bytes & 0xFF,
                     (px_bytes >> 8) & 0xFF, (px_bytes >> 16) & 0xFF, px_bytes >> 24};
    put(w, h, 12);
    put(w, px, npx * 2);
    return w->n;
}

static void test_made_up(void **state)
{
    (void)state;
    static wbuf w;
    pn_image img = {0};
    pn_error err = {0};
    /* 30,000 x 30,000: refused from the header, nothing allocated */
    uint16_t px[64 * 64];
    for (int i = 0; i < 64 * 64; i++) px[i] = (uint16_t)(i % 4096);
    size_t n = make_dicom(&w, 30000, 30000, 30000u * 30000u * 2u, px, 16);
    assert_int_equal(pn_image_decode(w.b, n, "huge.dcm", NULL, &img, &err), PN_E_NOMEM);
    assert_non_null(strstr(err.msg, "huge.dcm"));
    assert_non_null(strstr(err.msg, "30000x30000"));
    assert_null(img.px);
    /* a 64x64 12-bit image, min-max: value 4095 -> 255, 0 -> 0 */
    n = make_dicom(&w, 64, 64, 64 * 64 * 2, px, 64 * 64);
    assert_int_equal(pn_image_decode(w.b, n, "small", NULL, &img, &err), PN_OK);
    assert_int_equal(img.w, 64);
    assert_int_equal(img.c, 1);
    assert_int_equal(img.px[0], 0);
    assert_int_equal(img.px[4095], 255);
    assert_int_equal(img.px[2048], 2048 * 255 / 4095);
    /* without the preamble and DICM (data set only) it is still DICOM */
    static wbuf w2;
    size_t meta_end = 128 + 4 + 8 + 20; /* DICM + the TransferSyntaxUID element */
    memcpy(w2.b, w.b + meta_end, n - meta_end);
    assert_int_equal(pn__dicom_sniff(w2.b, n - meta_end), 1);
    /* an extension-less DICOM in a folder dataset: found, decoded, its ids */
    char dir[600], path[700], pat[72];
    snprintf(dir, sizeof dir, "%.590s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/NORMAL", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/NORMAL/IM000001", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(w.b, 1, n, f);
    fclose(f);
    pn_dataset *ds = NULL;
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 1);
    const pn_item *it = pn_dataset_item(ds, PN_SPLIT_TRAIN, 0);
    assert_string_equal(it->patient_id, "PAT-7");
    assert_string_equal(it->sop_uid, "2.25.1234");
    assert_int_equal(pn_item_patient(it, pat, sizeof pat), 1);
    assert_string_equal(pat, "PAT-7");
    assert_int_equal(pn_dataset_load_image(ds, it, NULL, &img, &err), PN_OK);
    assert_int_equal(img.w, 64);
    pn_dataset_free(ds);
    tu_rmtree(dir);
    pn_image_free(&img);
}

/* PatientID / SOPInstanceUID of every item of the DICOM tree: the
 * MANIFEST's patient_id, a 2.25 UID; JPEG items have none. */
static void test_dataset_ids(void **state)
{
    (void)state;
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%.560s/chest_xray_dicom", tu_data_dir());
    snprintf(p, sizeof p, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    pn_dataset *ds = NULL;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_ALL), 67);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char file[200], split[16], label[32], pid[80], item_path[900], got[80];
        if (sscanf(line, "%199s %15s %31s %79s", file, split, label, pid) != 4 ||
            !strcmp(file, "file"))
            continue;
        snprintf(item_path, sizeof item_path, "%s/%s", dir, file);
        const pn_item *it = NULL;
        for (size_t i = 0; i < pn_dataset_count(ds, PN_SPLIT_ALL) && !it; i++) {
            const pn_item *x = pn_dataset_item(ds, PN_SPLIT_ALL, i);
            if (!strcmp(x->name, item_path)) it = x;
        }
        assert_non_null(it);
        assert_non_null(it->patient_id);
        assert_string_equal(it->patient_id, pid);
        assert_non_null(it->sop_uid);
        assert_memory_equal(it->sop_uid, "2.25.", 5);
        assert_int_equal(pn_item_patient(it, got, sizeof got), 1);
        assert_string_equal(got, pid);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 67);
    pn_dataset_free(ds);
    /* a folder of the bad files opens (their headers are walked before
     * GDCM sees them), and the check lists all but no_preamble.dcm */
    char tmp[600], cls[700], src[900], dst[900];
    snprintf(tmp, sizeof tmp, "%.590s", tu_tmpdir());
    snprintf(cls, sizeof cls, "%s/X", tmp);
    assert_int_equal(mkdir(cls, 0755), 0);
    static char files[20][160];
    snprintf(dir, sizeof dir, "%.560s/chest_xray_dicom_bad", tu_data_dir());
    int nb = manifest_files(dir, files, 20);
    for (int i = 0; i < nb; i++) {
        snprintf(src, sizeof src, "%s/%.159s", dir, files[i]);
        snprintf(dst, sizeof dst, "%s/%.159s", cls, files[i]);
        char *abs = realpath(src, NULL);
        assert_non_null(abs);
        assert_int_equal(symlink(abs, dst), 0);
        free(abs);
    }
    assert_int_equal(pn_dataset_open(tmp, &ds, &err), PN_OK);
    assert_int_equal(pn_dataset_count(ds, PN_SPLIT_TRAIN), 11);
    pn_bad_list bad = {0};
    pn_decode_opts o = {.min_side = 1};
    assert_int_equal(pn_dataset_check(ds, PN_SPLIT_TRAIN, &o, 2, &bad, &err), PN_OK);
    assert_int_equal(bad.n, 10);
    for (size_t i = 0; i < bad.n; i++) assert_null(strstr(bad.v[i].item->name, "no_preamble"));
    pn_bad_list_free(&bad);
    pn_dataset_free(ds);
    tu_rmtree(tmp);
    snprintf(dir, sizeof dir, "%.560s/chest_xray/test", tu_data_dir());
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    const pn_item *it = pn_dataset_item(ds, PN_SPLIT_TRAIN, 0);
    assert_null(it->patient_id);
    assert_null(it->sop_uid);
    pn_dataset_free(ds);
}

/* pn_image carries a decoded DICOM's PatientID and SOPInstanceUID (what
 * predict reports): those of MANIFEST.tsv and the dataset item for three
 * transfer syntaxes; "" for a JPEG, and reset when the image is reused. */
static void test_image_ids(void **state)
{
    (void)state;
    static const char *files[3][2] = {{"test/NORMAL/IM-0027-0001.dcm", "IM-0027"},
                                      {"test/NORMAL/NORMAL2-IM-0058-0001.dcm", "NORMAL2-IM-0058"},
                                      {"train/PNEUMONIA/person1497_bacteria_3912.dcm", "person1497"}};
    char dir[700], p[900];
    snprintf(dir, sizeof dir, "%.600s/chest_xray_dicom", tu_data_dir());
    pn_dataset *ds = NULL;
    pn_error err = {0};
    assert_int_equal(pn_dataset_open(dir, &ds, &err), PN_OK);
    pn_image img = {0};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[k][0]);
        assert_int_equal(pn_image_load(p, NULL, &img, &err), PN_OK);
        assert_string_equal(img.patient_id, files[k][1]);
        assert_memory_equal(img.sop_uid, "2.25.", 5);
        const pn_item *it = NULL;
        for (size_t i = 0; i < pn_dataset_count(ds, PN_SPLIT_ALL) && !it; i++)
            if (!strcmp(pn_dataset_item(ds, PN_SPLIT_ALL, i)->name, p))
                it = pn_dataset_item(ds, PN_SPLIT_ALL, i);
        assert_non_null(it);
        assert_string_equal(img.sop_uid, it->sop_uid);
    }
    snprintf(p, sizeof p, "%.600s/chest_xray/test/NORMAL/IM-0027-0001.jpeg", tu_data_dir());
    assert_int_equal(pn_image_load(p, NULL, &img, &err), PN_OK);
    assert_string_equal(img.patient_id, "");
    assert_string_equal(img.sop_uid, "");
    pn_image_free(&img);
    pn_dataset_free(ds);
}

/* The image fuzz corpus (fuzz/corpus/image: seeds, and the DICOM inputs
 * that once made GDCM abort or allocate gigabytes): each decodes or fails
 * with a message naming it, in this process. */
static void test_fuzz_corpus(void **state)
{
    (void)state;
    char dir[700];
    snprintf(dir, sizeof dir, "%.600s/fuzz/corpus/image", tu_root());
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0, dcm = 0;
    pn_image img = {0};
    pn_decode_opts o = {.max_pixels = 4 << 20, .min_side = 1};
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1000];
        snprintf(p, sizeof p, "%s/%.255s", dir, e->d_name);
        uint8_t *b = NULL;
        size_t nb = 0;
        pn_error err = {0};
        assert_int_equal(pn_read_file(p, 1 << 24, &b, &nb, &err), PN_OK);
        if (pn_image_decode(b, nb, "fuzz", &o, &img, &err))
            assert_non_null(strstr(err.msg, "fuzz"));
        free(b);
        n++;
        dcm += !strncmp(e->d_name, "dicom_", 6);
    }
    closedir(d);
    pn_image_free(&img);
    assert_true(n >= 8);
    assert_true(dcm >= 4);
}

/* A file of fuzz/corpus/<target>/ decoded as the fuzz target does (the dicom
 * target's inputs get the preamble and DICM); the status, the message. */
static pn_status decode_corpus_file(const char *target, const char *file, int add_preamble,
                                    pn_error *err)
{
    char p[1000];
    snprintf(p, sizeof p, "%.600s/fuzz/corpus/%s/%s", tu_root(), target, file);
    uint8_t *b = NULL;
    size_t nb = 0;
    assert_int_equal(pn_read_file(p, 1 << 24, &b, &nb, err), PN_OK);
    uint8_t *c = b;
    size_t nc = nb;
    if (add_preamble) {
        c = calloc(nb + 132, 1);
        assert_non_null(c);
        memcpy(c + 128, "DICM", 4);
        memcpy(c + 132, b, nb);
        nc = nb + 132;
    }
    pn_image img = {0};
    pn_decode_opts o = {.max_pixels = 4 << 20, .min_side = 1};
    pn_status st = pn_image_decode(c, nc, file, &o, &img, err);
    if (st) assert_null(img.px);
    pn_image_free(&img);
    if (c != b) free(c);
    free(b);
    return st;
}

static void want_msg(const pn_error *err, const char *file, const char *what)
{
    if (!strstr(err->msg, file) || !strstr(err->msg, what))
        fail_msg("message '%s' lacks '%s' or '%s'", err->msg, file, what);
    print_message("  %s\n", err->msg);
}

/* The GDCM findings of the fuzzer (once in fuzz/findings/, now seeds that
 * make test's fuzz run replays): each is refused by pneumo's own checks
 * before GDCM sees it, with the file and the reason; the numbers are the
 * files' own (length field 0xFDFFFFFF; the bytes after the Pixel Data
 * header; the first DC Huffman value 'N' = 78 the fuzzer wrote over the
 * table). */
static void test_gdcm_findings(void **state)
{
    (void)state;
    pn_error err = {0};
    /* GDCM's JPEG8Codec::GetHeaderInfo asserted on this DHT (libjpeg-turbo
     * reads the header; (0028,1051) turned into (9A28,1051), out of order,
     * ended GDCM's header read early, so the old check never ran) */
    const char *f = "gdcm_jpeg8_assert_bad_dht.dcm";
    assert_int_equal(decode_corpus_file("dicom", f, 1, &err), PN_E_FORMAT);
    want_msg(&err, f, "corrupt JPEG in the DICOM pixel data (");
    assert_non_null(strstr(err.msg, "extraneous bytes before marker 0xda"));
    /* and the marker check behind it refuses the table itself */
    char p[1000];
    snprintf(p, sizeof p, "%.600s/fuzz/corpus/dicom/%s", tu_root(), f);
    uint8_t *b = NULL, *fr = NULL;
    size_t nb = 0, fn = 0;
    assert_int_equal(pn_read_file(p, 1 << 24, &b, &nb, &err), PN_OK);
    uint8_t *c = calloc(nb + 132, 1);
    assert_non_null(c);
    memcpy(c + 128, "DICM", 4);
    memcpy(c + 132, b, nb);
    pn__dcm_layout lay;
    assert_int_equal(pn__dicom_walk_layout(c, nb + 132, f, &lay, &err), PN_OK);
    assert_int_equal(lay.nfrag, 2);
    assert_int_equal(pn__dicom_frame_bytes(c, &lay, f, &fr, &fn, &err), PN_OK);
    char why[200] = "";
    assert_int_equal(pn__jpeg_markers_bad(fr, fn, why, sizeof why), 1);
    assert_non_null(strstr(why, "DHT at byte 102: DC table value 78 (at most 16)"));
    free(fr);
    free(c);
    free(b);
    /* out of memory in GDCM's ByteValue::SetLength: a native-length Pixel
     * Data of 4,261,412,863 bytes after an out-of-order tag (8028,1053) */
    f = "gdcm_oom_pixeldata_after_out_of_order_tag.dcm";
    assert_int_equal(decode_corpus_file("dicom", f, 1, &err), PN_E_FORMAT);
    want_msg(&err, f, "element (7FE0,0010) length 4261412863 exceeds the 1255 bytes left");
    /* out of memory in GDCM's ReadUpToTag (found by the 2026-12-02 campaign):
     * TransferSyntaxUID Explicit VR Big Endian, the data set little endian,
     * so GDCM read byte-swapped lengths the walk had not checked; refused
     * by the walk now */
    f = "gdcm_oom_big_endian_transfer_syntax.dcm";
    assert_int_equal(decode_corpus_file("dicom", f, 1, &err), PN_E_UNSUPPORTED);
    want_msg(&err, f, "transfer syntax Explicit VR Big Endian (retired) is not supported");
    /* the other findings of that campaign (GDCM asserts, out-of-memory and
     * leaks), each refused before GDCM now */
    static const struct {
        const char *file, *want;
    } more[] = {
        /* ReadPreValue's assert: a Deflated data set of 6 bytes (now inflated
         * and walked by pneumo) */
        {"gdcm_assert_deflated_short.dcm",
         "DICOM Deflated data set is truncated: an element header (0000,0000) at byte 0 runs "
         "past the end of the inflated data set (6 bytes)"},
        /* out of memory: a corrupt Deflated stream */
        {"gdcm_oom_deflated_corrupt.dcm",
         "DICOM Deflated data set is corrupt or truncated (zlib: invalid distance too far back"},
        /* PixmapReader's assert on a Recognition Code that is not ACR-NEMA
         * ((0010,0010) PatientName turned into (0008,0010)) */
        {"gdcm_assert_recognition_code.dcm",
         "Recognition Code (0008,0010) at byte 506 holds 'TEST^person835', not ACR-NEMA"},
        /* out of memory: Pixel Data length 0, then its fragments read as elements */
        {"gdcm_oom_item_outside_sequence.dcm",
         "item tag (FFFE,E000) at byte 1664 outside a sequence"},
        /* SequenceOfItems::Read's assert: a sequence delimiter of length 42
         * (second campaign) */
        {"gdcm_assert_delimiter_length.dcm",
         "sequence delimiter (FFFE,E0DD) at byte 754 has length 42 (want 0)"},
        /* out of memory: a fragment sequence delimiter of length 1,450,835,968 */
        {"gdcm_oom_delimiter_length.dcm",
         "sequence delimiter (FFFE,E0DD) at byte 23530 has length 1450835968 (want 0)"},
        /* gdcm::Attribute's assert: SamplesPerPixel (0028,0002) with VR SS */
        {"gdcm_assert_attribute_vr.dcm", "element (0028,0002) at byte 1372 has VR SS (want US)"},
        /* OpenJPEG (through GDCM) leaked: a JPEG 2000 syntax (.93) over a JPEG */
        {"gdcm_leak_openjpeg_not_j2k.dcm",
         "DICOM pixel data of transfer syntax 1.2.840.10008.1.2.4.93 is not a JPEG 2000 "
         "codestream"},
        /* GDCM's 8-bit JPEG codec leaked: a cut 8-bit frame under the retired
         * syntax .52 (8-bit DCT frames of every JPEG syntax are libjpeg-turbo's) */
        {"gdcm_leak_jpeg8_extended_truncated.dcm",
         "DICOM pixel data: truncated JPEG (Premature end of JPEG file)"},
        /* ExplicitDataElement::ReadValue's assert: Pixel Data of VR OD (third campaign) */
        {"gdcm_assert_pixeldata_vr.dcm", "Pixel Data (7FE0,0010) at byte 1652 has VR OD"},
        /* GDCM's JPEG codec leaked (and decoded) on a cut entropy segment;
         * baseline frames are libjpeg-turbo's now, warnings refused */
        {"gdcm_leak_jpeg_premature_end.dcm",
         "DICOM pixel data: corrupt JPEG (Corrupt JPEG data: premature end of data segment"},
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        assert_int_equal(decode_corpus_file("dicom", more[i].file, 1, &err), PN_E_FORMAT);
        want_msg(&err, more[i].file, more[i].want);
    }
    /* FileMetaInformation::Read's assert: (0002,0013) with VR SQ (found by
     * the 2026-12-02 image campaign; a whole file of the image corpus) */
    f = "dicom_gdcm_assert_meta_sq.dcm";
    assert_int_equal(decode_corpus_file("image", f, 0, &err), PN_E_FORMAT);
    want_msg(&err, f, "element (0002,0013) at byte 312 has VR SQ (the file meta group holds no sequences)");
    /* a file meta group at byte 0 (no preamble) is read for its syntax too:
     * the same seeds without the preamble */
    assert_int_equal(decode_corpus_file("dicom", "valid_jpeg_baseline.dcm", 0, &err), PN_OK);
    assert_int_equal(decode_corpus_file("dicom", "valid_jpeg_baseline.dcm", 1, &err), PN_OK);
    f = "gdcm_oom_big_endian_transfer_syntax.dcm";
    assert_int_equal(decode_corpus_file("dicom", f, 0, &err), PN_E_UNSUPPORTED);
    want_msg(&err, f, "Explicit VR Big Endian (retired) is not supported");
    /* FileMetaInformation::ReadCompat's assert (image campaign): a group 0002
     * in implicit VR at byte 0 */
    f = "dicom_gdcm_assert_implicit_meta.dcm";
    assert_int_equal(decode_corpus_file("image", f, 0, &err), PN_E_FORMAT);
    want_msg(&err, f, "file meta information is corrupt: element (0002,00A4) at byte 0 has no "
                      "valid VR");
    /* a UL of length 6 (not whole values) in a file without a file meta
     * group: GDCM read it as 4 bytes, fell out of step and allocated 1.3 GB
     * for a 1216-byte file (2026-12-03 image campaign) */
    f = "dicom_gdcm_oom_ul_length_6.dcm";
    assert_int_equal(decode_corpus_file("image", f, 0, &err), PN_E_FORMAT);
    want_msg(&err, f, "element (0009,1003) of VR UL at byte 376 has length 6, not a multiple of 4");
    /* the same through the image target (a whole file, (2828,1040) out of order) */
    f = "dicom_gdcm_oom_pixeldata_after_out_of_order_tag.dcm";
    assert_int_equal(decode_corpus_file("image", f, 0, &err), PN_E_FORMAT);
    want_msg(&err, f, "element (7FE0,0010) length 4261412863 exceeds the 3702 bytes left");
}

/* A JPEG stream from segments: SOI, then each (marker, payload). */
typedef struct jbuf {
    uint8_t b[4096];
    size_t n;
} jbuf;
static void jseg(jbuf *j, uint8_t mk, const uint8_t *p, size_t n)
{
    if (!j->n) {
        j->b[0] = 0xFF;
        j->b[1] = 0xD8;
        j->n = 2;
    }
    j->b[j->n++] = 0xFF;
    j->b[j->n++] = mk;
    j->b[j->n++] = (uint8_t)((n + 2) >> 8);
    j->b[j->n++] = (uint8_t)(n + 2);
    memcpy(j->b + j->n, p, n);
    j->n += n;
}
/* SOF0 8-bit 16x8, one component; SOS of one component. */
static const uint8_t sof0[] = {8, 0, 8, 0, 16, 1, 1, 0x11, 0};
static const uint8_t sos1[] = {1, 1, 0x00, 0, 63, 0};

static int markers_bad(const jbuf *j, const char *want)
{
    char why[200] = "";
    int bad = pn__jpeg_markers_bad(j->b, j->n, why, sizeof why);
    if (want && (!bad || !strstr(why, want))) fail_msg("want '%s', got %d '%s'", want, bad, why);
    if (!want && bad) fail_msg("a sound stream refused: %s", why);
    return bad;
}

/* pn__jpeg_markers_bad on hand-made headers, and on every JPEG-family file
 * of the shared DICOM set (the check must pass them all, and be reached). */
static void test_jpeg_markers(void **state)
{
    (void)state;
    static jbuf j;
    uint8_t dht[17 + 300];
    memset(dht, 0, sizeof dht);
    /* a sound DC table: 1 code of length 1, 2 of length 2 (symbols 0, 1, 2) */
    dht[0] = 0x00;
    dht[1] = 1;
    dht[2] = 2;
    dht[17] = 0, dht[18] = 1, dht[19] = 2;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC0, sof0, sizeof sof0);
    jseg(&j, 0xC4, dht, 20);
    jseg(&j, 0xDA, sos1, sizeof sos1);
    markers_bad(&j, NULL);
    /* 3 codes of length 1: no prefix code has them */
    dht[1] = 3, dht[2] = 0;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC4, dht, 20);
    markers_bad(&j, "3 codes of length 1 do not fit a Huffman code");
    /* counts summing to 257 (200 of length 9, 57 of length 10: they fit a code) */
    memset(dht + 1, 0, 16);
    dht[0] = 0x10; /* AC table 0 */
    dht[9] = 200, dht[10] = 57;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC4, dht, 17 + 257);
    markers_bad(&j, "the code counts sum to 257 (at most 256)");
    /* 3 values announced, 2 in the segment */
    memset(dht + 1, 0, 16);
    dht[0] = 0x00, dht[1] = 1, dht[2] = 2;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC4, dht, 19);
    markers_bad(&j, "3 values announced, 2 bytes left in the segment");
    /* table class 2, and a DC value over 16 */
    dht[0] = 0x20;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC4, dht, 20);
    markers_bad(&j, "table class 2 / id 0");
    dht[0] = 0x01, dht[19] = 78;
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC4, dht, 20);
    markers_bad(&j, "DC table value 78 (at most 16)");
    dht[19] = 2;
    /* 5 bytes between two segments; a segment longer than the stream */
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC0, sof0, sizeof sof0);
    memcpy(j.b + j.n, "abcde", 5);
    j.n += 5;
    jseg(&j, 0xDA, sos1, sizeof sos1);
    markers_bad(&j, "5 bytes of garbage at byte 15");
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC0, sof0, sizeof sof0);
    j.b[4] = 0x01; /* SOF length 0x010B */
    markers_bad(&j, "marker 0xC0 at byte 2: length 267, 11 bytes left");
    /* SOS before any SOF, SOF length not 8 + 3 Nf, EOI before SOS */
    memset(&j, 0, sizeof j);
    jseg(&j, 0xDA, sos1, sizeof sos1);
    markers_bad(&j, "SOS marker at byte 2 before any SOF");
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC0, sof0, sizeof sof0 - 1);
    markers_bad(&j, "does not match its 1 components");
    memset(&j, 0, sizeof j);
    jseg(&j, 0xC0, sof0, sizeof sof0);
    j.b[j.n++] = 0xFF, j.b[j.n++] = 0xD9;
    markers_bad(&j, "marker 0xD9 at byte 15 before the SOS marker");
    memcpy(j.b, "\x89PNG", 4);
    markers_bad(&j, "does not start with a JPEG SOI");

    /* the shared set: every .50 / .70 file reaches the check and passes it */
    char dir[600];
    snprintf(dir, sizeof dir, "%.560s/chest_xray_dicom", tu_data_dir());
    static char files[80][160];
    int nf = manifest_files(dir, files, 80), checked = 0;
    for (int i = 0; i < nf; i++) {
        char p[1000];
        snprintf(p, sizeof p, "%s/%.159s", dir, files[i]);
        uint8_t *b = NULL, *fr = NULL;
        size_t nb = 0, fn = 0;
        pn_error err = {0};
        assert_int_equal(pn_read_file(p, 1 << 26, &b, &nb, &err), PN_OK);
        pn__dcm_layout lay;
        assert_int_equal(pn__dicom_walk_layout(b, nb, p, &lay, &err), PN_OK);
        pn__dcm d;
        memset(&d, 0, sizeof d);
        assert_int_equal(pn__dcm_header(b, nb, p, &d, &err), PN_OK);
        pn__dcm_free(&d);
        if (!strcmp(d.ts_uid, "1.2.840.10008.1.2.4.50") ||
            !strcmp(d.ts_uid, "1.2.840.10008.1.2.4.70")) {
            assert_int_equal(lay.px_vl, 0xFFFFFFFFu);
            assert_true(lay.nfrag >= 2);
            assert_int_equal(pn__dicom_frame_bytes(b, &lay, p, &fr, &fn, &err), PN_OK);
            char why[200] = "";
            if (pn__jpeg_markers_bad(fr, fn, why, sizeof why)) fail_msg("%s: %s", p, why);
            checked++;
            free(fr);
        }
        free(b);
    }
    print_message("  %d JPEG (T.81) files of the shared set pass the marker check\n", checked);
    assert_int_equal(checked, 21); /* 12 baseline + 9 lossless SV1 (MANIFEST.tsv) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_expected),
        cmocka_unit_test(test_pydicom_fixture),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_made_up),
        cmocka_unit_test(test_dataset_ids),
        cmocka_unit_test(test_image_ids),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_gdcm_findings),
        cmocka_unit_test(test_jpeg_markers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
