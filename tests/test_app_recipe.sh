#!/usr/bin/env bash
# The full default recipe on ../shared/data/chest_xray with a random-weights
# ResNet-18 .pth made by PyTorch (generated here, not committed): outputs,
# the disk cache on a second run, --resume after a shorter run equals an
# unbroken run, eval agrees with the run's metrics, predict/--json/--cam,
# and bad input (missing/mis-shaped weights, one class, unwritable --out).
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
d = sys.argv[1]
torch.manual_seed(0)
sd = torchvision.models.resnet18().state_dict()
torch.save(sd, d + "/r18.pth")
bad = dict(sd); del bad["layer1.0.conv1.weight"]
bad["layer2.0.bn1.weight"] = torch.zeros(7)
torch.save(bad, d + "/bad.pth")
PYEOF

# 1. the recipe, first run: features computed and cached
"$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/a" --seed 1 --threshold auto \
    >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "train"; }
cat "$tmp/a.log"
for f in model.safetensors metrics.json predictions.csv curves.png confusion.png roc.png report.html checkpoint.safetensors; do
    [ -s "$tmp/a/$f" ] || fail "$f missing"
done
grep -q "^epoch 5/5" "$tmp/a.log" || fail "no epoch lines"
grep -q "seed 1" "$tmp/a.log" || fail "seed not in the header"
grep -q "class weights (N / (C \* n_c)): NORMAL 2.0000 PNEUMONIA 0.6667" "$tmp/a.log" || fail "class weights"
grep -q "only 16 images" "$tmp/a.log" || fail "no warning about the small val split"
# stderr is a file here: the feature pass prints plain progress lines (not only at the end)
grep -Eq "^  features train: [1-7][0-9]{2}/800 images$" "$tmp/a.log" || fail "no progress lines in a log"
grep -q "^  features train: 800/800 images$" "$tmp/a.log" || fail "no final progress line"
[ "$(wc -l <"$tmp/a/predictions.csv")" -eq 28 ] || fail "predictions.csv rows"
ls "$tmp"/*/ >/dev/null
ls "$tmp/a" | grep -q tmp && fail "temporary files left"

# 2. second run: every feature from the disk cache; 2 epochs, then --resume to 5
"$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/b" --seed 1 --threshold auto \
    --epochs 2 >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "train b"; }
grep -q "feature cache: 827 hits, 0 computed" "$tmp/b.log" || { cat "$tmp/b.log"; fail "cache not used"; }
"$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/b" --seed 1 --threshold auto \
    --epochs 5 --resume >"$tmp/b2.log" 2>&1 || { cat "$tmp/b2.log"; fail "resume"; }
grep -q "^epoch 1/5" "$tmp/b2.log" && fail "resume repeated epoch 1"
grep -q "^epoch 3/5" "$tmp/b2.log" || fail "resume did not run epoch 3"
# --resume without a checkpoint: an error naming the file, nothing trained
if "$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/nr" --resume >"$tmp/nr.log" 2>&1; then
    cat "$tmp/nr.log"; fail "--resume without a checkpoint accepted"; fi
grep -q "nr/checkpoint.safetensors does not exist: nothing to resume" "$tmp/nr.log" || { cat "$tmp/nr.log"; fail "--resume message"; }
grep -q "^epoch" "$tmp/nr.log" && fail "--resume without a checkpoint trained"
"$BIN" train --help | grep -A1 -e "--resume" | grep -q "any --freeze" || fail "--help: --resume levels"
# a missing option value is named as such (not "unknown option")
for c in "train --out" "eval --data" "predict --model"; do
    rc=0; out=$("$BIN" $c 2>&1 >/dev/null) || rc=$?
    [ $rc = 2 ] || fail "$c: exit $rc, want 2"
    echo "$out" | grep -q "^pneumo ${c%% *}: ${c#* } needs a value$" || fail "$c: $out"
done
rc=0; out=$("$BIN" predict -m 2>&1) || rc=$?
echo "$out" | grep -q "^pneumo predict: -m (--model) needs a value" || fail "predict -m: $out"
rc=0; out=$("$BIN" eval --json=1 2>&1) || rc=$?
echo "$out" | grep -q "^pneumo eval: --json takes no value" || fail "eval --json=1: $out"
# the command list and the start of train --help mention the deeper levels
"$BIN" --help | grep "^  train " | grep -q -e "--freeze layer4|layer3|none" || fail "pneumo --help: train summary"
"$BIN" train --help | head -8 | grep -q -e "--freeze layer4|layer3|none" || fail "train --help: start"
# 3. without the cache: the same model again
"$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/c" --seed 1 --threshold auto \
    --no-cache >"$tmp/c.log" 2>&1 || { cat "$tmp/c.log"; fail "train c"; }

"$PY" - "$tmp" <<'PYEOF'
import json, struct, sys
import numpy as np
d = sys.argv[1]
def fc(p):
    with open(p, "rb") as f:
        (hl,) = struct.unpack("<Q", f.read(8)); h = json.loads(f.read(hl)); base = 8 + hl
        out = []
        for k in ("fc.weight", "fc.bias"):
            b, e = h[k]["data_offsets"]; f.seek(base + b); out.append(f.read(e - b))
        return out, h["__metadata__"]
a, ma = fc(d + "/a/model.safetensors")
b, _ = fc(d + "/b/model.safetensors")
c, _ = fc(d + "/c/model.safetensors")
assert a == b, "resumed run differs from the unbroken run"
assert a == c, "--no-cache run differs from the cached run"
assert any(k.endswith("threshold") for k in ma), ma.keys()
ja = json.load(open(d + "/a/metrics.json")); jb = json.load(open(d + "/b/metrics.json"))
la = [h["train_loss"] for h in ja["history"]]; lb = [h["train_loss"] for h in jb["history"]]
assert la == lb, (la, lb)
assert len(la) == 5 and all(np.isfinite(la))
assert ja["threshold_source"].startswith("auto")
assert ja["final"]["test"]["n"] == 11 and ja["final"]["val"]["n"] == 16
print("resume == unbroken, cache == no cache: OK")
PYEOF

# --val-split: a patient-grouped validation set carved from train (features from the cache)
"$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/vs" --val-split 0.1 --threshold auto \
    >"$tmp/vs.log" 2>&1 || { cat "$tmp/vs.log"; fail "--val-split"; }
grep -q "become the validation set" "$tmp/vs.log" || { cat "$tmp/vs.log"; fail "--val-split message"; }
grep -q "only 16 images" "$tmp/vs.log" && fail "warned about val/ although --val-split was given"
"$PY" - "$tmp" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1] + "/vs/metrics.json"))
n = m["final"]["val"]["n"]
assert 70 <= n <= 90, n  # about 10% of 800, whole patients
print("val-split: %d validation images" % n)
PYEOF

# 4. eval agrees with the run's final test metrics (at the stored threshold)
"$BIN" eval --model "$tmp/a/model.safetensors" --data "$DATA" --json >"$tmp/eval.json" || fail "eval"
"$PY" - "$tmp" <<'PYEOF'
import json, sys
d = sys.argv[1]
e = json.load(open(d + "/eval.json")); m = json.load(open(d + "/a/metrics.json"))["final"]["test"]
for k in ("n", "accuracy", "sensitivity", "specificity", "roc_auc", "confusion"):
    assert e[k] == m[k] or abs(e[k] - m[k]) < 1e-6, (k, e[k], m[k])
print("eval == train's test metrics: OK")
PYEOF
"$BIN" eval --model "$tmp/a/model.safetensors" --data "$DATA" --split val | grep -q "ROC AUC" || fail "eval text"

# 5. predict: lines, JSON, CAM PNGs
# text: '# threshold T on P(PNEUMONIA)', a header, then file/label/P(PNEUMONIA)/threshold rows
"$BIN" predict --model "$tmp/a/model.safetensors" "$DATA/test/PNEUMONIA" >"$tmp/p.txt" || fail predict
[ "$(wc -l <"$tmp/p.txt")" -eq 5 ] || fail "predict lines"
thr=$("$PY" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["threshold"])' "$tmp/a/metrics.json" 2>/dev/null ||
      "$PY" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["final"]["threshold"])' "$tmp/a/metrics.json")
[ "$(sed -n 1p "$tmp/p.txt")" = "# threshold $thr on P(PNEUMONIA)" ] || { head -2 "$tmp/p.txt"; fail "predict: threshold line ($thr)"; }
[ "$(sed -n 2p "$tmp/p.txt")" = "$(printf 'file\tlabel\tP(PNEUMONIA)\tthreshold')" ] || fail "predict: header"
# rows: P(PNEUMONIA) is the JSON's probs[1] at 4 decimals, the label is P >= threshold
"$BIN" predict --json --model "$tmp/a/model.safetensors" "$DATA/test/PNEUMONIA" >"$tmp/p1.json" || fail predict json
"$PY" - "$tmp/p.txt" "$tmp/p1.json" <<'PYEOF' || fail "predict text vs json"
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]).readlines()[2:]]
js = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(js) == 3
for r, j in zip(rows, js):
    assert r[0] == j["file"] and r[1] == j["label"], (r, j)
    assert r[2] == "%.4f" % j["probs"][1] and r[3] == "%.4f" % j["threshold"], (r, j)
    assert j["classes"] == ["NORMAL", "PNEUMONIA"]
    assert (j["probs"][1] >= j["threshold"]) == (j["label"] == "PNEUMONIA"), j
print("predict text rows == JSON rows: OK")
PYEOF
"$BIN" predict --json --model "$tmp/r18.pth" "$DATA/test/NORMAL/IM-0027-0001.jpeg" 2>"$tmp/p.err" && fail "a 1000-class .pth must be refused"
"$BIN" predict --json --cam "$tmp/cam" --model "$tmp/a/model.safetensors" "$DATA/test/NORMAL" >"$tmp/p.json" || fail "predict json"
[ "$(wc -l <"$tmp/p.json")" -eq 8 ] || fail "predict json lines"
grep -q '"probs":\[' "$tmp/p.json" || fail "probs"
[ "$(ls "$tmp/cam/NORMAL" | grep -c '_cam.png$')" -eq 8 ] || fail "CAM pngs (the input tree mirrored)"
# batched (default) == one image at a time, row for row, bit for bit
"$BIN" predict --json --batch 1 --cam "$tmp/cam1" --model "$tmp/a/model.safetensors" "$DATA/test/NORMAL" >"$tmp/p1b.json" || fail "predict --batch 1"
sed 's/cam1/cam/' "$tmp/p1b.json" | cmp -s - "$tmp/p.json" || { diff "$tmp/p1b.json" "$tmp/p.json" | head; fail "batched predict != batch 1"; }
# --cam never overwrites: a folder given twice and a file named like one of
# its images get distinct maps; every 'cam' path in the JSON exists
"$BIN" predict --json --cam "$tmp/cam2" --model "$tmp/a/model.safetensors" "$DATA/test" "$DATA/test" \
    "$DATA/test/NORMAL/IM-0027-0001.jpeg" >"$tmp/p2.json" || fail "predict --cam twice"
"$PY" - "$tmp/p2.json" "$tmp/cam2" <<'PYEOF' || fail "cam paths"
import json, os, sys
js = [json.loads(l) for l in open(sys.argv[1])]
cams = [j["cam"] for j in js]
assert len(js) == 23 and len(set(cams)) == 23, (len(js), len(set(cams)))
assert all(os.path.isfile(c) for c in cams)
d = sys.argv[2]
assert cams[0] == d + "/test/NORMAL/IM-0027-0001_cam.png", cams[0]
assert cams[11] == d + "/test/NORMAL/IM-0027-0001_2_cam.png", cams[11]
assert cams[22] == d + "/IM-0027-0001_cam.png", cams[22]
n = sum(len(f) for _, _, f in os.walk(d))
assert n == 23, n
print("predict --cam: 23 distinct maps, mirrored tree: OK")
PYEOF
# bad images among good ones: every good one printed, each bad one named on stderr, exit 1
good1="$DATA/test/NORMAL/IM-0027-0001.jpeg" good2="$DATA/test/PNEUMONIA/person38_virus_84.jpeg"
head -c 3000 "$good1" >"$tmp/trunc.jpeg"
if "$BIN" predict --model "$tmp/a/model.safetensors" "$good1" "$tmp/missing.jpeg" "$tmp/trunc.jpeg" \
    "$good2" >"$tmp/pm.txt" 2>"$tmp/pm.err"; then fail "predict with bad images: exit 0"; fi
cat "$tmp/pm.err"
[ "$(sed 1,2d "$tmp/pm.txt" | cut -f1 | tr '\n' ' ')" = "$good1 $good2 " ] || { cat "$tmp/pm.txt"; fail "good images not printed"; }
grep -q "missing.jpeg" "$tmp/pm.err" || fail "missing image not named"
grep -q "trunc.jpeg" "$tmp/pm.err" || fail "truncated image not named"
# a folder with class subfolders only (test/): walked recursively, sorted; an empty folder is an error
"$BIN" predict --model "$tmp/a/model.safetensors" "$DATA/test" >"$tmp/pt.txt" || fail "predict test/"
[ "$(wc -l <"$tmp/pt.txt")" -eq 13 ] || { cat "$tmp/pt.txt"; fail "predict test/: lines"; }
[ "$(sed -n 3p "$tmp/pt.txt" | cut -f1)" = "$DATA/test/NORMAL/$(ls "$DATA/test/NORMAL" | head -1)" ] || fail "predict test/: order"
mkdir -p "$tmp/empty/sub"
if "$BIN" predict --model "$tmp/a/model.safetensors" "$tmp/empty" >/dev/null 2>"$tmp/pe.err"; then fail "empty folder: exit 0"; fi
grep -q "empty: no .jpg/.jpeg/.png files" "$tmp/pe.err" || { cat "$tmp/pe.err"; fail "empty folder message"; }

# predict with a plain torchvision state_dict (2-output head) equals PyTorch's softmax
"$PY" - "$tmp" "$DATA" "$BIN" <<'PYEOF'
import json, subprocess, sys
import torch, torchvision
from PIL import Image
from torchvision import transforms
d, data, binp = sys.argv[1:4]
torch.manual_seed(1)
m = torchvision.models.resnet18(num_classes=2)
torch.save(m.state_dict(), d + "/r18_2.pth")
m.eval()
img = data + "/test/PNEUMONIA/person38_virus_84.jpeg"
tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
with torch.no_grad():
    want = torch.softmax(m(tf(Image.open(img).convert("RGB"))[None]), 1)[0].tolist()
out = subprocess.run([binp, "predict", "--json", "--model", d + "/r18_2.pth", img],
                     check=True, capture_output=True, text=True).stdout
got = json.loads(out)["probs"]
assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4, (got, want)
print("predict on a torchvision state_dict == PyTorch:", got, want)
PYEOF

# 6. bad input
if "$BIN" train --data "$DATA" --weights "$tmp/bad.pth" --out "$tmp/bad" >"$tmp/bad.log" 2>&1; then fail "bad weights accepted"; fi
grep -q "layer1.0.conv1.weight" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "missing key not named"; }
grep -q "layer2.0.bn1.weight" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "mis-shaped key not named"; }
[ -e "$tmp/bad/model.safetensors" ] && fail "model written from bad weights"
mkdir -p "$tmp/one/train/NORMAL"
ln -s "$(cd "$DATA/train/NORMAL" && pwd)/$(ls "$DATA/train/NORMAL" | head -1)" "$tmp/one/train/NORMAL/"
if "$BIN" train --data "$tmp/one" --weights "$tmp/r18.pth" --out "$tmp/o1" >"$tmp/one.log" 2>&1; then fail "one class accepted"; fi
grep -q "two" "$tmp/one.log" || { cat "$tmp/one.log"; fail "one-class message"; }
# a class without training images is named; no val/ is explained (and null in metrics.json)
for s in nc/train/NORMAL nc/val/PNEUMONIA nv/train/NORMAL nv/train/PNEUMONIA; do
    mkdir -p "$tmp/$s"
    src=$DATA/${s#*/}
    for f in $(ls "$src" | head -3); do ln -s "$(cd "$src" && pwd)/$f" "$tmp/$s/"; done
done
if "$BIN" train --data "$tmp/nc" --weights "$tmp/r18.pth" --out "$tmp/nc1" >"$tmp/nc.log" 2>&1; then fail "a class without training images accepted"; fi
grep -q "no PNEUMONIA images" "$tmp/nc.log" || { cat "$tmp/nc.log"; fail "empty class not named"; }
"$BIN" train --data "$tmp/nv" --weights "$tmp/r18.pth" --out "$tmp/nv1" --epochs 2 >"$tmp/nv.log" 2>&1 ||
    { cat "$tmp/nv.log"; fail "train without val/"; }
grep -q "no validation split.*--val-split 0.1" "$tmp/nv.log" || { cat "$tmp/nv.log"; fail "no-val message"; }
grep -q "only 0 images" "$tmp/nv.log" && fail "'only 0 images' warning without val/"
grep -q "no validation split" "$tmp/nv1/report.html" || fail "report.html: missing val not said"
"$PY" - "$tmp/nv1/metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["final"]["val"] is None and m["final"]["test"] is None, m["final"]
assert all(h["val_loss"] is None for h in m["history"]) and len(m["history"]) == 2
print("no val/: metrics.json final.val = null: OK")
PYEOF
touch "$tmp/file"
if "$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --out "$tmp/file/sub" >"$tmp/w.log" 2>&1; then fail "unwritable out accepted"; fi
grep -q -- "--out" "$tmp/w.log" || { cat "$tmp/w.log"; fail "unwritable out message"; }
if "$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --freeze layer4 --resume --out "$tmp/f" >"$tmp/f.log" 2>&1; then fail "--freeze layer4 --resume without a checkpoint accepted"; fi
grep -q "f/checkpoint.safetensors does not exist: nothing to resume" "$tmp/f.log" || { cat "$tmp/f.log"; fail "freeze/resume message"; }
if "$BIN" train --data "$DATA" --weights "$tmp/r18.pth" --freeze layer5 --out "$tmp/f" >"$tmp/f.log" 2>&1; then fail "--freeze layer5 accepted"; fi
grep -q "freeze" "$tmp/f.log" || fail "bad freeze message"
# an unreadable image: named and fatal, or skipped (named) with --skip-bad
for s in train/NORMAL train/PNEUMONIA val/NORMAL val/PNEUMONIA; do
    mkdir -p "$tmp/sb/$s"
    for f in $(ls "$DATA/$s" | head -3); do ln -s "$(cd "$DATA/$s" && pwd)/$f" "$tmp/sb/$s/"; done
done
head -c 3000 "$(ls -d "$DATA"/train/NORMAL/* | head -1)" >"$tmp/sb/train/NORMAL/IM-9999-0001.jpeg"
if "$BIN" train --data "$tmp/sb" --weights "$tmp/r18.pth" --out "$tmp/nest/sb1" >"$tmp/sb1.log" 2>&1; then fail "truncated image accepted"; fi
grep -q "IM-9999-0001.jpeg" "$tmp/sb1.log" || { cat "$tmp/sb1.log"; fail "bad image not named"; }
# a failed start leaves no empty --out folder (nor the parents it created) behind
[ -e "$tmp/nest" ] && fail "failed run left its --out folder behind"
[ -e "$tmp/bad" ] && fail "bad weights left the --out folder behind"
[ -e "$tmp/nr" ] && fail "--resume without a checkpoint left the --out folder behind"
"$BIN" train --data "$tmp/sb" --weights "$tmp/r18.pth" --out "$tmp/sb2" --skip-bad >"$tmp/sb2.log" 2>&1 || { cat "$tmp/sb2.log"; fail "--skip-bad"; }
grep -q "skipped unreadable image .*IM-9999-0001.jpeg" "$tmp/sb2.log" || { cat "$tmp/sb2.log"; fail "skipped image not named"; }
# eval --skip-bad names each image it leaves out (with the reason) and the count
"$BIN" eval --model "$tmp/a/model.safetensors" --data "$tmp/sb" --split train --skip-bad >"$tmp/es.txt" 2>"$tmp/es.err" ||
    { cat "$tmp/es.err"; fail "eval --skip-bad"; }
cat "$tmp/es.err"
grep -q "skipped unreadable image .*IM-9999-0001.jpeg" "$tmp/es.err" || fail "eval: skipped image not named"
grep -q "1 unreadable image left out" "$tmp/es.err" || fail "eval: no count of skipped images"
grep -q ": 6 images" "$tmp/es.txt" || { cat "$tmp/es.txt"; fail "eval --skip-bad: image count"; }
echo "recipe test: OK"
