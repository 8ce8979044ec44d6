#!/usr/bin/env bash
# pneumo train --bf16 --freeze layer4 end to end on the 62-image subset of
# tests/pytorch/app_parity.py (random-weights ResNet-18 by PyTorch): the run
# says it trains in bf16 and records bf16_train in metrics.json; its epoch-1
# loss is near the fp32 run's (bf16 rounding, not another computation);
# --resume of the bf16 run without --bf16 is refused naming the option, and
# with --bf16 continues to the unbroken bf16 run's model (bit for bit: the
# same kernels in the same order). The numerics are tests/test_train_bf16.c's.
# Skips (exit 77) on a CPU without avx512_bf16 (there the model falls back to
# fp32 with a notice: tests/test_infer_nobf16.c).
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
grep -qw avx512_bf16 /proc/cpuinfo || { echo "SKIP: this CPU has no avx512_bf16"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
"$PY" tests/pytorch/app_parity.py make "$tmp" >/dev/null
run() { # out epochs [extra...]
    local out=$1 ep=$2; shift 2
    "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/$out" --seed 3 \
        --freeze layer4 --batch 8 --epochs "$ep" --threads 2 --lr 1e-4 "$@" >"$tmp/$out.log" 2>&1
}
run fp32 1 || { cat "$tmp/fp32.log"; fail "fp32 run"; }
run bf16 2 --bf16 || { cat "$tmp/bf16.log"; fail "bf16 run"; }
grep -q "bf16 training: the trainable convs run in bfloat16" "$tmp/bf16.log" ||
    { cat "$tmp/bf16.log"; fail "the bf16 run does not say it trains in bf16"; }
grep -q "note: --bf16" "$tmp/bf16.log" && fail "the old fp32-only note is still printed"
"$PY" - "$tmp/fp32/metrics.json" "$tmp/bf16/metrics.json" <<'PYEOF'
import json, sys
f, b = (json.load(open(p)) for p in sys.argv[1:])
sb, sf = b["settings"], f["settings"]
assert sb.get("bf16_train") is True, sb
assert "bf16_train" not in sf, sf  # fp32 runs record what they did before
lf, lb = f["history"][0]["train_loss"], b["history"][0]["train_loss"]
# same data, init and order: bf16 rounding moves the mean loss a little
assert abs(lf - lb) <= 0.05 * abs(lf), (lf, lb)
assert lf != lb, "bf16 and fp32 losses are identical: not bf16"
print("epoch-1 train loss fp32 %.6f bf16 %.6f" % (lf, lb))
PYEOF
run part 1 --bf16 || { cat "$tmp/part.log"; fail "1-epoch bf16 run"; }
if run part 2 --resume; then fail "--resume of a bf16 run without --bf16 was accepted"; fi
grep -q -- "--bf16 0 (the checkpoint.s run: 1)" "$tmp/part.log" || { cat "$tmp/part.log"; fail "the refusal does not name --bf16"; }
run part 2 --resume --bf16 || { cat "$tmp/part.log"; fail "--resume --bf16"; }
grep -q "bf16 training" "$tmp/part.log" || fail "the resumed run does not train in bf16"
"$PY" - "$tmp/bf16/model.safetensors" "$tmp/part/model.safetensors" <<'PYEOF'
import json, struct, sys
def st(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = st(sys.argv[1]), st(sys.argv[2])
assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "resumed bf16 model differs"
print("resumed bf16 run = unbroken bf16 run (%d tensors)" % len(a))
PYEOF
echo "OK"
