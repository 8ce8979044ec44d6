/* pneumo cache [clear] [--older-than AGE] [--max-size SIZE] [--dir D] [--json]:
 * the disk feature cache's size and entries, and removing them. */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/files.h"
#include "pneumo/app.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo cache [--dir D] [--json]\n"
            "       pneumo cache clear [--older-than AGE] [--max-size SIZE] [--dir D] [--json]\n"
            "\n"
            "Shows the disk feature cache (train's backbone outputs, one file per image and\n"
            "setting): its folder, entries, size, and temporary files that killed runs left.\n"
            "'clear' removes every entry, or with --older-than only those not used for AGE\n"
            "(30d, 12h, 45m, 90s), and/or with --max-size the least recently used until the\n"
            "cache is at most SIZE (500M, 2G, 1024K; bytes without a unit); stale temporary\n"
            "files are always removed. A removed entry is recomputed when a run needs it.\n"
            "\n"
            "      --dir D            the cache folder (default $XDG_CACHE_HOME/pneumo/features\n"
            "                         or ~/.cache/pneumo/features)\n"
            "      --older-than AGE   clear: entries not read or written for AGE\n"
            "      --max-size SIZE    clear: least recently used first, down to SIZE\n"
            "      --json             machine-readable output\n"
            "  -h, --help             this help\n");
}

static int parse_unit(const char *s, const char *units, const double *mult, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0)) return -1;
    double m = 1;
    if (*end) {
        const char *u = strchr(units, *end);
        if (!u || end[1]) return -1;
        m = mult[u - units];
    }
    *out = v * m;
    return 0;
}

static cJSON *stats_json(const pn_cache_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "entries", (double)s->entries);
    cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
    cJSON_AddNumberToObject(o, "stale_temporary_files", (double)s->stale_tmp);
    cJSON_AddNumberToObject(o, "stale_temporary_bytes", (double)s->stale_bytes);
    return o;
}

int pn_cmd_cache(int argc, char **argv)
{
    const char *cmd = "cache", *dir = NULL;
    enum { O_DIR = 256, O_OLDER, O_MAXSIZE };
    static const struct option opts[] = {{"dir", required_argument, 0, O_DIR},
                                         {"older-than", required_argument, 0, O_OLDER},
                                         {"max-size", required_argument, 0, O_MAXSIZE},
                                         {0, 0, 0, 0}};
    static const double age_mult[] = {86400, 3600, 60, 1};
    static const double size_mult[] = {1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024,
                                        1024.0 * 1024 * 1024 * 1024};
    pn_cache_prune pr = {0};
    double v;
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, cmd, "", opts, PN_OPT_HELP | PN_OPT_JSON);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case O_DIR: dir = optarg; break;
        case O_OLDER:
            if (parse_unit(optarg, "dhms", age_mult, &v) || v <= 0)
                return pn_cli_usage_error(cmd, "--older-than wants an age like 30d, 12h, 45m or "
                                               "90s, not '%s'", optarg);
            pr.older_than_s = v;
            break;
        case O_MAXSIZE:
            if (parse_unit(optarg, "KMGT", size_mult, &v))
                return pn_cli_usage_error(cmd, "--max-size wants a size like 500M or 2G, not '%s'",
                                          optarg);
            pr.max_bytes = v < 1 ? 1 : (uint64_t)v;
            break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    int clear = 0;
    if (optind < argc && !strcmp(argv[optind], "clear")) clear = 1, optind++;
    if (optind < argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!clear && (pr.older_than_s > 0 || pr.max_bytes))
        return pn_cli_usage_error(cmd, "--older-than and --max-size go with 'clear'");
    pn_error err = {0};
    char dbuf[4096];
    if (!dir) {
        if (pn_feature_cache_dir(dbuf, sizeof dbuf, &err)) return pn_cli_fail(cmd, &err);
        dir = dbuf;
    }
    pn_cache_stats s, rm = {0};
    pr.all = clear && !(pr.older_than_s > 0) && !pr.max_bytes;
    if (clear ? pn_feature_cache_prune(dir, &pr, &rm, &s, &err)
              : pn_feature_cache_stats(dir, &s, &err))
        return pn_cli_fail(cmd, &err);
    char b1[32], b2[32];
    if (co.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dir", dir);
        cJSON_AddItemToObject(o, "cache", stats_json(&s));
        if (clear) cJSON_AddItemToObject(o, "removed", stats_json(&rm));
        char *t = cJSON_Print(o);
        printf("%s\n", t ? t : "{}");
        free(t);
        cJSON_Delete(o);
        return 0;
    }
    if (clear)
        printf("removed %zu entr%s (%s) and %zu stale temporary file%s (%s)\n", rm.entries,
               rm.entries == 1 ? "y" : "ies", pn__fmt_bytes((double)rm.bytes, b1, sizeof b1),
               rm.stale_tmp, rm.stale_tmp == 1 ? "" : "s",
               pn__fmt_bytes((double)rm.stale_bytes, b2, sizeof b2));
    printf("feature cache %s: %zu entr%s, %s\n", dir, s.entries, s.entries == 1 ? "y" : "ies",
           pn__fmt_bytes((double)s.bytes, b1, sizeof b1));
    if (s.entries) {
        char t1[32], t2[32];
        time_t a = (time_t)s.oldest, b = (time_t)s.newest;
        struct tm ta, tb;
        localtime_r(&a, &ta);
        localtime_r(&b, &tb);
        strftime(t1, sizeof t1, "%Y-%m-%d %H:%M", &ta);
        strftime(t2, sizeof t2, "%Y-%m-%d %H:%M", &tb);
        printf("  least recently used %s, most recently %s\n", t1, t2);
    }
    if (s.stale_tmp)
        printf("  %zu stale temporary file%s (%s) of killed runs (any 'pneumo cache clear', "
               "and the next train run, remove them)\n",
               s.stale_tmp, s.stale_tmp == 1 ? "" : "s",
               pn__fmt_bytes((double)s.stale_bytes, b2, sizeof b2));
    return 0;
}
