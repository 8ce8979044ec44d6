#!/usr/bin/env bash
# pneumo eval as a clinician's external validation: --out writes the run's
# files for any data set, every interval in metrics.json equals the
# independent reference (tests/metrics_ref.py: scipy's Wilson, a numpy
# DeLong from the psi matrix, the same seeded bootstrap) recomputed from
# predictions.csv, the audit trail's hashes equal Python's, a second eval
# reads the feature cache, two models get DeLong's paired test, a threshold
# chosen on the split is labelled, and the bad cases (one class, every image
# unreadable, an unreachable PPV) are reported plainly (null, a sentence,
# exit 1), never as NaN. Models: random torchvision ResNet-18s with a
# 2-output head (seeded), so no training run is needed.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
for seed in (0, 1):
    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/m%d.pth" % seed)
PYEOF

# 1. --out on the val split (16 images), with a bootstrap
"$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val --bootstrap 200 --seed 7 --out "$tmp/o" \
    >"$tmp/o.txt" 2>"$tmp/o.err" || { cat "$tmp/o.err"; fail "eval --out"; }
cat "$tmp/o.txt"
for f in predictions.csv metrics.json confusion.png roc.png calibration.png classes.png report.html; do
    [ -s "$tmp/o/$f" ] || fail "$f missing"
done
grep -Eq "^accuracy +[0-9.]+%   95% CI +[0-9.]+- *[0-9.]+%  \(Wilson\)$" "$tmp/o.txt" || fail "no accuracy interval"
grep -Eq "^ROC AUC +[0-9.]+   95% CI [0-9.]+-[0-9.]+  \(DeLong\)$" "$tmp/o.txt" || fail "no AUC interval"
grep -q "^bootstrap    200 stratified resamples, seed 7" "$tmp/o.txt" || fail "no bootstrap block"
grep -Eq "^  F1 +[0-9.]+-[0-9.]+" "$tmp/o.txt" || fail "no F1 bootstrap interval"

# 2. metrics.json against the reference, from predictions.csv's probabilities
"$PY" - "$tmp" "$ROOT" "$tmp/m0.pth" "$DATA" <<'PYEOF'
import csv, hashlib, json, math, os, subprocess, sys
d, root, model, data = sys.argv[1:5]
def no_nan(x): raise ValueError("NaN/Infinity literal in metrics.json: " + x)
m = json.loads(open(d + "/o/metrics.json").read(), parse_constant=no_nan)
v = m["final"]["val"]
rows = list(csv.DictReader(open(d + "/o/predictions.csv")))
assert len(rows) == v["n"] == 16, (len(rows), v["n"])
with open(d + "/ref_in.txt", "w") as f:
    f.write("%r 200 7\n" % v["threshold"])
    for r in rows:
        f.write("%s %d\n" % (r["prob_PNEUMONIA"], r["label"] == "PNEUMONIA"))
# predictions.csv keeps 6 decimals: the reference recomputes from those, so
# compare what does not move with that rounding exactly, the rest closely
subprocess.check_call([sys.executable, root + "/tests/metrics_ref.py", d + "/ref_in.txt", d + "/ref_out.txt"])
ref = {k: float(x) for k, x in (l.split() for l in open(d + "/ref_out.txt"))}
ci = v["ci95"]
for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
    if ci[k] is None:
        assert math.isnan(ref[k + "_lo"]), k
        continue
    assert abs(ci[k][0] - ref[k + "_lo"]) < 1e-12 and abs(ci[k][1] - ref[k + "_hi"]) < 1e-12, (k, ci[k], ref[k + "_lo"])
assert abs(v["roc_auc"] - ref["auc"]) < 1e-9, (v["roc_auc"], ref["auc"])
assert abs(ci["roc_auc_se"] - ref["auc_se"]) < 1e-4, (ci["roc_auc_se"], ref["auc_se"])
assert abs(ci["roc_auc"][0] - ref["auc_lo"]) < 1e-3, (ci["roc_auc"], ref["auc_lo"])
b = v["bootstrap"]
assert b["resamples"] == 200 and b["seed"] == 7
for k in ("accuracy", "sensitivity", "specificity", "f1"):
    lo, hi = b["ci95"][k]
    assert abs(lo - ref["boot_%s_lo" % k]) < 1e-9 and abs(hi - ref["boot_%s_hi" % k]) < 1e-9, (k, lo, ref["boot_%s_lo" % k])
cal = v["calibration"]
assert abs(cal["brier"] - ref["brier"]) < 1e-5 and len(cal["bins"]) == 10
assert sum(x["n"] for x in cal["bins"]) == 16
# the audit trail: hashes as Python computes them, the command line, typed settings
a = m["audit"]
assert a["weights_sha256"] == hashlib.sha256(open(model, "rb").read()).hexdigest()
lines = []
for r in sorted(os.listdir(data + "/val")):
    pass
lab = {"NORMAL": 0, "PNEUMONIA": 1}
for r in rows:  # predictions.csv is in the data set's order
    p = r["file"] if os.path.exists(r["file"]) else os.path.join(data, "val", r["label"], r["file"])
    lines.append("val\t%s\t%d\t%s\n" % (r["file"], lab[r["label"]], hashlib.sha256(open(p, "rb").read()).hexdigest()))
assert a["data_manifest_sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest(), "manifest hash"
assert "--bootstrap 200" in a["command_line"] and a["command_line"].startswith("pneumo eval"), a["command_line"]
assert a["pneumo_version"] and a["date"].endswith("Z") and a["host"]
assert a["class_counts"]["val"] == {"NORMAL": 8, "PNEUMONIA": 8}, a["class_counts"]
s = m["settings"]
assert s["bootstrap"] == 200 and s["seed"] == 7 and s["bf16"] is False and s["split"] == "val", s
assert v["chose_threshold"] is False
print("metrics.json == reference: OK")
PYEOF

# 3. a second eval of the same set reads every feature from the cache
"$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val >"$tmp/o2.txt" 2>"$tmp/o2.err" || fail "second eval"
grep -q "16 of 16 images' features read from the cache" "$tmp/o2.err" || { cat "$tmp/o2.err"; fail "no cache hits"; }
"$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val --no-cache >"$tmp/o3.txt" 2>"$tmp/o3.err" || fail "--no-cache"
grep -q "from the cache" "$tmp/o3.err" && fail "--no-cache read the cache"
cmp -s "$tmp/o2.txt" "$tmp/o3.txt" || fail "cached and uncached eval differ"

# 4. two models: DeLong's paired test, as the reference computes it
"$BIN" eval -m "$tmp/m0.pth" -m "$tmp/m1.pth" --data "$DATA" --split val --json >"$tmp/pair.json" 2>/dev/null || fail "paired eval"
"$BIN" eval -m "$tmp/m0.pth" -m "$tmp/m1.pth" --data "$DATA" --split val --out "$tmp/pair" >"$tmp/pair.txt" 2>/dev/null || fail "paired eval --out"
grep -q "^DeLong's paired test, m0.pth vs m1.pth on the same 16 images" "$tmp/pair.txt" || { cat "$tmp/pair.txt"; fail "no paired test line"; }
"$PY" - "$tmp" "$ROOT" <<'PYEOF'
import csv, json, subprocess, sys
d, root = sys.argv[1:3]
j = json.load(open(d + "/pair.json"))
c = j["comparison"]
rows = list(csv.DictReader(open(d + "/pair/predictions.csv")))
a = [r for r in rows if r["split"].startswith("val A")]
b = [r for r in rows if r["split"].startswith("val B")]
assert len(a) == len(b) == 16 and [r["file"] for r in a] == [r["file"] for r in b]
with open(d + "/pin.txt", "w") as f:
    f.write("0.5 0 0\n")
    for x, y in zip(a, b):
        f.write("%s %d %s\n" % (x["prob_PNEUMONIA"], x["label"] == "PNEUMONIA", y["prob_PNEUMONIA"]))
subprocess.check_call([sys.executable, root + "/tests/metrics_ref.py", d + "/pin.txt", d + "/pout.txt"])
ref = {k: float(v) for k, v in (l.split() for l in open(d + "/pout.txt"))}
assert abs(c["difference"] - ref["diff"]) < 1e-9, (c["difference"], ref["diff"])
assert abs(c["p"] - ref["p"]) < 1e-3 and abs(c["z"] - ref["z"]) < 1e-2, (c["p"], ref["p"], c["z"], ref["z"])
assert 0 <= c["p"] <= 1 and c["positives"] == 8 and c["negatives"] == 8
m = json.load(open(d + "/pair/metrics.json"))
assert m["comparison"]["p"] == c["p"] and m["audit"]["weights_b_sha256"]
print("paired DeLong == reference: OK")
PYEOF
grep -q "id=comparison" "$tmp/pair/report.html" || fail "report: no comparison"

# 5. a threshold chosen on the split itself is labelled everywhere
"$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val --threshold sens=0.9 --out "$tmp/t" >"$tmp/t.txt" 2>/dev/null || fail "sens=0.9"
grep -q "threshold .* (sensitivity >= 0.9 on this val split itself)" "$tmp/t.txt" || { cat "$tmp/t.txt"; fail "threshold source"; }
grep -q "caution: this split chose the threshold" "$tmp/t.txt" || fail "no caution in the text"
grep -q "this split chose the threshold: its metrics at that threshold are optimistic" "$tmp/t/report.html" || fail "no caution in the report"
"$PY" -c "
import json, sys
v = json.load(open(sys.argv[1]))['final']['val']
assert v['chose_threshold'] is True and 'optimistic' in v['caution'] and v['sensitivity'] >= 0.9, v
" "$tmp/t/metrics.json" || fail "metrics.json: chose_threshold"

"$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val --threshold spec=0.75 --json >"$tmp/t.json" 2>/dev/null || fail "spec=0.75 --json"
"$PY" -c "
import json, sys
v = json.load(open(sys.argv[1]))
assert v['chose_threshold'] is True and 'optimistic' in v['caution'] and v['specificity'] >= 0.75, v
" "$tmp/t.json" || fail "--json: chose_threshold"

# 6. bad input, reported plainly
mkdir -p "$tmp/one/train/NORMAL" "$tmp/one/train/PNEUMONIA" "$tmp/one/test/PNEUMONIA"
cp "$(ls "$DATA"/train/NORMAL/* | head -1)" "$tmp/one/train/NORMAL/"
cp "$(ls "$DATA"/train/PNEUMONIA/* | head -1)" "$tmp/one/train/PNEUMONIA/"
for f in $(ls "$DATA"/test/PNEUMONIA/* | head -3); do cp "$f" "$tmp/one/test/PNEUMONIA/"; done
"$BIN" eval -m "$tmp/m0.pth" --data "$tmp/one" --out "$tmp/one_o" --bootstrap 50 >"$tmp/one.txt" 2>&1 || { cat "$tmp/one.txt"; fail "one-class eval"; }
grep -q "^ROC AUC      .*n/a (one class only)" "$tmp/one.txt" || fail "one class: AUC not n/a"
grep -qi "nan" "$tmp/one.txt" && fail "NaN printed"
grep -qi "nan" "$tmp/one_o/metrics.json" && fail "NaN in metrics.json"
grep -q "the ROC AUC is undefined: the split has only positive images" "$tmp/one_o/report.html" || fail "no sentence for the undefined AUC"
"$PY" -c "
import json, sys
t = json.load(open(sys.argv[1]))['final']['test']
assert t['roc_auc'] is None and t['ci95']['roc_auc'] is None and t['specificity'] is None
assert t['bootstrap']['ci95']['roc_auc'] is None and t['bootstrap']['undefined_resamples']['roc_auc'] == 50
" "$tmp/one_o/metrics.json" || fail "one class: nulls"
rc=0; "$BIN" eval -m "$tmp/m0.pth" --data "$tmp/one" --threshold sens=0.9 >"$tmp/r.txt" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "needs both classes" "$tmp/r.txt" || { cat "$tmp/r.txt"; fail "sens=0.9 on one class"; }
# every image unreadable with --skip-bad: nothing to measure, said so
mkdir -p "$tmp/bad/train/NORMAL" "$tmp/bad/train/PNEUMONIA" "$tmp/bad/test/NORMAL" "$tmp/bad/test/PNEUMONIA"
cp "$tmp/one/train/NORMAL/"* "$tmp/bad/train/NORMAL/"; cp "$tmp/one/train/PNEUMONIA/"* "$tmp/bad/train/PNEUMONIA/"
printf 'not a jpeg' >"$tmp/bad/test/NORMAL/a.jpeg"; printf 'not a jpeg' >"$tmp/bad/test/PNEUMONIA/b.jpeg"
rc=0; "$BIN" eval -m "$tmp/m0.pth" --data "$tmp/bad" --skip-bad >"$tmp/b.txt" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "every image was unreadable and left out (--skip-bad): there is nothing to measure" "$tmp/b.txt" ||
    { cat "$tmp/b.txt"; fail "n=0 after --skip-bad"; }
grep -q "skipped unreadable image .*a.jpeg" "$tmp/b.txt" || fail "unreadable image not named"
# an unreachable PPV: the best reachable value in the message
rc=0; "$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --split val --threshold ppv=1 >"$tmp/p.txt" 2>&1 || rc=$?
if [ $rc != 0 ]; then
    grep -q "no threshold that calls any image positive reaches it" "$tmp/p.txt" || { cat "$tmp/p.txt"; fail "ppv=1 message"; }
fi
rc=0; "$BIN" eval -m "$tmp/m0.pth" --data "$DATA" --threshold npv=0.9 >"$tmp/u.txt" 2>&1 || rc=$?
[ $rc = 2 ] || fail "--threshold npv=0.9 accepted"
echo "test_eval_cli: OK"
