/* pneumo: command-line entry point; dispatches to src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist/dist.h"
#include "pneumo/version.h"

static const pn_command commands[] = {
    {"version", pn_cmd_version, "print the version and the libraries in use"},
    {"export", pn_cmd_export, "write a model as a PyTorch .pth, ONNX or a pneumo model file (+ sidecar JSON)"},
    {"inspect", pn_cmd_inspect, "list the tensors and metadata of a .pth/safetensors file"},
    {"preprocess", pn_cmd_preprocess, "decode + resize + normalize one image (torchvision-exact)"},
    {"stats", pn_cmd_stats, "images per split and class, imbalance, unreadable files, chart"},
    {"bench", pn_cmd_bench, "time the ResNet-18 forward pass (images/s, peak RSS)"},
    {"train", pn_cmd_train,
     "train a ResNet-18 classifier: the head only, or deeper (--freeze layer4|layer3|none)"},
    {"eval", pn_cmd_eval, "accuracy, sensitivity, specificity, AUC, ... of a model on a split"},
    {"quantize", pn_cmd_quantize,
     "int8 post-training quantization of a model, with its measured accuracy cost"},
    {"predict", pn_cmd_predict, "classify images (one line or JSON each), optional CAM heatmaps"},
    {"fetch", pn_cmd_fetch, "download the data set and the pretrained weights"},
    {"cache", pn_cmd_cache, "the disk feature cache: size and entries; clear (all, old, over a size)"},
    {"serve", pn_cmd_serve, "HTTP server: POST an X-ray, get the prediction (and a web page)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "pneumo %s — chest X-ray pneumonia classifiers (ResNet-18, transfer learning)\n"
            "\n"
            "usage: pneumo <command> [options]   (pneumo <command> --help, or pneumo help\n"
            "       <command>, for details)\n"
            "\n"
            "commands:\n",
            PNEUMO_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

/* Under mpirun/srun (docs/mpi.md): MPI starts first; ranks other than 0
 * print nothing on stdout (rank 0 speaks for the job), and a non-zero exit
 * of any rank ends every rank (MPI_Abort) instead of leaving them waiting. */
static int run(int argc, char **argv);

int main(int argc, char **argv)
{
    if (pn__dist_init(&argc, &argv)) return 1;
    if (pn__dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    int rc = run(argc, argv);
    if (rc != 0 && pn__dist_size() > 1 && !pn__dist_finished()) {
        fflush(stdout);
        pn__dist_fail("", rc, "failed: ending every rank of the job");
    }
    pn__dist_finalize();
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (argc > 2 && !strcmp(argv[1], "help")) { /* pneumo help CMD = pneumo CMD --help */
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *av[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, av);
                }
            fprintf(stderr, "pneumo: unknown command '%s'\n\n", argv[2]);
            usage(stderr);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return pn_cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* getopt_long's messages start with argv[0]: make it "pneumo CMD" */
            char prog[64];
            snprintf(prog, sizeof prog, "pneumo %s", commands[i].name);
            argv[1] = prog;
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "pneumo: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
