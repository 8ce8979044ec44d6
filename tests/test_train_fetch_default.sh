#!/usr/bin/env bash
# `pneumo train` without --data uses the data set that `pneumo fetch dataset`
# installed (here from a small Kaggle-layout zip built from ../shared/data),
# and a missing data set is an error that says which command supplies it.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
[ -d "$DATA" ] || { echo "FAIL: $DATA is missing (this test needs ../shared/data)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache" KAGGLEHUB_CACHE="$tmp/none" TORCH_HOME="$tmp/none"
mkdir -p "$HOME"
fail() { echo "FAIL: $*"; exit 1; }

# No data set anywhere and no network (the URL points at a closed local port): the
# error names the command that installs it. (--weights is given so only --data is missing.)
"$PY" - "$DATA" "$tmp" <<'PYEOF'
import os, sys, zipfile, torch, torchvision
data, tmp = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), tmp + "/r18.pth")
with zipfile.ZipFile(tmp + "/small.zip", "w") as z:
    for split in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            d = os.path.join(data, split, cls)
            for name in sorted(os.listdir(d))[:4]:
                z.write(os.path.join(d, name), f"chest_xray/{split}/{cls}/{name}")
PYEOF

# 1. no data set installed, offline: the message says what supplies it
if PNEUMO_KAGGLE_URL=http://127.0.0.1:9/none timeout 120 "$BIN" train --weights "$tmp/r18.pth" \
    --out "$tmp/x" >"$tmp/x.log" 2>&1; then
    cat "$tmp/x.log"; fail "train without a data set succeeded"
fi
grep -q "pneumo fetch dataset --from" "$tmp/x.log" || { cat "$tmp/x.log"; fail "no hint"; }
[ ! -e "$tmp/x/model.safetensors" ] || fail "a model was written"

# 2. install from the zip, then train without --data
"$BIN" fetch dataset --from "$tmp/small.zip" -q >"$tmp/f.log" 2>&1 || { cat "$tmp/f.log"; fail "fetch --from"; }
"$BIN" train --weights "$tmp/r18.pth" --epochs 1 --out "$tmp/run" >"$tmp/t.log" 2>&1 ||
    { cat "$tmp/t.log"; fail "train without --data"; }
cat "$tmp/t.log"
grep -q "no --data given" "$tmp/t.log" || fail "no notice about the default data set"
grep -q "$XDG_CACHE_HOME/pneumo/datasets/chest-xray-pneumonia" "$tmp/t.log" || fail "not the fetched data set"
grep -q "8 train, 8 val, 7 test" "$tmp/t.log" || fail "wrong image counts"
[ -s "$tmp/run/model.safetensors" ] || fail "no model"
echo "train default-data checks passed"
