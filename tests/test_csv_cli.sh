#!/usr/bin/env bash
# pneumo stats --labels: the CSV fixtures (tests/fixtures/csv, counts from
# pandas in expected.tsv) through the command line, and a bad CSV named.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}
PY=${PYTHON:-/usr/bin/python3}
[ -d "$DATA/chest_xray_dicom" ] || { echo "FAIL: test data $DATA is missing (needs ../shared/data)"; exit 1; }
T=$(mktemp -d /tmp/pneumo-csv-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
F=tests/fixtures/csv

"$BIN" stats "$DATA/chest_xray_dicom" --labels $F/rsna/stage_2_train_labels.csv --preset rsna --json \
    --no-chart >"$T/r.json" || fail "stats rsna"
"$BIN" stats "$DATA/chest_xray_dicom/expected" --labels $F/nih/Data_Entry_2017.csv --preset nih --json \
    --no-chart --no-check >"$T/n.json" || fail "stats nih"
"$BIN" stats "$DATA/chest_xray" --labels $F/chexpert/train.csv --preset chexpert --uncertain zeros --json \
    --no-chart --no-check >"$T/c.json" || fail "stats chexpert"
"$PY" - "$T" $F/expected.tsv <<'PYEOF' || fail "counts differ from pandas'"
import json, sys
t, exp = sys.argv[1], sys.argv[2]
want = {}
for line in open(exp):
    if line.startswith("#"): continue
    p, csv, pol, sp, n, pn, d = line.split()
    want[(p, pol, sp)] = (int(n), int(pn))
for f, key in (("r", ("rsna", "-", "train")), ("n", ("nih", "-", "train")), ("n", ("nih", "-", "test")),
               ("c", ("chexpert", "zeros", "train"))):
    j = json.load(open("%s/%s.json" % (t, f)))
    s = j["splits"][key[2]]
    got = (s["NORMAL"], s["PNEUMONIA"])
    assert got == want[key], (key, got, want[key])
    assert j["kind"] == "csv", j["kind"]
assert json.load(open(t + "/r.json"))["unreadable"] == []
PYEOF

printf 'Path,Sex\nx.jpeg,Male\n' >"$T/bad.csv"
"$BIN" stats "$DATA/chest_xray" --labels "$T/bad.csv" --preset chexpert --no-chart 2>"$T/bad.err"
[ $? = 1 ] || fail "bad CSV exit"
grep -q "bad.csv: no column 'Pneumonia'" "$T/bad.err" || fail "bad CSV message: $(cat "$T/bad.err")"
printf 'Path,Pneumonia\nCheXpert-v1.0-small/val/NORMAL/IM-0199-0001.jpeg,0\nCheXpert-v1.0-small/x.jpg,1\n' >"$T/miss.csv"
"$BIN" stats "$DATA/chest_xray" --labels "$T/miss.csv" --preset chexpert --no-chart 2>/dev/null && fail "a missing image accepted"
"$BIN" stats "$DATA/chest_xray" --labels "$T/miss.csv" --preset chexpert --skip-bad --no-chart >"$T/m.txt" 2>"$T/m.err" ||
    fail "--skip-bad"
grep -q "skipped: .*miss.csv:3: image 'CheXpert-v1.0-small/x.jpg' not found" "$T/m.err" || fail "skip not listed: $(cat "$T/m.err")"
"$BIN" stats "$DATA/chest_xray" --labels "$T/miss.csv" --preset mimic 2>/dev/null; [ $? = 2 ] || fail "bad --preset"

[ "$fails" = 0 ] && echo "test_csv_cli: all passed"
exit $((fails > 0))
