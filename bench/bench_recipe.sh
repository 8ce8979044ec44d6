#!/usr/bin/env bash
# The default training recipe end to end: PyTorch running the seed notebook's
# recipe (bench/recipe_pytorch.py, 5 epochs, a full forward per epoch) beside
# `pneumo train` on the same data and weights in the same run:
#   - pneumo, first run (empty disk cache: every image through the backbone once)
#   - pneumo, second run (features from the disk cache)
#   - pneumo --bf16 --fast-decode, first run (opt-in, not bit-exact)
# Prints a markdown table with seconds, images/s, the speed-up over PyTorch
# and peak memory. Targets: >= 10x (first run), >= 40x (cached), < 1 GiB.
#   PNEUMO_DATA   data folder (default ../shared/data); uses <it>/chest_xray
#   BENCH_WEIGHTS a ResNet-18 .pth (default: random weights made by PyTorch)
# Timings are only meaningful on a quiet machine.
set -eu
cd "$(dirname "$0")/.."
BIN="${PNEUMO_BIN:-$PWD/build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
DATA="${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}/chest_xray"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
W="${BENCH_WEIGHTS:-}"
if [ -z "$W" ]; then
    W="$tmp/r18.pth"
    "$PY" -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), '$W')"
fi
nimg=$(( $(find "$DATA" -name '*.jpeg' | wc -l) ))

# PyTorch baseline
/usr/bin/time -f "%M" -o "$tmp/pt.mem" "$PY" bench/recipe_pytorch.py --data "$DATA" --weights "$W" >"$tmp/pt.json"
pt_s=$("$PY" -c "import json; print(json.load(open('$tmp/pt.json'))['seconds'])")
pt_mem=$(cat "$tmp/pt.mem")

run() { # name, out, extra options
    local name=$1 out=$2
    shift 2
    local t0 t1
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%M" -o "$tmp/$out.mem" "$BIN" train --data "$DATA" --weights "$W" \
        --out "$tmp/$out" "$@" >"$tmp/$out.log" 2>&1 || { cat "$tmp/$out.log"; exit 1; }
    t1=$EPOCHREALTIME
    echo "$name|$t0|$t1|$(cat "$tmp/$out.mem")" >>"$tmp/rows"
}
export XDG_CACHE_HOME="$tmp/cache"
run "pneumo train, first run (no disk cache)" a
run "pneumo train, second run (disk cache)" b
export XDG_CACHE_HOME="$tmp/cache2"
run "pneumo train --bf16 --fast-decode, first run" c --bf16 --fast-decode

echo
echo "Recipe: ResNet-18 frozen backbone + Linear(512,2), Adam 1e-3, 5 epochs, batch 32,"
echo "$DATA ($nimg images); CPU: $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | seconds | img/s (5 epochs) | speed-up vs PyTorch | peak RSS |"
echo "| --- | ---: | ---: | ---: | ---: |"
"$PY" - "$tmp/rows" "$pt_s" "$pt_mem" "$nimg" <<'PYEOF'
import sys
rows, pt, ptmem, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
work = 5 * n  # images an epoch-per-forward recipe processes, for a comparable rate
print(f"| PyTorch notebook recipe | {pt:.1f} | {work / pt:.1f} | 1.0x | {ptmem / 1024:.0f} MiB |")
for line in open(rows):
    name, t0, t1, mem = line.strip().split("|")
    s, mem = float(t1) - float(t0), int(mem)
    print(f"| {name} | {s:.2f} | {work / s:.1f} | {pt / s:.1f}x | {mem / 1024:.0f} MiB |")
PYEOF
echo
echo "Targets: first run >= 10x, cached >= 40x faster than PyTorch; peak RSS < 1024 MiB."
