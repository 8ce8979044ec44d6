#!/usr/bin/env bash
# pneumo quantize / --int8 end to end on a small set of the shared images:
# the report it prints, the file (inspect's int8 line), eval / predict with
# --int8 against fp32 on the same images, and the refusals (--int8 on an fp32
# model, too few calibration images, a missing option).
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=$(cd "${PNEUMO_DATA:-../shared/data}/chest_xray" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 16 + 16 training images, 4 + 4 test images (symlinks)
for c in NORMAL PNEUMONIA; do
    mkdir -p "$tmp/set/train/$c" "$tmp/set/test/$c"
    ls "$DATA/train/$c"/*.jpeg | head -16 | while read -r f; do ln -s "$f" "$tmp/set/train/$c/"; done
    ls "$DATA/test/$c"/*.jpeg | head -4 | while read -r f; do ln -s "$f" "$tmp/set/test/$c/"; done
done
"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/m.pth")
PYEOF
M="$tmp/m.pth" Q="$tmp/m.int8.safetensors"

"$BIN" quantize --model "$M" --data "$tmp/set" -o "$Q" --calib 16 -j 2 --batch 8 >"$tmp/q.log" || fail quantize
cat "$tmp/q.log"
grep -q "^int8 calibration: 16 training images" "$tmp/q.log" || fail "calibration line"
grep -q "accuracy cost on 7 val+test images" "$tmp/q.log" || fail "report"
grep -q "max |dP(class 1)|" "$tmp/q.log" && grep -q "ROC AUC" "$tmp/q.log" || fail "report lines"
"$BIN" inspect -q "$Q" | grep -q "^int8: format 1, calibrated on 16 training images" || fail inspect

# eval and predict: int8 close to fp32 on the same images
"$BIN" eval --model "$Q" --data "$tmp/set" --json >"$tmp/f.json" || fail "eval fp32"
"$BIN" eval --model "$Q" --data "$tmp/set" --json --int8 >"$tmp/q.json" || fail "eval --int8"
"$BIN" predict --model "$Q" --json "$tmp/set/test" >"$tmp/pf.jsonl" || fail "predict fp32"
"$BIN" predict --model "$Q" --json --int8 "$tmp/set/test" >"$tmp/pq.jsonl" || fail "predict --int8"
"$PY" - "$tmp" <<'PYEOF' || fail "int8 vs fp32"
import json, sys
d = sys.argv[1]
f, q = json.load(open(d + "/f.json")), json.load(open(d + "/q.json"))
assert f["n"] == q["n"] == 7, (f, q)  # the shared test split has 3 PNEUMONIA
rows = lambda p: [json.loads(l) for l in open(p) if l.strip()]
pf, pq = rows(d + "/pf.jsonl"), rows(d + "/pq.jsonl")
assert len(pf) == len(pq) == 7
assert [a["file"] for a in pf] == [b["file"] for b in pq]
dp = [abs(a["probs"][1] - b["probs"][1]) for a, b in zip(pf, pq)]
print("predict int8 vs fp32: max |dP| %.5f" % max(dp))
assert max(dp) <= 0.05, dp  # quantize measured 0.0037 on these images
assert max(dp) > 0, dp      # int8 really ran
PYEOF

# refusals
rc=0; "$BIN" eval --model "$M" --data "$tmp/set" --int8 2>"$tmp/e.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no int8 calibration; make a quantized model with 'pneumo quantize" "$tmp/e.err" \
    || fail "--int8 on an fp32 model: $(cat "$tmp/e.err")"
rc=0; "$BIN" quantize --model "$M" --data "$tmp/set" -o "$tmp/x" --calib 5 2>"$tmp/c.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--calib" "$tmp/c.err" || fail "--calib 5"
rc=0; "$BIN" quantize --model "$M" --data "$tmp/set" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "no --out should be a usage error"
echo ok
