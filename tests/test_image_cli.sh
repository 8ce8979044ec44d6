#!/usr/bin/env bash
# pneumo preprocess / pneumo stats from the command line. Needs ../shared/data.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}
PY=${PYTHON:-/usr/bin/python3}
[ -d "$DATA/chest_xray" ] || { echo "FAIL: test data $DATA is missing (needs ../shared/data)"; exit 1; }
# under make asan: fontconfig (cairo's text) keeps its caches for the process lifetime, not ours
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/image_lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
T=$(mktemp -d /tmp/pneumo-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# preprocess: exact outputs, as the fixture (Pillow + torchvision) says
line=$(grep -P '^data\tchest_xray/train/' tests/fixtures/image_expected.tsv | head -1)
rel=$(cut -f2 <<<"$line"); want_u8=$(cut -f6 <<<"$line"); want_f32=$(cut -f7 <<<"$line")
"$BIN" preprocess "$DATA/$rel" -o "$T/x.u8" --format u8 || fail "preprocess u8"
"$BIN" preprocess "$DATA/$rel" -o "$T/x.f32" || fail "preprocess f32"
[ "$(sha256sum <"$T/x.u8" | cut -d' ' -f1)" = "$want_u8" ] || fail "u8 output differs from Pillow"
[ "$(sha256sum <"$T/x.f32" | cut -d' ' -f1)" = "$want_f32" ] || fail "f32 output differs from torchvision"
[ "$(stat -c %s "$T/x.f32")" = 602112 ] || fail "f32 size"
"$BIN" preprocess "$DATA/$rel" -o "$T/fast.u8" --format u8 --fast-decode || fail "fast decode"
cmp -s "$T/x.u8" "$T/fast.u8" && fail "fast decode gave the exact bytes (expected an approximation)"

# usage and errors
"$BIN" preprocess --help | grep -q "usage: pneumo preprocess" || fail "preprocess --help"
"$BIN" preprocess "$DATA/$rel" >/dev/null 2>&1; [ $? = 2 ] || fail "missing -o should be a usage error"
"$BIN" preprocess "$DATA/$rel" -o "$T/y" --format f16 2>/dev/null; [ $? = 2 ] || fail "bad --format"
err=$("$BIN" preprocess "$T/nope.jpeg" -o "$T/y" 2>&1); [ $? = 1 ] || fail "missing input exit"
grep -q "$T/nope.jpeg" <<<"$err" || fail "missing input not named: $err"
head -c 5000 "$DATA/$rel" >"$T/cut.jpeg"
err=$("$BIN" preprocess "$T/cut.jpeg" -o "$T/y" 2>&1); [ $? = 1 ] || fail "truncated exit"
grep -q "cut.jpeg: truncated JPEG" <<<"$err" || fail "truncated not reported: $err"
[ -e "$T/y" ] && fail "a failed preprocess left an output file"
"$BIN" preprocess "$DATA/$rel" -o "$T/no/such/dir/x.f32" 2>/dev/null && fail "write into a missing folder"
ls "$T/no" >/dev/null 2>&1 && fail "left a folder behind"

# stats: table, json, chart, unreadable files
(cd "$T" && "$BIN" stats "$DATA/chest_xray" >"$T/stats.txt") || fail "stats"
grep -qE '^train +200 +600 +800 +3\.00' "$T/stats.txt" || fail "stats table: $(cat "$T/stats.txt")"
grep -q "unreadable files: 0" "$T/stats.txt" || fail "stats unreadable line"
[ "$(head -c 4 "$T/dataset_stats.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "default chart is not a PNG"
"$BIN" stats "$DATA/pneumoniamnist.npz" --json --chart "$T/npz.png" --no-check >"$T/s.json" || fail "stats npz"
"$PY" - "$T/s.json" <<'PYEOF' || fail "stats --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "npz" and d["classes"] == ["NORMAL", "PNEUMONIA"], d
t = d["splits"]["train"]
assert (t["NORMAL"], t["PNEUMONIA"], t["total"]) == (388, 3494, 3882), t
assert abs(t["imbalance"] - 3494 / 388) < 1e-12, t
assert d["splits"]["all"]["total"] == 5030
assert d["unreadable"] is None
PYEOF
[ "$(stat -c %s "$T/npz.png")" -gt 10000 ] || fail "npz chart too small"
mkdir -p "$T/bad/train/NORMAL" "$T/bad/train/PNEUMONIA"
cp "$DATA/$rel" "$T/bad/train/NORMAL/ok.jpeg"
cp "$T/cut.jpeg" "$T/bad/train/PNEUMONIA/cut.jpeg"
: >"$T/bad/train/PNEUMONIA/zero.jpeg"
"$BIN" stats "$T/bad" --json --no-chart >"$T/bad.json" || fail "stats on a bad folder"
"$PY" - "$T/bad.json" <<'PYEOF' || fail "stats lists unreadable files"
import json, sys
d = json.load(open(sys.argv[1]))
u = d["unreadable"]
assert [x["name"].rsplit("/", 1)[1] for x in u] == ["cut.jpeg", "zero.jpeg"], u
assert "truncated" in u[0]["reason"] and "empty" in u[1]["reason"], u
assert d["splits"]["train"]["imbalance"] == 2.0
PYEOF
"$BIN" stats "$T/missing" 2>/dev/null; [ $? = 1 ] || fail "stats on a missing folder"
"$BIN" stats --help | grep -q "usage: pneumo stats" || fail "stats --help"
"$BIN" stats "$DATA/chest_xray" --chart "$T/none/c.png" --no-check >/dev/null 2>&1 && fail "chart into a missing folder"
# the reason is named once, and nothing falls back to asking for a file name on stdin
"$BIN" stats "$DATA/chest_xray" --chart "$T/none/c.png" --no-check </dev/null >/dev/null 2>"$T/chart.err"
grep -q "none/c.png.*No such file or directory" "$T/chart.err" || fail "chart error names the reason: $(head -c 300 "$T/chart.err")"
[ "$(wc -l <"$T/chart.err")" = 1 ] || fail "chart error is one line, got $(wc -l <"$T/chart.err")"

# a split that lacks a class is flagged, not shown like an empty split
mkdir -p "$T/skew/train/NORMAL" "$T/skew/train/PNEUMONIA" "$T/skew/test/PNEUMONIA"
for d in train/NORMAL train/PNEUMONIA test/PNEUMONIA; do cp "$T/bad/train/NORMAL/ok.jpeg" "$T/skew/$d/"; done
out=$("$BIN" stats "$T/skew" --no-check --no-chart) || fail "stats skew"
echo "$out" | grep -Eq "^test +0 +1 +1  inf \(no NORMAL\)$" || fail "a missing class is flagged: $out"
echo "$out" | grep -Eq "^val +0 +0 +0  -$" || fail "an empty split shows '-': $out"
"$BIN" stats "$T/skew" --no-check --no-chart --json >"$T/skew.json" || fail "stats skew json"
"$PY" - "$T/skew.json" <<'PYEOF' || fail "stats json: undefined imbalance is null"
import json, sys
d = json.load(open(sys.argv[1]))["splits"]
assert d["test"]["imbalance"] is None and d["val"]["imbalance"] is None, d
assert d["train"]["imbalance"] == 1.0 and d["all"]["imbalance"] == 2.0, d
PYEOF

"$BIN" stats "$T/skew/test" --no-check --no-chart | grep -q "(folder, 1 class)$" || fail "stats: '1 class', not '1 classes'"

# a FIFO named .jpeg is listed as unreadable, not waited on forever
mkdir -p "$T/fifo/train/NORMAL" "$T/fifo/train/PNEUMONIA"
cp "$T/bad/train/NORMAL/"*.jpeg "$T/fifo/train/PNEUMONIA/" 2>/dev/null
mkfifo "$T/fifo/train/NORMAL/pipe.jpeg"
out=$(timeout 60 "$BIN" stats "$T/fifo" --no-chart 2>&1); rc=$?
[ $rc = 0 ] || fail "stats with a FIFO: exit $rc"
echo "$out" | grep -q "pipe.jpeg: not a regular file" || fail "stats with a FIFO: $out"
timeout 60 "$BIN" preprocess "$T/fifo/train/NORMAL/pipe.jpeg" -o "$T/p.bin" 2>/dev/null; rc=$?
[ $rc = 1 ] || fail "preprocess of a FIFO: exit $rc, want 1"

[ $fails = 0 ] && echo "all CLI checks passed"
[ $fails = 0 ]
