/* pneumo export: a model (pneumo model file, or any ResNet-18 .pth /
 * safetensors) to a .pth that PyTorch loads, a pneumo model file or ONNX,
 * each with a sidecar JSON (<OUT>.json). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pneumo/export.h"
#include "pneumo/weights.h"

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: pneumo export --model MODEL -o OUT [--format pth|safetensors|onnx]\n"
            "\n"
            "Writes the ResNet-18 weights of MODEL (a pneumo model file, or a torchvision\n"
            "state_dict as .pth or safetensors) to OUT:\n"
            "  pth          a zip .pth for torch.load (weights_only=True works) that\n"
            "               torchvision.models.resnet18(num_classes=N).load_state_dict()\n"
            "               accepts strictly (default, or when OUT ends in .pth/.pt)\n"
            "  safetensors  a pneumo model file (weights + metadata)\n"
            "  onnx         an ONNX model (opset 13): input \"input\" float32 (batch,3,224,224)\n"
            "               normalised NCHW, outputs \"probabilities\" (softmax) and \"logits\"\n"
            "               (batch, classes); also when OUT ends in .onnx\n"
            "Beside OUT goes OUT.json, the sidecar: classes, decision threshold, input size,\n"
            "mean/std, preprocessing, pneumo version, SHA-256 of MODEL and of OUT.\n"
            "Another runtime must label with the threshold, not argmax (export prints it).\n"
            "Keys are normalised first ('module.' prefix, the seed's fc.0.* head) and checked.\n"
            "\n"
            "  -m, --model FILE    model to read\n"
            "  -o, --output FILE   file to write (atomically)\n"
            "  -f, --format FMT    pth, safetensors or onnx (default: from OUT's extension,\n"
            "                      else pth)\n"
            "  -h, --help          this help\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int pn_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *out = NULL, *fmt = NULL;
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, "export", "m:o:f:", opts, PN_OPT_HELP | PN_OPT_NO_VERIFY);
    int c;
    while ((c = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'f': fmt = optarg; break;
        case PN_CLI_HELP: export_usage(stdout); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return pn_cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (!model || !out) return pn_cli_usage_error("export", "--model and -o are required");
    int st_out, onnx;
    if (fmt) {
        if (strcmp(fmt, "pth") && strcmp(fmt, "safetensors") && strcmp(fmt, "onnx"))
            return pn_cli_usage_error("export",
                                      "--format must be pth, safetensors or onnx, not '%s'", fmt);
        st_out = !strcmp(fmt, "safetensors");
        onnx = !strcmp(fmt, "onnx");
    } else {
        st_out = ends_with(out, ".safetensors");
        onnx = ends_with(out, ".onnx");
    }
    pn_statedict sd;
    pn_model_meta meta;
    pn_error err = {0};
    if (pn_modelfile_load(model, &sd, &meta, &err)) return pn_cli_fail("export", &err);
    pn_status st = onnx     ? pn_onnx_save(out, &sd, &meta, &err)
                   : st_out ? pn_modelfile_save(out, &sd, &meta, &err)
                            : pn_pth_save(out, &sd, &err);
    size_t n = sd.n;
    pn_statedict_free(&sd);
    if (st) return pn_cli_fail("export", &err);
    printf("wrote %s (%s, %zu tensors, resnet18, %d classes)\n", out,
           onnx ? "ONNX opset 13" : st_out ? "pneumo model file" : "PyTorch .pth", n,
           meta.num_classes);
    char side[4096];
    snprintf(side, sizeof side, "%s.json", out);
    if (pn_export_sidecar(side, onnx ? "onnx" : st_out ? "safetensors" : "pth", out, model, &meta,
                          &err))
        return pn_cli_fail("export", &err);
    printf("wrote %s (sidecar: classes, threshold, preprocessing, hashes)\n", side);
    if (meta.num_classes == 2)
        printf("note: label %s when P(%s) >= %.4f, the model's threshold (in the sidecar)%s\n",
               meta.class_names[1], meta.class_names[1], meta.threshold,
               meta.threshold == 0.5 ? "; here the same as argmax"
                                     : "; argmax of the outputs gives other labels near it");
    return 0;
}
