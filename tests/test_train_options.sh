#!/usr/bin/env bash
# pneumo train's optimisation options end to end (issue #13) on the 62-image
# subset of tests/pytorch/app_parity.py (random-weights ResNet-18 by PyTorch):
#   --optimizer sgd --momentum --nesterov, --lr-schedule plateau with --warmup,
#   --select best:val_loss --patience: each epoch's lr in the log and in
#   metrics.json (torch's LinearLR warmup values), the saved model is the
#   selected epoch's (metrics.json "selected" = the argmin of val_loss) and the
#   report says so; 2 epochs then --resume to 6 gives the unbroken run's model
#   and history; usage errors; --weights none --freeze none trains from scratch;
#   --augment trains from the images (cache off) and records its transforms.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
"$PY" tests/pytorch/app_parity.py make "$tmp" >/dev/null
OPTS=(--optimizer sgd --momentum 0.9 --nesterov --weight-decay 1e-4 --lr 0.05
      --lr-schedule plateau:0:0.5 --warmup 1 --select best:val_loss --patience 2)
run() { # out epochs [extra...]
    local out=$1 ep=$2; shift 2
    "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/$out" --seed 3 \
        --batch 8 --epochs "$ep" --threads 2 "${OPTS[@]}" "$@" >"$tmp/$out.log" 2>&1
}
run full 6 || { cat "$tmp/full.log"; fail "unbroken run"; }
grep -q "lr 0.025" "$tmp/full.log" || { cat "$tmp/full.log"; fail "no lr in the epoch lines"; }
grep -q "saved model: epoch" "$tmp/full.log" || fail "the log does not say which epoch was saved"
grep -q "Saved model: epoch" "$tmp/full/report.html" || fail "report.html does not say which epoch"
"$PY" - "$tmp/full/metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
h = m["history"]
assert h[0]["lr"] == 0.05 / 2, h[0]        # LinearLR(start_factor 1/2): lr/2 first
assert abs(h[1]["lr"] - 0.05) < 1e-18, h[1]  # then the base lr (plateau from here)
for e in h:
    assert e["val_auc"] is None or 0 <= e["val_auc"] <= 1, e
best = min(h, key=lambda e: e["val_loss"])["epoch"]
assert m["selected"]["epoch"] == best, (m["selected"], [e["val_loss"] for e in h])
assert "best:val_loss" in m["selected"]["why"], m["selected"]
# plateau (patience 0, factor 0.5) from epoch 2 on: the lr halves after each
# epoch whose val loss is not a new low (rel. threshold 1e-4) of the post-warmup epochs
low, lr = float("inf"), 0.05
for a, b in zip(h[1:], h[2:]):
    if a["val_loss"] < low * (1 - 1e-4):
        low = a["val_loss"]
    else:
        lr *= 0.5
    assert abs(b["lr"] - lr) <= 1e-15 * lr, (a, b, lr)
print("history: lr", [e["lr"] for e in h], "selected", best)
PYEOF
[ -f "$tmp/full/checkpoint-best.safetensors" ] || fail "no checkpoint-best.safetensors"
run part 2 || { cat "$tmp/part.log"; fail "2-epoch run"; }
run part 6 --resume || { cat "$tmp/part.log"; fail "--resume to 6"; }
"$PY" - "$tmp/full" "$tmp/part" <<'PYEOF'
import json, struct, sys
def st(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = st(sys.argv[1] + "/model.safetensors"), st(sys.argv[2] + "/model.safetensors")
assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "resumed model differs"
ha = json.load(open(sys.argv[1] + "/metrics.json"))
hb = json.load(open(sys.argv[2] + "/metrics.json"))
for x, y in zip(ha["history"], hb["history"]):
    assert (x["lr"], x["val_loss"], x["train_loss"]) == (y["lr"], y["val_loss"], y["train_loss"]), (x, y)
assert len(ha["history"]) == len(hb["history"]) and ha["selected"] == hb["selected"]
PYEOF
# usage errors (exit 2) name the option
usage() { # expected-text args...
    local want=$1; shift
    set +e
    "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/u" "$@" >"$tmp/u.log" 2>&1
    local rc=$?
    set -e
    [ $rc -eq 2 ] || { cat "$tmp/u.log"; fail "$* exited $rc, not 2"; }
    grep -q -- "$want" "$tmp/u.log" || { cat "$tmp/u.log"; fail "$*: no '$want'"; }
}
usage "--patience" --patience 2
usage "nesterov" --optimizer sgd --nesterov
usage "--lr-schedule" --lr-schedule steps
usage "milestone" --lr-schedule step:5:0.1 --epochs 5
usage "--freeze none" --weights none
usage "--select" --select best
# from scratch: torchvision's init, the whole network trains
"$BIN" train --data "$tmp/data" --weights none --freeze none --out "$tmp/scratch" --seed 1 \
    --batch 8 --epochs 1 --threads 2 --lr 1e-3 >"$tmp/scratch.log" 2>&1 \
    || { cat "$tmp/scratch.log"; fail "--weights none"; }
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["settings"]; assert s["weights"] == "none", s' \
    "$tmp/scratch/metrics.json" || fail "metrics.json does not say weights none"
# augmentation: the model trains from the image (no cache), the settings say which transforms
"$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/aug" --seed 1 --batch 8 \
    --epochs 1 --threads 2 --augment crop:0.8-1,rotate:5,brightness:0.1 >"$tmp/aug.log" 2>&1 \
    || { cat "$tmp/aug.log"; fail "--augment"; }
grep -q "feature cache cannot apply" "$tmp/aug.log" || fail "--augment does not say the cache is off"
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["settings"]; assert s["augment"] == "crop:0.8-1:0.75-1.33333,rotate:5,brightness:0.1", s' \
    "$tmp/aug/metrics.json" || fail "metrics.json settings.augment"
usage "--augment" --augment flip
echo "ok: test_train_options"
