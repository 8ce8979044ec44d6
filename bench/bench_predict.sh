#!/usr/bin/env bash
# pneumo predict beside pneumo eval on the same 618 images (the full official
# test split, resized to 224: ../shared/data/chest_xray_resized224), quiet and
# with a busy neighbour core (a spinning process pinned to the last core,
# bounded by `timeout`), and the single-image latency: process start to
# answer, one image, median of PREDICT_RUNS (default 5) runs. The eval reads no
# feature cache (--no-cache): both run the backbone on every image.
set -eu
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-$PWD/build/pneumo}
PY=${PYTHON:-/usr/bin/python3}
SET=${PNEUMO_DATA:-../shared/data}/chest_xray_resized224
RUNS=${PREDICT_RUNS:-5}
[ -d "$SET/test" ] || { echo "bench_predict: $SET/test not found: skipped"; exit 0; }
tmp=$(mktemp -d)
spin=
trap '[ -n "$spin" ] && kill "$spin" 2>/dev/null; rm -rf "$tmp"' EXIT
"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18_2.pth")
PYEOF
M=$tmp/r18_2.pth
n=$(find "$SET/test" -type f | wc -l)
cores=$(nproc)
now() { date +%s.%N; }
ips() { echo "$n / ($2 - $1)" | bc -l; }
# eval then predict, PREDICT_REPS times (default 3) alternating, so that a
# change in the machine's load hits both; the best rate of each is kept.
REPS=${PREDICT_REPS:-3}
measure() { # prints "eval_ips predict_ips"
    local s e a=0 b=0 r v
    for r in $(seq 1 "$REPS"); do
        s=$(now); "$BIN" eval --no-cache --model "$M" --data "$SET" --split test >/dev/null; e=$(now)
        v=$(ips "$s" "$e"); a=$(echo "if ($v > $a) $v else $a" | bc -l)
        s=$(now); "$BIN" predict --model "$M" "$SET/test" >/dev/null; e=$(now)
        v=$(ips "$s" "$e"); b=$(echo "if ($v > $b) $v else $b" | bc -l)
    done
    echo "$a $b"
}
printf "%-44s %12s %12s %8s\n" "pneumo on $n images, $cores cores" "eval img/s" "predict img/s" "ratio"
read -r a b <<<"$(measure)"
printf "%-44s %12.1f %12.1f %8.2f\n" "quiet" "$a" "$b" "$(echo "$b / $a" | bc -l)"
if [ "$cores" -ge 2 ]; then
    timeout 600 taskset -c $((cores - 1)) sh -c 'while :; do :; done' &
    spin=$!
    read -r a b <<<"$(measure)"
    kill "$spin" 2>/dev/null || true; wait "$spin" 2>/dev/null || true; spin=
    printf "%-44s %12.1f %12.1f %8.2f\n" "busy neighbour (core $((cores - 1)) spinning)" "$a" "$b" "$(echo "$b / $a" | bc -l)"
fi
img=$(find "$SET/test" -type f | sort | head -1)
for _ in $(seq 1 "$RUNS"); do
    s=$(now); "$BIN" predict --model "$M" "$img" >/dev/null; e=$(now)
    echo "($e - $s) * 1000" | bc -l
done | sort -n | awk '{ v[NR] = $1 } END { printf "%-44s %12s %12.0f ms (median of %d)\n", "single image, process start to answer", "", v[int((NR + 1) / 2)], NR }'
