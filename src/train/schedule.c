/* Per-epoch learning-rate schedules, replayed the way torch 1.13's
 * lr_scheduler steps them (recursive forms, double arithmetic):
 *
 *   LinearLR(sf, total_iters=W)  e=0: lr*sf; 0<e<=W: lr*(1 + (1-sf)/(W*sf + (e-1)*(1-sf)));
 *                                e>W: lr
 *   MultiStepLR(M, gamma)        lr*gamma**count(e in M), else lr
 *   CosineAnnealingLR(T, 0)      e=0: lr; e>0: (1+cos(pi*e/T)) / (1+cos(pi*(e-1)/T)) * lr
 *   ReduceLROnPlateau(min, factor, patience, threshold 1e-4 rel, eps 1e-8)
 *
 * With a warmup W: SequentialLR([LinearLR(1/(W+1), W), main], [W]) for step
 * and cosine (the main scheduler restarts at epoch W from the base lr via its
 * closed form, so milestones count from the warmup's end internally; here
 * they are given as absolute epochs); constant and plateau keep stepping
 * LinearLR through the warmup (plateau steps only after it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/train.h"

pn_status pn_lr_schedule_parse(const char *s, pn_lr_schedule *out, pn_error *err)
{
    int warmup = out->warmup;
    memset(out, 0, sizeof *out);
    out->warmup = warmup;
    out->gamma = 0.1;
    out->patience = 10;
    out->factor = 0.1;
    if (!s || !strcmp(s, "constant")) return PN_OK;
    if (!strcmp(s, "cosine")) {
        out->kind = PN_LR_COSINE;
        return PN_OK;
    }
    char *end;
    if (!strncmp(s, "plateau", 7) && (s[7] == 0 || s[7] == ':')) {
        out->kind = PN_LR_PLATEAU;
        if (!s[7]) return PN_OK;
        long p = strtol(s + 8, &end, 10);
        if (end == s + 8 || p < 0 || p > 100000 || (*end && *end != ':'))
            return pn_error_set(err, PN_E_ARG, "--lr-schedule %s: plateau:PATIENCE[:FACTOR]", s);
        out->patience = (int)p;
        if (*end) {
            const char *f = end + 1;
            out->factor = strtod(f, &end);
            if (end == f || *end || !(out->factor > 0 && out->factor < 1))
                return pn_error_set(err, PN_E_ARG,
                                    "--lr-schedule %s: the plateau factor must be in (0,1)", s);
        }
        return PN_OK;
    }
    if (!strncmp(s, "step:", 5)) {
        out->kind = PN_LR_STEP;
        const char *q = s + 5;
        for (;;) {
            long e = strtol(q, &end, 10);
            if (end == q || e < 1 || e > 1000000)
                return pn_error_set(err, PN_E_ARG,
                                    "--lr-schedule %s: step:E1,E2,...:GAMMA with epochs >= 1", s);
            if (out->nmilestones == PN_LR_MAX_MILESTONES)
                return pn_error_set(err, PN_E_ARG, "--lr-schedule %s: at most %d milestones", s,
                                    PN_LR_MAX_MILESTONES);
            if (out->nmilestones && e <= out->milestones[out->nmilestones - 1])
                return pn_error_set(err, PN_E_ARG,
                                    "--lr-schedule %s: milestones must increase", s);
            out->milestones[out->nmilestones++] = (int)e;
            if (*end == ',') {
                q = end + 1;
                continue;
            }
            break;
        }
        if (*end != ':')
            return pn_error_set(err, PN_E_ARG, "--lr-schedule %s: step:E1,E2,...:GAMMA (no GAMMA)",
                                s);
        const char *g = end + 1;
        out->gamma = strtod(g, &end);
        if (end == g || *end || !(out->gamma > 0) || !isfinite(out->gamma))
            return pn_error_set(err, PN_E_ARG, "--lr-schedule %s: GAMMA must be > 0", s);
        return PN_OK;
    }
    return pn_error_set(err, PN_E_ARG,
                        "--lr-schedule wants constant, step:E1,E2,...:GAMMA, cosine or "
                        "plateau[:PATIENCE[:FACTOR]], not '%s'",
                        s);
}

void pn_lr_schedule_describe(const pn_lr_schedule *s, char *buf, size_t n)
{
    int k = 0;
    switch (s->kind) {
    case PN_LR_CONSTANT: k = snprintf(buf, n, "constant"); break;
    case PN_LR_COSINE: k = snprintf(buf, n, "cosine"); break;
    case PN_LR_PLATEAU:
        k = snprintf(buf, n, "plateau:%d:%g", s->patience, s->factor);
        break;
    case PN_LR_STEP:
        k = snprintf(buf, n, "step:");
        for (int i = 0; i < s->nmilestones && k >= 0 && (size_t)k < n; i++)
            k += snprintf(buf + k, n - (size_t)k, "%s%d", i ? "," : "", s->milestones[i]);
        if (k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, ":%g", s->gamma);
        break;
    }
    if (s->warmup && k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, " warmup %d", s->warmup);
}

pn_status pn_lr_schedule_check(const pn_lr_schedule *s, int epochs, int has_val, pn_error *err)
{
    if (s->warmup < 0 || s->warmup >= epochs)
        return pn_error_set(err, PN_E_ARG, "--warmup %d: must be below --epochs %d", s->warmup,
                            epochs);
    if (s->kind == PN_LR_PLATEAU && !has_val)
        return pn_error_set(err, PN_E_ARG,
                            "--lr-schedule plateau steps on the validation loss: there is no "
                            "validation set (use --val-split 0.1)");
    for (int i = 0; s->kind == PN_LR_STEP && i < s->nmilestones; i++)
        if (s->milestones[i] <= s->warmup || s->milestones[i] >= epochs)
            return pn_error_set(err, PN_E_ARG,
                                "--lr-schedule step milestone %d: must be after the warmup (%d) "
                                "and before the last epoch (%d)",
                                s->milestones[i], s->warmup, epochs);
    return PN_OK;
}

/* LinearLR's recursive factor at last_epoch e (e >= 1) */
static double linear_step(double lr, int e, int total, double sf)
{
    if (e > total) return lr;
    return lr * (1. + (1. - sf) / (total * sf + (e - 1) * (1. - sf)));
}

double pn_lr_at(const pn_lr_schedule *s, double base, int epochs, int e,
                const pn_epoch_stats *hist)
{
    const int W = s->warmup;
    const double sf = W > 0 ? 1.0 / (W + 1) : 1.0;
    const int seq = W > 0 && (s->kind == PN_LR_STEP || s->kind == PN_LR_COSINE);
    double lr = W > 0 ? base * sf : base; /* epoch index 0 */
    double best = INFINITY;               /* plateau's state */
    int bad = 0;
    for (int i = 1; i < e; i++) {         /* the step after epoch index i-1: last_epoch = i */
        if (i < W || (i == W && !seq)) {  /* LinearLR.step() */
            lr = linear_step(lr, i, W, sf);
            continue;
        }
        if (i == W) { /* SequentialLR's milestone: main.step(0), the closed form at 0 */
            lr = base;
            continue;
        }
        const int t = i - W; /* the main scheduler's last_epoch */
        if (s->kind == PN_LR_PLATEAU) {
            double cur = hist[i - 1].val_loss;
            if (cur < best * (1. - 1e-4)) {
                best = cur;
                bad = 0;
            } else {
                bad++;
            }
            if (bad > s->patience) {
                double nl = lr * s->factor;
                if (nl < 0) nl = 0;
                if (lr - nl > 1e-8) lr = nl;
                bad = 0;
            }
        } else if (s->kind == PN_LR_STEP) {
            int count = 0;
            for (int k = 0; k < s->nmilestones; k++) count += s->milestones[k] - W == t;
            if (count) lr = lr * pow(s->gamma, count);
        } else if (s->kind == PN_LR_COSINE) {
            const double T = epochs - W, pi = 3.141592653589793;
            lr = (1 + cos(pi * t / T)) / (1 + cos(pi * (t - 1) / T)) * (lr - 0) + 0;
        }
    }
    return lr;
}
