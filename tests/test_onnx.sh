#!/usr/bin/env bash
# pneumo export --format onnx, checked against ONNX Runtime (npm's
# onnxruntime-node, CPU library inside the package, installed with
# --ignore-scripts into a cache folder outside the repository): its
# probabilities for shared images, preprocessed by 'pneumo preprocess', equal
# 'pneumo predict --json' within 1e-5. The sidecar JSON of every format
# (classes, threshold, input, mean/std, hashes) and the threshold note.
# A calibrated model (train --calibrate, temperature T != 1): its ONNX graph's
# probabilities equal predict's within 1e-5, its logits times T equal the
# same run's uncalibrated logits (T applied once, in the graph), and T = 1
# and T != 1 give different probabilities.
# Skips (77) when node/npm are missing or the package cannot be installed.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18_2.pth")
PYEOF
M="$tmp/r18_2.pth"

# export: the files, the sidecars, the note
"$BIN" export --model "$M" -o "$tmp/m.onnx" >"$tmp/export.log" || fail "export onnx"
cat "$tmp/export.log"
grep -q "ONNX opset 13" "$tmp/export.log" || fail "export: format line"
grep -q "^note: label PNEUMONIA when P(PNEUMONIA) >= 0.5000, the model's threshold" "$tmp/export.log" \
    || fail "export: threshold note"
"$BIN" export --model "$M" -o "$tmp/m.pth" >/dev/null || fail "export pth"
"$BIN" export --model "$M" -o "$tmp/m.st" --format safetensors >/dev/null || fail "export safetensors"
"$PY" - "$tmp" "$M" <<'PYEOF' || fail "sidecars"
import hashlib, json, sys
d, model = sys.argv[1], sys.argv[2]
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
for f, fmt in (("m.onnx", "onnx"), ("m.pth", "pth"), ("m.st", "safetensors")):
    s = json.load(open(d + "/" + f + ".json"))
    assert s["format"] == fmt and s["file"] == f and s["file_sha256"] == sha(d + "/" + f), s
    assert s["classes"] == ["NORMAL", "PNEUMONIA"] and s["threshold"] == 0.5, s
    assert s["input_size"] == 224 and s["mean"] == [0.485, 0.456, 0.406] and s["std"] == [0.229, 0.224, 0.225], s
    assert s["source_sha256"] == sha(model) and s["source_model"] == "r18_2.pth", s
    assert s["pneumo_version"] and "BILINEAR" in s["preprocessing"] and "threshold" in s["decision"], s
    if fmt == "onnx":
        assert s["input"] == {"name": "input", "dtype": "float32", "layout": "NCHW", "shape": ["batch", 3, 224, 224]}, s
        assert [o["name"] for o in s["outputs"]] == ["probabilities", "logits"] and s["opset"] >= 13, s
    else:
        assert "input" not in s, s
print("sidecars ok")
PYEOF
rc=0; "$BIN" export --model "$M" -o "$tmp/x" --format tflite 2>"$tmp/fmt.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "pth, safetensors or onnx" "$tmp/fmt.err" || fail "bad --format"

# ONNX Runtime from npm, kept in a cache folder between runs
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIP: node/npm not installed: the ONNX model was not run"; exit 77; fi
npmdir=${PNEUMO_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pneumo-test/npm}
if [ ! -d "$npmdir/node_modules/onnxruntime-node" ]; then
    # installed beside, then renamed: an interrupted install leaves nothing half-done
    part="$npmdir.part.$$"
    rm -rf "$part"; mkdir -p "$part"
    if ! (cd "$part" && timeout 300 npm install --ignore-scripts --no-audit --no-fund onnxruntime-node \
            >"$tmp/npm.log" 2>&1); then
        rm -rf "$part"; cat "$tmp/npm.log"; echo "SKIP: npm install onnxruntime-node failed"; exit 77; fi
    rm -rf "$npmdir"; mkdir -p "$(dirname "$npmdir")"; mv "$part" "$npmdir"
fi
imgs=$(ls "$DATA"/test/NORMAL/*.jpeg | head -3; ls "$DATA"/test/PNEUMONIA/*.jpeg | head -3)
xs=()
i=0
for f in $imgs; do
    "$BIN" preprocess "$f" -o "$tmp/x$i.f32" || fail "preprocess $f"
    xs+=("$tmp/x$i.f32"); i=$((i + 1))
done
# shellcheck disable=SC2086
"$BIN" predict --json --model "$M" $imgs >"$tmp/predict.jsonl" || fail predict
NODE_PATH="$npmdir/node_modules" timeout 120 node "$ROOT/tests/onnx_ort_run.js" "$tmp/m.onnx" "${xs[@]}" \
    >"$tmp/ort.jsonl" || fail "onnxruntime"
"$PY" - "$tmp" <<'PYEOF' || fail "ONNX Runtime vs pneumo"
import json, sys
d = sys.argv[1]
ref = [json.loads(l) for l in open(d + "/predict.jsonl")]
ort = [json.loads(l) for l in open(d + "/ort.jsonl")]
assert len(ref) == len(ort) == 6, (len(ref), len(ort))
worst = 0.0
for r, o in zip(ref, ort):
    assert abs(sum(o["probabilities"]) - 1) < 1e-6, o
    for a, b in zip(r["probs"], o["probabilities"]):
        worst = max(worst, abs(a - b))
print("ONNX Runtime vs pneumo predict: max |dP| = %.3g over %d images" % (worst, len(ref)))
assert worst <= 1e-5, worst
PYEOF

# a calibrated model (train --calibrate: temperature T != 1 in the model):
# the exported graph gives predict's probabilities, T applied exactly once.
# Two runs on the 62-image subset of tests/pytorch/app_parity.py with the
# same seed: calibration comes after training, so they share the head and
# the calibrated logits are the uncalibrated ones / T.
export XDG_CACHE_HOME="$tmp/cache"
mkdir -p "$tmp/ap"; "$PY" "$ROOT/tests/pytorch/app_parity.py" make "$tmp/ap" >/dev/null
for r in cal plain; do
    extra=(); [ $r = cal ] && extra=(--calibrate)
    "$BIN" train --data "$tmp/ap/data" --weights "$tmp/ap/r18.pth" --out "$tmp/$r" --seed 3 \
        --epochs 2 --threads 2 "${extra[@]}" >"$tmp/$r.log" 2>&1 || { cat "$tmp/$r.log"; fail "train $r"; }
    "$BIN" export --model "$tmp/$r/model.safetensors" -o "$tmp/$r.onnx" >/dev/null || fail "export $r"
    # shellcheck disable=SC2086
    "$BIN" predict --json --model "$tmp/$r/model.safetensors" $imgs >"$tmp/$r.predict.jsonl" || fail "predict $r"
    NODE_PATH="$npmdir/node_modules" timeout 120 node "$ROOT/tests/onnx_ort_run.js" "$tmp/$r.onnx" "${xs[@]}" \
        >"$tmp/$r.ort.jsonl" 2>/dev/null || fail "onnxruntime $r"
done
grep -q "^temperature [0-9.]* (fitted on validation" "$tmp/cal.log" || { cat "$tmp/cal.log"; fail "no temperature line"; }
"$PY" - "$tmp" <<'PYEOF' || fail "calibrated ONNX vs pneumo predict"
import json, math, sys
d = sys.argv[1]
T = json.load(open(d + "/cal/metrics.json"))["temperature"]
assert json.load(open(d + "/plain/metrics.json"))["temperature"] == 1
side = json.load(open(d + "/cal.onnx.json"))
assert side["temperature"] == T and "already in the graph" in side["calibration"], side
assert "temperature" not in json.load(open(d + "/plain.onnx.json"))
assert abs(T - 1) > 0.05, "the fitted temperature is too close to 1 to tell T = 1 from T != 1: %r" % T
rd = lambda f: [json.loads(l) for l in open(d + "/" + f)]
pc, oc, pp, op = rd("cal.predict.jsonl"), rd("cal.ort.jsonl"), rd("plain.predict.jsonl"), rd("plain.ort.jsonl")
assert len(pc) == len(oc) == len(pp) == len(op) == 6
worst = worst_l = moved = 0.0
for a, o, b, u in zip(pc, oc, pp, op):
    # ONNX Runtime's probabilities = predict's, for the calibrated model (T in the graph)
    for x, y in zip(a["probs"], o["probabilities"]):
        worst = max(worst, abs(x - y))
    # T once: calibrated logits * T = the uncalibrated model's logits, and
    # softmax(uncalibrated logits / T) = the calibrated probabilities
    for x, y in zip(o["logits"], u["logits"]):
        worst_l = max(worst_l, abs(x * T - y) / max(1.0, abs(y)))
    z = [v / T for v in u["logits"]]
    e = [math.exp(v - max(z)) for v in z]
    for x, y in zip(a["probs"], [v / sum(e) for v in e]):
        worst = max(worst, abs(x - y))
    # and T = 1 differs from T != 1
    moved = max(moved, max(abs(x - y) for x, y in zip(a["probs"], b["probs"])))
    for x, y in zip(b["probs"], u["probabilities"]):
        worst = max(worst, abs(x - y))
print("calibrated (T = %.4f) ONNX Runtime vs pneumo predict: max |dP| = %.3g, logits*T vs T=1 "
      "logits: max rel %.3g; T = 1 vs T: max |dP| = %.3g" % (T, worst, worst_l, moved))
assert worst <= 1e-5, worst
assert worst_l <= 1e-4, worst_l
assert moved > 1e-3, moved
PYEOF
echo "test_onnx: ok"
