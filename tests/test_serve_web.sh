#!/usr/bin/env bash
# The web page of pneumo serve, end to end in headless Chromium (Debian's
# chromium, driven over the DevTools protocol on --remote-debugging-pipe by
# tests/serve_web_cdp.py, python3 standard library only): the page shows the
# model card, a shared X-ray given to its file input gives the probability
# 'pneumo predict --json' prints (4 decimals on screen, the full value in
# data-value) and the same label, the CAM overlay is drawn; a JPEG 2000
# DICOM (no .dcm name) likewise, drawn from the server's rendering; a
# non-image is refused with a message. A screenshot is kept when PNEUMO_SCREENSHOT names
# a file. Traffic to 127.0.0.1 only; every wait is bounded.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then echo "SKIP: no chromium (apt-get install chromium)"; exit 77; fi
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/serve.log" 2>/dev/null; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18_2.pth")
PYEOF
img=$(ls "$DATA"/test/PNEUMONIA/*.jpeg | head -1)
"$BIN" predict --json --model "$tmp/r18_2.pth" "$img" >"$tmp/ref.json" || fail predict
# a JPEG 2000 DICOM without a .dcm name (the page and the server go by content)
dcm=$(awk -F'\t' '$0 ~ /2\.4\.90|JPEG ?2000/ { print $1; exit }' "$DATA/../chest_xray_dicom/MANIFEST.tsv")
[ -n "$dcm" ] || fail "no JPEG 2000 file in chest_xray_dicom/MANIFEST.tsv"
cp "$DATA/../chest_xray_dicom/$dcm" "$tmp/xray_j2k"
"$BIN" predict --json --model "$tmp/r18_2.pth" "$tmp/xray_j2k" >"$tmp/ref_dcm.json" || fail "predict DICOM"
printf 'plain text, not an X-ray' >"$tmp/notes.png"

"$BIN" serve --model "$tmp/r18_2.pth" --port 0 --port-file "$tmp/port" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "server did not start"

shot=${PNEUMO_SCREENSHOT:-$tmp/page.png}
timeout 180 "$PY" "$ROOT/tests/serve_web_cdp.py" "$CHROMIUM" "http://127.0.0.1:$(cat "$tmp/port")/" \
    "$img" "$tmp/ref.json" "$tmp/notes.png" "$shot" "$tmp/profile" r18_2.pth \
    "$tmp/xray_j2k" "$tmp/ref_dcm.json" || fail "browser checks"
[ -s "$shot" ] || fail "no screenshot"
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
echo "test_serve_web: ok"
