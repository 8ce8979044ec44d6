/* The audit trail of a run: pneumo's version, the date (UTC), the host and
 * the command line as typed. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pneumo/report.h"
#include "pneumo/version.h"

/* s, single-quoted for a POSIX shell when it holds anything but safe characters */
static size_t quoted(char *out, size_t n, const char *s)
{
    int plain = *s != 0;
    for (const char *c = s; *c && plain; c++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c) != NULL;
    size_t k = 0;
    if (plain) return (size_t)snprintf(out, n, "%s", s);
    if (k + 1 < n) out[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    if (k + 1 < n) out[k++] = '\'';
    out[k < n ? k : n - 1] = 0;
    return k;
}

void pn_audit_init(pn_audit *a, int argc, char *const *argv)
{
    memset(a, 0, sizeof *a);
    snprintf(a->version, sizeof a->version, "%s", PNEUMO_VERSION);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(a->date, sizeof a->date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    if (gethostname(a->host, sizeof a->host)) snprintf(a->host, sizeof a->host, "unknown");
    a->host[sizeof a->host - 1] = 0;
    size_t k = 0;
    for (int i = 0; i < argc && argv[i] && k + 2 < sizeof a->command_line; i++) {
        if (i) a->command_line[k++] = ' ';
        /* argv[0] is "pneumo CMD" (main.c): written as is */
        if (i == 0) k += (size_t)snprintf(a->command_line + k, sizeof a->command_line - k, "%s", argv[0]);
        else k += quoted(a->command_line + k, sizeof a->command_line - k, argv[i]);
        if (k >= sizeof a->command_line) k = sizeof a->command_line - 1;
    }
    a->command_line[k] = 0;
}
