/* pneumo version: the version and the library versions it runs on. */
#include <getopt.h>
#include <stdio.h>

#include <jpeglib.h>
#include <oneapi/dnnl/dnnl.h>
#include <png.h>

#include "cli.h"
#include "pneumo/version.h"

static void version_usage(void)
{
    printf("usage: pneumo version\n"
           "\n"
           "Prints the pneumo version and the oneDNN, libjpeg and libpng versions it\n"
           "runs on (also: pneumo --version).\n"
           "\n"
           "  -h, --help   this help\n");
}

int pn_cmd_version(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            version_usage();
            return 0;
        }
        return pn_cli_usage_error("version", "unknown option");
    }
    if (optind < argc) return pn_cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
    const dnnl_version_t *v = dnnl_version();
    printf("pneumo %s\n", PNEUMO_VERSION);
    printf("oneDNN %d.%d.%d (%s)\n", v->major, v->minor, v->patch, v->hash);
    printf("libjpeg API %d, libpng %s\n", JPEG_LIB_VERSION, png_get_libpng_ver(NULL));
    return 0;
}
