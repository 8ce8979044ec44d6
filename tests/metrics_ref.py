#!/usr/bin/env python3
"""Independent reference for pneumo's metric intervals (tests/test_intervals.c).

usage: metrics_ref.py IN OUT
IN:  first line "threshold reps seed"; then one item a line: "score label [score_b]"
OUT: "key value" lines (nan where undefined).

Wilson: scipy.stats.binomtest(...).proportion_ci(method="wilson").
AUC: scipy.stats.mannwhitneyu's U / (npos * nneg).
DeLong: the structural components from the full npos x nneg matrix of
psi(X, Y) = [X > Y] + [X == Y] / 2 (DeLong, DeLong & Clarke-Pearson 1988),
normal quantile and p-value from scipy.stats.norm.
Bootstrap: numpy's MT19937 with legacy (init_genrand) seeding, the same
draws as pn_bootstrap_metrics, numpy.percentile (linear).
"""
import sys

import numpy as np
from scipy import stats


def main():
    lines = open(sys.argv[1]).read().split("\n")
    thr, reps, seed = lines[0].split()
    thr, reps, seed = float(thr), int(reps), int(seed)
    rows = [l.split() for l in lines[1:] if l.strip()]
    s = np.array([np.float32(r[0]) for r in rows], dtype=np.float64)
    y = np.array([int(r[1]) for r in rows])
    sb = np.array([np.float32(r[2]) for r in rows], dtype=np.float64) if rows and len(rows[0]) > 2 else None
    out = {}
    z = stats.norm.ppf(0.975)
    pred = s >= thr
    tp = int(np.sum(pred & (y == 1))); fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0))); fn = int(np.sum(~pred & (y == 1)))
    for name, k, n in (("accuracy", tp + tn, len(y)), ("sensitivity", tp, tp + fn),
                       ("specificity", tn, tn + fp), ("ppv", tp, tp + fp), ("npv", tn, tn + fn)):
        if n:
            ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
            out[name + "_lo"], out[name + "_hi"] = ci.low, ci.high
        else:
            out[name + "_lo"] = out[name + "_hi"] = float("nan")

    def comps(sc):
        X, Y = sc[y == 1], sc[y == 0]
        psi = (X[:, None] > Y[None, :]) + 0.5 * (X[:, None] == Y[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    def auc(sc):
        X, Y = sc[y == 1], sc[y == 0]
        if len(X) == 0 or len(Y) == 0:
            return float("nan")
        return stats.mannwhitneyu(X, Y).statistic / (len(X) * len(Y))

    m, n = int(np.sum(y == 1)), int(np.sum(y == 0))
    out["auc"] = auc(s)
    if m >= 2 and n >= 2:
        v10, v01 = comps(s)
        var = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
        se = np.sqrt(var)
        out["auc_se"] = se
        out["auc_lo"], out["auc_hi"] = max(0.0, out["auc"] - z * se), min(1.0, out["auc"] + z * se)
        if sb is not None:
            w10, w01 = comps(sb)
            var_b = np.var(w10, ddof=1) / m + np.var(w01, ddof=1) / n
            cov = np.cov(v10, w10, ddof=1)[0, 1] / m + np.cov(v01, w01, ddof=1)[0, 1] / n
            d = out["auc"] - auc(sb)
            sed = np.sqrt(var + var_b - 2 * cov)
            out["auc_b"], out["diff"], out["cov"], out["se_diff"] = auc(sb), d, cov, sed
            out["z"] = d / sed
            out["p"] = 2 * stats.norm.sf(abs(d / sed))
    else:
        out["auc_se"] = out["auc_lo"] = out["auc_hi"] = float("nan")

    # calibration of P(positive): Brier, ECE over 10 equal-width bins; the
    # temperature minimizing the NLL of softmax(log([1-s, s]) / T) (scipy)
    out["brier"] = float(np.mean((s - y) ** 2))
    b = np.minimum((s * 10).astype(int), 9)
    out["ece"] = float(sum(np.sum(b == k) / len(s) * abs(np.mean(y[b == k]) - np.mean(s[b == k]))
                           for k in range(10) if np.any(b == k)))
    if 0 < m < len(y) and np.all((s > 0) & (s < 1)):
        from scipy.optimize import minimize_scalar
        p32 = np.stack([1 - s.astype(np.float32), s.astype(np.float32)], axis=1).astype(np.float64)
        z = np.log(p32)

        def nll(t):
            a = z / t
            a = a - a.max(axis=1, keepdims=True)
            ls = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
            return -np.mean(ls[np.arange(len(y)), y])

        r = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10})
        out["temperature"], out["nll_before"], out["nll_after"] = r.x, nll(1.0), r.fun
    if reps > 0:
        bg = np.random.MT19937(0)
        bg._legacy_seeding(seed)
        raw = iter(())

        def u32():
            nonlocal raw
            try:
                return int(next(raw))
            except StopIteration:
                raw = iter(bg.random_raw(4096).tolist())
                return int(next(raw))

        def draw(k):
            lim = 2**32 - (2**32 % k)
            while True:
                r = u32()
                if r < lim:
                    return r % k

        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        vals = {k: [] for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "auc")}
        nan = float("nan")
        with np.errstate(invalid="ignore", divide="ignore"):
            for _ in range(reps):
                idx = [pos[draw(m)] for _ in range(m)] + [neg[draw(n)] for _ in range(n)]
                ss, yy = s[idx], y[idx]
                pr = ss >= thr
                a = int(np.sum(pr & (yy == 1))); b = int(np.sum(pr & (yy == 0)))
                c = int(np.sum(~pr & (yy == 0))); d = int(np.sum(~pr & (yy == 1)))
                r = lambda u, v: u / v if v else nan
                vals["accuracy"].append(r(a + c, len(yy))); vals["sensitivity"].append(r(a, a + d))
                vals["specificity"].append(r(c, c + b)); vals["ppv"].append(r(a, a + b))
                vals["npv"].append(r(c, c + d)); vals["f1"].append(r(2 * a, 2 * a + b + d))
                X, Y = ss[yy == 1], ss[yy == 0]
                vals["auc"].append(stats.mannwhitneyu(X, Y).statistic / (len(X) * len(Y))
                                   if len(X) and len(Y) else nan)
        for k, v in vals.items():
            v = np.array(v)
            ok = v[np.isfinite(v)]
            out["boot_" + k + "_undef"] = len(v) - len(ok)
            if len(ok):
                out["boot_" + k + "_lo"], out["boot_" + k + "_hi"] = np.percentile(ok, [2.5, 97.5])
            else:
                out["boot_" + k + "_lo"] = out["boot_" + k + "_hi"] = nan
    with open(sys.argv[2], "w") as f:
        for k, v in out.items():
            f.write("%s %.17g\n" % (k, v))


if __name__ == "__main__":
    main()
