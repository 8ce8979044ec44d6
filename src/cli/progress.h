/* The one progress drawer of pneumo's CLI (the library never draws: it
 * reports through callbacks, e.g. pn_fetch_opts.progress, and the CLI draws
 * here). One drawer shows one job at a time (a download, a feature pass, an
 * epoch) on stderr:
 *
 *   - on a terminal (PN_CLI_BAR): one live line rewritten with \r, at most
 *     4 times a second, with a bar and the count (or bytes), rate and ETA:
 *         "  features train [#######       ] 123/800 images  41.2/s  ETA 0:16"
 *         "w.pth: 1.2 MiB / 44.7 MiB (  3%)  2.0 MiB/s  ETA 0:21"
 *   - otherwise (PN_CLI_LINES, a log file or a pipe): a plain line at each
 *     further 10% of a known total, or every 5 s, and one at the end:
 *         "  features train: 800/800 images"
 *         "w.pth: 44.7 MiB / 44.7 MiB (100%)  2.0 MiB/s  ETA 0:00"
 *   - PN_CLI_QUIET: nothing.
 *
 * Use:
 *     pn_cli_progress p;
 *     pn_cli_progress_init(&p, PN_CLI_AUTO);          // BAR on a tty, else LINES
 *     pn_cli_progress_begin(&p, "  features train", "images", 0);
 *     for (...) pn_cli_progress_update(&p, done, total);
 *     pn_cli_progress_end(&p, done, total, NULL);    // or a note: "retry 1 of 5"
 * A begin after an end starts the next job (next split, next attempt). For
 * downloads, hand pn_cli_fetch_progress and &p to pn_fetch_opts. */
#ifndef PN_CLI_PROGRESS_H
#define PN_CLI_PROGRESS_H

#include <stdint.h>

#include "pneumo/fetch.h"

typedef enum pn_cli_progress_mode {
    PN_CLI_AUTO = 0, /* BAR when stderr is a terminal, LINES otherwise */
    PN_CLI_QUIET,
    PN_CLI_LINES,
    PN_CLI_BAR,
} pn_cli_progress_mode;

typedef struct pn_cli_progress {
    pn_cli_progress_mode mode; /* resolved: never AUTO after init */
    const char *label;         /* "  features train", "w.pth" (kept, not copied) */
    const char *unit;          /* count noun ("images"), or NULL: bytes */
    double t_start;            /* pn_now() at begin */
    int64_t start;             /* done at begin (a resumed download's bytes) */
    double t_last;             /* last line drawn */
    int last_decile;           /* LINES: last 10% step drawn */
    int64_t last_done;         /* LINES: done at the last line (-1: none) */
    int live;                  /* BAR: a live line is on screen */
} pn_cli_progress;

void pn_cli_progress_init(pn_cli_progress *p, pn_cli_progress_mode mode);
/* A new job: label, unit (NULL for bytes) and what is already done. */
void pn_cli_progress_begin(pn_cli_progress *p, const char *label, const char *unit,
                           int64_t done);
/* total: the expected total, or <= 0 when unknown. */
void pn_cli_progress_update(pn_cli_progress *p, int64_t done, int64_t total);
/* The final line of the job (unless LINES already showed this state), then
 * "label: note" when note is not NULL or empty. */
void pn_cli_progress_end(pn_cli_progress *p, int64_t done, int64_t total, const char *note);
/* A line of text ("label: msg", or msg when label is NULL) that does not
 * tear a live bar: the bar is ended first. Nothing when QUIET. */
void pn_cli_progress_note(pn_cli_progress *p, const char *label, const char *msg);

/* BAR: erase the live line (for a line that replaces it, e.g. an epoch's
 * summary after its batch bar); nothing otherwise. */
void pn_cli_progress_clear(pn_cli_progress *p);

/* pn_fetch_progress_fn drawing into the pn_cli_progress passed as user:
 * START begins (with "resuming at byte N" when N > 0), BYTES updates, END
 * ends (its message as the note), NOTE prints a line. */
void pn_cli_fetch_progress(const pn_fetch_event *ev, void *user);

#endif
