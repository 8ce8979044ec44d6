/* pneumo preprocess IMAGE -o FILE [--format u8|f32] [--fast-decode]
 * Writes the 224x224 torchvision-equivalent result of one image. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pneumo/image.h"
#include "pneumo/util.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo preprocess IMAGE -o FILE [--format u8|f32] [options]\n"
            "\n"
            "Decode a JPEG or PNG and apply torchvision's Resize((224,224)) (Pillow BILINEAR),\n"
            "bit-exact with Pillow 9.4 + torchvision 0.14. Output is raw, little-endian,\n"
            "no header:\n"
            "  u8   the RGB bytes after resize, (224,224,3) HWC uint8  (150528 bytes)\n"
            "  f32  ToTensor + Normalize(ImageNet), (3,224,224) CHW float32 (602112 bytes)\n"
            "\n"
            "options:\n"
            "  -o, --output FILE     where to write (atomically)\n"
            "  -f, --format FMT      u8 or f32 (default f32)\n"
            "  -s, --size N          output side (default 224)\n"
            "      --fast-decode     JPEG DCT scaling before the resize (faster, not exact)\n"
            "      --min-side N      reject images with a side below N (default %d)\n"
            "      --max-pixels N    reject images above N pixels (default %ld)\n"
            "      --png16 MODE      16-bit grayscale PNGs: scale (default: by the sBIT\n"
            "                        depth) or clip (as Pillow: values over 255 are white)\n"
            "  -h, --help            this help\n",
            PN_IMAGE_MIN_SIDE_DEFAULT, PN_IMAGE_MAX_PIXELS_DEFAULT);
}

int pn_cmd_preprocess(int argc, char **argv)
{
    const char *cmd = "preprocess", *out = NULL, *fmt = "f32";
    long size = PN_IMAGE_SIZE;
    pn_decode_opts o = {0};
    enum { OPT_PNG16 = 256 };
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"size", required_argument, 0, 's'},
                                         {"png16", required_argument, 0, OPT_PNG16},
                                         {0, 0, 0, 0}};
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, cmd, "o:f:s:", opts,
                       PN_OPT_FAST_DECODE | PN_OPT_MIN_SIDE | PN_OPT_MAX_PIXELS | PN_OPT_HELP |
                           PN_OPT_LENIENT_JPEG);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'f': fmt = optarg; break;
        case 's':
            if (pn_cli_parse_int(cmd, "--size", optarg, 1, 4096, &size)) return 2;
            break;
        case OPT_PNG16: {
            pn_error e = {0};
            if (pn_png16_parse(optarg, &o.png16, &e)) return pn_cli_usage_error(cmd, "%s", e.msg);
            break;
        }
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    o.fast_decode = co.fast_decode;
    o.min_side = (int)co.min_side;
    o.max_pixels = co.max_pixels;
    if (optind != argc - 1) return pn_cli_usage_error(cmd, "expected exactly one IMAGE");
    if (!out) return pn_cli_usage_error(cmd, "missing -o FILE");
    int f32 = !strcmp(fmt, "f32");
    if (!f32 && strcmp(fmt, "u8"))
        return pn_cli_usage_error(cmd, "--format wants u8 or f32, not '%s'", fmt);
    o.fast_target = (int)size;

    pn_error err = {0};
    pn_image img = {0};
    size_t np = (size_t)size * (size_t)size;
    size_t nbytes = f32 ? np * 3 * sizeof(float) : np * 3;
    void *buf = malloc(nbytes);
    pn_status st = buf ? PN_OK : pn_error_set(&err, PN_E_NOMEM, "out of memory");
    if (!st) st = pn_image_load(argv[optind], &o, &img, &err);
    if (!st && img.png16_clipped)
        fprintf(stderr,
                "pneumo preprocess: warning: %s: 16-bit PNG clipped to 0..255 (--png16 clip): "
                "its pixels over 255 are white\n",
                argv[optind]);
    if (!st)
        st = pn_preprocess(&img, (int)size, f32 ? buf : NULL, f32 ? NULL : buf, NULL, &err);
    if (!st && f32) {
        /* little-endian on disk; swap on a big-endian host */
        const uint16_t one = 1;
        if (*(const uint8_t *)&one == 0) {
            uint8_t *b = buf;
            for (size_t i = 0; i < nbytes; i += 4) {
                uint8_t t0 = b[i], t1 = b[i + 1];
                b[i] = b[i + 3];
                b[i + 1] = b[i + 2];
                b[i + 2] = t1;
                b[i + 3] = t0;
            }
        }
    }
    if (!st) st = pn_write_file_atomic(out, buf, nbytes, &err);
    pn_image_free(&img);
    free(buf);
    return st ? pn_cli_fail(cmd, &err) : 0;
}
