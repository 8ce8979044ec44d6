/* The CLI's progress drawer: see progress.h. */
#include "cli/progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "core/files.h"
#include "dist/dist.h"
#include "pneumo/util.h"

#define LINE_EVERY_S 5.0 /* LINES: at least this often while something happens */
#define BAR_EVERY_S 0.25 /* BAR: at most this often */

void pn_cli_progress_init(pn_cli_progress *p, pn_cli_progress_mode mode)
{
    if (mode == PN_CLI_AUTO) mode = isatty(STDERR_FILENO) ? PN_CLI_BAR : PN_CLI_LINES;
    if (pn__dist_rank() != 0) mode = PN_CLI_QUIET; /* under mpirun rank 0 draws for the job */
    *p = (pn_cli_progress){.mode = mode, .last_done = -1};
}

void pn_cli_progress_begin(pn_cli_progress *p, const char *label, const char *unit,
                           int64_t done)
{
    p->label = label;
    p->unit = unit;
    p->t_start = pn_now();
    p->t_last = p->t_start;
    p->start = done;
    p->last_decile = 0;
    p->last_done = -1;
    p->live = 0;
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

/* The text of one line (without \r or \n). */
static void line(const pn_cli_progress *p, int64_t done, int64_t total, char *out, size_t n)
{
    double dt = pn_now() - p->t_start;
    double r = dt > 0 ? (double)(done - p->start) / dt : 0;
    char eta[32];
    fmt_eta(total > 0 && r > 0 ? (double)(total - done) / r : -1, eta, sizeof eta);
    if (p->unit) {
        if (p->mode == PN_CLI_LINES) { /* log files: just the count */
            if (total > 0)
                snprintf(out, n, "%s: %" PRId64 "/%" PRId64 " %s", p->label, done, total, p->unit);
            else
                snprintf(out, n, "%s: %" PRId64 " %s", p->label, done, p->unit);
            return;
        }
        int w = 30, fill = total > 0 ? (int)((double)done / (double)total * w) : 0;
        if (fill > w) fill = w;
        if (fill < 0) fill = 0;
        snprintf(out, n, "%s [%.*s%*s] %" PRId64 "/%" PRId64 " %s  %.1f/s  ETA %s", p->label,
                 fill, "##############################", w - fill, "", done, total > 0 ? total : 0,
                 p->unit, r, eta);
        return;
    }
    char got[32], tot[32], rate[32];
    pn__fmt_bytes((double)done, got, sizeof got);
    pn__fmt_bytes(r, rate, sizeof rate);
    if (total > 0) {
        pn__fmt_bytes((double)total, tot, sizeof tot);
        snprintf(out, n, "%s: %s / %s (%3.0f%%)  %s/s  ETA %s", p->label, got, tot,
                 100.0 * (double)done / (double)total, rate, eta);
    } else {
        snprintf(out, n, "%s: %s  %s/s", p->label, got, rate);
    }
}

void pn_cli_progress_update(pn_cli_progress *p, int64_t done, int64_t total)
{
    if (p->mode == PN_CLI_QUIET) return;
    double t = pn_now();
    char buf[256];
    if (p->mode == PN_CLI_BAR) {
        if (p->live && t - p->t_last < BAR_EVERY_S && !(total > 0 && done >= total)) return;
        p->t_last = t;
        line(p, done, total, buf, sizeof buf);
        fprintf(stderr, "\r%-78s", buf);
        fflush(stderr);
        p->live = 1;
        return;
    }
    /* LINES: at each further 10% of a known total, every LINE_EVERY_S, at the end */
    if (done == p->last_done || done <= p->start) return;
    int decile = total > 0 ? (int)(10 * done / total) : -1;
    int at_end = total > 0 && done >= total;
    if (at_end || (total > 0 && decile > p->last_decile) || t - p->t_last >= LINE_EVERY_S) {
        if (decile >= 0) p->last_decile = decile;
        p->t_last = t;
        p->last_done = done;
        line(p, done, total, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
    }
}

void pn_cli_progress_end(pn_cli_progress *p, int64_t done, int64_t total, const char *note)
{
    if (p->mode == PN_CLI_QUIET) return;
    char buf[256];
    if (p->mode == PN_CLI_BAR) {
        if (done > p->start || p->live) { /* nothing to show when nothing came */
            line(p, done, total, buf, sizeof buf);
            fprintf(stderr, "\r%-78s\n", buf);
        }
    } else if (done > p->start && done != p->last_done) {
        line(p, done, total, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
    }
    p->live = 0;
    p->last_done = done;
    if (note && *note) fprintf(stderr, "%s: %s\n", p->label ? p->label : "pneumo", note);
    fflush(stderr);
}

void pn_cli_progress_note(pn_cli_progress *p, const char *label, const char *msg)
{
    if (p->mode == PN_CLI_QUIET) return;
    if (p->live) {
        fputc('\n', stderr);
        p->live = 0;
    }
    if (label)
        fprintf(stderr, "%s: %s\n", label, msg);
    else
        fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

void pn_cli_progress_clear(pn_cli_progress *p)
{
    if (p->mode == PN_CLI_BAR && p->live) {
        fprintf(stderr, "\r%78s\r", "");
        fflush(stderr);
    }
    p->live = 0;
}

void pn_cli_fetch_progress(const pn_fetch_event *ev, void *user)
{
    pn_cli_progress *p = user;
    char buf[96];
    switch (ev->kind) {
    case PN_FETCH_NOTE:
        pn_cli_progress_note(p, NULL, ev->msg ? ev->msg : "");
        break;
    case PN_FETCH_START:
        if (ev->done > 0) {
            snprintf(buf, sizeof buf, "resuming at byte %" PRId64, ev->done);
            pn_cli_progress_note(p, ev->label, buf);
        }
        pn_cli_progress_begin(p, ev->label, NULL, ev->done);
        break;
    case PN_FETCH_BYTES: pn_cli_progress_update(p, ev->done, ev->total); break;
    case PN_FETCH_END: pn_cli_progress_end(p, ev->done, ev->total, ev->msg); break;
    }
}
