/* Download progress on stderr (bytes, rate, ETA). */
#include "net/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "pneumo/util.h"

const char *pn_fmt_bytes(double b, char *buf, size_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f %s", b, units[u]);
    else
        snprintf(buf, n, "%.1f %s", b, units[u]);
    return buf;
}

static void fmt_eta(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 99 * 3600.0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void pn_progress_begin(pn_progress_state *p, pn_progress mode, const char *label, int64_t have)
{
    if (mode == PN_PROGRESS_AUTO) mode = isatty(STDERR_FILENO) ? PN_PROGRESS_BAR : PN_PROGRESS_LINES;
    p->mode = mode;
    p->label = label;
    p->t_start = pn_now();
    p->t_last = p->t_start;
    p->b_start = have;
    p->last_decile = -1;
    p->printed = 0;
}

static void line(pn_progress_state *p, int64_t now, int64_t total, char *out, size_t n)
{
    char got[32], tot[32], rate[32], eta[32];
    double dt = pn_now() - p->t_start;
    double r = dt > 0 ? (double)(now - p->b_start) / dt : 0;
    pn_fmt_bytes((double)now, got, sizeof got);
    pn_fmt_bytes(r, rate, sizeof rate);
    if (total > 0) {
        pn_fmt_bytes((double)total, tot, sizeof tot);
        fmt_eta(r > 0 ? (double)(total - now) / r : -1, eta, sizeof eta);
        snprintf(out, n, "%s: %s / %s (%3.0f%%)  %s/s  ETA %s", p->label, got, tot,
                 100.0 * (double)now / (double)total, rate, eta);
    } else {
        snprintf(out, n, "%s: %s  %s/s", p->label, got, rate);
    }
}

void pn_progress_update(pn_progress_state *p, int64_t now, int64_t total)
{
    if (p->mode == PN_PROGRESS_QUIET) return;
    double t = pn_now();
    char buf[256];
    if (p->mode == PN_PROGRESS_BAR) {
        if (t - p->t_last < 0.25 && p->printed) return;
        p->t_last = t;
        line(p, now, total, buf, sizeof buf);
        fprintf(stderr, "\r%-78s", buf);
        fflush(stderr);
        p->printed = 1;
        return;
    }
    /* LINES: every 10% of a known size, or every 15 s. */
    int decile = total > 0 ? (int)(10 * now / total) : -1;
    if ((total > 0 && decile > p->last_decile && decile < 10) || t - p->t_last >= 15.0) {
        if (decile >= 0) p->last_decile = decile;
        p->t_last = t;
        line(p, now, total, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
    }
}

void pn_progress_end(pn_progress_state *p, int64_t now, int64_t total, const char *note)
{
    if (p->mode == PN_PROGRESS_QUIET) return;
    char buf[256];
    if (now > p->b_start || p->printed) { /* nothing to show when nothing came */
        line(p, now, total, buf, sizeof buf);
        if (p->mode == PN_PROGRESS_BAR)
            fprintf(stderr, "\r%-78s\n", buf);
        else
            fprintf(stderr, "%s\n", buf);
    }
    if (note && *note) fprintf(stderr, "%s: %s\n", p->label, note);
    p->printed = 0;
}
