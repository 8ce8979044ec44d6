/* pneumo fetch dataset|weights: download (or install) the data set and the
 * pretrained weights into the cache; prints the final path on stdout. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli/progress.h"
#include "pneumo/fetch.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pneumo fetch dataset [--to DIR] [--from FILE.zip] [--url URL] [options]\n"
            "       pneumo fetch weights [--to DIR] [--url URL] [--sha256-prefix HEX] [options]\n"
            "\n"
            "dataset  Kaggle's " PN_KAGGLE_DATASET " (reuses kagglehub's cache),\n"
            "         unpacked into DIR/" PN_DATASET_DIR "/{train,val,test}/{NORMAL,PNEUMONIA}\n"
            "         (DIR defaults to $XDG_CACHE_HOME/pneumo/datasets or ~/.cache/pneumo/datasets).\n"
            "         Credentials: KAGGLE_USERNAME + KAGGLE_KEY, or ~/.kaggle/kaggle.json\n"
            "         ($KAGGLE_CONFIG_DIR/kaggle.json); anonymous otherwise.\n"
            "weights  torchvision's " PN_WEIGHTS_FILE " (SHA-256 begins " PN_WEIGHTS_SHA256_PREFIX
            ";\n"
            "         reuses $TORCH_HOME/hub/checkpoints), stored in DIR (default\n"
            "         $XDG_CACHE_HOME/pneumo/weights or ~/.cache/pneumo/weights).\n"
            "\n"
            "options:\n"
            "  --to DIR               destination folder (no reuse of other caches)\n"
            "  --from FILE.zip        dataset: install from a zip downloaded by hand\n"
            "  --url URL              download from URL (env PNEUMO_KAGGLE_URL, PNEUMO_WEIGHTS_URL)\n"
            "  --sha256-prefix HEX    the SHA-256 must begin with HEX ('' = don't check)\n"
            "  --force                download / unpack again, replacing what is there\n"
            "  --no-reuse             ignore the kagglehub and PyTorch caches\n"
            "  --keep-zip             dataset: keep the downloaded zip after unpacking\n"
            "  --retries N            retries after transient errors (default 5)\n"
            "  --backoff SECONDS      first wait before a retry, doubling (default 1)\n"
            "  --connect-timeout S    connection timeout (default 30)\n"
            "  --stall-timeout S      give up when nothing arrives for S seconds (default 60)\n"
            "  -q, --quiet            no progress output\n"
            "  -h, --help             this help\n"
            "\n"
            "Downloads resume from FILE.part, are verified (size, SHA-256) and renamed into\n"
            "place only when complete. Proxies: http_proxy, https_proxy, no_proxy.\n"
            "The final path is printed on stdout.\n");
}

int pn_cmd_fetch(int argc, char **argv)
{
    enum { O_TO = 256, O_FROM, O_URL, O_SHA, O_FORCE, O_NOREUSE, O_KEEP, O_RETRIES, O_BACKOFF,
           O_CONNECT, O_STALL };
    static const struct option longopts[] = {
        {"to", required_argument, NULL, O_TO},
        {"from", required_argument, NULL, O_FROM},
        {"url", required_argument, NULL, O_URL},
        {"sha256-prefix", required_argument, NULL, O_SHA},
        {"force", no_argument, NULL, O_FORCE},
        {"no-reuse", no_argument, NULL, O_NOREUSE},
        {"keep-zip", no_argument, NULL, O_KEEP},
        {"retries", required_argument, NULL, O_RETRIES},
        {"backoff", required_argument, NULL, O_BACKOFF},
        {"connect-timeout", required_argument, NULL, O_CONNECT},
        {"stall-timeout", required_argument, NULL, O_STALL},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "fetch";
    pn_fetch_opts o;
    pn_fetch_opts_init(&o);
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, cmd, "", longopts, PN_OPT_QUIET | PN_OPT_HELP);
    long l;
    double d;
    int c;
    while ((c = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (c) {
        case O_TO: o.dest_dir = optarg; break;
        case O_FROM: o.from_zip = optarg; break;
        case O_URL: o.url = optarg; break;
        case O_SHA:
            if (strlen(optarg) > 64 || strspn(optarg, "0123456789abcdefABCDEF") != strlen(optarg))
                return pn_cli_usage_error(cmd, "--sha256-prefix wants hex digits, not '%s'",
                                          optarg);
            o.expected_sha256_prefix = optarg;
            break;
        case O_FORCE: o.force = 1; break;
        case O_NOREUSE: o.no_reuse = 1; break;
        case O_KEEP: o.keep_archive = 1; break;
        case O_RETRIES:
            if (pn_cli_parse_int(cmd, "--retries", optarg, 0, 100, &l)) return 2;
            o.retries = (int)l;
            break;
        case O_BACKOFF:
            if (pn_cli_parse_double(cmd, "--backoff", optarg, 0.001, 3600, &d)) return 2;
            o.backoff_s = d;
            break;
        case O_CONNECT:
            if (pn_cli_parse_double(cmd, "--connect-timeout", optarg, 0.001, 3600, &d)) return 2;
            o.connect_timeout_s = d;
            break;
        case O_STALL:
            if (pn_cli_parse_double(cmd, "--stall-timeout", optarg, 1, 86400, &d)) return 2;
            o.stall_timeout_s = d;
            break;
        case PN_CLI_HELP: usage(stdout); return 0;
        default: return 2;
        }
    }
    if (optind >= argc) return pn_cli_usage_error(cmd, "say what to fetch: dataset or weights");
    if (optind + 1 < argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];
    pn_cli_progress bar;
    pn_cli_progress_init(&bar, co.quiet ? PN_CLI_QUIET : PN_CLI_AUTO);
    if (!co.quiet) {
        o.progress = pn_cli_fetch_progress;
        o.progress_user = &bar;
    }
    char path[4096];
    pn_error err = {0};
    pn_status st;
    if (!strcmp(what, "dataset")) {
        if (o.expected_sha256_prefix == NULL) o.expected_sha256_prefix = "";
        st = pn_fetch_dataset(&o, path, sizeof path, &err);
    } else if (!strcmp(what, "weights")) {
        if (o.from_zip) return pn_cli_usage_error(cmd, "--from is for 'fetch dataset'");
        st = pn_fetch_weights(&o, path, sizeof path, &err);
    } else {
        return pn_cli_usage_error(cmd, "unknown item '%s' (dataset or weights)", what);
    }
    if (st) return pn_cli_fail(cmd, &err);
    if (!co.quiet) fprintf(stderr, "%s: %s\n", what, path);
    printf("%s\n", path);
    return 0;
}
