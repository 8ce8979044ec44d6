#!/usr/bin/env bash
# pneumo train --bootstrap N (issue #12): the final val and test metrics get
# the same seeded stratified percentile bootstrap as 'pneumo eval
# --bootstrap', seeded by the run's --seed, on the CLI (one block per split),
# in metrics.json ("bootstrap" under final.val / final.test) and in the
# report's bootstrap table. Checked: every interval equals the independent
# reference (tests/metrics_ref.py: numpy's MT19937 with the same draws,
# numpy.percentile) recomputed from predictions.csv; each defined interval
# contains its point estimate; a metric undefined in every resample (PPV
# when nothing is predicted positive) is null with the count, never NaN; the
# same --seed reproduces the intervals exactly, another seed draws others;
# without --bootstrap there is no "bootstrap" key. Data: the 62-image subset
# of tests/pytorch/app_parity.py (random-weights ResNet-18 by PyTorch).
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
"$PY" tests/pytorch/app_parity.py make "$tmp" >/dev/null
run() { # out seed [extra...]
    local out=$1 seed=$2; shift 2
    "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/$out" --seed "$seed" \
        --epochs 5 --lr 0.01 --threads 2 --threshold auto "$@" >"$tmp/$out.log" 2>&1 \
        || { cat "$tmp/$out.log"; fail "train $out"; }
}
run a 3 --bootstrap 200
cat "$tmp/a.log"
grep -q "^val bootstrap 200 stratified resamples, seed 3: 95% percentile intervals$" "$tmp/a.log" \
    || fail "no val bootstrap block"
grep -q "^test bootstrap 200 stratified resamples, seed 3: 95% percentile intervals$" "$tmp/a.log" \
    || fail "no test bootstrap block"
grep -Eq "^  F1 +[0-9.]+-[0-9.]+$" "$tmp/a.log" || fail "no F1 bootstrap interval"
grep -qi "nan" "$tmp/a.log" && fail "NaN printed"
grep -q "id=bootstrap" "$tmp/a/report.html" || fail "report: no bootstrap table"

# the same seed again (its own folder): the same intervals; another seed: others
run b 3 --bootstrap 200
run c 4 --bootstrap 200
run d 3

"$PY" - "$tmp" "$ROOT" <<'PYEOF'
import csv, json, math, subprocess, sys
d, root = sys.argv[1:3]
def no_nan(x): raise ValueError("NaN/Infinity literal in metrics.json: " + x)
load = lambda r: json.loads(open("%s/%s/metrics.json" % (d, r)).read(), parse_constant=no_nan)
a, b, c, plain = load("a"), load("b"), load("c"), load("d")
assert a["settings"]["bootstrap"] == 200 and a["settings"]["seed"] == 3, a["settings"]
assert "bootstrap" not in plain["settings"], plain["settings"]
rows = list(csv.DictReader(open(d + "/a/predictions.csv")))
keys = {"accuracy": "accuracy", "sensitivity": "sensitivity", "specificity": "specificity",
        "ppv": "ppv", "npv": "npv", "f1": "f1", "roc_auc": "auc"}
undefined_seen = 0
for split in ("val", "test"):
    v = a["final"][split]
    bs = v["bootstrap"]
    assert bs["resamples"] == 200 and bs["seed"] == 3, bs
    assert "bootstrap" not in plain["final"][split], plain["final"][split].keys()
    # reproducible: the same seed, the same intervals; the same model, the same point values
    assert b["final"][split]["bootstrap"] == bs, (split, b["final"][split]["bootstrap"], bs)
    # the reference, from predictions.csv's probabilities (6 decimals) at the run's threshold
    rs = [r for r in rows if r["split"] == split]
    assert len(rs) == v["n"], (split, len(rs), v["n"])
    with open(d + "/in_%s.txt" % split, "w") as f:
        f.write("%r 200 3\n" % a["threshold"])
        for r in rs:
            f.write("%s %d\n" % (r["prob_PNEUMONIA"], r["label"] == "PNEUMONIA"))
    subprocess.check_call([sys.executable, root + "/tests/metrics_ref.py", d + "/in_%s.txt" % split,
                           d + "/out_%s.txt" % split])
    ref = {k: float(x) for k, x in (l.split() for l in open(d + "/out_%s.txt" % split))}
    for k, rk in keys.items():
        ci, un = bs["ci95"][k], bs["undefined_resamples"][k]
        assert un == ref["boot_%s_undef" % rk], (split, k, un, ref["boot_%s_undef" % rk])
        if ci is None:  # undefined in every resample: null, and so is the point value
            assert un == 200 and math.isnan(ref["boot_%s_lo" % rk]), (split, k)
            assert v[k] is None, (split, k, v[k])
            undefined_seen += 1
            continue
        lo, hi = ci
        tol = 1e-9 if k != "roc_auc" else 1e-6
        assert abs(lo - ref["boot_%s_lo" % rk]) < tol and abs(hi - ref["boot_%s_hi" % rk]) < tol, \
            (split, k, ci, ref["boot_%s_lo" % rk], ref["boot_%s_hi" % rk])
        assert lo <= v[k] <= hi, (split, k, lo, v[k], hi)
print("undefined-everywhere metrics seen (null):", undefined_seen)
assert undefined_seen >= 1, "the test set no longer has an undefined PPV: the null case is not checked"
# another seed (and so another run): other draws
assert c["final"]["val"]["bootstrap"]["seed"] == 4
assert c["final"]["val"]["bootstrap"]["ci95"] != a["final"]["val"]["bootstrap"]["ci95"] \
    or c["final"]["test"]["bootstrap"]["ci95"] != a["final"]["test"]["bootstrap"]["ci95"]
print("train --bootstrap == reference, reproducible: OK")
PYEOF

rc=0; "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/e" --bootstrap 0 \
    2>"$tmp/e.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--bootstrap" "$tmp/e.err" || { cat "$tmp/e.err"; fail "--bootstrap 0 accepted"; }
echo "test_train_bootstrap: ok"
