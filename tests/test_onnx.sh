#!/usr/bin/env bash
# pneumo export --format onnx, checked against ONNX Runtime (npm's
# onnxruntime-node, CPU library inside the package, installed with
# --ignore-scripts into a cache folder outside the repository): its
# probabilities for shared images, preprocessed by 'pneumo preprocess', equal
# 'pneumo predict --json' within 1e-5. The sidecar JSON of every format
# (classes, threshold, input, mean/std, hashes) and the threshold note.
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
echo "test_onnx: ok"
