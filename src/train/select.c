/* Model selection over the epoch history (--select) and early stopping
 * (--patience): pure functions of the history, so a resumed run replays
 * them from its checkpoint's history and decides as an unbroken one. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pneumo/train.h"

static const char *const names[] = {"last", "best:val_loss", "best:val_auc"};

pn_status pn_select_parse(const char *s, pn_select_kind *out, pn_error *err)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) {
            *out = (pn_select_kind)i;
            return PN_OK;
        }
    return pn_error_set(err, PN_E_ARG,
                        "--select wants best:val_auc, best:val_loss or last, not '%s'",
                        s ? s : "");
}

const char *pn_select_name(pn_select_kind k) { return (unsigned)k < 3 ? names[k] : "?"; }

static double metric(pn_select_kind k, const pn_epoch_stats *e)
{
    return k == PN_SELECT_VAL_AUC ? e->val_auc : e->val_loss;
}

/* a strictly better than b (b NaN: any number is better) */
static int better(pn_select_kind k, double a, double b)
{
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return k == PN_SELECT_VAL_AUC ? a > b : a < b;
}

int pn_select_best(pn_select_kind k, const pn_epoch_stats *h, int n)
{
    if (n <= 0) return 0;
    if (k == PN_SELECT_LAST) return h[n - 1].epoch;
    int best = -1;
    for (int i = 0; i < n; i++)
        if (better(k, metric(k, &h[i]), best < 0 ? NAN : metric(k, &h[best]))) best = i;
    return best < 0 ? 0 : h[best].epoch;
}

/* epochs after the best one (all of them when none has the metric) */
static int since_best(pn_select_kind k, const pn_epoch_stats *h, int n)
{
    int b = pn_select_best(k, h, n);
    int i = 0;
    while (b && i < n && h[i].epoch != b) i++;
    return b ? n - 1 - i : n;
}

int pn_select_should_stop(pn_select_kind k, int patience, const pn_epoch_stats *h, int n)
{
    if (patience <= 0 || k == PN_SELECT_LAST || n <= 0) return 0;
    return since_best(k, h, n) >= patience;
}

void pn_select_describe(pn_select_kind k, int patience, int stopped, const pn_epoch_stats *h, int n,
                        char *buf, size_t len)
{
    int b = pn_select_best(k, h, n);
    int last = n > 0 ? h[n - 1].epoch : 0;
    int w = 0;
    if (k == PN_SELECT_LAST) {
        w = snprintf(buf, len, "epoch %d, the last (--select last)", last);
    } else if (!b) {
        w = snprintf(buf, len, "epoch %d, the last: no epoch has a %s (no validation set?)", last,
                     k == PN_SELECT_VAL_AUC ? "val_auc" : "val_loss");
    } else {
        int i = 0;
        while (i < n && h[i].epoch != b) i++;
        w = snprintf(buf, len, "epoch %d of %d: %s %s %.4f (--select %s)", b, last,
                     k == PN_SELECT_VAL_AUC ? "highest" : "lowest",
                     k == PN_SELECT_VAL_AUC ? "val_auc" : "val_loss", metric(k, &h[i]),
                     names[k]);
    }
    if (w >= 0 && (size_t)w < len && stopped)
        snprintf(buf + w, len - (size_t)w,
                 "; stopped early after epoch %d (%d epochs without improvement, --patience %d)",
                 last, since_best(k, h, n), patience);
}
