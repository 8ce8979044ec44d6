/* Helpers shared by the CLI commands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "dist/dist.h"
#include "pneumo/util.h"

int pn_cli_fail(const char *cmd, const pn_error *err)
{
    if (pn__dist_size() > 1) /* under mpirun: which rank, where */
        fprintf(stderr, "pneumo %s: rank %d of %d on %s: %s\n", cmd, pn__dist_rank(),
                pn__dist_size(), pn__dist_host(), err && err->msg[0] ? err->msg : "failed");
    else fprintf(stderr, "pneumo %s: %s\n", cmd, err && err->msg[0] ? err->msg : "failed");
    return 1;
}

pn_status pn_cli_new_run_dir(const char *parent, char *buf, size_t n, pn_error *err)
{
    pn_status st = pn_mkdirs(parent, err);
    if (st) return st;
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
    for (int k = 1; k < 1000; k++) {
        int len = k == 1 ? snprintf(buf, n, "%s/%s", parent, stamp)
                         : snprintf(buf, n, "%s/%s-%d", parent, stamp, k);
        if (len < 0 || (size_t)len >= n) return pn_error_set(err, PN_E_ARG, "%s: path too long", parent);
        if (mkdir(buf, 0755) == 0) return PN_OK;
        if (errno != EEXIST)
            return pn_error_set(err, PN_E_IO, "%s: cannot create folder: %s", buf, strerror(errno));
    }
    return pn_error_set(err, PN_E_IO, "%s/%s: 999 run folders of this second exist", parent, stamp);
}

int pn_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "pneumo %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'pneumo %s --help')\n", cmd);
    return 2;
}

int pn_cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return pn_cli_usage_error(cmd, "%s wants a whole number from %ld to %ld, not '%s'", opt,
                                  min, max, s);
    *out = v;
    return 0;
}

int pn_cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                        double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max))
        return pn_cli_usage_error(cmd, "%s wants a number from %g to %g, not '%s'", opt, min, max,
                                  s);
    *out = v;
    return 0;
}
