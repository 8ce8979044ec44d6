#!/usr/bin/env bash
# --resume at --freeze layer4 on a 62-image subset of ../shared/data/chest_xray
# (random-weights ResNet-18 .pth made by PyTorch): 2 epochs, then --resume to
# 3, gives exactly the model.safetensors (every tensor, running stats and
# num_batches_tracked included) and history of an unbroken 3-epoch run.
# Also refused: a checkpoint of other options (--lr), a --freeze fc
# checkpoint at layer4, a corrupted checkpoint, an old-format checkpoint.bin.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
"$PY" tests/pytorch/app_parity.py make "$tmp"
run() { # out epochs [extra...]
    local out=$1 ep=$2; shift 2
    "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/$out" --freeze layer4 \
        --seed 4 --batch 8 --epochs "$ep" --threads 2 "$@" >"$tmp/$out.log" 2>&1
}
run full 3 || { cat "$tmp/full.log"; fail "unbroken run"; }
run part 2 || { cat "$tmp/part.log"; fail "2-epoch run"; }
cp "$tmp/part/checkpoint.safetensors" "$tmp/ck2.safetensors"
# the checkpoint is a plain safetensors file: Adam moments in torchvision's layout, metadata
"$PY" - "$tmp/ck2.safetensors" <<'PYEOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__")
assert meta["kind"] == "suffix" and meta["freeze"] == "layer4" and meta["epochs_done"] == "2", meta
assert int(meta["adam_step"]) == 2 * 6, meta["adam_step"]  # 48 images, batch 8
assert len(json.loads(meta["history"])) == 2
for k in ("layer4.0.conv1.weight", "optim.exp_avg.layer4.0.conv1.weight",
          "optim.exp_avg_sq.layer4.0.conv1.weight"):
    assert h[k]["shape"] == [512, 256, 3, 3] and h[k]["dtype"] == "F32", (k, h[k])
assert "optim.exp_avg.layer3.0.conv1.weight" not in h  # frozen: no Adam state
assert h["rng.mt19937"]["shape"] == [626] and h["rng.mt19937"]["dtype"] == "I64"
print("checkpoint readable from Python: OK")
PYEOF
run part 3 --resume || { cat "$tmp/part.log"; fail "resume"; }
grep -q "^epoch 1/3" "$tmp/part.log" && fail "resume repeated epoch 1"
grep -q "^epoch 3/3" "$tmp/part.log" || { cat "$tmp/part.log"; fail "resume did not run epoch 3"; }
"$PY" - "$tmp/full" "$tmp/part" <<'PYEOF'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p + "/model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: b[base + v["data_offsets"][0]:base + v["data_offsets"][1]]
            for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and len(a) >= 122, (len(a), len(b))
diff = [k for k in a if a[k] != b[k]]
assert not diff, "tensors differ after --resume: %s" % diff[:8]
# and training did change layer4 and its running stats (the test can fail)
ha = [json.loads(open(p + "/metrics.json").read())["history"] for p in sys.argv[1:]]
strip = lambda h: [{k: v for k, v in e.items() if "second" not in k and "time" not in k} for e in h]
assert strip(ha[0]) == strip(ha[1]) and len(ha[0]) == 3, (ha[0], ha[1])
print("resumed model == unbroken model (%d tensors), history equal: OK" % len(a))
PYEOF
# layer4 really trained: its weights differ from the input .pth
"$PY" - "$tmp/r18.pth" "$tmp/full" <<'PYEOF'
import json, struct, sys, torch
import numpy as np
sd = torch.load(sys.argv[1])
b = open(sys.argv[2] + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
for k, want_same in [("layer4.1.conv2.weight", False), ("layer4.0.bn1.running_mean", False),
                     ("layer3.1.conv2.weight", True)]:
    v = h[k]; raw = b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
    got = np.frombuffer(raw, np.float32).reshape(v["shape"])
    same = np.array_equal(got, sd[k].numpy())
    assert same == want_same, (k, same)
print("layer4 trained, layer3 frozen: OK")
PYEOF
# another --lr: the checkpoint belongs to another run
cp "$tmp/ck2.safetensors" "$tmp/part/checkpoint.safetensors"
if run part 3 --resume --lr 0.01; then fail "resume with another --lr accepted"; fi
grep -q "belongs to another run" "$tmp/part.log" || { cat "$tmp/part.log"; fail "other-run message"; }
# a --freeze fc checkpoint at layer4
"$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/fc" --seed 4 --batch 8 \
    --epochs 1 --threads 2 >"$tmp/fc.log" 2>&1 || { cat "$tmp/fc.log"; fail "fc run"; }
cp "$tmp/fc/checkpoint.safetensors" "$tmp/part/checkpoint.safetensors"
if run part 3 --resume; then fail "fc checkpoint accepted at layer4"; fi
grep -q "part/checkpoint.safetensors: not a pneumo --freeze layer4/layer3/none checkpoint" "$tmp/part.log" ||
    { cat "$tmp/part.log"; fail "fc checkpoint message"; }
# a layer4 checkpoint at layer3: another model
cp "$tmp/ck2.safetensors" "$tmp/part/checkpoint.safetensors"
if "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --out "$tmp/part" --freeze layer3 \
    --seed 4 --batch 8 --epochs 3 --threads 2 --resume >"$tmp/l3.log" 2>&1; then
    fail "layer4 checkpoint accepted at layer3"; fi
grep -Eq "another model or Adam layout|belongs to another run" "$tmp/l3.log" || { cat "$tmp/l3.log"; fail "layer3 message"; }
# one flipped byte: checksum
cp "$tmp/ck2.safetensors" "$tmp/part/checkpoint.safetensors"
"$PY" -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(b)" "$tmp/part/checkpoint.safetensors"
if run part 3 --resume; then fail "corrupt checkpoint accepted"; fi
grep -q "checksum mismatch" "$tmp/part.log" || { cat "$tmp/part.log"; fail "checksum message"; }
# a checkpoint.bin of an older pneumo (PNDEEPCK / PNHEADCK): refused, naming the file, saying to rerun
rm -f "$tmp/part/checkpoint.safetensors"
for magic in PNDEEPCK PNHEADCK; do
    printf '%s\001\000\000\000' "$magic" >"$tmp/part/checkpoint.bin"
    if run part 3 --resume; then fail "old $magic checkpoint accepted"; fi
    grep -q "part/checkpoint.bin is a checkpoint of an older pneumo.*rerun without --resume" "$tmp/part.log" ||
        { cat "$tmp/part.log"; fail "old $magic checkpoint message"; }
done
echo "test_app_resume_deep: OK"
