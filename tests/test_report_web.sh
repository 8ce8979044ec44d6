#!/usr/bin/env bash
# report.html of 'pneumo eval --out' (two models, a bootstrap) opened in
# headless Chromium (Debian's chromium over the DevTools protocol, by
# tests/report_web_cdp.py): the expected sections in order, every chart
# decoded, no NaN shown, and a full-page screenshot in which each heading
# and chart is drawn where the layout puts it. The screenshot is kept when
# PNEUMO_SCREENSHOT names a file. Local file only; every wait is bounded.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then echo "SKIP: no chromium (apt-get install chromium)"; exit 77; fi
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
"$BIN" eval -m "$tmp/m0.pth" -m "$tmp/m1.pth" --data "$DATA" --split val --bootstrap 100 --out "$tmp/o" -q \
    >"$tmp/o.txt" 2>&1 || { cat "$tmp/o.txt"; fail "eval --out"; }
shot=${PNEUMO_SCREENSHOT:-$tmp/report.png}
timeout 180 "$PY" "$ROOT/tests/report_web_cdp.py" "$CHROMIUM" "$tmp/o/report.html" "$shot" "$tmp/profile" \
    "pneumo evaluation report" "Audit trail" "Images per split and class" "Settings" "Final metrics" \
    "Calibration" "Bootstrap intervals" "Model comparison" || fail "browser checks"
[ -s "$shot" ] || fail "no screenshot"
echo "test_report_web: ok"
