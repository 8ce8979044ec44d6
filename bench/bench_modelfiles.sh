#!/usr/bin/env bash
# Model files: time to load a full-size ResNet-18 state_dict (pneumo
# inspect -q: read + convert + key check) and to export it as .pth
# (load + write), beside torch.load / torch.save in the same run.
# Best of 5 wall-clock runs each; the machine is shared, expect noise.
set -eu
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-$PWD/build/pneumo}
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/pytorch/weights_torch.py make "$tmp" >/dev/null
"$BIN" export --model "$tmp/r18_2.pth" -o "$tmp/model.safetensors" >/dev/null

best() { # best wall time in seconds of 5 runs of "$@"
    local b=999999 s e t
    for _ in 1 2 3 4 5; do
        s=$(date +%s.%N)
        "$@" >/dev/null
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if (( $(echo "$t < $b" | bc -l) )); then b=$t; fi
    done
    echo "$b"
}
pyload() { "$PY" - "$1" <<'PYEOF'
import sys, time, torch
best = 1e9
for _ in range(5):
    t = time.perf_counter(); sd = torch.load(sys.argv[1]); best = min(best, time.perf_counter() - t)
print(best)
PYEOF
}
pysave() { "$PY" - "$1" "$2" <<'PYEOF'
import sys, time, torch
sd = torch.load(sys.argv[1]); best = 1e9
for _ in range(5):
    t = time.perf_counter(); torch.save(sd, sys.argv[2]); best = min(best, time.perf_counter() - t)
print(best)
PYEOF
}
mb=$(echo "$(stat -c %s "$tmp/r18_2.pth") / 1048576" | bc -l)
printf "%-34s %12s %12s %14s\n" "ResNet-18 (44.7 MB of weights)" "pneumo s" "PyTorch s" "pneumo/PyTorch"
row() { printf "%-34s %12.4f %12.4f %13.2fx  (%.0f MB/s)\n" "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)" "$(echo "$mb / $2" | bc -l)"; }
for f in r18_2 r18_legacy r18_f16; do
    row "load $f.pth" "$(best "$BIN" inspect -q "$tmp/$f.pth")" "$(pyload "$tmp/$f.pth")"
done
row "load model.safetensors" "$(best "$BIN" inspect -q "$tmp/model.safetensors")" "$(pyload "$tmp/r18_2.pth")"
# export = load + write; torch.save alone for comparison (torch.load not counted)
row "export .pth (pneumo: load+write)" "$(best "$BIN" export --model "$tmp/r18_2.pth" -o "$tmp/out.pth")" "$(pysave "$tmp/r18_2.pth" "$tmp/ts.pth")"
echo "(ratio > 1: pneumo faster. pneumo times include process start; the safetensors row compares against torch.load of the same weights as .pth)"
