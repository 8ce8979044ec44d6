/* Download progress on stderr: a live line (bytes, rate, ETA) on a terminal,
 * plain lines otherwise. Internal to src/net. */
#ifndef PN_NET_PROGRESS_H
#define PN_NET_PROGRESS_H

#include <stdint.h>

#include "pneumo/fetch.h"

typedef struct pn_progress_state {
    pn_progress mode;   /* resolved: QUIET, LINES or BAR */
    const char *label;  /* what is downloaded (file name) */
    double t_start;     /* pn_now() at the start of this attempt */
    int64_t b_start;    /* bytes already there at the start of this attempt */
    double t_last;      /* last print */
    int last_decile;    /* LINES: last 10% step printed */
    int printed;        /* BAR: a live line is on screen */
} pn_progress_state;

/* mode AUTO becomes BAR when stderr is a terminal, LINES otherwise. */
void pn_progress_begin(pn_progress_state *p, pn_progress mode, const char *label, int64_t have);
/* now: bytes on disk so far; total: expected total or -1. */
void pn_progress_update(pn_progress_state *p, int64_t now, int64_t total);
/* Final line ("done", or a reason). */
void pn_progress_end(pn_progress_state *p, int64_t now, int64_t total, const char *note);

/* "1.5 MiB" style sizes into buf. */
const char *pn_fmt_bytes(double b, char *buf, size_t n);

#endif
