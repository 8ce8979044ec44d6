/* pneumo version: the version and the library versions it runs on. */
#include <getopt.h>
#include <stdio.h>

#include <jpeglib.h>
#include <oneapi/dnnl/dnnl.h>
#include <png.h>

#include "dist/dist.h"
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
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, "version", "", NULL, PN_OPT_HELP);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        if (ch == PN_CLI_HELP) {
            version_usage();
            return 0;
        }
        return 2;
    }
    if (optind < argc) return pn_cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
    const dnnl_version_t *v = dnnl_version();
    printf("pneumo %s\n", PNEUMO_VERSION);
    printf("oneDNN %d.%d.%d (%s)\n", v->major, v->minor, v->patch, v->hash);
    printf("libjpeg API %d, libpng %s\n", JPEG_LIB_VERSION, png_get_libpng_ver(NULL));
    if (!pn__dist_compiled()) printf("MPI: not built in (make MPI=1)\n");
    else if (pn__dist_size() > 1)
        printf("MPI: %s, rank %d of %d\n", pn__dist_library(), pn__dist_rank(), pn__dist_size());
    else printf("MPI: built in (Open MPI), one process (not started by mpirun/srun)\n");
    return 0;
}
