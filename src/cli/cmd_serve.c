/* pneumo serve --model M [--port P] [--bind ADDR] ...: the HTTP server
 * (src/serve/), the web page at /, docs/serve.md. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serve/serve.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo serve --model M [--port P] [--bind ADDR] [options]\n"
            "\n"
            "Serves the classifier M over HTTP (docs/serve.md):\n"
            "  POST /v1/predict[?cam=1]  a JPEG or PNG as the body (image/jpeg, image/png,\n"
            "                            application/octet-stream) or as the file of a\n"
            "                            multipart/form-data body -> JSON: classes,\n"
            "                            probabilities, threshold, label, model sha256,\n"
            "                            with cam=1 the heatmap as a base64 PNG\n"
            "  GET  /v1/model            the model's metadata\n"
            "  GET  /healthz             liveness and queue length\n"
            "  GET  /                    a web page: drop an X-ray, see the result\n"
            "Requests from concurrent clients are run together in batches. On SIGTERM or\n"
            "SIGINT new requests get 503, those in flight are finished, then it exits 0.\n"
            "\n"
            "  -m, --model M          model file (pneumo train's model.safetensors, or a\n"
            "                         torchvision ResNet-18 state_dict with a 2-output head)\n"
            "  -p, --port P           TCP port (default 8080; 0 = any free port, printed)\n"
            "      --bind ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
            "                         for every interface: there is no authentication)\n"
            "      --max-batch N      images per classifier run (default 8)\n"
            "      --max-wait-ms MS   how long a request waits for others to join its batch\n"
            "                         (default 5)\n"
            "      --max-queue N      images waiting beyond which requests get 503 (default 64)\n"
            "      --max-body-mb MB   upload size limit, 413 above (default 32)\n"
            "      --timeout S        seconds a client may take to send its request, and an\n"
            "                         idle connection is kept (default 30)\n"
            "      --http-threads N   threads receiving and decoding uploads (default 4)\n"
            "      --max-connections N  open connections at most (default 1024)\n"
            "      --drain S          on SIGTERM, seconds in-flight requests may take (default 30)\n"
            "      --max-pixels N     largest image (width x height) decoded, 413 above\n"
            "                         (default 67108864)\n"
            "      --port-file FILE   write the port listened on to FILE\n"
            "  -j, --threads N        classifier threads (default: all cores)\n"
            "      --int8             int8 classifier (a model from 'pneumo quantize')\n"
            "  -h, --help             this help\n");
}

int pn_cmd_serve(int argc, char **argv)
{
    const char *cmd = "serve";
    pn__serve_opts o;
    pn__serve_opts_default(&o);
    enum { O_BIND = 256, O_MB, O_MW, O_MQ, O_BODY, O_TO, O_HT, O_MC, O_DRAIN, O_PF, O_PIX, O_INT8 };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},         {"port", required_argument, 0, 'p'},
        {"bind", required_argument, 0, O_BIND},       {"max-batch", required_argument, 0, O_MB},
        {"max-wait-ms", required_argument, 0, O_MW},  {"max-queue", required_argument, 0, O_MQ},
        {"max-body-mb", required_argument, 0, O_BODY}, {"timeout", required_argument, 0, O_TO},
        {"http-threads", required_argument, 0, O_HT}, {"max-connections", required_argument, 0, O_MC},
        {"drain", required_argument, 0, O_DRAIN},     {"port-file", required_argument, 0, O_PF},
        {"max-pixels", required_argument, 0, O_PIX},  {"int8", no_argument, 0, O_INT8},
        {"threads", required_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    long v;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":m:p:j:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': o.model = optarg; break;
        case 'p': if (pn_cli_parse_int(cmd, "--port", optarg, 0, 65535, &v)) return 2; o.port = (int)v; break;
        case O_BIND: o.bind = optarg; break;
        case O_MB: if (pn_cli_parse_int(cmd, "--max-batch", optarg, 1, 256, &v)) return 2; o.max_batch = (int)v; break;
        case O_MW: if (pn_cli_parse_int(cmd, "--max-wait-ms", optarg, 0, 10000, &v)) return 2; o.max_wait_ms = (int)v; break;
        case O_MQ: if (pn_cli_parse_int(cmd, "--max-queue", optarg, 1, 100000, &v)) return 2; o.max_queue = (int)v; break;
        case O_BODY: if (pn_cli_parse_int(cmd, "--max-body-mb", optarg, 1, 1024, &v)) return 2; o.max_body = (size_t)v << 20; break;
        case O_TO: if (pn_cli_parse_int(cmd, "--timeout", optarg, 1, 3600, &v)) return 2; o.timeout_s = (int)v; break;
        case O_HT: if (pn_cli_parse_int(cmd, "--http-threads", optarg, 1, 64, &v)) return 2; o.http_threads = (int)v; break;
        case O_MC: if (pn_cli_parse_int(cmd, "--max-connections", optarg, 1, 100000, &v)) return 2; o.max_connections = (int)v; break;
        case O_DRAIN: if (pn_cli_parse_int(cmd, "--drain", optarg, 0, 3600, &v)) return 2; o.drain_s = (int)v; break;
        case O_PF: o.port_file = optarg; break;
        case O_PIX: if (pn_cli_parse_int(cmd, "--max-pixels", optarg, 1 << 16, 178956970L, &v)) return 2; o.max_pixels = v; break;
        case 'j': if (pn_cli_parse_int(cmd, "--threads", optarg, 1, 256, &v)) return 2; o.threads = (int)v; break;
        case O_INT8: o.mode |= PN_INFER_INT8; break;
        case 'h': help(stdout); return 0;
        default: return pn_cli_option_error(cmd, ch, argv, opts);
        }
    }
    if (optind < argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.model) return pn_cli_usage_error(cmd, "--model is required");
    pn_error err = {0};
    if (pn__serve_run(&o, &err)) return pn_cli_fail(cmd, &err);
    return 0;
}
