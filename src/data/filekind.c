/* Which files are images: the name test of folder datasets and predict
 * DIR, with a look at the content for DICOM files that carry no .dcm name
 * (PACS exports name files IM000001 or by their SOP Instance UID), and the
 * formats pneumo recognises but does not read. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "dicom_internal.h"
#include "pneumo/image.h"

/* torchvision's IMG_EXTENSIONS that pneumo does not decode */
static const struct {
    const char *ext, *format;
} unsupported[] = {{".tif", "TIFF"}, {".tiff", "TIFF"}, {".bmp", "BMP"}, {".webp", "WebP"},
                   {".ppm", "PPM"},  {".pgm", "PGM"},   {".gif", "GIF"}};

/* 1 when the name has no extension, or one of digits only (a UID name). */
static int bare_name(const char *base)
{
    const char *dot = strrchr(base, '.');
    if (!dot) return 1;
    if (!dot[1]) return 0;
    for (const char *p = dot + 1; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int content_is_dicom(const char *path)
{
    uint8_t b[136];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t k = read(fd, b, sizeof b);
    close(fd);
    return k > 0 && pn__dicom_sniff(b, (size_t)k);
}

/* path NULL: by the name alone (zip members). */
static pn_image_file_kind classify(const char *name, const char *path, const char **format)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *fmt = NULL;
    pn_image_file_kind k = PN_FILE_NOT_IMAGE;
    const char *dot = strrchr(base, '.');
    if (base[0] == '.') {
        k = PN_FILE_NOT_IMAGE; /* hidden: .DS_Store, ._x */
    } else if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))) {
        k = PN_FILE_IMAGE, fmt = "JPEG";
    } else if (dot && !strcasecmp(dot, ".png")) {
        k = PN_FILE_IMAGE, fmt = "PNG";
    } else if (dot && (!strcasecmp(dot, ".dcm") || !strcasecmp(dot, ".dicom"))) {
        k = PN_FILE_IMAGE, fmt = "DICOM";
    } else if (path && bare_name(base) && content_is_dicom(path)) {
        k = PN_FILE_IMAGE, fmt = "DICOM";
    } else if (dot) {
        for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
            if (!strcasecmp(dot, unsupported[i].ext))
                k = PN_FILE_UNSUPPORTED, fmt = unsupported[i].format;
    }
    if (format) *format = fmt;
    return k;
}

pn_image_file_kind pn_image_file_classify(const char *path, const char **format)
{
    return classify(path, path, format);
}

int pn_is_image_name(const char *path) { return classify(path, NULL, NULL) != PN_FILE_NOT_IMAGE; }
