/* pneumo version: the version and the library versions it runs on. */
#include <stdio.h>

#include <jpeglib.h>
#include <oneapi/dnnl/dnnl.h>
#include <png.h>

#include "cli.h"
#include "pneumo/version.h"

int pn_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const dnnl_version_t *v = dnnl_version();
    printf("pneumo %s\n", PNEUMO_VERSION);
    printf("oneDNN %d.%d.%d (%s)\n", v->major, v->minor, v->patch, v->hash);
    printf("libjpeg API %d, libpng %s\n", JPEG_LIB_VERSION, png_get_libpng_ver(NULL));
    return 0;
}
